"""What every locustfile of a run sets up first: JSON logs, the run context, the SLO gate's hooks.

Imported by the packaged ``locustfile`` and by ``scenario_shape`` (the add-on the CLI loads beside a
custom locustfile that brings no LoadTestShape of its own). Python imports it once per process.
"""

from __future__ import annotations

import os
import sys

from panel_loadtest import runtime
from panel_loadtest.scenarios import ScenarioError
from panel_loadtest.settings import SettingsError

if os.environ.get("LOADTEST_LOG_FORMAT") == "json":
    from panel_loadtest.log_setup import configure_json_logging

    configure_json_logging(os.environ.get("LOADTEST_LOG_LEVEL", "INFO"))

try:
    context = runtime.RunContext.from_environment()
except SettingsError as _error:
    sys.stderr.write("".join(f"configuration error: {line}\n" for line in _error.problems))
    sys.exit(2)
except ScenarioError as _error:
    sys.stderr.write(f"configuration error: {_error}\n")
    sys.exit(2)
runtime.set_current(context)

from panel_loadtest import hooks  # noqa: E402 - registers the listeners once the context exists
from panel_loadtest.shapes import shape_class_for  # noqa: E402

# One class object per process: the packaged locustfile and the add-on export the same one, which Locust
# recognises as one shape when both are loaded.
shape_class = shape_class_for(context.scenario)

__all__ = ["context", "hooks", "shape_class"]
