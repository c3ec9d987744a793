"""Tracker behaviour on small synthetic scenes: identities, lifecycle, outputs, errors."""

from __future__ import annotations

import numpy as np
import pytest

from trackannot.boxes import COLUMNS, Boxes, Origin
from trackannot.config import TrackConfig
from trackannot.errors import InputFormatError
from trackannot.track import Tracker, track_detections

BOX = [100.0, 100.0, 140.0, 180.0]  # a 40 x 80 pedestrian-like box


def frame_of(frame: int, xyxy: list[list[float]], score: float | list[float] = 0.9,
             class_id: int | list[int] = 0) -> Boxes:
    return Boxes.create(xyxy=np.asarray(xyxy, dtype=np.float32).reshape(-1, 4), frame=frame,
                        score=score, class_id=class_id)


def run(tracker: Tracker, frames: dict[int, Boxes], last: int) -> list[Boxes]:
    """Feed frames 0..last; frames missing from `frames` are empty."""
    return [tracker.update(frames.get(f, Boxes.empty()), frame=f) for f in range(last + 1)]


def check_dtypes(b: Boxes) -> None:
    for name, (dtype, tail) in COLUMNS.items():
        col = getattr(b, name)
        assert col.dtype == dtype and col.shape[1:] == tail, name


@pytest.mark.parametrize("gap", [1, 5, 10], ids=["gap1", "gap5", "gap10"])
def test_still_box_keeps_its_id_across_a_gap(gap: int) -> None:
    seen = [f for f in range(25) if not 5 <= f < 5 + gap]
    outs = run(Tracker(TrackConfig()), {f: frame_of(f, [BOX]) for f in seen}, 24)
    ids = np.concatenate([o.track_id for o in outs])
    assert set(ids.tolist()) == {1}
    assert len(outs[-1]) == 1 and outs[-1].track_id[0] == 1


def test_box_lost_longer_than_max_lost_frames_gets_a_new_id() -> None:
    cfg = TrackConfig(max_lost_frames=3, report_predicted=0)
    seen = [f for f in range(20) if not 5 <= f < 10]
    outs = run(Tracker(cfg), {f: frame_of(f, [BOX]) for f in seen}, 19)
    assert outs[4].track_id.tolist() == [1]
    assert outs[-1].track_id.tolist() == [2]


@pytest.mark.parametrize("dy", [0.0, 10.0, 30.0], ids=["same-row", "offset10", "offset30"])
def test_two_crossing_boxes_keep_their_ids(dy: float) -> None:
    """A moves right, B moves left, through each other."""
    frames = {}
    for f in range(40):
        a = [0.0 + 10 * f, 100.0, 40.0 + 10 * f, 180.0]
        b = [400.0 - 10 * f, 100.0 + dy, 440.0 - 10 * f, 180.0 + dy]
        frames[f] = frame_of(f, [a, b])  # row 0 is always A, row 1 always B
    outs = run(Tracker(TrackConfig(min_hits=1)), frames, 39)
    id_of = {0: set(), 1: set()}
    for o in outs:
        for det, tid in zip(o.det_index.tolist(), o.track_id.tolist()):
            id_of[det].add(tid)
    assert len(id_of[0]) == 1 and len(id_of[1]) == 1 and id_of[0] != id_of[1]


@pytest.mark.parametrize("tracks_before", [0, 1], ids=["no-tracks", "with-a-lost-track"])
def test_empty_frame_gives_empty_boxes(tracks_before: int) -> None:
    tracker = Tracker(TrackConfig(min_hits=1))
    for f in range(tracks_before * 3):
        tracker.update(frame_of(f, [BOX]))
    out = tracker.update(Boxes.empty(), frame=10)
    assert len(out) == 0
    check_dtypes(out)


def test_reset_restarts_ids() -> None:
    tracker = Tracker(TrackConfig(min_hits=1))
    first = [tracker.update(frame_of(f, [BOX, [300, 300, 340, 380]])) for f in range(3)]
    assert first[-1].track_id.tolist() == [1, 2]
    tracker.reset()
    again = tracker.update(frame_of(0, [[500, 100, 540, 180]]))  # frame 0 is allowed again
    assert again.track_id.tolist() == [1]


