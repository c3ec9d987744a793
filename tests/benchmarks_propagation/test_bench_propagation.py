"""Propagation benchmark: missed gt runs as defined, one scored create, and the latency store
(a missed object's detections stored, its boxes not) at a tiny size (no timing is checked)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmarks.bench_propagation import build_latency_store, latency, missed_runs
from trackannot.boxes import Boxes
from trackannot.store import open_store


def test_missed_runs_are_maximal_runs_of_consecutive_uncovered_frames() -> None:
    # object 1 in frames 0..9 but not 7, covered at 3 and 4; object 2 in 0..2, covered at 1
    frame = [0, 1, 2, 3, 4, 5, 6, 8, 9, 0, 1, 2]
    track = [1] * 9 + [2] * 3
    gt = Boxes.create(frame=frame, xyxy=np.tile([0, 0, 10, 10], (12, 1)), track_id=track,
                      sort=True)
    covered = {(3, 1), (4, 1), (1, 2)}
    mask = np.array([(f, t) in covered for f, t in zip(gt.frame.tolist(),
                                                       gt.track_id.tolist())])
    runs = [(g, r.tolist()) for g, r in missed_runs(gt, mask)]
    assert sorted(runs) == [(1, [0, 1, 2]), (1, [5, 6]), (1, [8, 9]), (2, [0]), (2, [2])]


def test_the_latency_store_keeps_missed_objects_detections_only(tmp_path: Path) -> None:
    tracked, missed = build_latency_store(tmp_path / "v.zarr", 1200, True, seed=0)
    video = open_store(tmp_path / "v.zarr")["clip"]
    ids = set(video.read().track_id.tolist())
    assert ids == set(tracked.track_id.tolist()) and len(missed.track_id)
    assert not ids & set(missed.track_id.tolist())
    dets = video.read(table="detections")
    i = 0
    at = int(missed.first[i] + 5)
    box = missed.xyxy(np.array([i]), np.array([at]))[0]
    near = dets.for_frame(at).xyxy
    assert np.abs(near - box).max(axis=1).min() < 10  # its detection is stored


def test_a_tiny_latency_run_reports_every_step(tmp_path: Path) -> None:
    out = latency(1500, 1, 20)
    for name in ("before", "after"):
        assert set(out[name]) == {"apply", "read_after", "edit", "adjust_edit"}
        assert out[name]["adjust_edit"]["n"] == 1  # the disagreeing adjust was timed
        assert out[name]["adjust_edit"]["median_ms"] > 0
    assert out["propagated_boxes_per_edit"]["max"] > 0
