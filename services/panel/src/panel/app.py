"""The Flask application factory."""

from __future__ import annotations

from flask import Flask

from panel import auth, errors, extensions
from panel.extensions import Resources
from panel.settings import Settings, load_settings


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or load_settings()
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.panel_url.startswith("https://"),
        JSON_SORT_KEYS=False,
        TESTING=settings.panel_env == "testing",
    )
    extensions.init_app(app, Resources.create(settings))
    errors.init_app(app)
    auth.init_app(app)
    return app
