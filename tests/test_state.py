"""AnnotationState: corrections replayed over automatic tracks, all or none, recomputed locally."""

from __future__ import annotations

import numpy as np
import pytest

from trackannot.boxes import Boxes, Origin
from trackannot.config import InterpolateConfig
from trackannot.corrections import Corrections, Op
from trackannot.errors import InputFormatError
from trackannot.interpolate import interpolate
from trackannot.state import NO_BOX, AnnotationState

LINEAR = InterpolateConfig(method="linear")
NUM_FRAMES = 50


def _auto() -> Boxes:
    """Track 1: frames 0..29 moving right 2 px/frame; track 2: frames 10..39, still."""
    f1 = np.arange(30)
    b1 = np.stack([f1 * 2.0, np.zeros(30), f1 * 2.0 + 20, np.full(30, 40.0)], 1)
    f2 = np.arange(10, 40)
    b2 = np.tile([100.0, 100, 120, 140], (30, 1))
    return Boxes.create(frame=np.r_[f1, f2], xyxy=np.r_[b1, b2], track_id=np.r_[[1] * 30, [2] * 30],
                        score=0.9, class_id=0, sort=True)


def _state(cfg=LINEAR, detections=None) -> AnnotationState:
    return AnnotationState(_auto(), num_frames=NUM_FRAMES, detections=detections, cfg=cfg)


def _batch(*rows) -> Corrections:
    """rows: (op, track, frame, box, class, other)"""
    cols = {"op": [], "track_id": [], "frame": [], "xyxy": [], "class_id": [], "other_id": []}
    for op, track, frame, box, cls, other in rows:
        for k, v in zip(cols, (op, track, frame, box if box is not None else [np.nan] * 4, cls, other)):
            cols[k].append(v)
    return Corrections.create(**cols, author="ana", time_ns=1, source_line=np.arange(1, len(rows) + 1))


def adjust(track, frame, box, cls=-1):
    return (Op.ADJUST, track, frame, box, cls, -1)


def _track(state, t):
    return state.track_boxes(t)


def test_without_corrections_the_state_is_the_automatic_tracks():
    auto = _auto()
    got = _state().boxes()
    for name, col in auto.columns().items():
        np.testing.assert_array_equal(getattr(got, name), col, err_msg=name)


def test_adjust_two_keyframes_interpolates_between_and_keeps_auto_outside():
    state = _state()
    prev = state.apply(_batch(adjust(1, 5, [0, 0, 10, 10]), adjust(1, 25, [40, 0, 50, 10])))
    t1 = _track(state, 1)
    assert t1.frame.tolist() == list(range(30))
    auto = _auto()[_auto().track_id == 1]
    np.testing.assert_array_equal(t1.xyxy[:5], auto.xyxy[:5])  # before the first keyframe
    np.testing.assert_array_equal(t1.xyxy[26:], auto.xyxy[26:])  # after the last keyframe
    np.testing.assert_allclose(t1.xyxy[15], [20, 0, 30, 10])  # halfway
    assert t1.origin[5] == Origin.KEYFRAME and t1.origin[25] == Origin.KEYFRAME
    assert (t1.origin[6:25] == Origin.INTERPOLATED).all()
    assert (t1.origin[:5] == Origin.DETECTED).all()
    # the log records what each edited frame held before
    np.testing.assert_array_equal(prev.xyxy[0], auto.xyxy[5])
    assert prev.origin.tolist() == [Origin.DETECTED, Origin.DETECTED]
    np.testing.assert_array_equal(_track(state, 2).xyxy, auto_track2 := _auto()[_auto().track_id == 2].xyxy)
    assert len(auto_track2) == 30


def test_absent_ends_the_track_from_that_frame_on():
    state = _state()
    state.apply(_batch((Op.ABSENT, 1, 20, None, -1, -1)))
    t1 = _track(state, 1)
    assert t1.frame.tolist() == list(range(20))
    np.testing.assert_array_equal(t1.xyxy, _auto()[_auto().track_id == 1].xyxy[:20])
    (k,) = state.keyframes().outside.nonzero()[0]
    # the outside keyframe keeps the box the track had at that frame, as CVAT does
    np.testing.assert_array_equal(state.keyframes().xyxy[k], _auto()[_auto().track_id == 1].xyxy[20])


def test_absent_then_reappears_at_a_later_keyframe():
    state = _state()
    state.apply(_batch(adjust(1, 5, [0, 0, 10, 10]), (Op.ABSENT, 1, 10, None, -1, -1),
                       adjust(1, 20, [40, 0, 50, 10])))
    frames = _track(state, 1).frame.tolist()
    assert frames == [*range(0, 10), *range(20, 30)]


