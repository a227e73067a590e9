"""helm-unittest suites (charts/panel/tests/*_test.yaml): each template's key behaviour and each
validation rule's failure message."""

from __future__ import annotations

import pytest
from chart_support import CHART_DIR, Tools, run

pytestmark = pytest.mark.timeout(3600)


def test_helm_unittest_suites_pass(tools: Tools) -> None:
    suites = sorted((CHART_DIR / "tests").glob("*_test.yaml"))
    assert len(suites) >= 8, "expected a suite per component"
    output = run([tools["helm-unittest"], "--strict", "--color=false", str(CHART_DIR)], env=tools.env)
    assert "Charts:      1 passed" in output, output
