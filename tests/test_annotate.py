"""Corrections against a store: the append-only audit log, replay, and all-or-none batches."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests._store import store_digest
from trackannot.annotate import apply_corrections, load_state
from trackannot.boxes import Boxes, Origin
from trackannot.config import PipelineConfig, StoreConfig, config_to_dict
from trackannot.corrections import Corrections, Op
from trackannot.errors import InputFormatError, StoreError
from trackannot.state import NO_BOX
from trackannot.results import LOG_COLUMNS, open_store
from trackannot.store import StoreWriter

NUM_FRAMES = 60


def make_store(path: Path, key: str = "clip", gap: range = range(0)) -> Path:
    """A store with two automatic tracks over 40 frames of a 60-frame, 320x240 video.

    Track 1 has no box in the frames of `gap`.
    """
    writer = StoreWriter.create(path, key, StoreConfig(chunk_rows=16, chunk_frames=8), attrs={
        "config": config_to_dict(PipelineConfig()),
        "video": {"width": 320, "height": 240, "fps": 10.0, "frame_count": NUM_FRAMES},
        "detector": {"class_names": ["person", "car"]},
    }, log=LOG_COLUMNS)
    for f in range(40):
        xyxy = np.array([[2.0 * f, 10, 2.0 * f + 30, 90], [200, 50, 240, 150]], np.float32)
        keep = [f not in gap, True]
        tracks = Boxes.create(frame=[f, f], xyxy=xyxy, track_id=[1, 2], score=0.9)[np.array(keep)]
        dets = Boxes.create(frame=[f, f], xyxy=xyxy + 0.5, score=0.9)
        writer.add_frame(f, f / 10.0, dets, tracks)
    writer.close()
    return path


def write_lines(path: Path, lines: list[dict | str]) -> Path:
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n")
    return path


def digest(root: Path) -> dict[str, str]:
    """Every file of a store -> SHA-256 of its bytes (locks and caches aside: `store_digest`)."""
    return store_digest(root)


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return make_store(tmp_path / "out.zarr")


def test_a_batch_is_logged_with_author_time_and_previous_values(store, tmp_path):
    fix = write_lines(tmp_path / "fix.jsonl", [
        {"op": "adjust", "track": 1, "frame": 10, "box": [20, 10, 50, 90]},
        {"op": "adjust", "track": 1, "frame": 30, "box": [70, 10, 100, 90], "author": "bo"},
        {"op": "create", "frame": 50, "box": [5, 5, 25, 25], "class": 1},
    ])
    summary = apply_corrections(store, fix, author="ana")
    assert summary.batch == 0 and summary.counts == {"adjust": 2, "create": 1}
    video = open_store(store)["clip"]
    log, cols = video.read_log()
    assert log.op.tolist() == [Op.ADJUST, Op.ADJUST, Op.CREATE]
    assert log.author.tolist() == ["ana", "bo", "ana"]
    assert log.track_id.tolist() == [1, 1, 3]  # the new track's id is recorded, not -1
    assert cols["prev_origin"].tolist() == [Origin.DETECTED, Origin.DETECTED, NO_BOX]
    # the automatic boxes are smoothed (interpolate.smooth_seconds); a straight track stays put
    np.testing.assert_allclose(cols["prev_xyxy"][0], [20, 10, 50, 90], atol=0.01)
    info, batches = video.log_info(), video.batches()
    assert info.rows == 3 and batches[0]["source"].endswith("fix.jsonl")
    assert len(batches[0]["sha256"]) == 64 and info.authors == ["ana", "bo"]


def test_the_state_is_replayed_from_the_log(store, tmp_path):
    apply_corrections(store, write_lines(tmp_path / "a.jsonl", [
        {"op": "adjust", "track": 1, "frame": 10, "box": [0, 0, 10, 10]},
        {"op": "split", "track": 2, "frame": 20},
    ]), author="ana")
    apply_corrections(store, write_lines(tmp_path / "b.jsonl", [
        {"op": "adjust", "track": 1, "frame": 10, "box": [1, 1, 11, 11]},  # a later batch may redo
        {"op": "absent", "track": 3, "frame": 30},
    ]), author="bo")
    state = load_state(open_store(store)["clip"])
    boxes = state.boxes()
    t1 = boxes[boxes.track_id == 1]
    np.testing.assert_array_equal(t1.xyxy[t1.frame == 10][0], [1, 1, 11, 11])
    assert boxes[boxes.track_id == 2].frame.max() == 19
    assert boxes[boxes.track_id == 3].frame.tolist() == list(range(20, 30))
    assert [b["number"] for b in open_store(store)["clip"].batches()] == [0, 1]


@pytest.mark.parametrize("lines, match", [
    ([{"op": "adjust", "track": 7, "frame": 3, "box": [0, 0, 1, 1]}], "line 1: unknown track 7"),
    ([{"op": "accept", "track": 1, "frame": 60}], "line 1: frame 60 is outside the video"),
    ([{"op": "accept", "track": 1, "frame": 3}, {"op": "absent", "track": 1, "frame": 3}],
     "line 2: contradicts .*line 1"),
    ([{"op": "accept", "track": 1, "frame": 3}, '{"op": "accept", "track": 1,'], "line 2 column"),
    ([{"op": "accept", "track": 2, "frame": 45}], "line 1: track 2 has no box at frame 45"),
], ids=["unknown-track", "frame-outside-video", "contradiction", "malformed-json", "nothing-to-accept"])
def test_a_bad_file_leaves_the_store_byte_for_byte(store, tmp_path, lines, match):
    apply_corrections(store, write_lines(tmp_path / "ok.jsonl", [
        {"op": "adjust", "track": 1, "frame": 5, "box": [0, 0, 9, 9]}]), author="ana")
    before = digest(store)
    bad = write_lines(tmp_path / "bad.jsonl", lines)
    with pytest.raises(InputFormatError, match=match) as info:
        apply_corrections(store, bad, author="ana")
    assert str(bad) in str(info.value)
    assert digest(store) == before


def test_dry_run_checks_but_writes_nothing(store, tmp_path):
    before = digest(store)
    summary = apply_corrections(store, write_lines(tmp_path / "a.jsonl", [
        {"op": "accept", "track": 1, "frame": 3}]), author="ana", dry_run=True)
    assert summary.counts == {"accept": 1} and digest(store) == before


def test_rows_past_the_committed_count_are_ignored_and_overwritten(store, tmp_path):
    """A crash between writing a batch's rows and committing it leaves rows nobody reads."""
    apply_corrections(store, write_lines(tmp_path / "a.jsonl", [
        {"op": "accept", "track": 1, "frame": 3}]), author="ana")
    video = open_store(store, mode="a")["clip"]
    log = video.group["corrections"]
    for name in log.array_keys():  # simulate the crash: 5 uncommitted garbage rows
        arr = log[name]
        arr.resize((6, *arr.shape[1:]))
    assert open_store(store)["clip"].read_log()[0].op.tolist() == [Op.ACCEPT]
    apply_corrections(store, write_lines(tmp_path / "b.jsonl", [
        {"op": "accept", "track": 2, "frame": 4}]), author="bo")
    log_rows, cols = open_store(store)["clip"].read_log()
    assert log_rows.track_id.tolist() == [1, 2] and cols["batch"].tolist() == [0, 1]


