"""A small, real OpenID Connect provider for the tests, served over HTTP on loopback.

It implements the parts of OpenID Connect Core 1.0 and Discovery 1.0 that a relying party uses in the
authorization code flow: the discovery document, a JWKS, the authorization endpoint (which signs in
whichever identity the test chose, or denies), the token endpoint (client authentication, single-use
codes, redirect URI and PKCE checks) issuing RS256-signed ID tokens, and a userinfo endpoint.

Tests steer it through attributes: ``identity`` (who signs in next), ``deny`` (answer access_denied),
``id_token_overrides`` (claims to change, e.g. a wrong nonce) and ``sign_with_foreign_key``.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from flask import Flask, Response, jsonify, redirect, request
from flask.typing import ResponseReturnValue
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from werkzeug.serving import BaseWSGIServer, make_server

CLIENT_ID = "panel-test-client"
CLIENT_SECRET = "panel-test-client-secret"


@dataclass
class Identity:
    """The account that signs in at the provider."""

    subject: str
    email: str | None = None
    email_verified: bool = True
    preferred_username: str | None = None
    name: str | None = None

    def claims(self) -> dict[str, Any]:
        claims: dict[str, Any] = {"sub": self.subject}
        if self.email is not None:
            claims["email"] = self.email
            claims["email_verified"] = self.email_verified
        if self.preferred_username is not None:
            claims["preferred_username"] = self.preferred_username
        if self.name is not None:
            claims["name"] = self.name
        return claims


@dataclass
class _Grant:
    client_id: str
    redirect_uri: str
    nonce: str | None
    code_challenge: str | None
    identity: Identity
    issued_at: float = field(default_factory=time.time)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _oauth_error(error: str, description: str, status: int = 400) -> Response:
    response = jsonify({"error": error, "error_description": description})
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


class OidcProvider:
    """Start with ``start()``; ``issuer`` is its base URL; ``stop()`` shuts the HTTP server down."""

    def __init__(self, client_id: str = CLIENT_ID, client_secret: str = CLIENT_SECRET) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uris: set[str] = set()
        self.signing_key = RSAKey.generate_key(2048, parameters={"kid": "test-key-1", "use": "sig"})
        self.foreign_key = RSAKey.generate_key(2048, parameters={"kid": "test-key-1", "use": "sig"})
        self.identity: Identity = Identity(subject="subject-1", email="alice@example.com")
        self.deny = False
        self.id_token_overrides: dict[str, Any] = {}
        self.sign_with_foreign_key = False
        self.token_requests = 0
        self._grants: dict[str, _Grant] = {}
        self._access_tokens: dict[str, Identity] = {}
        self._lock = threading.Lock()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.app = self._build_app()

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> OidcProvider:
        self._server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, name="oidc-provider", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def issuer(self) -> str:
        assert self._server is not None, "start() the provider first"
        return f"http://127.0.0.1:{self._server.server_port}"

    def reset(self) -> None:
        """Back to the defaults between tests."""
        self.identity = Identity(subject="subject-1", email="alice@example.com")
        self.deny = False
        self.id_token_overrides = {}
        self.sign_with_foreign_key = False
        self.token_requests = 0

    # -- the HTTP endpoints -----------------------------------------------------------------------
    def _build_app(self) -> Flask:
        app = Flask("oidc_provider")
        app.add_url_rule("/.well-known/openid-configuration", view_func=self._discovery)
        app.add_url_rule("/jwks", view_func=self._jwks)
        app.add_url_rule("/authorize", view_func=self._authorize)
        app.add_url_rule("/token", view_func=self._token, methods=["POST"])
        app.add_url_rule("/userinfo", view_func=self._userinfo)
        return app

    def _discovery(self) -> Response:
        base = self.issuer
        return jsonify(
            {
                "issuer": base,
                "authorization_endpoint": f"{base}/authorize",
                "token_endpoint": f"{base}/token",
                "jwks_uri": f"{base}/jwks",
                "userinfo_endpoint": f"{base}/userinfo",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "scopes_supported": ["openid", "email", "profile"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
                "code_challenge_methods_supported": ["S256"],
                "claims_supported": ["sub", "iss", "aud", "email", "email_verified", "preferred_username"],
            }
        )

    def _jwks(self) -> Response:
        return jsonify(KeySet([self.signing_key]).as_dict(private=False))

    def _authorize(self) -> ResponseReturnValue:
        args = request.args
        if args.get("client_id") != self.client_id:
            return _oauth_error("invalid_client", "unknown client_id")
        redirect_uri = args.get("redirect_uri", "")
        if self.redirect_uris and redirect_uri not in self.redirect_uris:
            # Never redirect to an unregistered URI (RFC 6749, section 4.1.2.1).
            return _oauth_error("invalid_request", "redirect_uri is not registered")
        state = args.get("state")
        back: dict[str, str] = {"state": state} if state else {}
        if args.get("response_type") != "code":
            return redirect(f"{redirect_uri}?{urlencode({'error': 'unsupported_response_type', **back})}")
        if "openid" not in args.get("scope", "").split():
            return redirect(f"{redirect_uri}?{urlencode({'error': 'invalid_scope', **back})}")
        if self.deny:
            return redirect(f"{redirect_uri}?{urlencode({'error': 'access_denied', **back})}")
        if args.get("code_challenge") and args.get("code_challenge_method") != "S256":
            return redirect(f"{redirect_uri}?{urlencode({'error': 'invalid_request', **back})}")
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._grants[code] = _Grant(
                client_id=self.client_id,
                redirect_uri=redirect_uri,
                nonce=args.get("nonce"),
                code_challenge=args.get("code_challenge"),
                identity=self.identity,
            )
        return redirect(f"{redirect_uri}?{urlencode({'code': code, **back})}")

    def _client_authenticated(self) -> bool:
        auth = request.authorization
        if auth is not None and auth.type == "basic":
            return auth.username == self.client_id and auth.password == self.client_secret
        form = request.form
        return form.get("client_id") == self.client_id and form.get("client_secret") == self.client_secret

    def _token(self) -> Response:
        self.token_requests += 1
        if not self._client_authenticated():
            return _oauth_error("invalid_client", "client authentication failed", 401)
        form = request.form
        if form.get("grant_type") != "authorization_code":
            return _oauth_error("unsupported_grant_type", "only authorization_code is supported")
        with self._lock:
            grant = self._grants.pop(form.get("code", ""), None)  # single use
        if grant is None or time.time() - grant.issued_at > 60:
            return _oauth_error("invalid_grant", "unknown, used or expired code")
        if form.get("redirect_uri") != grant.redirect_uri:
            return _oauth_error("invalid_grant", "redirect_uri does not match the authorization request")
        if grant.code_challenge is not None:
            verifier = form.get("code_verifier", "")
            if _b64url(hashlib.sha256(verifier.encode()).digest()) != grant.code_challenge:
                return _oauth_error("invalid_grant", "PKCE verification failed")
        access_token = secrets.token_urlsafe(24)
        with self._lock:
            self._access_tokens[access_token] = grant.identity
        response = jsonify(
            {
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": 3600,
                "scope": "openid email profile",
                "id_token": self._id_token(grant, access_token),
            }
        )
        response.headers["Cache-Control"] = "no-store"
        return response

    def _id_token(self, grant: _Grant, access_token: str) -> str:
        now = int(time.time())
        digest = hashlib.sha256(access_token.encode()).digest()
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": grant.client_id,
            "iat": now,
            "exp": now + 300,
            "auth_time": now,
            "at_hash": _b64url(digest[: len(digest) // 2]),
            **grant.identity.claims(),
        }
        if grant.nonce is not None:
            claims["nonce"] = grant.nonce
        claims.update(self.id_token_overrides)
        key = self.foreign_key if self.sign_with_foreign_key else self.signing_key
        return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)

    def _userinfo(self) -> Response:
        auth = request.headers.get("Authorization", "")
        identity = self._access_tokens.get(auth.removeprefix("Bearer ").strip())
        if identity is None:
            response = _oauth_error("invalid_token", "unknown access token", 401)
            response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
            return response
        return jsonify(identity.claims())
