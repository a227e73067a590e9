"""TLS expiry and name matching against a local TLS server with certificates generated here."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from health_servers import TlsServer, make_certificate
from panel_health.checks import build_checks
from panel_health.results import CheckResult, Status
from panel_health.runner import run_checks
from panel_health.settings import HealthSettings


@pytest.fixture(scope="module")
def tls_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, int]]:
    directory = tmp_path_factory.mktemp("certs")
    specs = {
        "days5": (5, ["panel.test"]),
        "days20": (20, ["panel.test"]),
        "days90": (90, ["panel.test", "*.panel.test"]),
        "wrongname": (90, ["other.example"]),
    }
    servers = {
        name: TlsServer(*make_certificate(directory, name, days, names))
        for name, (days, names) in specs.items()
    }
    yield {name: server.port for name, server in servers.items()}
    for server in servers.values():
        server.close()


def _check(
    make_settings: Callable[..., HealthSettings], port: int, server_name: str = "panel.test"
) -> CheckResult:
    settings = make_settings(
        http={"enabled": False},
        tls={"targets": [{"host": "127.0.0.1", "port": port, "server_name": server_name, "name": "t"}]},
    )
    return run_checks(build_checks(settings, ("tls",)), 20)[0]


def _not_after(result: CheckResult) -> float:
    return next(
        s.value for s in result.samples if s.name == "panel_health_tls_cert_not_after_timestamp_seconds"
    )


@pytest.mark.parametrize(
    ("server", "status", "days"),
    [("days5", Status.FAIL, 5), ("days20", Status.WARN, 20), ("days90", Status.PASS, 90)],
)
def test_expiry_thresholds(
    make_settings: Callable[..., HealthSettings],
    tls_servers: dict[str, int],
    server: str,
    status: Status,
    days: int,
) -> None:
    import time

    result = _check(make_settings, tls_servers[server])
    assert result.up
    assert result.status is status
    assert _not_after(result) == pytest.approx(time.time() + days * 86400, abs=3600)
    days_left = next(o for o in result.observations if o.name == "daysUntilExpiry")
    assert (days_left.warning, days_left.critical) == (30, 7)


def test_wrong_name_fails_even_with_a_long_validity(
    make_settings: Callable[..., HealthSettings], tls_servers: dict[str, int]
) -> None:
    result = _check(make_settings, tls_servers["wrongname"])
    assert result.up and result.status is Status.FAIL
    match = next(s for s in result.samples if s.name == "panel_health_tls_cert_name_match")
    assert match.value == 0
    assert "does not name panel.test" in result.message


def test_wildcard_and_ip_names(
    make_settings: Callable[..., HealthSettings], tls_servers: dict[str, int]
) -> None:
    assert _check(make_settings, tls_servers["days90"], "api.panel.test").status is Status.PASS
    assert _check(make_settings, tls_servers["days90"], "a.b.panel.test").status is Status.FAIL
    assert _check(make_settings, tls_servers["days90"], "127.0.0.2").status is Status.PASS


def test_panel_url_https_host_is_checked_by_default(make_settings: Callable[..., HealthSettings]) -> None:
    settings = make_settings(panel_url="https://panel.example.org", http={"enabled": False})
    checks = build_checks(settings, ("tls",))
    assert [c.key for c in checks] == ["tls:panel"]


def test_plain_tcp_server_is_a_tls_error(
    make_settings: Callable[..., HealthSettings], panel_http: str
) -> None:
    port = int(panel_http.rsplit(":", 1)[1])
    result = _check(make_settings, port)
    assert (result.up, result.reason) == (False, "tls_error")


def test_generated_certificate_loads(tmp_path: Path) -> None:
    """make_certificate writes a PEM pair that the ssl module accepts (guards the fixture itself)."""
    import ssl

    cert, key = make_certificate(tmp_path, "x", 1, ["x.test"])
    ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert, key)


def test_threshold_edges() -> None:
    from panel_health.results import grade

    assert grade(100, 100, 1000) is Status.WARN  # queue depth: warn *at* 100
    assert grade(99, 100, 1000) is Status.PASS
    assert grade(30, 30, 7, higher_is_worse=False) is Status.PASS  # certificates: warn *under* 30 days
    assert grade(29.9, 30, 7, higher_is_worse=False) is Status.WARN
    assert grade(6.9, 30, 7, higher_is_worse=False) is Status.FAIL


def test_panel_public_url_is_what_the_tls_check_measures(
    make_settings: Callable[..., HealthSettings], tls_servers: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a cluster panel_url is the in-cluster HTTP Service; PANEL_PUBLIC_URL names the Ingress (C4)."""
    plain = {"panel_url": "http://127.0.0.1:1", "http": {"enabled": False}}
    assert [c.kind for c in build_checks(make_settings(**plain))] == []  # http:// panel_url: no certificate
    monkeypatch.setenv("PANEL_PUBLIC_URL", f"https://127.0.0.1:{tls_servers['days20']}/")
    settings = make_settings(**plain)
    assert settings.panel_url == "http://127.0.0.1:1"
    [result] = run_checks(build_checks(settings, ("tls",)), 20)
    assert (result.key, result.up) == ("tls:panel", True)
    days = next(o for o in result.observations if o.name == "daysUntilExpiry")
    assert 19 < float(days.value or 0) <= 20 and days.status is Status.WARN
