"""OpenID Connect sign-in (Authlib's Flask client): Google by default, or any issuer by URL.

``GET /auth/oidc/login`` sends the browser to the provider (authorization code flow with PKCE, a
random state and nonce kept in the session); ``GET /auth/oidc/callback`` checks state and nonce,
verifies the RS256 ID token against the provider's JWKS, maps (issuer, subject) to a User and starts
the session. Every failure answers with a 4xx page that says what happened and what to do.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import requests
from authlib.integrations.base_client import MismatchingStateError, OAuthError
from authlib.integrations.flask_client import OAuth
from flask import Blueprint, Flask, current_app, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from joserfc.errors import JoseError
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError

from panel import audit, extensions
from panel.auth import login
from panel.auth.views import safe_next
from panel.models import User
from panel.settings import Settings

log = logging.getLogger(__name__)

blueprint = Blueprint("oidc", __name__, url_prefix="/auth/oidc", template_folder="templates")

CLIENT_NAME = "oidc"
_EXTENSION_KEY = "panel_oidc"
_NEXT_KEY = "oidc_next"
PROVIDER_TIMEOUT_SECONDS = 5
# Errors reaching or understanding the provider: its outage must not look like a panel fault (5xx).
PROVIDER_UNAVAILABLE_STATUS = 424
_PROVIDER_ERRORS = (requests.RequestException, ValueError, KeyError, RuntimeError)


class SignInError(Exception):
    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.title = title
        self.message = message


def init_app(app: Flask) -> None:
    settings = app.extensions["panel"].settings
    oauth = OAuth(app)
    if settings.oidc_enabled:
        oauth.register(
            CLIENT_NAME,
            client_id=settings.resolved_oidc_client_id,
            client_secret=settings.resolved_oidc_client_secret,
            server_metadata_url=discovery_url(settings),
            client_kwargs={
                "scope": "openid email profile",
                "code_challenge_method": "S256",
                "default_timeout": PROVIDER_TIMEOUT_SECONDS,
            },
        )
    app.extensions[_EXTENSION_KEY] = oauth
    app.register_blueprint(blueprint)


def discovery_url(settings: Settings) -> str:
    """The provider's discovery document: Google's unless OIDC_ISSUER_URL names another issuer."""
    return _issuer(settings.resolved_oidc_issuer) + "/.well-known/openid-configuration"


def _issuer(url: str) -> str:
    return url.rstrip("/")


def _client() -> Any:
    if not extensions.settings().oidc_enabled:
        raise SignInError(
            404,
            "Single sign-on is not configured",
            "Sign in with your username and password, or ask the operator to set GOOGLE_CLIENT_ID and "
            "GOOGLE_CLIENT_SECRET (or OIDC_ISSUER_URL, OIDC_CLIENT_ID and OIDC_CLIENT_SECRET).",
        )
    client = current_app.extensions[_EXTENSION_KEY].create_client(CLIENT_NAME)
    try:
        metadata = client.load_server_metadata()
    except _PROVIDER_ERRORS as exc:
        log.warning("identity provider discovery failed", extra={"error": type(exc).__name__})
        raise _provider_unavailable() from None
    expected = _issuer(extensions.settings().resolved_oidc_issuer)
    if _issuer(str(metadata.get("issuer", ""))) != expected:
        # OpenID Connect Discovery 1.0, section 4.3: the document must name the issuer we asked.
        log.warning("identity provider issuer mismatch", extra={"issuer": metadata.get("issuer")})
        raise _provider_unavailable()
    return client


def _provider_unavailable() -> SignInError:
    return SignInError(
        PROVIDER_UNAVAILABLE_STATUS,
        "The identity provider is unavailable",
        "Panel could not talk to the identity provider. Try again in a minute, or sign in with your "
        "username and password.",
    )


def _error_page(exc: SignInError) -> ResponseReturnValue:
    return render_template("auth/error.html", title=exc.title, message=exc.message), exc.status


@blueprint.get("/login", endpoint="login")
def login_redirect() -> ResponseReturnValue:
    try:
        client = _client()
        session[_NEXT_KEY] = safe_next(request.args.get("next"))
        redirect_uri = extensions.settings().panel_url.rstrip("/") + url_for("oidc.callback")
        return client.authorize_redirect(redirect_uri)
    except SignInError as exc:
        return _error_page(exc)
    except _PROVIDER_ERRORS as exc:
        log.warning("identity provider redirect failed", extra={"error": type(exc).__name__})
        return _error_page(_provider_unavailable())


@blueprint.get("/callback")
def callback() -> ResponseReturnValue:
    try:
        claims = _verified_claims()
        user = _user_for(claims)
    except SignInError as exc:
        return _error_page(exc)
    if not user.is_active:
        return _error_page(
            SignInError(
                403, "Account disabled", "This account is disabled; ask an administrator to enable it."
            )
        )
    login.record_login(user, method="oidc")
    target = session.get(_NEXT_KEY)
    login.start_session(user)
    return redirect(safe_next(target if isinstance(target, str) else None))


def _verified_claims() -> dict[str, Any]:
    client = _client()
    error = request.args.get("error")
    if error:
        if error == "access_denied":
            raise SignInError(
                403, "Sign-in cancelled", "The identity provider says sign-in was cancelled or denied."
            )
        code = re.sub(r"[^A-Za-z0-9_.-]", "", error)[:64]
        raise SignInError(400, "Sign-in failed", f"The identity provider reported an error ({code}).")
    try:
        token = client.authorize_access_token()
    except MismatchingStateError:
        raise SignInError(
            400,
            "Sign-in expired",
            "This sign-in response does not belong to your browser session (it expired, was already used, "
            "or cookies are blocked). Start again from the sign-in page.",
        ) from None
    except OAuthError as exc:
        log.warning("identity provider refused the code", extra={"error": exc.error})
        raise SignInError(
            400, "Sign-in failed", "The identity provider refused the sign-in. Start again."
        ) from None
    except JoseError as exc:
        log.warning("ID token rejected", extra={"error": type(exc).__name__})
        raise SignInError(
            400, "Sign-in failed", "The identity provider's ID token could not be verified. Start again."
        ) from None
    except _PROVIDER_ERRORS as exc:
        log.warning("identity provider token exchange failed", extra={"error": type(exc).__name__})
        raise _provider_unavailable() from None
    claims = token.get("userinfo")
    if not claims or not _storable(claims.get("sub")) or not _storable(claims.get("iss")):
        raise SignInError(
            400, "Sign-in failed", "The identity provider sent no usable ID token. Start again."
        )
    return dict(claims)


def _storable(value: object) -> bool:
    """A non-empty string that fits the users table's identity columns."""
    return isinstance(value, str) and 0 < len(value) <= 255 and not login.has_control_characters(value)