def test_low_score_detections_keep_a_track_but_do_not_start_one() -> None:
    cfg = TrackConfig(min_hits=1, max_lost_frames=5, high_score=0.6, low_score=0.1)
    other = [400.0, 100.0, 440.0, 180.0]
    frames = {}
    for f in range(30):
        score = 0.9 if f < 3 or f >= 27 else 0.3  # the tracked box is weak for 24 frames
        frames[f] = frame_of(f, [BOX, other], score=[score, 0.3])  # `other` is always weak
    outs = run(Tracker(cfg), frames, 29)
    for o in outs:
        assert o.det_index.tolist() == [0]  # the weak-only object is never reported
        assert o.track_id.tolist() == [1]


def test_det_index_points_to_the_input_rows() -> None:
    rng = np.random.default_rng(5)
    boxes = np.array([[50 + 120 * i, 100, 90 + 120 * i, 180] for i in range(6)], np.float32)
    tracker = Tracker(TrackConfig(min_hits=1, new_track_score=0.7))
    for f in range(8):
        order = rng.permutation(6)
        moved = boxes[order] + np.float32(3 * f)
        scores = np.linspace(0.7, 0.95, 6, dtype=np.float32)[order]
        out = tracker.update(Boxes.create(xyxy=moved, frame=f, score=scores,
                                          class_id=order.astype(np.int32)))
        assert len(out) == 6
        # the reported box is the filter's correction of the detection: close, not equal
        np.testing.assert_allclose(out.xyxy, moved[out.det_index], atol=4.0)
        np.testing.assert_array_equal(out.score, scores[out.det_index])
        # a track keeps the class of its object, which here equals the object's index
        np.testing.assert_array_equal(out.class_id, order[out.det_index])
        np.testing.assert_array_equal(out.track_id, np.sort(out.track_id))
        assert np.all(out.origin == Origin.DETECTED) and np.all(out.pos_std > 0)


@pytest.mark.parametrize(
    ("min_hits", "reported"),
    [
        (1, [2, 1, 1, 1, 1, 1, 1, 1]),  # no tentative phase: the flicker is reported at once
        (2, [0, 1, 1, 1, 1, 1, 1, 1]),
        (3, [0, 0, 1, 1, 1, 1, 1, 1]),
        (5, [0, 0, 0, 0, 1, 1, 1, 1]),
    ],
    ids=["hits1", "hits2", "hits3", "hits5"],
)
def test_tentative_tracks_are_not_reported(min_hits: int, reported: list[int]) -> None:
    tracker = Tracker(TrackConfig(min_hits=min_hits))
    flicker = [600.0, 50.0, 640.0, 130.0]  # seen on frame 0 only
    outs = [tracker.update(frame_of(0, [BOX, flicker]))]
    outs += [tracker.update(frame_of(f, [BOX])) for f in range(1, 8)]
    assert [len(o) for o in outs] == reported
    assert {tid for o in outs[1:] for tid in o.track_id.tolist()} == {1}


def test_classes_do_not_match_each_other() -> None:
    tracker = Tracker(TrackConfig(min_hits=1))
    tracker.update(frame_of(0, [BOX], class_id=1))
    out = tracker.update(frame_of(1, [BOX], class_id=2))
    assert out.track_id.tolist() == [2] and out.class_id.tolist() == [2]


def test_lost_tracks_are_reported_as_predicted_for_report_predicted_frames() -> None:
    cfg = TrackConfig(min_hits=1, report_predicted=2, max_lost_frames=10)
    frames = {f: frame_of(f, [[100 + 5 * f, 100, 140 + 5 * f, 180]]) for f in range(6)}
    outs = run(Tracker(cfg), frames, 9)
    assert [len(o) for o in outs] == [1] * 8 + [0, 0]
    lost = Boxes.concat(outs[6:8])
    assert lost.origin.tolist() == [Origin.PREDICTED] * 2
    assert lost.det_index.tolist() == [-1, -1]
    # the prediction keeps moving at 5 px/frame and gets less certain
    assert 125 < lost.xyxy[0, 0] < lost.xyxy[1, 0] < 136
    assert 3 < lost.xyxy[1, 0] - lost.xyxy[0, 0] < 6
    assert lost.pos_std[1] > lost.pos_std[0] > outs[5].pos_std[0]


