"""Shared test fixtures: the real data beside the repository, and an offline environment."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# ultralytics makes network checks unless told it is offline
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_VERBOSE", "False")

REPO = Path(__file__).resolve().parents[1]
# TRACKANNOT_DATA points elsewhere where ../shared is not beside the checkout (the GPU machine
# gets a copy of the videos: benchmarks/gpu/run.sh)
DATA = Path(os.environ.get("TRACKANNOT_DATA") or REPO.parent / "shared" / "data")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """`../shared/data` (MOTChallenge, KITTI, real footage); CI always has it."""
    if not DATA.is_dir():
        raise FileNotFoundError(f"real data expected at {DATA} (see the README, 'Tests'; "
                                "TRACKANNOT_DATA sets another folder)")
    return DATA


@pytest.fixture(scope="session")
def repo_dir() -> Path:
    """The repository root (for configs/ and other checked-in files)."""
    return REPO