def _email_verified(claims: dict[str, Any]) -> bool:
    # Some providers send the boolean as a string.
    return claims.get("email_verified") in (True, "true")


def _user_for(claims: dict[str, Any]) -> User:
    """The user for this (issuer, subject): existing, linked by verified email, or created."""
    db = extensions.db()
    issuer, subject = str(claims["iss"]), str(claims["sub"])
    user = db.query(User).filter_by(oidc_issuer=issuer, oidc_subject=subject).one_or_none()
    if user is not None:
        return user
    email = claims.get("email") if _storable(claims.get("email")) else None
    verified_email = email if email and _email_verified(claims) else None
    if verified_email:
        user = db.query(User).filter(func.lower(User.email) == verified_email.lower()).one_or_none()
        if user is not None:
            if user.oidc_subject is not None:
                raise SignInError(
                    409,
                    "Account already linked",
                    "The Panel account with this email address is linked to another single sign-on "
                    "identity. Ask an administrator to unlink it.",
                )
            user.oidc_issuer, user.oidc_subject = issuer, subject
            audit.record(db, "user.link_oidc", "user", user.id, changes={"issuer": issuer}, actor_id=user.id)
            db.commit()
            return user
    role = extensions.settings().oidc_default_role
    user = User(
        username=_unique_username(claims, email),
        email=verified_email,
        password_hash=None,
        role=role,
        is_active=True,
        oidc_issuer=issuer,
        oidc_subject=subject,
    )
    db.add(user)
    try:
        db.flush()
        audit.record(
            db,
            "user.create",
            "user",
            user.id,
            changes={"username": user.username, "role": role, "source": "oidc", "issuer": issuer},
            actor_id=user.id,
        )
        db.commit()
    except IntegrityError:
        db.rollback()
        raise SignInError(
            409, "Sign-in conflict", "Another sign-in created this account at the same moment. Try again."
        ) from None
    return user


def _unique_username(claims: dict[str, Any], email: str | None) -> str:
    candidates = [claims.get("preferred_username"), email.split("@", 1)[0] if email else None, "user"]
    base = next(
        (cleaned for raw in candidates if isinstance(raw, str) and (cleaned := _clean_username(raw))), "user"
    )
    db = extensions.db()
    username, suffix = base, 1
    while db.query(User.id).filter_by(username=username).first() is not None:
        suffix += 1
        username = f"{base}-{suffix}"
    return username


def _clean_username(raw: str) -> str:
    return re.sub(r"[^a-z0-9._-]+", "-", raw.strip().lower()).strip("-.")[:48]
