"""Propagation of human edits: a drawn box carried along its object, stopping where it must."""

from __future__ import annotations

import numpy as np
import pytest

from trackannot.boxes import Boxes, Origin, pair_iou
from trackannot.config import InterpolateConfig, PropagateConfig, ReviewConfig
from trackannot.corrections import Corrections, Op
from trackannot.propagate import Evidence, StopReason, propagate, video_gaps
from trackannot.risk import Reason, open_end_items
from trackannot.sources import MemorySource
from trackannot.state import AnnotationState

N = 120
FRAMES = np.arange(N)


def _walker(x0: float, vx: float, y: float = 300.0) -> np.ndarray:
    """(N, 4) boxes of an object moving vx px/frame from x0."""
    x = x0 + vx * FRAMES
    return np.stack([x, np.full(N, y), x + 60, np.full(N, y + 120)], 1).astype(np.float32)


A = _walker(0, 2.0, 50)  # tracked as track 1 throughout
M = _walker(600, -1.5)  # missed: detections only (weak), frames 20..99


def _boxes(parts: list[tuple[np.ndarray, np.ndarray, int, float]], **kw) -> Boxes:
    """Boxes from (frames, xyxy of all N frames, track_id, score) parts."""
    frame = np.concatenate([f for f, _, _, _ in parts])
    xyxy = np.concatenate([b[f] for f, b, _, _ in parts])
    track = np.concatenate([np.full(len(f), t) for f, _, t, _ in parts])
    score = np.concatenate([np.full(len(f), s) for f, _, _, s in parts])
    return Boxes.create(frame=frame, xyxy=xyxy, track_id=track, score=score, sort=True, **kw)


def _scene(extra_tracks=(), extra_dets=()) -> tuple[Boxes, Boxes]:
    tracks = _boxes([(FRAMES, A, 1, 0.9), *extra_tracks])
    dets = _boxes([(FRAMES, A, -1, 0.9), (np.arange(20, 100), M, -1, 0.2), *extra_dets])
    return tracks, dets


def _state(tracks: Boxes, dets: Boxes | None, cfg: InterpolateConfig | None = None,
           frames=None) -> AnnotationState:
    if frames is None:
        return AnnotationState(tracks, num_frames=N, detections=dets, cfg=cfg)
    source = MemorySource(tracks, dets, None, frames)
    return AnnotationState.over(source, num_frames=N, ids=source.auto_ids(), merged_into={},
                                next_id=10, cfg=cfg)


def _batch(*rows) -> Corrections:
    """rows: (op, track, frame, box or None, other)"""
    op, track, frame, box, other = zip(*rows)
    xyxy = [b if b is not None else [np.nan] * 4 for b in box]
    return Corrections.create(op=op, track_id=track, frame=frame, xyxy=xyxy, other_id=other,
                              author="ana", time_ns=1)


def create(track: int, frame: int, box) -> tuple:
    return (Op.CREATE, track, frame, box, -1)


def _run(state: AnnotationState, track: int) -> Boxes:
    rows = state.track_boxes(track)
    return rows[rows.origin == Origin.PROPAGATED]


def _stops(state: AnnotationState, track: int) -> dict[int, tuple[StopReason, int, int]]:
    return {s.direction: (s.reason, s.frame, s.last) for s in state.propagation_stops([track])}


def test_a_drawn_box_is_carried_forward_and_backward_along_its_detections() -> None:
    state = _state(*_scene())
    state.apply(_batch(create(5, 50, M[50])))
    rows = state.track_boxes(5)
    assert rows.frame.tolist() == list(range(20, 100))
    assert rows.origin[rows.frame == 50].tolist() == [Origin.KEYFRAME]
    run = rows[rows.origin == Origin.PROPAGATED]
    assert len(run) == 79
    assert pair_iou(run.xyxy, M[run.frame]).min() > 0.9
    assert _stops(state, 5) == {-1: (StopReason.EVIDENCE_END, 19, 20),
                                1: (StopReason.EVIDENCE_END, 100, 99)}


def test_without_propagation_the_drawn_box_stays_one_box() -> None:
    off = InterpolateConfig(propagate=PropagateConfig(enabled=False))
    state = _state(*_scene(), cfg=off)
    state.apply(_batch(create(5, 50, M[50])))
    assert state.track_boxes(5).frame.tolist() == [50]
    assert state.propagation_stops() == []


