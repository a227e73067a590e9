"""The exporter's Dockerfile: hadolint clean, non-root, the contract's port and entry point."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

DOCKERFILE = Path(__file__).resolve().parents[2] / "docker/healthcheck.Dockerfile"


def test_hadolint_is_clean() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    result = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_runs_as_uid_10001_with_the_contract_entry_point() -> None:
    lines = [line.strip() for line in DOCKERFILE.read_text().splitlines()]
    final_stage = lines[max(i for i, line in enumerate(lines) if line.startswith("FROM ")) :]
    assert "USER 10001:10001" in final_stage
    assert "EXPOSE 9117" in final_stage
    assert 'ENTRYPOINT ["panel-health"]' in final_stage and 'CMD ["serve"]' in final_stage
    # Nothing after USER switches back to root or writes outside /tmp at run time.
    after_user = final_stage[final_stage.index("USER 10001:10001") :]
    assert not any(line.startswith(("USER root", "USER 0", "RUN ")) for line in after_user)