def test_accept_pins_the_current_box():
    state = _state()
    state.apply(_batch((Op.ACCEPT, 1, 10, None, -1, -1)))
    t1 = _track(state, 1)
    np.testing.assert_array_equal(t1.xyxy, _auto()[_auto().track_id == 1].xyxy)
    assert t1.origin[10] == Origin.KEYFRAME and len(state.keyframes()) == 1


def test_create_takes_the_next_free_id_or_the_given_one():
    state = _state()
    prev = state.apply(_batch((Op.CREATE, -1, 3, [1, 1, 9, 9], 2, -1), (Op.CREATE, 7, 4, [1, 1, 9, 9], -1, -1)))
    assert prev.track_id.tolist() == [3, 7]
    t3 = _track(state, 3)
    assert t3.frame.tolist() == [3] and t3.class_id.tolist() == [2]
    assert state.track_ids == [1, 2, 3, 7]


def test_split_moves_later_frames_and_keyframes_to_a_new_track():
    state = _state()
    prev = state.apply(_batch(adjust(1, 25, [40, 0, 50, 10]), (Op.SPLIT, 1, 15, None, -1, -1)))
    assert prev.track_id[1] == 3
    assert _track(state, 1).frame.tolist() == list(range(15))
    new = _track(state, 3)
    assert new.frame.tolist() == list(range(15, 30)) and (new.track_id == 3).all()
    assert state.keyframes().track_id.tolist() == [3]


def test_merge_joins_tracks_and_the_target_wins_where_both_have_boxes():
    state = _state()
    state.apply(_batch((Op.MERGE, 1, -1, None, -1, 2)))
    t1 = _track(state, 1)
    assert t1.frame.tolist() == list(range(40)) and 2 not in state.track_ids
    np.testing.assert_array_equal(t1.xyxy[:30], _auto()[_auto().track_id == 1].xyxy)
    with pytest.raises(InputFormatError, match="track 2 no longer exists: it was merged into track 1"):
        state.apply(_batch((Op.ACCEPT, 2, 12, None, -1, -1)))


def test_class_relabels_every_box_of_the_track():
    state = _state()
    prev = state.apply(_batch((Op.CLASS, 2, -1, None, 4, -1)))
    assert set(_track(state, 2).class_id.tolist()) == {4} and prev.class_id.tolist() == [0]
    assert set(_track(state, 1).class_id.tolist()) == {0}


@pytest.mark.parametrize("rows, match", [
    ([(Op.ACCEPT, 9, 3, None, -1, -1)], "line 1: unknown track 9 .*2 tracks, ids 1..2"),
    ([adjust(1, 50, [0, 0, 1, 1])], r"line 1: frame 50 is outside the video \(frames 0..49\)"),
    ([(Op.ACCEPT, 2, 5, None, -1, -1)], "line 1: track 2 has no box at frame 5 to accept"),
    ([adjust(1, 5, [0, 0, 1, 1]), adjust(1, 6, [0, 0, 1, 1]), adjust(1, 5, [0, 0, 2, 2])],
     "line 3: contradicts line 1: both edit track 1 at frame 5"),
    ([adjust(1, 5, [0, 0, 1, 1]), (Op.ABSENT, 1, 5, None, -1, -1)], "line 2: contradicts line 1"),
    ([(Op.CREATE, 2, 5, [0, 0, 1, 1], -1, -1)], "line 1: cannot create track 2: that id is taken"),
    ([(Op.SPLIT, 1, 35, None, -1, -1)], "line 1: cannot split track 1 at frame 35"),
    ([adjust(1, 5, [0, 0, 1, 1]), adjust(2, 5, [0, 0, 1, 1]), (Op.MERGE, 1, -1, None, -1, 2)],
     "line 3: cannot merge track 2 into 1: both have keyframes at frame"),
], ids=["unknown-track", "frame-outside", "accept-nothing", "contradiction", "adjust-vs-absent",
        "create-taken", "split-nothing-after", "merge-conflict"])
def test_a_bad_batch_raises_and_changes_nothing(rows, match):
    state = _state()
    state.apply(_batch(adjust(1, 2, [0, 0, 5, 5])))
    before, keys_before = state.boxes(), state.keyframes()
    with pytest.raises(InputFormatError, match=match):
        state.apply(_batch(*rows), source="")
    after = state.boxes()
    for name, col in before.columns().items():
        np.testing.assert_array_equal(getattr(after, name), col, err_msg=name)
    assert state.keyframes().equals(keys_before)