def test_stops_at_another_tracks_automatic_boxes() -> None:
    # the tracker picked the object up itself from frame 80 on (track 3)
    tracks, dets = _scene(extra_tracks=[(np.arange(80, 100), M, 3, 0.9)])
    state = _state(tracks, dets)
    before = state.track_boxes(3)
    state.apply(_batch(create(5, 50, M[50])))
    run = _run(state, 5)
    assert run.frame.min() == 20 and run.frame.max() == 79
    assert _stops(state, 5)[1] == (StopReason.CONFLICT_TRACK, 80, 79)
    after = state.track_boxes(3)
    for name, col in before.columns().items():
        np.testing.assert_array_equal(getattr(after, name), col, err_msg=name)


def test_stops_at_another_tracks_keyframe_and_keyframes_never_change() -> None:
    state = _state(*_scene())
    state.apply(_batch(create(6, 85, M[85])))  # someone drew the same object as track 6 at 85
    state.apply(_batch(create(5, 50, M[50])))
    assert _stops(state, 5)[1] == (StopReason.CONFLICT_KEYFRAME, 85, 84)
    assert _run(state, 5).frame.max() == 84
    keys = state.keyframes()
    for track, frame, box in ((6, 85, M[85]), (5, 50, M[50])):
        rows = state.track_boxes(track)
        at = rows[rows.frame == frame]
        assert at.origin.tolist() == [Origin.KEYFRAME]
        np.testing.assert_array_equal(at.xyxy[0], box)
        np.testing.assert_array_equal(keys.xyxy[(keys.track_id == track)][0], box)


def test_a_keyframe_in_the_frames_a_run_read_invalidates_that_run_only() -> None:
    near = InterpolateConfig(propagate=PropagateConfig(max_frames=40))  # reads frames 10..90
    state = _state(*_scene(), cfg=near)
    state.apply(_batch(create(5, 50, M[50])))
    assert _run(state, 5).frame.max() == 90
    state.take_invalidated()
    state.apply(_batch((Op.ADJUST, 1, 110, A[110] + 1, -1)))  # outside what track 5's runs read
    assert state.take_invalidated() == {1}
    state.apply(_batch(create(6, 85, M[85])))
    assert state.take_invalidated() == {5, 6}
    assert _run(state, 5).frame.max() == 84


