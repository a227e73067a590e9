"""The panel's imports point one way (issue 17): no import circle between its modules and packages, and
nothing a worker job runs imports the app factory (the worker builds the app context; jobs receive it).

The contracts live in services/panel/pyproject.toml ([tool.importlinter]) and are checked with
import-linter (grimp's graph of every import, those inside functions included). Each module is also
imported on its own in a fresh interpreter: a circle that import order hides elsewhere fails there.
"""

from __future__ import annotations

import os
import pkgutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grimp
import panel

ROOT = Path(__file__).resolve().parents[2]
# Alembic's environment script runs a migration when imported; it is loaded by alembic only.
NOT_IMPORTABLE_ALONE = {"panel.migrations.env"}
# Each import is a fresh interpreter (Flask, SQLAlchemy, RQ): generous for a loaded CI machine.
IMPORT_DEADLINE = 180


def test_the_import_contracts_are_kept() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "services/panel/pyproject.toml", "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=IMPORT_DEADLINE,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout, result.stdout


def test_no_module_reaches_itself_through_its_imports() -> None:
    # Finer than the sibling contract: also within a package (panel.api's modules once imported their
    # own package, which imported them back) and through imports made inside functions.
    graph = grimp.build_graph("panel", include_external_packages=False)
    circles = []
    for module in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            back = graph.find_shortest_chain(importer=imported, imported=module)
            if back:
                circles.append(" -> ".join((module, *back)))
    assert circles == [], "\n".join(circles)


def _modules() -> list[str]:
    names = ["panel"]
    for info in pkgutil.walk_packages(panel.__path__, "panel."):
        if info.name not in NOT_IMPORTABLE_ALONE and ".migrations.versions." not in info.name:
            names.append(info.name)
    return names


def _import_alone(name: str) -> tuple[str, int, str]:
    environ = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"), "PANEL_ENV": "testing"}
    result = subprocess.run(
        [sys.executable, "-c", f"import {name}"],
        env=environ,
        capture_output=True,
        text=True,
        timeout=IMPORT_DEADLINE,
        check=False,
    )
    return name, result.returncode, result.stderr[-2000:]


def test_every_module_imports_on_its_own() -> None:
    modules = _modules()
    assert len(modules) > 40 and "panel.jobs" in modules and "panel.notifications.delivery" in modules
    with ThreadPoolExecutor(max_workers=2) as pool:
        failures = [(name, err) for name, code, err in pool.map(_import_alone, modules) if code != 0]
    assert failures == [], failures
