"""The UI blueprint and what every page shares: layout context, times, assets, error pages."""

from __future__ import annotations

import functools
import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, Response, make_response, render_template, request, url_for
from flask.typing import ResponseReturnValue
from markupsafe import Markup, escape
from werkzeug.exceptions import Forbidden, NotFound

from panel.auth import current_user
from panel.auth.views import safe_next
from panel.errors import ApiError
from panel.extensions import settings
from panel.models import Role

WRITERS = (Role.ADMIN.value, Role.OPERATOR.value)
STATIC_DIR = Path(__file__).parent / "static"
ASSET_MAX_AGE = 365 * 24 * 3600  # asset URLs carry a content hash, so a changed file has a new URL


class _AssetBlueprint(Blueprint):
    def get_send_file_max_age(self, filename: str | None) -> int | None:
        return ASSET_MAX_AGE if request.args.get("v") else None


bp = _AssetBlueprint(
    "ui", __name__, template_folder="templates", static_folder="static", static_url_path="/static/ui"
)


@functools.cache
def _asset_version(filename: str) -> str:
    return hashlib.blake2b((STATIC_DIR / filename).read_bytes(), digest_size=6).hexdigest()


def asset_url(filename: str) -> str:
    return url_for("ui.static", filename=filename, v=_asset_version(filename))


def as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def timestamp(value: datetime | str | None, empty: str = "never") -> Markup:
    """A <time> element: UTC in the text and on hover; panel.js rewrites the text to the local zone."""
    if value is None or value == "":
        return Markup("<span class='muted'>{}</span>").format(empty)
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return escape(value)
    text = utc_text(value)
    return Markup('<time datetime="{}" title="{}">{}</time>').format(
        as_utc(value).isoformat().replace("+00:00", "Z"), text, text
    )


def utc_text(value: datetime | None) -> str:
    return "" if value is None else as_utc(value).strftime("%Y-%m-%d %H:%M:%S UTC")


def plain(value: object) -> str:
    """A stored value as people read it: yes/no rather than True/False, a dash for nothing."""
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if value is None:
        return "-"
    return str(value)


def can_write() -> bool:
    user = current_user()
    return user is not None and user.role in WRITERS


def is_admin() -> bool:
    user = current_user()
    return user is not None and user.role == Role.ADMIN.value


def is_htmx() -> bool:
    return request.headers.get("HX-Request") == "true"


def page(template: str, status: int = 200, **context: Any) -> Response:
    """A rendered page; signed-in pages are never stored by browsers or proxies."""
    response = make_response(render_template(template, **context), status)
    response.headers["Cache-Control"] = "no-store"
    return response


def back_to(default: str) -> str:
    """The local page a form asked to return to (``return_to``), else ``default``; never off-site."""
    target = request.form.get("return_to") or request.args.get("return_to")
    return safe_next(target) if target else default


def _layout_context() -> dict[str, Any]:
    return {
        "can_write": can_write(),
        "is_admin": is_admin(),
        "refresh_seconds": settings().ui_refresh_seconds,
    }


def _error_page(status: int, title: str, message: str) -> ResponseReturnValue:
    return page("ui/error.html", status, title=title, message=message)


def _api_error(exc: ApiError) -> ResponseReturnValue:
    return _error_page(exc.status, exc.title, exc.detail or exc.title)


def _forbidden(_exc: Forbidden) -> ResponseReturnValue:
    user = current_user()
    role = user.role if user else "anonymous"
    return _error_page(403, "Not allowed", f"Your role ({role}) cannot do this. Ask an admin if you need to.")


def _not_found(_exc: NotFound) -> ResponseReturnValue:
    return _error_page(404, "Not found", "There is nothing at this address. It may have been deleted.")


bp.context_processor(_layout_context)
bp.register_error_handler(ApiError, _api_error)
bp.register_error_handler(Forbidden, _forbidden)
bp.register_error_handler(NotFound, _not_found)


def init_app(app: Flask) -> None:
    app.jinja_env.filters["timestamp"] = timestamp
    app.jinja_env.filters["utc_text"] = utc_text
    app.jinja_env.filters["plain"] = plain
    app.jinja_env.globals["asset_url"] = asset_url  # also for the sign-in pages of panel.auth
    app.register_blueprint(bp)
