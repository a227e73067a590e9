"""Small helpers shared by the panel tests (imported as ``from panel_helpers import ...``)."""

from __future__ import annotations

from typing import Any

from werkzeug.test import TestResponse


def body(response: TestResponse) -> Any:
    """The response's JSON body (typed Any, so tests can index it without casts)."""
    return response.get_json(silent=True)