def test_repeating_the_same_edit_in_a_batch_is_not_a_contradiction():
    state = _state()
    prev = state.apply(_batch(adjust(1, 5, [0, 0, 1, 1]), adjust(1, 5, [0, 0, 1, 1])))
    assert prev.origin.tolist() == [Origin.DETECTED, Origin.KEYFRAME]


def test_previous_value_of_a_frame_without_box_is_recorded_as_none():
    state = _state()
    prev = state.apply(_batch(adjust(2, 2, [0, 0, 1, 1])))
    assert prev.origin.tolist() == [NO_BOX] and np.isnan(prev.xyxy).all()


def _detections(rng, auto: Boxes) -> Boxes:
    """Noisy detections around the automatic boxes plus clutter, for guided interpolation."""
    noise = rng.normal(0, 1.0, auto.xyxy.shape).astype(np.float32)
    clutter_frames = rng.integers(0, NUM_FRAMES, 40)
    clutter = rng.uniform(0, 200, (40, 2))
    xyxy = np.r_[auto.xyxy + noise, np.c_[clutter, clutter + 15]]
    return Boxes.create(frame=np.r_[auto.frame, clutter_frames], xyxy=xyxy, score=0.8, sort=True)


@pytest.mark.parametrize("method", ["linear", "guided"])
def test_incremental_recompute_equals_interpolating_everything(method):
    rng = np.random.default_rng(3)
    auto = _auto()
    dets = _detections(rng, auto)
    cfg = InterpolateConfig(method=method)
    state = _state(cfg, dets)
    applied = []
    for _ in range(12):  # batches of random edits, each recomputed locally
        track = int(rng.integers(1, 3))
        frame = int(rng.integers(0, 40))
        x = float(rng.uniform(0, 100))
        op = adjust(track, frame, [x, 0, x + 20, 40]) if rng.random() < 0.8 else (
            Op.ABSENT, track, frame, None, -1, -1)
        try:
            state.apply(_batch(op))
        except InputFormatError:
            continue
        applied.append(_batch(op))
    whole = _state(cfg, dets)  # every track interpolated whole when read
    for batch in applied:
        whole.replay(batch)
    got, full = state.boxes(), whole.boxes()
    for name in ("frame", "track_id", "xyxy", "origin"):
        np.testing.assert_array_equal(getattr(got, name), getattr(full, name), err_msg=name)


def test_an_edit_recomputes_only_its_two_segments():
    state = _state()
    state.apply(_batch(*(adjust(1, f, [f * 2.0, 0, f * 2.0 + 20, 40]) for f in (0, 5, 10, 15, 20, 25))))
    before = state.recomputed_rows
    state.apply(_batch(adjust(1, 15, [31, 0, 51, 40])))
    # segments 10..15 and 15..20: 11 rows; the whole track would be 26
    assert state.recomputed_rows - before == 11


def test_accept_and_absent_may_carry_the_box_they_pin():
    state = _state()
    state.apply(_batch((Op.ACCEPT, 2, 5, [1, 2, 3, 4], -1, -1),  # no box there: pinned as given
                       (Op.ABSENT, 1, 20, [7, 7, 9, 9], -1, -1)))
    keys = state.keyframes()
    np.testing.assert_array_equal(keys.for_track(2).xyxy, [[1, 2, 3, 4]])
    np.testing.assert_array_equal(keys.for_track(1).xyxy, [[7, 7, 9, 9]])
    assert keys.for_track(1).outside.tolist() == [True]


def _curved_auto() -> Boxes:
    """Track 1: frames 0..30 on a parabola (a line between two of its frames misses it)."""
    f = np.arange(31)
    x = 0.2 * (f - 15.0) ** 2
    return Boxes.create(frame=f, track_id=1, xyxy=np.stack([x, np.zeros(31), x + 20, np.full(31, 40.0)], 1))


def _follow_state(follow_iou: float = 0.5) -> AnnotationState:
    return AnnotationState(_curved_auto(), num_frames=40, cfg=InterpolateConfig(method="linear",
                                                                             follow_iou=follow_iou))


def test_accepting_two_frames_keeps_the_tracked_path_between_them():
    auto = _curved_auto()
    state = _follow_state()
    state.apply(_batch((Op.ACCEPT, 1, 5, None, -1, -1), (Op.ACCEPT, 1, 25, None, -1, -1)))
    np.testing.assert_array_equal(_track(state, 1).xyxy, auto.xyxy)
    assert (_track(state, 1).origin[6:25] == Origin.INTERPOLATED).all()


