"""A keyframe that disagrees with its track changes the automatic boxes only near itself.

Tiny scenes where the right boxes are known: object O moves on a curve (a straight line between
two keyframes far apart misses it), the tracker follows it right for most frames; a person
fixes one box far from another keyframe. The boxes the tracker had right must stay right.
"""

from __future__ import annotations

import numpy as np

from trackannot.boxes import Boxes, pair_iou
from trackannot.config import InterpolateConfig
from trackannot.corrections import Corrections, Op
from trackannot.interpolate import follow_track, interpolate
from trackannot.keyframes import Keyframes
from trackannot.state import AnnotationState

N = 120
FRAMES = np.arange(N)


def _box(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.stack([x, y, x + 60, y + 120], 1).astype(np.float32)


O = _box(300 + 150 * np.sin(FRAMES / N * np.pi), np.full(N, 100.0))  # a curve
M = _box(900 - 2.0 * FRAMES, np.full(N, 400.0))  # another object, far from O


def _boxes(parts, **kw) -> Boxes:
    """Boxes from (frames, xyxy of all N frames, track_id) parts."""
    frame = np.concatenate([f for f, _, _ in parts])
    xyxy = np.concatenate([b[f] for f, b, _ in parts])
    track = np.concatenate([np.full(len(f), t) for f, _, t in parts])
    return Boxes.create(frame=frame, xyxy=xyxy, track_id=track, score=0.9, sort=True, **kw)


def _batch(*rows) -> Corrections:
    """rows: (op, track, frame, box or None)"""
    op, track, frame, box = zip(*rows)
    xyxy = [b if b is not None else [np.nan] * 4 for b in box]
    return Corrections.create(op=op, track_id=track, frame=frame, xyxy=xyxy, author="ana",
                              time_ns=1)


def _line_iou(f0: int, f1: int, frames: np.ndarray) -> np.ndarray:
    """IoU with O of the straight line between O's boxes at f0 and f1 (the old rule's path)."""
    w = ((frames - f0) / (f1 - f0))[:, None]
    return pair_iou(((1 - w) * O[f0] + w * O[f1]).astype(np.float32), O[frames])


def _same_as_replayed(state: AnnotationState, tracks: Boxes, dets: Boxes | None,
                      batches: list[Corrections], cfg: InterpolateConfig | None = None) -> None:
    fresh = AnnotationState(tracks, num_frames=N, detections=dets, cfg=cfg)
    for batch in batches:
        fresh.replay(batch)
    for name, col in state.boxes().columns().items():
        np.testing.assert_array_equal(getattr(fresh.boxes(), name), col, err_msg=name)


def test_fixing_a_box_after_an_identity_switch_keeps_the_right_boxes_before_it() -> None:
    # track 1 follows O until frame 89, then M (an identity switch); O's detections go on
    switch = np.where((FRAMES < 90)[:, None], O, M)
    tracks = _boxes([(FRAMES, switch, 1)])
    dets = _boxes([(FRAMES, O, -1), (np.arange(90, N), M, -1)])
    assert _line_iou(10, 110, np.arange(11, 110)).min() < 0.3  # the line would lose O
    state = AnnotationState(tracks, num_frames=N, detections=dets)
    batches = [_batch((Op.ACCEPT, 1, 10, None)), _batch((Op.ADJUST, 1, 110, O[110]))]
    for batch in batches:
        state.apply(batch)
    rows = state.track_boxes(1)
    between = rows[(rows.frame > 10) & (rows.frame < 110)]
    assert between.frame.tolist() == list(range(11, 110))
    assert pair_iou(between.xyxy, O[between.frame]).min() > 0.9  # right before and after 90
    far = between.frame < 85  # what the tracker had right is kept as it was
    np.testing.assert_allclose(between.xyxy[far], O[between.frame[far]], atol=0.5)
    np.testing.assert_array_equal(rows.xyxy[rows.frame == 110][0], O[110])  # keyframes exact
    _same_as_replayed(state, tracks, dets, batches)


def test_an_absent_mark_does_not_pull_the_boxes_before_it() -> None:
    tracks = _boxes([(FRAMES, O, 1)])
    assert _line_iou(10, 100, np.arange(11, 100)).min() < 0.3
    state = AnnotationState(tracks, num_frames=N, detections=_boxes([(FRAMES, O, -1)]))
    state.apply(_batch((Op.ABSENT, 1, 100, None)))
    state.apply(_batch((Op.ACCEPT, 1, 10, None)))  # confirming a box changes nothing
    rows = state.track_boxes(1)
    assert rows.frame.tolist() == list(range(100))
    np.testing.assert_array_equal(rows.xyxy, O[:100])


def test_extending_a_track_at_both_ends_keeps_its_boxes_between() -> None:
    # the tracker has O only in frames 20..99; the person draws it at 15 and 105 on track 1
    tracks = _boxes([(np.arange(20, 100), O, 1)])
    dets = _boxes([(FRAMES, O, -1)])
    state = AnnotationState(tracks, num_frames=N, detections=dets)
    batches = [_batch((Op.ADJUST, 1, 15, O[15]), (Op.ADJUST, 1, 105, O[105]))]
    state.apply(batches[0])
    rows = state.track_boxes(1)
    between = rows[(rows.frame > 15) & (rows.frame < 105)]
    assert between.frame.tolist() == list(range(16, 105))
    assert pair_iou(between.xyxy, O[between.frame]).min() > 0.9
    kept = (between.frame >= 25) & (between.frame < 95)
    np.testing.assert_allclose(between.xyxy[kept], O[between.frame[kept]], atol=0.5)
    _same_as_replayed(state, tracks, dets, batches)


def test_without_a_run_only_the_frames_next_to_the_keyframe_blend_into_the_line() -> None:
    # no detections: nothing carries the box; past disagree_frames the track is kept
    tracks = _boxes([(FRAMES, O, 1)])
    far = O[110] + np.float32([0, 300, 0, 300])  # the person says the object is elsewhere
    cfg = InterpolateConfig(method="linear", disagree_frames=10)
    state = AnnotationState(tracks, num_frames=N, cfg=cfg)
    state.apply(_batch((Op.ACCEPT, 1, 10, None), (Op.ADJUST, 1, 110, far)))
    got = state.track_boxes(1)
    got = got[(got.frame > 10) & (got.frame < 110)].xyxy
    f = np.arange(11, 110)
    w = ((f - 10) / 100)[:, None]
    line = (1 - w) * O[10] + w * far
    g = np.clip(1 - (110 - f) / 10, 0, 1)[:, None]
    np.testing.assert_allclose(got, (1 - g) * O[f] + g * line, atol=1e-3)
    np.testing.assert_array_equal(got[f <= 100], O[f[f <= 100]])


def test_another_tracks_keyframe_in_the_segment_recomputes_it_as_a_replay_would() -> None:
    switch = np.where((FRAMES < 90)[:, None], O, M)
    tracks = _boxes([(FRAMES, switch, 1)])
    dets = _boxes([(FRAMES, O, -1), (np.arange(90, N), M, -1)])
    state = AnnotationState(tracks, num_frames=N, detections=dets)
    batches = [_batch((Op.ACCEPT, 1, 10, None), (Op.ADJUST, 1, 110, O[110]))]
    state.apply(batches[0])
    before = state.track_boxes(1)
    state.take_invalidated()
    # a person says O at frame 100 is another object (track 7): the run from 110 stops there
    batches.append(_batch((Op.CREATE, 7, 100, O[100])))
    state.apply(batches[-1])
    assert 1 in state.take_invalidated()
    after = state.track_boxes(1)
    moved = ~np.all(np.isclose(after.xyxy, before.xyxy), axis=1)
    assert moved.any() and after.frame[moved].min() > 85  # only near the fixed box
    _same_as_replayed(state, tracks, dets, batches)


def test_follow_track_alone_keeps_the_track_away_from_a_disagreeing_keyframe() -> None:
    auto = _boxes([(FRAMES, O, 1)])
    keys = Keyframes.create(track_id=[1, 1], frame=[10, 110],
                            xyxy=[O[10], O[110] + np.float32([0, 300, 0, 300])])
    line = interpolate(keys, None, InterpolateConfig(method="linear"))
    out = follow_track(line, keys, auto, 0.5, near_frames=0)
    np.testing.assert_array_equal(out.xyxy[(out.frame > 10) & (out.frame < 110)], O[11:110])
    np.testing.assert_array_equal(out.origin, line.origin)
    np.testing.assert_array_equal(out.frame, line.frame)
