"""TLS: expiry of the *leaf* certificate the host serves, and whether it names the host.

The handshake deliberately skips chain verification so that an expired or mis-named certificate is still
measured (and reported) rather than hidden behind a handshake error. Connect and handshake share one
total deadline, so a peer that trickles its handshake a byte at a time cannot hold the check.
"""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
import time
from datetime import UTC, datetime

from cryptography import x509
from cryptography.x509.oid import NameOID

from panel_health.checks.base import PREFIX, classify, down, finish, safe_message
from panel_health.results import CheckResult, Observation, Sample, Status, observe
from panel_health.settings import TlsConfig, TlsTarget

KIND = "tls"


async def _leaf_der(host: str, port: int, server_name: str, timeout_seconds: float) -> bytes | None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # we judge the certificate ourselves, see module docstring
    async with asyncio.timeout(timeout_seconds):
        _, writer = await asyncio.open_connection(
            host, port, ssl=context, server_hostname=server_name, ssl_handshake_timeout=timeout_seconds
        )
    try:
        ssl_object = writer.get_extra_info("ssl_object")
        return ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    finally:
        writer.transport.abort()  # nothing more to say; no close_notify exchange to wait for


def fetch_leaf_certificate(
    host: str, port: int, server_name: str, timeout_seconds: float
) -> x509.Certificate:
    der = asyncio.run(_leaf_der(host, port, server_name, timeout_seconds))
    if not der:
        raise ssl.SSLError("the server presented no certificate")
    return x509.load_der_x509_certificate(der)


def _dns_name_matches(pattern: str, name: str) -> bool:
    pattern, name = pattern.lower().rstrip("."), name.lower().rstrip(".")
    if pattern.startswith("*."):
        # A wildcard covers exactly one left-most label.
        head, _, rest = name.partition(".")
        return bool(head) and rest == pattern[2:]
    return pattern == name


def name_matches(certificate: x509.Certificate, name: str) -> bool:
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(name)
    except ValueError:
        address = None
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        common_names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        return address is None and any(_dns_name_matches(str(cn.value), name) for cn in common_names)
    if address is not None:
        return address in san.get_values_for_type(x509.IPAddress)
    return any(_dns_name_matches(dns, name) for dns in san.get_values_for_type(x509.DNSName))


def check_tls(target: TlsTarget, config: TlsConfig, timeout_seconds: float) -> CheckResult:
    started = time.monotonic()
    label = target.label
    server_name = target.server_name or target.host
    try:
        certificate = fetch_leaf_certificate(target.host, target.port, server_name, timeout_seconds)
    except TimeoutError:
        message = f"no completed TLS handshake within {timeout_seconds:g}s"
        return down(KIND, label, started, "timeout", message, "target")
    except (OSError, ssl.SSLError, ValueError) as exc:
        return down(KIND, label, started, classify(exc), safe_message(exc), "target")
    not_after = certificate.not_valid_after_utc
    days_left = (not_after - datetime.now(UTC)).total_seconds() / 86400
    matches = name_matches(certificate, server_name)
    labels = {"target": label}
    samples = [
        Sample(
            f"{PREFIX}_tls_cert_not_after_timestamp_seconds",
            "Expiry of the leaf certificate (Unix time).",
            not_after.timestamp(),
            labels,
        ),
        Sample(
            f"{PREFIX}_tls_cert_name_match",
            "1 if the leaf certificate names the host, else 0.",
            matches,
            labels,
        ),
    ]
    observations = [
        observe(
            "daysUntilExpiry", round(days_left, 2), "d", config.warning_days, config.critical_days, False
        ),
        Observation("nameMatch", "yes" if matches else "no", status=Status.PASS if matches else Status.FAIL),
    ]
    message = f"expires {not_after:%Y-%m-%d}" + (
        "" if matches else f"; certificate does not name {server_name}"
    )
    return finish(KIND, label, started, observations, samples, "target", message)
