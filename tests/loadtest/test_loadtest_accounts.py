"""Account set-up through the panel's user API (served here by the contract server)."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest
from contract_server import ContractServer
from loadtest_helpers import ADMIN_PASSWORD
from panel_loadtest.accounts import (
    ProvisioningError,
    accounts_for,
    derived_password,
    provision,
    wait_until_ready,
)


def log_in(url: str, username: str, password: str) -> int:
    return httpx.post(
        f"{url}/api/v2/auth/token", json={"username": username, "password": password}
    ).status_code


def test_operator_and_viewer_accounts_are_created_with_their_roles(contract_server: ContractServer) -> None:
    accounts = provision(contract_server.url, "admin", ADMIN_PASSWORD, "lt")
    users = contract_server.state.users
    assert users["lt-operator"]["role"] == "operator"
    assert users["lt-viewer"]["role"] == "viewer"
    for role in ("operator", "viewer"):
        assert log_in(contract_server.url, accounts[role].username, accounts[role].password) == 200


def test_rerunning_resets_an_existing_account_instead_of_failing(contract_server: ContractServer) -> None:
    provision(contract_server.url, "admin", ADMIN_PASSWORD, "lt")
    contract_server.state.users["lt-viewer"].update(password="stale", role="operator")
    accounts = provision(contract_server.url, "admin", ADMIN_PASSWORD, "lt")
    assert contract_server.state.users["lt-viewer"]["role"] == "viewer"
    assert log_in(contract_server.url, "lt-viewer", accounts["viewer"].password) == 200


def test_every_process_derives_the_same_passwords_without_talking() -> None:
    first = accounts_for("admin", "s3cret", "lt")
    second = accounts_for("admin", "s3cret", "lt")
    assert first == second
    assert first["viewer"].password != first["operator"].password
    assert derived_password("other", "lt-viewer") != first["viewer"].password
    assert "s3cret" not in repr(first) and first["viewer"].password not in repr(first)


def test_a_wrong_admin_password_names_the_variables_to_fix(contract_server: ContractServer) -> None:
    with pytest.raises(ProvisioningError, match="set LOADTEST_USERNAME/LOADTEST_PASSWORD") as caught:
        provision(contract_server.url, "admin", "wrong", "lt")
    assert "wrong" not in str(caught.value)


def test_a_non_admin_bootstrap_account_is_refused_clearly(contract_server: ContractServer) -> None:
    accounts = provision(contract_server.url, "admin", ADMIN_PASSWORD, "lt")
    with pytest.raises(ProvisioningError, match="LOADTEST_USERNAME is not an admin"):
        provision(contract_server.url, "lt-operator", accounts["operator"].password, "other")


def test_waiting_for_a_panel_that_never_comes_up_gives_up_with_the_url() -> None:
    with pytest.raises(ProvisioningError, match=r"http://127\.0\.0\.1:9 was not ready within 0 s"):
        wait_until_ready("http://127.0.0.1:9", timeout=0, interval=0.1)


def test_the_pure_modules_never_import_locust() -> None:
    # Locust monkey-patches the whole process with gevent; the CLI and these modules must not pull it in.
    code = (
        "import sys\n"
        "import panel_loadtest.cli, panel_loadtest.gate, panel_loadtest.reports, panel_loadtest.runtime\n"
        "import panel_loadtest.accounts, panel_loadtest.stress, panel_loadtest.timeline\n"
        "assert 'locust' not in sys.modules and 'gevent' not in sys.modules, sorted(sys.modules)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
