"""Fixtures of the dashboard tests: the PETS09 store (tracked, corrected, reviewed) and its
report, built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.report._pets import build_pets_store


@pytest.fixture(scope="session")
def pets_store(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_pets_store(data_dir, tmp_path_factory.mktemp("pets"))


@pytest.fixture(scope="session")
def pets_report(pets_store: Path, repo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The report of the PETS09 store, with the effort results for the comparison page."""
    from trackannot.report import write_report

    out = tmp_path_factory.mktemp("report")
    write_report(pets_store, out, effort=repo_dir / "benchmarks" / "results")
    return out
