"""The JSON APIs: ``/api/v2`` (current) and ``/api/v1`` (legacy, deprecated).

The package only registers its blueprints; the modules below import what they share from
``panel.api.responses``, never from this package, so no module of it imports its own package back.
"""

from __future__ import annotations

from flask import Flask

from panel.api import openapi, v1, v2


def init_app(app: Flask) -> None:
    app.register_blueprint(v2.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(v1.bp)
