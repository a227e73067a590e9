"""``python -m panel_loadtest`` is the same as the ``panel-loadtest`` command."""

from panel_loadtest.cli import main

main()
