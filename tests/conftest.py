"""Shared fixtures: the real data beside the checkout, and small helpers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("OCCBENCH_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


def shared_file(*parts: str) -> Path:
    """A file under ../shared/data, or skip the test when it is absent (a user's machine)."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not available: {path}")
    return path


@pytest.fixture
def crowdpose_val_json() -> Path:
    return shared_file("crowdpose", "crowdpose_val.json")


@pytest.fixture
def crowdpose_sample_dir() -> Path:
    return shared_file("crowdpose-sample")


@pytest.fixture
def coco_sample_dir() -> Path:
    return shared_file("coco-sample")
