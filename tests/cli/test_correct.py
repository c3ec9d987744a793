"""CLI: `trackannot correct` (all or none, messages) and `trackannot export` of corrected tracks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tests.test_annotate import digest, make_store, write_lines
from trackannot.cli.main import main
from trackannot.store import open_store


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return make_store(tmp_path / "out.zarr")


def test_correct_applies_a_file_and_says_what_it_did(store, tmp_path):
    fix = write_lines(tmp_path / "fix.jsonl", [
        {"op": "accept", "track": 1, "frame": 3},
        {"op": "adjust", "track": 1, "frame": 9, "box": [0, 0, 10, 10]},
    ])
    result = CliRunner().invoke(main, ["correct", str(store), str(fix), "--author", "ana"])
    assert result.exit_code == 0, result.output
    assert "clip: applied as batch 0: 2 corrections (1 accept, 1 adjust); 1 tracks" in result.output
    assert open_store(store)["clip"].log_info()["authors"] == ["ana"]


def test_correct_with_a_bad_line_exits_1_names_the_line_and_changes_nothing(store, tmp_path):
    before = digest(store)
    fix = write_lines(tmp_path / "fix.jsonl", [
        {"op": "accept", "track": 1, "frame": 3},
        {"op": "accept", "track": 99, "frame": 3},
    ])
    result = CliRunner().invoke(main, ["correct", str(store), str(fix)])
    assert result.exit_code == 1
    assert f"{fix} line 2: unknown track 99" in result.output
    assert digest(store) == before


def test_correct_dry_run_writes_nothing(store, tmp_path):
    before = digest(store)
    fix = write_lines(tmp_path / "fix.jsonl", [{"op": "accept", "track": 1, "frame": 3}])
    result = CliRunner().invoke(main, ["correct", str(store), str(fix), "--dry-run"])
    assert result.exit_code == 0 and "would apply 1 corrections" in result.output
    assert digest(store) == before


def test_export_mot_writes_the_corrected_tracks(store, tmp_path):
    fix = write_lines(tmp_path / "fix.jsonl", [
        {"op": "absent", "track": 2, "frame": 10},
        {"op": "adjust", "track": 1, "frame": 5, "box": [100, 100, 110, 120]},
    ])
    assert CliRunner().invoke(main, ["correct", str(store), str(fix)]).exit_code == 0
    out = tmp_path / "mot"
    result = CliRunner().invoke(main, ["export", str(store), "--format", "mot", "-o", str(out)])
    assert result.exit_code == 0, result.output
    rows = np.loadtxt(out / "clip.txt", delimiter=",", ndmin=2)
    track2 = rows[rows[:, 1] == 2]
    assert track2[:, 0].max() == 10  # frames 0..9, written 1-based
    frame5 = rows[(rows[:, 0] == 6) & (rows[:, 1] == 1)][0]
    np.testing.assert_allclose(frame5[2:6], [100, 100, 10, 20])  # left, top, width, height