@pytest.mark.parametrize(
    ("boxes", "frame", "match"),
    [
        (Boxes.empty(), None, "pass frame="),
        (Boxes.create(xyxy=[BOX, BOX], frame=[3, 4]), None, "one frame at a time"),
        (Boxes.create(xyxy=[BOX], frame=3), 4, "rows are of frame 3"),
        (Boxes.create(xyxy=[BOX], frame=1), None, "not after the previous frame 2"),
    ],
    ids=["empty-without-frame", "two-frames", "frame-contradicts-rows", "frame-goes-back"],
)
def test_update_rejects_bad_frames(boxes: Boxes, frame: int | None, match: str) -> None:
    tracker = Tracker(TrackConfig())
    tracker.update(Boxes.empty(), frame=2)
    with pytest.raises(InputFormatError, match=match):
        tracker.update(boxes, frame=frame)


def _sequence() -> Boxes:
    """Three objects over 30 frames, with a gap in frames 10-13 for everyone."""
    rows = []
    for f in list(range(10)) + list(range(14, 30)):
        for k in range(3):
            x = 60.0 * k + 2.0 * f
            rows.append((f, [x, 50.0 * k, x + 30.0, 50.0 * k + 60.0], 0.9 - 0.1 * k))
    return Boxes.create(xyxy=[r[1] for r in rows], frame=[r[0] for r in rows],
                        score=[r[2] for r in rows])


@pytest.mark.parametrize("min_hits", [1, 2, 4], ids=["hits1", "hits2", "hits4"])
def test_track_detections_equals_a_tracker_loop_plus_tentative_frames(min_hits: int) -> None:
    dets = _sequence()
    cfg = TrackConfig(min_hits=min_hits, report_predicted=1, new_track_score=0.7)
    out = track_detections(dets, cfg)
    tracker = Tracker(cfg)
    expected = []
    for f in range(30):
        o = tracker.update(dets.for_frame(f), frame=f)
        offset = int(np.searchsorted(dets.frame, f))  # det_index becomes a row of `dets`
        expected.append(o.replace(det_index=np.where(o.det_index >= 0, o.det_index + offset, -1)))
    online = Boxes.concat(expected)
    # every online row is there, unchanged; the rest are the tracks' tentative frames
    key = {(f, t) for f, t in zip(out.frame.tolist(), out.track_id.tolist())}
    assert len(key) == len(out)
    is_online = np.isin(out.frame * 1000 + out.track_id, online.frame * 1000 + online.track_id)
    for name in COLUMNS:
        np.testing.assert_array_equal(getattr(out, name)[is_online], getattr(online, name), name)
    extra = out[~is_online]
    assert len(extra) == 3 * (min_hits - 1)  # three objects, each starts on frame 0
    assert sorted(extra.frame.tolist()) == sorted(list(range(min_hits - 1)) * 3)
    np.testing.assert_array_equal(extra.xyxy, dets.xyxy[extra.det_index])
    np.testing.assert_array_equal(extra.frame, dets.frame[extra.det_index])
    assert set(out.track_id.tolist()) == {1, 2, 3}


@pytest.mark.parametrize(
    ("frames", "ok"),
    [(None, True), (range(40), True), (range(5, 30), False), ([3, 2, 4], False)],
    ids=["default", "superset", "misses-detections", "not-increasing"],
)
def test_track_detections_frames_argument(frames, ok: bool) -> None:
    dets = _sequence()
    if ok:
        out = track_detections(dets, TrackConfig(), frames=frames)
        assert len(out) > 0 and np.all(np.diff(out.frame) >= 0)
    else:
        with pytest.raises(InputFormatError, match="frames"):
            track_detections(dets, TrackConfig(), frames=frames)


