"""The chart's versioning rules (charts/panel/CHANGELOG.md, "How the chart is versioned"): the top
CHANGELOG section is Chart.yaml's version, `artifacthub.io/changes` lists its entries, that version is
not packaged yet, and every packaged release (ci/chart/releases, where the e2e upgrade test starts) is an
older version with its own section."""

from __future__ import annotations

import re
import tarfile
from pathlib import Path

import pytest
import yaml
from chart_support import CHART_DIR, CI_CHART_DIR, Tools, run

pytestmark = pytest.mark.timeout(3600)

RELEASES_DIR = CI_CHART_DIR / "releases"
KINDS = {"added", "changed", "deprecated", "removed", "fixed", "security"}
SEMVER = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")


def version_key(version: str) -> tuple[int, int, int]:
    match = SEMVER.match(version)
    assert match, f"{version!r} is not MAJOR.MINOR.PATCH"
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def chart_metadata() -> dict:
    return yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())


def changelog_sections() -> dict[str, list[dict[str, str]]]:
    """Version -> entries (kind, description) of every `## <version>` section, newest first."""
    sections: dict[str, list[dict[str, str]]] = {}
    version, kind = None, None
    for line in (CHART_DIR / "CHANGELOG.md").read_text().splitlines():
        if heading := re.match(r"^## (\d+\.\d+\.\d+)$", line):
            version, kind = heading.group(1), None
            sections[version] = []
        elif section := re.match(r"^### (\w+)$", line):
            kind = section.group(1).lower()
            assert kind in KINDS, f"CHANGELOG: unknown kind {section.group(1)!r}; use one of {sorted(KINDS)}"
        elif line.startswith("- ") and version and kind:
            sections[version].append({"kind": kind, "description": line[2:]})
    return sections


def packaged_versions() -> list[str]:
    versions = []
    for archive in sorted(RELEASES_DIR.glob("panel-*.tgz")):
        with tarfile.open(archive) as tar:
            member = tar.extractfile("panel/Chart.yaml")
            assert member is not None
            inside = yaml.safe_load(member.read())["version"]
        assert archive.name == f"panel-{inside}.tgz", f"{archive.name} holds version {inside}"
        versions.append(inside)
    return versions


def test_the_top_changelog_section_is_the_chart_version() -> None:
    sections = changelog_sections()
    version = chart_metadata()["version"]
    assert next(iter(sections)) == version, f"add a `## {version}` section at the top of CHANGELOG.md"
    assert sections[version], f"CHANGELOG.md: the {version} section lists no change"
    keys = [version_key(v) for v in sections]
    assert keys == sorted(keys, reverse=True), "CHANGELOG sections must go from newest to oldest"


def test_artifact_hub_changes_list_the_top_section() -> None:
    metadata = chart_metadata()
    changes = yaml.safe_load(metadata["annotations"]["artifacthub.io/changes"])
    assert changes == changelog_sections()[metadata["version"]], (
        "Chart.yaml's artifacthub.io/changes must list the entries of the top CHANGELOG section"
    )


def test_the_chart_version_is_newer_than_every_release() -> None:
    version = chart_metadata()["version"]
    released = packaged_versions()
    assert released, f"no packaged release in {RELEASES_DIR}"
    assert version not in released, (
        f"{version} is released (ci/chart/releases/panel-{version}.tgz) and must not change; "
        "bump the version in Chart.yaml and start its CHANGELOG section"
    )
    assert all(version_key(old) < version_key(version) for old in released), (version, released)
    missing = [old for old in released if old not in changelog_sections()]
    assert not missing, f"CHANGELOG.md has no section for the released {missing}"


def test_the_previous_release_still_renders(tools: Tools) -> None:
    # The archive the e2e upgrade test installs first must be a working chart.
    newest = max(packaged_versions(), key=version_key)
    output = run(
        [
            tools["helm3"],
            "template",
            "panel",
            str(RELEASES_DIR / f"panel-{newest}.tgz"),
            "--values",
            str(CHART_DIR / "ci" / "defaults-values.yaml"),
        ],
        env=tools.env,
    )
    assert "kind: Deployment" in output


def test_the_release_archives_are_kept_out_of_the_chart() -> None:
    assert not list(Path(CHART_DIR).rglob("*.tgz"))