def test_unknown_format_and_missing_video(store, tmp_path):
    bad = tmp_path / "fix.csv"
    bad.write_text("x\n")
    with pytest.raises(InputFormatError, match=r"unknown corrections format '.csv'"):
        apply_corrections(store, bad, author="ana")
    with pytest.raises(StoreError, match="no video 'other'"):
        apply_corrections(store, write_lines(tmp_path / "a.jsonl", [
            {"op": "accept", "track": 1, "frame": 3}]), video="other", author="ana")


def test_read_only_store_refuses_to_append(store):
    empty = {"prev_xyxy": np.zeros((0, 4), np.float32), "prev_origin": np.zeros(0, np.uint8),
             "prev_class": np.zeros(0, np.int32)}
    with pytest.raises(StoreError, match="read-only"):
        open_store(store)["clip"].append_log(Corrections.empty(), empty, {})
    with pytest.raises(StoreError, match="needs the video's writer lock"):  # not by construction
        open_store(store, mode="a")["clip"].append_log(Corrections.empty(), empty, {})


def test_load_state_smooths_the_automatic_boxes_unless_told_not_to(tmp_path):
    """Jittery automatic boxes come out closer to their straight path; smooth_seconds=0 keeps them."""
    from trackannot.config import InterpolateConfig

    rng = np.random.default_rng(0)
    truth = np.array([[2.0 * f, 10, 2.0 * f + 30, 90] for f in range(40)], np.float32)
    jitter = truth + rng.normal(0, 1.5, truth.shape).astype(np.float32)
    writer = StoreWriter.create(tmp_path / "j.zarr", "clip", StoreConfig(), attrs={
        "config": config_to_dict(PipelineConfig()),
        "video": {"width": 320, "height": 240, "fps": 10.0, "frame_count": 40}})
    for f in range(40):
        box = Boxes.create(frame=[f], xyxy=jitter[f:f + 1], track_id=[1])
        writer.add_frame(f, f / 10.0, box, box)
    writer.close()
    video = open_store(tmp_path / "j.zarr")["clip"]
    raw = load_state(video, InterpolateConfig(smooth_seconds=0)).boxes()
    np.testing.assert_array_equal(raw.xyxy, jitter)
    smooth = load_state(video).boxes()
    assert np.abs(smooth.xyxy - truth).mean() < 0.8 * np.abs(jitter - truth).mean()