def test_shifted_keyframes_shift_the_tracked_path_blended_across_the_segment():
    auto = _curved_auto()
    state = _follow_state()
    k5, k25 = auto.xyxy[5] + [4, 0, 4, 0], auto.xyxy[25] + [0, 2, 0, 2]
    state.apply(_batch(adjust(1, 5, k5.tolist()), adjust(1, 25, k25.tolist())))
    got = _track(state, 1).xyxy
    w = (np.arange(6, 25) - 5) / 20.0
    expected = auto.xyxy[6:25] + (1 - w)[:, None] * [4, 0, 4, 0] + w[:, None] * [0, 2, 0, 2]
    np.testing.assert_allclose(got[6:25], expected, atol=1e-4)
    np.testing.assert_array_equal(got[[5, 25]], np.stack([k5, k25]).astype(np.float32))


def test_a_keyframe_that_disagrees_with_the_track_moves_only_the_boxes_near_it():
    auto = _curved_auto()
    far = [200.0, 0.0, 220.0, 40.0]  # the person says the object is elsewhere
    state = _follow_state()
    state.apply(_batch((Op.ACCEPT, 1, 2, None, -1, -1), adjust(1, 28, far)))
    got = _track(state, 1).xyxy
    near = state.cfg.disagree_frames  # 10: frames 3..18 keep the track, 19..27 blend into the line
    np.testing.assert_allclose(got[3:28 - near + 1], auto.xyxy[3:28 - near + 1], atol=1e-4)
    line = auto.xyxy[2] + (np.array(far) - auto.xyxy[2]) * 24 / 26  # frame 26 on the line
    np.testing.assert_allclose(got[26], 0.8 * line + 0.2 * auto.xyxy[26], atol=1e-3)
    # follow_iou 1.0: only unchanged keyframes follow, a slightly moved one is not followed
    strict = _follow_state(1.0)
    strict.apply(_batch((Op.ACCEPT, 1, 2, None, -1, -1),
                        adjust(1, 28, (auto.xyxy[28] + [1, 0, 1, 0]).tolist())))
    assert not np.allclose(_track(strict, 1).xyxy[27], auto.xyxy[27])
    np.testing.assert_allclose(_track(strict, 1).xyxy[3:19], auto.xyxy[3:19], atol=1e-4)


def test_a_short_segment_with_a_disagreeing_keyframe_is_interpolated():
    auto = _curved_auto()
    far = [200.0, 0.0, 220.0, 40.0]
    state = _follow_state()  # keyframes 20 frames apart: no more than 2 * disagree_frames
    state.apply(_batch((Op.ACCEPT, 1, 5, None, -1, -1), adjust(1, 25, far)))
    np.testing.assert_allclose(_track(state, 1).xyxy[15], (auto.xyxy[5] + np.array(far)) / 2,
                               atol=1e-4)  # the line


def test_incremental_follow_equals_following_all_keyframes_at_once():
    from trackannot.interpolate import follow_track

    auto = _curved_auto()
    rng = np.random.default_rng(5)
    frames = rng.choice(31, 8, replace=False)
    noise = rng.normal(0, 3, (8, 4)) * (rng.random(8) < 0.7)[:, None] * [1, 1, 1, 1]
    noise[rng.random(8) < 0.3] += 60.0  # some keyframes disagree with the track
    state = _follow_state()
    for f, d in zip(frames, noise):  # one edit at a time, each recomputed locally
        state.apply(_batch(adjust(1, int(f), (auto.xyxy[f] + d).tolist())))
    keyframes = state.keyframes()
    full = follow_track(interpolate(keyframes, None, LINEAR), keyframes, auto, 0.5,
                        near_frames=state.cfg.disagree_frames)
    got = state.boxes()
    got = got[got.origin != Origin.DETECTED]
    np.testing.assert_array_equal(got.frame, full.frame)
    np.testing.assert_array_equal(got.xyxy, full.xyxy)


def test_released_tracks_read_and_edit_as_if_never_released():
    kept, released = _state(), _state()
    edits = [_batch(adjust(1, 5, [0, 0, 10, 10]), adjust(1, 25, [40, 0, 50, 10])),
             _batch(adjust(1, 15, [30, 2, 50, 42]), (Op.SPLIT, 2, 20, None, -1, -1)),
             _batch(adjust(1, 10, [22, 0, 42, 40]), adjust(3, 30, [100, 100, 122, 142]))]
    for batch in edits:
        kept.apply(batch)
        for t in released.track_ids:  # read, then forget, before every edit
            released.track_boxes(t)
        released.release(released.track_ids)
        released.apply(batch)  # an edit's segment recompute after a release
        for t in kept.track_ids:
            for name, col in kept.track_boxes(t).columns().items():
                np.testing.assert_array_equal(getattr(released.track_boxes(t), name), col,
                                              err_msg=f"track {t} {name}")
