"""The workspace itself: a plain `uv sync` must install every member and its console scripts."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower()


def test_root_depends_on_every_workspace_member() -> None:
    root = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    members = root["tool"]["uv"]["workspace"]["members"]
    names = {
        tomllib.loads((REPO_ROOT / member / "pyproject.toml").read_text())["project"]["name"].lower()
        for member in members
    }
    installed_by_plain_sync = {_name(dep) for dep in root["project"]["dependencies"]}
    missing = sorted(names - installed_by_plain_sync)
    assert not missing, f"`uv sync` would not install {missing}: add them to [project].dependencies"
    for name in names:
        assert root["tool"]["uv"]["sources"][name] == {"workspace": True}
