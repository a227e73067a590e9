"""``python -m panel_health`` is the same as ``panel-health``."""

from panel_health.cli import main

main()
