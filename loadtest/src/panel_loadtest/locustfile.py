"""The panel's locustfile: the three role users and the shape of the scenario in LOADTEST_SCENARIO.

Run it through ``panel-loadtest run`` (which also sets up reports and local workers), or
directly: ``LOADTEST_SCENARIO=smoke locust -f <this file> --headless --host http://...``.
"""

from __future__ import annotations

from panel_loadtest.bootstrap import context as _context
from panel_loadtest.bootstrap import hooks
from panel_loadtest.bootstrap import shape_class as _shape_class
from panel_loadtest.users import AdminUser, OperatorUser, PanelUser, ViewerUser

# FastHttpUser's own default is 60 s per request; the run's setting decides (a timeout is a failure).
PanelUser.network_timeout = _context.settings.request_timeout
PanelUser.connection_timeout = _context.settings.request_timeout

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

globals()[_shape_class.__name__] = _shape_class
# A locustfile override can `from panel_loadtest.locustfile import *` and add its own user classes.
__all__ = ["hooks", _shape_class.__name__] + [
    name for name in ("AdminUser", "OperatorUser", "ViewerUser") if name in globals()
]
del _shape_class  # one module-level name per class: Locust collects every shape it finds
