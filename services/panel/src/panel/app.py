"""The Flask application factory."""

from __future__ import annotations

from flask import Flask

from panel import api, auth, errors, extensions, logs, notifications, observability, ops, security, ui
from panel.extensions import Resources
from panel.json_provider import SafeJSONProvider
from panel.proxies import TrustedProxies, parse_networks
from panel.settings import Settings, load_settings


class _PanelFlask(Flask):
    json_provider_class = SafeJSONProvider  # deeply nested bodies are a 400, not a RecursionError


def create_app(settings: Settings | None = None) -> Flask:
    """Build the app; it never touches the schema (``panel migrate`` does, before the web starts)."""
    settings = settings or load_settings()
    logs.configure(settings.log_level)
    app = _PanelFlask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.panel_url.startswith("https://"),
        JSON_SORT_KEYS=False,
        TESTING=settings.panel_env == "testing",
        MAX_CONTENT_LENGTH=1024 * 1024,
    )
    app.wsgi_app = TrustedProxies(  # type: ignore[method-assign]
        app.wsgi_app, settings.trusted_proxies, parse_networks(settings.trusted_proxy_networks)
    )
    extensions.init_app(app, Resources.create(settings))
    observability.init_app(app)
    errors.init_app(app, settings.redis_breaker_seconds)
    security.init_app(app, settings.panel_url)
    auth.init_app(app)
    app.register_blueprint(ops.bp)
    api.init_app(app)
    notifications.init_app(app)
    ui.init_app(app)
    return app
