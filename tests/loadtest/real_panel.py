"""The real panel for the end-to-end load test (tests/support/running_panel.py), plus a discovery-only
OpenID Connect provider so the panel's SSO redirect can be exercised."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from support.running_panel import RunningPanel
from support.running_panel import running_panel as shared_running_panel


class _DiscoveryHandler(BaseHTTPRequestHandler):
    """Serves only an OpenID Connect discovery document: enough for the panel to build its redirect.

    The load test never completes a sign-in at the provider (it tests the panel's side), so no
    token or JWKS endpoint has to work.
    """

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_GET(self) -> None:
        issuer = f"http://{self.headers['Host']}"  # the address the panel was given
        if self.path != "/.well-known/openid-configuration":
            self.send_error(404)
            return
        body = json.dumps(
            {
                "issuer": issuer,
                "authorization_endpoint": f"{issuer}/authorize",
                "token_endpoint": f"{issuer}/token",
                "jwks_uri": f"{issuer}/jwks",
                "userinfo_endpoint": f"{issuer}/userinfo",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextmanager
def discovery_only_provider() -> Iterator[str]:
    """An identity provider's discovery endpoint on loopback; yields its issuer URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _DiscoveryHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def running_panel(
    database_url: str, redis_url: str, work_dir: Path, oidc_issuer: str | None = None
) -> Iterator[RunningPanel]:
    """The shared real panel (tests/support/running_panel.py), with SSO pointed at ``oidc_issuer``."""
    env = {"LOG_LEVEL": "WARNING"}
    if oidc_issuer is not None:
        env |= {
            "OIDC_ISSUER_URL": oidc_issuer,
            "OIDC_CLIENT_ID": "panel-loadtest",
            "OIDC_CLIENT_SECRET": "not-used",
        }
    with shared_running_panel(database_url, redis_url, work_dir, env=env) as panel:
        yield panel
