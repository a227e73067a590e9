"""OpenID Connect sign-in end to end: the panel (Flask test client) talks over HTTP to the local provider
in tests/panel/oidc_provider.py; the browser's hop through the provider is made with ``requests``."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from auth_helpers import (
    CALLBACK_URL,
    audit_actions,
    query_users,
)
from flask import Flask
from flask.testing import FlaskClient
from oidc_provider import CLIENT_ID, CLIENT_SECRET, Identity, OidcProvider
from panel.auth.oidc import discovery_url
from panel.models import User
from panel.settings import load_settings
from support.servers import free_port
from werkzeug.test import TestResponse

pytest_plugins = ["auth_fixtures"]


def start_sign_in(client: FlaskClient, issuer: str, next_: str = "/_probe/page") -> str:
    """GET /auth/oidc/login; check the redirect to the provider and return the authorization URL."""
    response = client.get(f"/auth/oidc/login?next={next_}")
    assert response.status_code == 302, response.get_data(as_text=True)
    url = response.headers["Location"]
    assert url.startswith(f"{issuer}/authorize?")
    query = parse_qs(urlsplit(url).query)
    assert query["client_id"] == [CLIENT_ID]
    assert query["redirect_uri"] == [CALLBACK_URL]
    assert query["response_type"] == ["code"]
    assert set(query["scope"][0].split()) >= {"openid", "email"}
    assert query["state"] and query["nonce"]
    assert query["code_challenge_method"] == ["S256"]
    return url


def visit_provider(authorize_url: str) -> str:
    """The browser at the provider: returns the callback path + query it is sent back to."""
    response = requests.get(authorize_url, allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    assert location.startswith(CALLBACK_URL)
    return location.removeprefix("http://localhost")


def sign_in(client: FlaskClient, idp: OidcProvider, next_: str = "/_probe/page") -> TestResponse:
    return client.get(visit_provider(start_sign_in(client, idp.issuer, next_)))


def test_first_sign_in_creates_a_user_with_the_default_role_and_logs_in(
    make_auth_app: Callable[..., Flask], idp: OidcProvider
) -> None:
    app = make_auth_app(oidc_default_role="operator")
    client = app.test_client()
    idp.identity = Identity(subject="g-123", email="carol@example.com", preferred_username="Carol.D")
    response = sign_in(client, idp, next_="/_probe/page?from=sso")
    assert response.status_code == 302
    assert response.headers["Location"] == "/_probe/page?from=sso"
    assert client.get("/api/v2/_probe/any").get_json() == {"username": "carol.d", "role": "operator"}

    [user] = query_users(app)
    assert (user.oidc_issuer, user.oidc_subject) == (idp.issuer, "g-123")
    assert user.email == "carol@example.com"
    assert user.password_hash is None
    assert user.last_login_at is not None
    actions = audit_actions(app)
    assert (
        "user.create",
        str(user.id),
        {"username": "carol.d", "role": "operator", "source": "oidc", "issuer": idp.issuer},
    ) in actions
    assert ("auth.login", str(user.id), {"method": "oidc", "address": "127.0.0.1"}) in actions

    # Signing in again (new browser) finds the same user by issuer + subject, even with a new email.
    idp.identity = Identity(subject="g-123", email="carol@new.example", preferred_username="other")
    again = app.test_client()
    assert sign_in(again, idp).status_code == 302
    assert again.get("/api/v2/_probe/any").get_json()["username"] == "carol.d"
    assert len(query_users(app)) == 1


def test_verified_email_links_an_existing_account(
    auth_app: Flask, auth_client: FlaskClient, make_auth_user: Callable[..., User], idp: OidcProvider
) -> None:
    existing = make_auth_user("dave", "admin", email="Dave@Example.com")
    idp.identity = Identity(subject="g-dave", email="dave@example.com", email_verified=True)
    assert sign_in(auth_client, idp).status_code == 302
    assert auth_client.get("/api/v2/_probe/any").get_json() == {"username": "dave", "role": "admin"}
    [user] = query_users(auth_app)
    assert user.id == existing.id
    assert (user.oidc_issuer, user.oidc_subject) == (idp.issuer, "g-dave")
    assert ("user.link_oidc", str(user.id), {"issuer": idp.issuer}) in audit_actions(auth_app)


def test_unverified_email_never_links_to_an_existing_account(
    auth_app: Flask, auth_client: FlaskClient, make_auth_user: Callable[..., User], idp: OidcProvider
) -> None:
    make_auth_user("dave", "admin", email="dave@example.com")
    idp.identity = Identity(subject="attacker", email="dave@example.com", email_verified=False)
    assert sign_in(auth_client, idp).status_code == 302
    me = auth_client.get("/api/v2/_probe/any").get_json()
    assert me == {"username": "dave-2", "role": "viewer"}  # a new viewer, not the admin
    dave, newcomer = query_users(auth_app)
    assert dave.oidc_subject is None
    assert newcomer.email is None  # an unverified address is not stored


def test_denied_consent_gives_a_clear_403_page(auth_client: FlaskClient, idp: OidcProvider) -> None:
    idp.deny = True
    response = sign_in(auth_client, idp)
    assert response.status_code == 403
    assert response.mimetype == "text/html"
    assert "cancelled or denied" in response.get_data(as_text=True)
    assert auth_client.get("/_probe/page").status_code == 302


def test_a_callback_with_a_foreign_or_missing_state_is_refused(
    auth_app: Flask, auth_client: FlaskClient, idp: OidcProvider
) -> None:
    # The provider's answer belongs to another browser's sign-in (login CSRF): refused, no token exchange.
    callback = visit_provider(start_sign_in(auth_app.test_client(), idp.issuer))
    response = auth_client.get(callback)
    assert response.status_code == 400
    assert "Start again" in response.get_data(as_text=True)
    assert auth_client.get("/auth/oidc/callback").status_code == 400
    assert idp.token_requests == 0
    assert query_users(auth_app) == []


def test_a_replayed_callback_is_refused(auth_app: Flask, auth_client: FlaskClient, idp: OidcProvider) -> None:
    callback = visit_provider(start_sign_in(auth_client, idp.issuer))
    assert auth_client.get(callback).status_code == 302
    auth_client.post("/logout", data={"csrf_token": session_csrf(auth_client)})
    assert auth_client.get(callback).status_code == 400


@pytest.mark.parametrize(
    ("tamper", "value"),
    [
        ("id_token_overrides", {"nonce": "not-the-nonce"}),
        ("id_token_overrides", {"aud": "some-other-client"}),
        ("id_token_overrides", {"iss": "https://impostor.example"}),
        ("id_token_overrides", {"exp": 1_000_000_000, "iat": 999_999_000}),
        ("sign_with_foreign_key", True),
    ],
    ids=["nonce", "audience", "issuer", "expired", "signature"],
)
def test_an_id_token_that_fails_verification_is_refused(
    auth_app: Flask, auth_client: FlaskClient, idp: OidcProvider, tamper: str, value: object
) -> None:
    setattr(idp, tamper, value)
    response = sign_in(auth_client, idp)
    assert response.status_code == 400
    assert "could not be verified" in response.get_data(as_text=True)
    assert auth_client.get("/_probe/page").status_code == 302
    assert query_users(auth_app) == []


def test_disabled_sso_user_cannot_sign_in(
    auth_app: Flask, auth_client: FlaskClient, idp: OidcProvider
) -> None:
    idp.identity = Identity(subject="g-eve", email="eve@example.com")
    assert sign_in(auth_client, idp).status_code == 302
    with auth_app.app_context():
        session = auth_app.extensions["panel"].sessions()
        session.query(User).update({"is_active": False})
        session.commit()
        auth_app.extensions["panel"].sessions.remove()
    fresh = auth_app.test_client()
    response = sign_in(fresh, idp)
    assert response.status_code == 403
    assert "disabled" in response.get_data(as_text=True)
    assert fresh.get("/_probe/page").status_code == 302


def test_provider_down_gives_a_4xx_page(make_auth_app: Callable[..., Flask]) -> None:
    app = make_auth_app(oidc_issuer_url=f"http://127.0.0.1:{free_port()}")
    response = app.test_client().get("/auth/oidc/login")
    assert 400 <= response.status_code < 500
    assert "identity provider is unavailable" in response.get_data(as_text=True)


def test_provider_going_down_mid_sign_in_gives_a_4xx_page(make_auth_app: Callable[..., Flask]) -> None:
    short_lived = OidcProvider().start()
    try:
        app = make_auth_app(oidc_issuer_url=short_lived.issuer)
        client = app.test_client()
        callback = visit_provider(start_sign_in(client, short_lived.issuer))
    finally:
        short_lived.stop()
    response = client.get(callback)
    assert 400 <= response.status_code < 500
    assert "identity provider is unavailable" in response.get_data(as_text=True)


def test_google_is_the_default_issuer() -> None:
    google = load_settings({}, google_client_id="id", google_client_secret=CLIENT_SECRET)
    assert discovery_url(google) == "https://accounts.google.com/.well-known/openid-configuration"
    generic = load_settings({}, oidc_issuer_url="https://sso.example/realms/ops/", oidc_client_id="x")
    assert discovery_url(generic) == "https://sso.example/realms/ops/.well-known/openid-configuration"


def session_csrf(client: FlaskClient) -> str:
    with client.session_transaction() as session:
        token: str = session["csrf_token"]
    return token


def test_an_identity_that_does_not_fit_the_user_table_is_refused(
    auth_app: Flask, auth_client: FlaskClient, idp: OidcProvider
) -> None:
    idp.id_token_overrides = {"sub": "s" * 300}
    response = sign_in(auth_client, idp)
    assert response.status_code == 400
    assert "no usable ID token" in response.get_data(as_text=True)
    assert query_users(auth_app) == []
