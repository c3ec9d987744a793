"""The queue benchmark's error runs and what shows them, on a tiny case where they are known."""

from __future__ import annotations

import numpy as np

from benchmarks.bench_queue import (
    Seq,
    best_frames,
    gt_error_runs,
    runs_at_frames,
    runs_of_items,
)
from benchmarks.bench_risk import error_runs
from trackannot.boxes import Boxes


def _box(x: float) -> list[float]:
    return [x, 0.0, x + 20.0, 40.0]


def tiny() -> Seq:
    """gt object 1 at x=0 over frames 0..9, object 2 at x=100 over frames 0..4.
    Track 5 follows object 1 but has no box at frames 4..6; track 6 has a box on nothing at
    frames 0..1 (a false positive). Object 2 is never tracked."""
    gt = Boxes.create(frame=[*range(10), *range(5)], xyxy=[_box(0)] * 10 + [_box(100)] * 5,
                      track_id=[1] * 10 + [2] * 5, sort=True)
    frames = [f for f in range(10) if f not in (4, 5, 6)]
    tracks = Boxes.create(frame=[*frames, 0, 1], xyxy=[_box(0)] * len(frames) + [_box(300)] * 2,
                          track_id=[5] * len(frames) + [6, 6], sort=True)
    owner, run, missed = gt_error_runs(tracks, gt)
    wrong = np.isin(tracks.track_id, [6])
    order, track_run = error_runs(tracks, wrong)
    return Seq("tiny", "MOT15", 10, tracks, Boxes.empty(), gt, owner, run, missed, order,
               track_run, wrong)


def test_gt_error_runs_are_the_stretches_where_an_object_has_no_right_box():
    s = tiny()
    assert s.owner == {5: 1}
    runs = {}
    for f, g, r in zip(s.gt.frame.tolist(), s.gt.track_id.tolist(), s.gt_run.tolist()):
        if r >= 0:
            runs.setdefault(r, []).append((g, f))
    assert sorted(runs.values()) == [[(1, 4), (1, 5), (1, 6)], [(2, f) for f in range(5)]]
    assert s.gt_missed[s.gt_run >= 0].all()  # no box on them at all
    assert int(s.track_run.max()) + 1 == 1  # the false positive is one track run


def test_what_frames_and_one_box_items_show():
    s = tiny()
    gt_seen, tr_seen = runs_at_frames(s, np.array([1]))
    assert len(gt_seen) == 1 and tr_seen == {0}  # object 2's run and the false positive
    gt_seen, _ = runs_at_frames(s, np.array([5]))
    assert len(gt_seen) == 1  # object 1's gap
    # a box of track 5 at frame 5 (its gap) shows object 1's run; a box on nothing, nothing
    gt_seen, _ = runs_of_items(s, np.array([5]), np.array([5]), np.float32([_box(0)]))
    assert len(gt_seen) == 1
    gt_seen, tr_seen = runs_of_items(s, np.array([8]), np.array([5]), np.float32([_box(0)]))
    assert not gt_seen and not tr_seen
    # the best frames show both runs with two frames
    assert len(runs_at_frames(s, best_frames(s, 2))[0]) == 2
