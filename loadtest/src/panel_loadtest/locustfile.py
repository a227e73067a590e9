"""The panel's locustfile: the three role users and the shape of the scenario in LOADTEST_SCENARIO.

Run it through ``panel-loadtest run`` (which also sets up reports and local workers), or
directly: ``LOADTEST_SCENARIO=smoke locust -f <this file> --headless --host http://...``.
"""

from __future__ import annotations

import os
import sys

from panel_loadtest import hooks, runtime
from panel_loadtest.scenarios import ScenarioError
from panel_loadtest.settings import SettingsError
from panel_loadtest.shapes import shape_class_for
from panel_loadtest.users import AdminUser, OperatorUser, ViewerUser

if os.environ.get("LOADTEST_LOG_FORMAT") == "json":
    from panel_loadtest.log_setup import configure_json_logging

    configure_json_logging(os.environ.get("LOADTEST_LOG_LEVEL", "INFO"))

try:
    _context = runtime.RunContext.from_environment()
except SettingsError as _error:
    sys.stderr.write("".join(f"configuration error: {line}\n" for line in _error.problems))
    sys.exit(2)
except ScenarioError as _error:
    sys.stderr.write(f"configuration error: {_error}\n")
    sys.exit(2)
runtime.set_current(_context)

# Locust picks up user and shape classes from this module's namespace: expose only those in play.
AdminUser.weight = _context.settings.weight_admin
OperatorUser.weight = _context.settings.weight_operator
ViewerUser.weight = _context.settings.weight_viewer
for _user_class in (AdminUser, OperatorUser, ViewerUser):
    if _context.scenario.one_user_per_role:
        _user_class.fixed_count = 1
    if _user_class.weight > 0 or _context.scenario.one_user_per_role:
        globals()[_user_class.__name__] = _user_class
    else:
        globals().pop(_user_class.__name__, None)
del _user_class  # a leftover module-level reference would count as a fourth user class

ScenarioShapeClass = shape_class_for(_context.scenario)
globals()[ScenarioShapeClass.__name__] = ScenarioShapeClass
# A locustfile override can `from panel_loadtest.locustfile import *` and add its own user classes.
__all__ = ["hooks", ScenarioShapeClass.__name__] + [
    name for name in ("AdminUser", "OperatorUser", "ViewerUser") if name in globals()
]
del ScenarioShapeClass
