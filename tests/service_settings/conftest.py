from __future__ import annotations

from collections.abc import Iterator

import pytest
from service_settings import secrets


@pytest.fixture(autouse=True)
def _forget_registered_secrets() -> Iterator[None]:
    """Each test starts with an empty secret registry (a process keeps its own for its lifetime)."""
    secrets.clear()
    yield
    secrets.clear()
