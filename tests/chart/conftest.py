"""Fixtures of the chart's static test tier: the pinned toolchain and rendered manifests.

Helpers and constants live in chart_support.py (a unique module name: every suite has a conftest.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from chart_support import Tools, helm_template, install_tools, scenario_files


@pytest.fixture(scope="session")
def tools() -> Tools:
    return install_tools()


@pytest.fixture(scope="session")
def rendered(tools: Tools) -> dict[str, str]:
    """Scenario name -> `helm template` output (helm test hooks included)."""
    return {name: helm_template(tools, [path]) for name, path in scenario_files().items()}


@pytest.fixture(scope="session")
def rendered_dir(rendered: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The rendered scenarios as files `<scenario>.yaml` (for tools that read files)."""
    directory = tmp_path_factory.mktemp("rendered")
    for name, text in rendered.items():
        (directory / f"{name}.yaml").write_text(text)
    return directory
