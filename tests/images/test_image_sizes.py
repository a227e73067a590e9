"""Image size budgets: a size more than 20% over its budget fails until the budget is raised on purpose
(edit ci/image-budgets.json in the same change that explains the growth)."""

from __future__ import annotations

import json

import pytest
from image_podman import IMAGE_NAMES, REPO_ROOT, image_size

BUDGETS = json.loads((REPO_ROOT / "ci/image-budgets.json").read_text())
TOLERANCE = 1.20


@pytest.mark.parametrize("name", IMAGE_NAMES)
def test_image_stays_within_its_size_budget(built_images: None, name: str) -> None:
    budget = BUDGETS["local-base"][name]
    size = image_size(name)
    assert size <= budget * TOLERANCE, (
        f"{name} is {size / 1e6:.0f} MB, more than 20% over its {budget / 1e6:.0f} MB budget: "
        "shrink it, or raise the budget in ci/image-budgets.json on purpose"
    )
