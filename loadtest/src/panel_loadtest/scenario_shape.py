"""Add-on locustfile: the current scenario's LoadTestShape plus the SLO gate, and no users.

``panel-loadtest run --locustfile custom.py`` loads it beside a custom locustfile that defines no
LoadTestShape (``-f custom.py,<this file>``): without a shape Locust would ignore the scenario and run
forever. With it the custom users follow the scenario's stages and the run ends with the usual verdict.
"""

from __future__ import annotations

from panel_loadtest.bootstrap import hooks, shape_class

globals()[shape_class.__name__] = shape_class
__all__ = ["hooks", shape_class.__name__]
del shape_class
