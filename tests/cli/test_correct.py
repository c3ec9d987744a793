"""CLI: `trackannot correct` (all or none, messages) and `trackannot export` of corrected tracks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tests.test_annotate import digest, make_store, write_lines
from trackannot.cli.main import main
from trackannot.results import open_store


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
    assert open_store(store)["clip"].log_info().authors == ["ana"]


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


def _boxes_before_and_after(store, tmp_path, fmt, name, move_track=None):
    """Export, optionally move the first box of one track in the file by 1 px, import."""
    from trackannot.annotate import load_state, video_meta

    before = load_state(open_store(store)["clip"]).boxes()
    out = tmp_path / "exp"
    result = CliRunner().invoke(main, ["export", str(store), "--format", fmt, "-o", str(out)])
    assert result.exit_code == 0, result.output
    if move_track is not None:
        from trackannot.export.cvat import read_cvat_video, write_cvat_video
        from trackannot.export.labelstudio import read_labelstudio, write_labelstudio

        read, write = ((read_cvat_video, write_cvat_video) if fmt == "cvat"
                       else (read_labelstudio, write_labelstudio))
        meta = video_meta(open_store(store)["clip"])
        keys = read(out / name, meta)
        i = int(np.flatnonzero((keys.track_id == move_track) & ~keys.outside)[0])
        xyxy = keys.xyxy.copy()
        xyxy[i] += 1
        write(out / name, keys.replace(xyxy=xyxy), meta)
    result = CliRunner().invoke(main, ["correct", str(store), str(out / name), "--author", "cy"])
    assert result.exit_code == 0, result.output
    after = load_state(open_store(store)["clip"]).boxes()
    return before, after, result.output


@pytest.mark.parametrize("fmt, name", [("cvat", "clip.xml"), ("labelstudio", "clip.json")])
def test_a_tool_file_exported_then_imported_unchanged_records_nothing(store, tmp_path, fmt, name):
    """Every keyframe of the file equals the current annotation: no track changed, so no edit
    is recorded (an empty batch says the file was applied) and no box moves."""
    before, after, output = _boxes_before_and_after(store, tmp_path, fmt, name)
    assert "applied as batch 0: 0 corrections" in output, output
    assert after.frame.tolist() == before.frame.tolist()
    assert after.track_id.tolist() == before.track_id.tolist()
    np.testing.assert_array_equal(after.xyxy, before.xyxy)


@pytest.mark.parametrize("fmt, name", [("cvat", "clip.xml"), ("labelstudio", "clip.json")])
def test_a_changed_track_with_a_gap_round_trips_through_a_tool_file(tmp_path, fmt, name):
    """A track that changed is pinned keyframe by keyframe: its outside keyframe ends a run
    before the track's next run, and importing it must pin the later run's keyframes too, not
    drop them with the automatic boxes after the gap. The other track is unchanged: no edit."""
    from trackannot.kernels.iou import iou_matrix

    store = make_store(tmp_path / "gap.zarr", gap=range(15, 22))
    before, after, output = _boxes_before_and_after(store, tmp_path, fmt, name, move_track=1)
    assert "absent" in output and "1 adjust" in output, output
    assert "; 1 tracks" in output, output  # track 2 is unchanged: nothing recorded for it
    assert after.frame.tolist() == before.frame.tolist()
    assert after.track_id.tolist() == before.track_id.tolist()
    t1 = after[after.track_id == 1]
    assert not np.isin(t1.frame, np.arange(15, 22)).any() and t1.frame.max() == 39
    iou = np.diag(iou_matrix(after.xyxy, before.xyxy))
    assert iou.min() >= 0.9 - 1e-6, iou.min()  # the file's sparse keyframes: IoU tolerance 0.9


def test_a_cvat_file_with_a_moved_box_becomes_an_adjust(store, tmp_path):
    from trackannot.export.cvat import read_cvat_video, write_cvat_video
    from trackannot.annotate import video_meta

    out = tmp_path / "exp"
    assert CliRunner().invoke(main, ["export", str(store), "--format", "cvat", "-o", str(out)]).exit_code == 0
    meta = video_meta(open_store(store)["clip"])
    keys = read_cvat_video(out / "clip.xml", meta)
    i = int(np.flatnonzero((keys.track_id == 1) & ~keys.outside)[0])
    xyxy = keys.xyxy.copy()
    xyxy[i] += 7
    write_cvat_video(tmp_path / "edited.xml", keys.replace(xyxy=xyxy), meta)
    result = CliRunner().invoke(main, ["correct", str(store), str(tmp_path / "edited.xml")])
    assert result.exit_code == 0 and "1 adjust" in result.output, result.output
    log, _ = open_store(store)["clip"].read_log()
    np.testing.assert_array_equal(log.xyxy[log.op == 1][0], xyxy[i])


def test_a_tool_file_for_another_video_is_refused_and_the_store_unchanged(store, tmp_path):
    from dataclasses import replace

    from trackannot.annotate import video_meta
    from trackannot.export.cvat import write_cvat_video
    from trackannot.keyframes import Keyframes

    meta = replace(video_meta(open_store(store)["clip"]), num_frames=500)
    keys = Keyframes.create(track_id=[1], frame=[3], xyxy=[[0, 0, 10, 10]])
    write_cvat_video(tmp_path / "other.xml", keys, meta)
    (tmp_path / "broken.xml").write_text("<annotations>\n<version>1.1</version>\n<track id='1'\n")
    before = digest(store)
    for name, match in (("other.xml", "500"), ("broken.xml", "line")):
        result = CliRunner().invoke(main, ["correct", str(store), str(tmp_path / name)])
        assert result.exit_code == 1, result.output
        assert name in result.output and match in result.output, result.output
    assert digest(store) == before


def test_export_coco_and_yolo(store, tmp_path):
    out = tmp_path / "exp"
    for fmt, extra in (("coco", []), ("yolo", ["--overwrite"])):  # the second into a full folder
        result = CliRunner().invoke(main, ["export", str(store), "--format", fmt, "-o", str(out),
                                           *extra])
        assert result.exit_code == 0, result.output
    coco = json.loads((out / "clip.coco.json").read_text())
    assert len(coco["images"]) == 60 and len(coco["annotations"]) == 80
    labels = sorted((out / "clip_yolo").rglob("*.txt"))
    assert sum(len(p.read_text().splitlines()) for p in labels) == 80
