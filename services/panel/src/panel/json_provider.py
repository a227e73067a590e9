"""Flask's JSON provider, made safe for hostile bodies.

The standard library's decoder recurses once per nesting level and raises RecursionError (not
ValueError) for bodies nested about a thousand levels deep; Flask's ``get_json(silent=True)`` only
catches ValueError, so such a body used to escape as a 500 with a traceback, even before sign-in.
Here it is a ValueError like any other malformed body: ``get_json(silent=True)`` returns None and
the view answers 400.
"""

from __future__ import annotations

from typing import Any

from flask.json.provider import DefaultJSONProvider


class TooDeeplyNested(ValueError):
    pass


class SafeJSONProvider(DefaultJSONProvider):
    sort_keys = False

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise TooDeeplyNested("the JSON body is nested too deeply") from None
