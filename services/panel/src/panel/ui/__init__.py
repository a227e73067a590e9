"""The web UI: server-rendered pages with htmx for live updates, no JavaScript build chain.

Every page works without JavaScript (plain links and POST forms carrying the session's CSRF token);
with JavaScript, htmx (vendored in ``static/vendor/htmx``) refreshes status in place and the small
``static/panel.js`` shows times in the browser's zone. No inline script or style anywhere, so the
pages hold under a strict Content-Security-Policy.

Modules: ``render`` (the blueprint, template helpers, error pages), ``forms`` (form fields to the
API's pydantic models, field by field), ``servers`` (list, forms, checks), ``detail`` (one server's
history; ``charts`` draws its SVGs), ``admin`` (users, audit), ``jobs`` (recent jobs), ``notify``
(notification channels).
"""

from __future__ import annotations

from flask import Flask

from panel.ui import admin, detail, jobs, notify, render, servers

__all__ = ["admin", "detail", "init_app", "jobs", "notify", "servers"]


def init_app(app: Flask) -> None:
    render.init_app(app)
