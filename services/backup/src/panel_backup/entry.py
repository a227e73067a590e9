"""The `panel-backup` console script: start-up first, then the command line (cli.py).

Importing the libraries allocates many objects and frees few, so the cyclic garbage collector's
passes during start-up are wasted work (about a tenth of it, measured); it is off while importing,
and what start-up made is then frozen out of every later collection.
"""

from __future__ import annotations

import gc


def main() -> None:
    gc.disable()
    from .cli import main as command_line

    gc.enable()
    gc.freeze()
    command_line()