@pytest.mark.parametrize("where", ["gap", "cut"])
def test_stops_at_a_video_gap_and_a_scene_cut(where: str) -> None:
    tracks, dets = _scene()
    if where == "gap":  # frames 70..74 were lost: the times jump
        time_s = FRAMES / 10.0 + np.where(FRAMES >= 70, 0.5, 0.0)
        state = _state(tracks, dets, frames=(FRAMES.astype(np.int64), time_s))
        want = (StopReason.GAP, 70, 69)
    else:  # a new shot from frame 70 on: eight still objects before, eight others after (A
        # and M go on: objects of the new shot where they were)
        still = [(FRAMES[FRAMES < 70] if k < 8 else FRAMES[FRAMES >= 70],
                  np.tile([50.0 + 90 * (k % 8), 600 + 150 * (k // 8), 110 + 90 * (k % 8),
                           700 + 150 * (k // 8)], (N, 1)), -1, 0.9)
                 for k in range(16)]
        tracks, dets = _scene(extra_dets=still)
        state = _state(tracks, dets)
        want = (StopReason.SCENE_CUT, 70, 69)
    state.apply(_batch(create(5, 50, M[50])))
    assert _stops(state, 5)[1] == want
    assert _run(state, 5).frame.max() == 69


def test_video_gaps_from_times_or_frame_numbers() -> None:
    frames = np.array([0, 3, 6, 9, 12, 30, 33], np.int64)
    assert video_gaps(frames, None).tolist() == [False] * 5 + [True, False]
    times = np.array([0, 0.1, 0.2, 0.3, 0.4, 0.5, 2.0])
    assert video_gaps(frames[:7], times).tolist() == [False] * 6 + [True]


def test_accepting_a_right_box_changes_nothing() -> None:
    state = _state(*_scene())
    before = state.track_boxes(1)
    state.apply(_batch((Op.ACCEPT, 1, 60, None, -1)))
    after = state.track_boxes(1)
    assert (after.origin != Origin.PROPAGATED).all()
    np.testing.assert_array_equal(after.xyxy[after.frame != 60], before.xyxy[before.frame != 60])
    assert state.propagation_stops() == []


def test_a_box_moved_onto_the_object_rejoins_the_tracks_own_path() -> None:
    # track 1's automatic boxes drift off the object in frames 40..59 (20 px down)
    drift = A.copy()
    drift[40:60, [1, 3]] += 45
    tracks = _boxes([(FRAMES, drift, 1, 0.9)])
    dets = _boxes([(FRAMES, A, -1, 0.9)])
    state = _state(tracks, dets)
    state.apply(_batch((Op.ADJUST, 1, 50, A[50], -1)))
    rows = state.track_boxes(1)
    run = rows[rows.origin == Origin.PROPAGATED]
    assert run.frame.min() == 40 and run.frame.max() == 59  # the drifted boxes, replaced
    assert pair_iou(run.xyxy, A[run.frame]).min() > 0.9
    stops = _stops(state, 1)
    assert stops[1][0] == stops[-1][0] == StopReason.REJOINED
    np.testing.assert_array_equal(rows.xyxy[rows.frame < 40], drift[:40])


def test_split_carries_each_part_through_evidence_no_other_track_claims() -> None:
    # track 1 follows A until frame 59, then jumps to M (an identity switch); M's detections
    # before 60 and A's after are nobody's
    switch = np.where((FRAMES < 60)[:, None], A, M)
    tracks = _boxes([(FRAMES, switch, 1, 0.9)])
    dets = _boxes([(FRAMES, A, -1, 0.9), (np.arange(20, 100), M, -1, 0.2)])
    state = _state(tracks, dets)
    new = int(state.apply(_batch((Op.SPLIT, 1, 60, None, -1))).track_id[0])
    head, tail = state.track_boxes(1), state.track_boxes(new)
    assert head.frame.max() == N - 1  # A carried on from frame 60
    assert pair_iou(head.xyxy[head.frame >= 60], A[60:]).min() > 0.9
    assert tail.frame.min() == 20  # M carried back to its first detection
    assert pair_iou(tail.xyxy[tail.frame < 60], M[20:60]).min() > 0.9
    assert (head.origin[head.frame >= 60] == Origin.PROPAGATED).all()
    assert (tail.origin[tail.frame < 60] == Origin.PROPAGATED).all()


def test_merge_fills_the_gap_between_the_pieces() -> None:
    tracks = _boxes([(np.arange(0, 40), A, 1, 0.9), (np.arange(55, N), A, 2, 0.9)])
    state = _state(tracks, _boxes([(FRAMES, A, -1, 0.9)]))
    state.apply(_batch((Op.MERGE, 1, -1, None, 2)))
    rows = state.track_boxes(1)
    assert rows.frame.tolist() == list(range(N))
    gap = rows[(rows.frame >= 40) & (rows.frame < 55)]
    assert (gap.origin == Origin.PROPAGATED).all()
    assert pair_iou(gap.xyxy, A[40:55]).min() > 0.9


def test_replay_reproduces_what_apply_showed() -> None:
    tracks, dets = _scene(extra_tracks=[(np.arange(80, 100), M, 3, 0.9)])
    batch = _batch(create(5, 50, M[50]), create(7, 30, A[30] + [0, 200, 0, 200]),
                   (Op.ADJUST, 5, 40, M[40] + 2, -1))
    live = _state(tracks, dets)
    live.apply(batch)
    replayed = _state(tracks, dets)
    replayed.replay(batch)
    for name, col in live.boxes().columns().items():
        np.testing.assert_array_equal(getattr(replayed.boxes(), name), col, err_msg=name)
    assert live.propagation_stops() == replayed.propagation_stops()


def test_open_ends_ask_at_the_conflict_and_after_the_evidence() -> None:
    tracks, dets = _scene(extra_tracks=[(np.arange(80, 100), M, 3, 0.9)])
    state = _state(tracks, dets)
    state.apply(_batch(create(5, 50, M[50])))
    cfg = ReviewConfig()
    ends = open_end_items(state.boxes(), state.keyframes(), N, cfg, state.propagation_stops())
    mine = {(int(f), int(r)) for f, t, r in zip(ends.frame, ends.track_id, ends.reason) if t == 5}
    assert mine == {(80, Reason.CONFLICT), (20 - cfg.open_end_frames, Reason.OPEN_END)}
    # without the stops a propagated end is still an open end
    ends = open_end_items(state.boxes(), state.keyframes(), N, cfg)
    assert {int(f) for f, t in zip(ends.frame, ends.track_id) if t == 5} == {10, 89}


def test_the_frames_order_always_shows_a_conflict_even_below_frames_missing_min_p() -> None:
    from trackannot.review import build_queue

    tracks, dets = _scene(extra_tracks=[(np.arange(80, 100), M, 3, 0.9)])
    state = _state(tracks, dets)
    state.apply(_batch(create(5, 50, M[50])))
    # open ends as unlikely as can be, and a threshold above them: the plain open end of the
    # drawn object (frame 10) is hidden, its conflict at frame 80 is asked about all the same
    cfg = ReviewConfig(honeypot_rate=0.0, open_end_risk=0.01, frames_missing_min_p=0.5,
                       anchor_frames=0)
    queue = build_queue(state, dets, N, N, cfg, queue_id="q0000-t", based_on=0)
    mine = {(int(f), int(r)) for f, t, r in zip(queue.frame, queue.track_id, queue.reason)
            if t == 5 and r in (Reason.CONFLICT, Reason.OPEN_END)}
    assert mine == {(80, Reason.CONFLICT)}


def test_propagate_one_direction_directly() -> None:
    dets = _boxes([(np.arange(20, 100), M, -1, 0.2)])
    evidence = Evidence(FRAMES.astype(np.int64), np.zeros(N, bool), dets, Boxes.empty(),
                        Boxes.empty())
    seed = Boxes.create(xyxy=[M[50]], frame=50, track_id=5, class_id=2)
    boxes, stop = propagate(seed, evidence, PropagateConfig(), -1)
    assert boxes.frame.tolist() == list(range(20, 50))
    assert (boxes.class_id == 2).all() and (boxes.track_id == 5).all()
    assert (stop.frame, stop.last, stop.reason) == (19, 20, StopReason.EVIDENCE_END)
    boxes, stop = propagate(seed, evidence, PropagateConfig(max_frames=10), 1)
    assert boxes.frame.tolist() == list(range(51, 61)) and stop.reason == StopReason.LIMIT


def test_runs_keep_the_persons_box_style_not_the_detectors() -> None:
    # the detector draws this object 30% wider and 10 px lower than the person does
    wide = M.copy()
    wide[:, 0] -= 9
    wide[:, 2] += 9
    wide[:, [1, 3]] += 10
    dets = _boxes([(np.arange(20, 100), wide, -1, 0.5)])
    evidence = Evidence(FRAMES.astype(np.int64), np.zeros(N, bool), dets, Boxes.empty(),
                        Boxes.empty())
    seed = Boxes.create(xyxy=[M[50]], frame=50, track_id=5)
    boxes, _ = propagate(seed, evidence, PropagateConfig(), 1)
    assert len(boxes) == 49
    assert pair_iou(boxes.xyxy, M[boxes.frame]).min() > 0.97
    assert pair_iou(wide[boxes.frame], M[boxes.frame]).max() < 0.75


def test_reading_the_evidence_in_growing_windows_gives_the_same_runs(monkeypatch) -> None:
    import trackannot.state as state_module

    tracks, dets = _scene(extra_tracks=[(np.arange(90, 100), M, 3, 0.9)])
    batch = _batch(create(5, 50, M[50]))
    whole = _state(tracks, dets)
    whole.apply(batch)
    want, want_stops = whole.track_boxes(5), whole.propagation_stops()  # one read of 1000
    monkeypatch.setattr(state_module, "_FIRST_WINDOW", 3)  # 3, 12, 48, 192 frames
    reads: list[tuple[int, int]] = []
    real = MemorySource.detections
    monkeypatch.setattr(MemorySource, "detections",
                        lambda self, a, b: reads.append((a, b)) or real(self, a, b))
    grown = _state(tracks, dets)
    grown.apply(batch)
    for name, col in want.columns().items():
        np.testing.assert_array_equal(getattr(grown.track_boxes(5), name), col, err_msg=name)
    assert grown.propagation_stops() == want_stops
    # backward: 47..50, 38..50, 2..50 (stopped at 19); forward: 50..53, 50..62, 50..98 (89)
    assert reads == [(50, 51),  # the keyframe's interpolation
                     (47, 51), (38, 51), (2, 51), (50, 54), (50, 63), (50, 99)]
