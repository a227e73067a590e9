"""Job functions the real RQ worker in the tests imports (PYTHONPATH points here)."""

from __future__ import annotations

import time


def sleep_for(seconds: float) -> str:
    time.sleep(seconds)
    return "slept"


def explode() -> None:
    raise RuntimeError("this job fails on purpose")


def noop() -> str:
    return "done"
