"""Client addresses behind a reverse proxy (the chart's ingress), without trusting forged headers.

``TRUSTED_PROXIES`` is the number of proxy hops in front of the web pods (0: clients connect directly).
Werkzeug's ProxyFix then takes the client address from ``X-Forwarded-For`` (and the scheme from
``X-Forwarded-Proto``) that many hops from the right, which is what the proxies appended, never what the
client wrote. ProxyFix is applied only when the direct peer is a proxy, i.e. its address lies in
``TRUSTED_PROXY_NETWORKS`` (default: loopback and the private ranges, where ingress controllers run); a
client that reaches the web port directly and sends its own ``X-Forwarded-For`` is seen as itself.

Everything keyed by the client address uses the result: sign-in throttling, the audit log, HSTS.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from werkzeug.middleware.proxy_fix import ProxyFix

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
DEFAULT_NETWORKS = "127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7"


def parse_networks(value: str) -> tuple[Network, ...]:
    """``"10.0.0.0/8, 192.168.1.5"`` -> networks; ValueError naming the first bad entry."""
    networks: list[Network] = []
    for entry in (part.strip() for part in value.split(",")):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(f"{entry!r} is not an address or network (e.g. 10.0.0.0/8)") from None
    return tuple(networks)


class TrustedProxies:
    """WSGI middleware: ProxyFix with ``hops`` for requests whose direct peer is in ``networks``."""

    def __init__(self, app: Any, hops: int, networks: Iterable[Network]) -> None:
        self._direct = app
        self._networks = tuple(networks)
        self._behind_proxy = ProxyFix(app, x_for=hops, x_proto=hops) if hops > 0 else app
        self.hops = hops

    def _from_proxy(self, peer: str | None) -> bool:
        if not self.hops or not peer:
            return False
        try:
            address = ipaddress.ip_address(peer.split("%", 1)[0])
        except ValueError:
            return False
        return any(address in network for network in self._networks)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if self._from_proxy(environ.get("REMOTE_ADDR")):
            return self._behind_proxy(environ, start_response)
        return self._direct(environ, start_response)