def test_track_detections_of_nothing_is_empty() -> None:
    assert len(track_detections(Boxes.empty(), TrackConfig())) == 0
    assert len(track_detections(Boxes.empty(), TrackConfig(), frames=range(5))) == 0


def _crowd(seed: int, frames: int, objects: int, classes: int) -> list[Boxes]:
    """Objects walking across each other, with weak and missed detections and clutter."""
    rng = np.random.default_rng(seed)
    start = rng.uniform(0, 600, (objects, 2))
    velocity = rng.normal(0, 6, (objects, 2))
    size = rng.uniform(30, 90, (objects, 2))
    cls = rng.integers(0, classes, objects)
    out = []
    for f in range(frames):
        centre = start + f * velocity
        seen = rng.random(objects) > (0.15 if not 30 <= f < 33 else 1.0)  # 30-32: nothing
        jitter = rng.normal(0, 2, (objects, 4))
        xyxy = np.c_[centre - size / 2, centre + size / 2] + jitter
        score = rng.choice([0.95, 0.8, 0.65, 0.55, 0.3], objects)
        clutter = int(rng.integers(0, 3)) if seen.any() else 0
        cxy = rng.uniform(0, 600, (clutter, 2))
        xyxy = np.r_[xyxy[seen], np.c_[cxy, cxy + 40]]
        score = np.r_[score[seen], rng.uniform(0.2, 0.9, clutter)]
        order = rng.permutation(len(score))
        out.append(Boxes.create(xyxy=xyxy[order], frame=f, score=score[order],
                                class_id=np.r_[cls[seen], np.zeros(clutter, int)][order]))
    return out


@pytest.mark.parametrize(
    ("seed", "objects", "classes", "cfg"),
    [
        (1, 12, 1, TrackConfig()),
        (2, 25, 1, TrackConfig(min_hits=1, report_predicted=3, max_lost_frames=5)),
        (3, 20, 3, TrackConfig(fuse_score=False, min_iou=0.1, min_iou_tentative=0.1)),
        (4, 30, 2, TrackConfig(min_hits=2, high_score=0.7, low_score=0.5,
                               new_track_score=0.9, std_measurement=0.1)),
    ],
    ids=["defaults", "hits1-predicted", "three-classes-loose-gates", "strict-scores"],
)
def test_kernel_tracker_equals_numpy_reference(seed: int, objects: int, classes: int,
                                               cfg: TrackConfig) -> None:
    """The fast frame kernel gives the same tracks as the plain reference, crowded scenes
    (many Hungarian searches) included."""
    from tests.track.reference_tracker import ReferenceTracker

    tracker, reference = Tracker(cfg), ReferenceTracker(cfg)
    compared = 0
    for f, dets in enumerate(_crowd(seed, 60, objects, classes)):
        if f == 20:  # a few skipped frames
            continue
        got = tracker.update(dets, frame=f)
        want = reference.update(f, dets.xyxy, dets.score, dets.class_id)
        for name, value in want.items():
            np.testing.assert_allclose(getattr(got, name), value, rtol=1e-5, atol=1e-3,
                                       err_msg=f"frame {f} column {name}")
        compared += len(got)
    assert compared > 200


def test_track_detections_output_larger_than_its_first_buffer() -> None:
    """Many predicted rows from few detections: the output buffers grow, nothing is lost."""
    dets = Boxes.create(xyxy=[[100.0 * k, 0.0, 100.0 * k + 40.0, 80.0] for k in range(5)] * 4,
                        frame=np.repeat(np.arange(4), 5), score=0.9)
    cfg = TrackConfig(min_hits=1, report_predicted=300, max_lost_frames=300)
    out = track_detections(dets, cfg, frames=range(400))
    tracker = Tracker(cfg)
    online = Boxes.concat([tracker.update(dets.for_frame(f), frame=f) for f in range(400)])
    assert len(out) == len(online) == 5 * 304
    np.testing.assert_array_equal(out.track_id, online.track_id)
    np.testing.assert_allclose(out.xyxy, online.xyxy)
    assert np.sum(out.origin == Origin.PREDICTED) == 5 * 300
