"""The queue benchmark's error runs and what shows them, on a tiny case where they are known."""

from __future__ import annotations

import numpy as np

from benchmarks.bench_queue import (
    KINDS,
    Seq,
    best_frames,
    false_positive_runs,
    gt_error_runs,
    run_kinds,
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
               track_run, wrong, run_kinds(tracks, gt, owner, run),
               false_positive_runs(tracks, gt, order, track_run))


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


def test_each_gt_run_has_its_kind_and_the_false_positive_is_one():
    s = tiny()
    kind_of = {int(s.gt.track_id[s.gt_run == r][0]): KINDS[k] for r, k in enumerate(s.gt_kind)}
    assert kind_of == {1: "gap", 2: "never tracked"}
    assert s.track_fp.tolist() == [True]


def test_late_starts_early_ends_poor_boxes_and_wrong_tracks_are_told_apart():
    # objects 1, 2, 3 at x = 0, 100, 200 over frames 0..9. Track 5 follows object 1 at frames
    # 2..7, its box off the object at frame 4; track 6 follows object 2 at 0..7; track 7 follows
    # object 3 at 0..6 and jumps to object 2 at 8..9 (an identity switch)
    gt = Boxes.create(frame=[f for _ in range(3) for f in range(10)],
                      xyxy=[_box(x) for x in (0, 100, 200) for _ in range(10)],
                      track_id=[g for g in (1, 2, 3) for _ in range(10)], sort=True)
    rows = [(f, 5, _box(12.0 if f == 4 else 0.0)) for f in range(2, 8)]
    rows += [(f, 6, _box(100)) for f in range(8)]
    rows += [(f, 7, _box(200)) for f in range(7)] + [(f, 7, _box(100)) for f in (8, 9)]
    tracks = Boxes.create(frame=[r[0] for r in rows], xyxy=[r[2] for r in rows],
                          track_id=[r[1] for r in rows], sort=True)
    owner, run, _ = gt_error_runs(tracks, gt)
    assert owner == {5: 1, 6: 2, 7: 3}
    kinds = run_kinds(tracks, gt, owner, run)
    got = {(int(gt.track_id[run == r][0]), int(gt.frame[run == r].min()),
            int(gt.frame[run == r].max())): KINDS[k] for r, k in enumerate(kinds.tolist())}
    assert got[(1, 0, 1)] == "late start"
    assert got[(1, 4, 4)] == "poor box"
    assert got[(1, 8, 9)] == "early end"
    assert got[(2, 8, 9)] == "wrong track"
    # the object its track left: no box at 7, then its own track's box is on another object
    assert got[(3, 7, 9)] == "poor box"
    assert not false_positive_runs(tracks, gt, *error_runs(tracks, np.zeros(len(tracks), bool))
                                   ).any()
