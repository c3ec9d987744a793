"""Review queue: risk frames, strict spot checks, honeypots, determinism, answer files."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tests.test_annotate import write_lines
from trackannot.boxes import Boxes, Origin
from trackannot.config import ReviewConfig
from trackannot.corrections import Corrections, Op
from trackannot.errors import InputFormatError
from trackannot.review import (
    ItemKind,
    build_queue,
    honeypot_count,
    read_answer_file,
    spot_check_count,
)
from trackannot.proposals import missing_boxes
from trackannot.ranking import anchored_order, frame_order
from trackannot.risk import Reason, score_risk
from trackannot.state import AnnotationState

NUM_FRAMES = 60
SIZE = (320, 240)
RISKY = range(30, 40)  # track 3 has no detection here: the riskiest frames
NO_HONEY = ReviewConfig(honeypot_rate=0.0)
# the run-aware frames order alone, every probably missing box shown
RUNS_ONLY = ReviewConfig(honeypot_rate=0.0, anchor_frames=0, frames_missing_min_p=0.0)


def make_state() -> tuple[AnnotationState, Boxes]:
    """Three tracks over 50 frames of a 60-frame 320x240 video, and the detections.

    Track 3 is predicted (no detection) at frames 30..39.
    """
    rows = []
    for f in range(50):
        for t, (x, y) in enumerate([(2.0 * f, 10.0), (200.0, 50.0), (100.0, 120.0 + f)], start=1):
            rows.append((f, t, [x, y, x + 30, y + 60]))
    frame = np.array([r[0] for r in rows])
    track = np.array([r[1] for r in rows])
    xyxy = np.array([r[2] for r in rows], np.float32)
    missing = (track == 3) & np.isin(frame, RISKY)
    tracks = Boxes.create(frame=frame, xyxy=xyxy, track_id=track, score=np.where(missing, 0.3, 0.9),
                          origin=np.where(missing, Origin.PREDICTED, Origin.DETECTED),
                          det_index=np.where(missing, -1, 0))
    dets = Boxes.create(frame=frame[~missing], xyxy=xyxy[~missing] + 0.5, score=0.9)
    return AnnotationState(tracks, num_frames=NUM_FRAMES, detections=dets), dets


def queue_of(budget: int, cfg: ReviewConfig = NO_HONEY, queue_id: str = "q0000-test",
             state: AnnotationState | None = None, **kw):
    if state is None:
        state, dets = make_state()
    else:
        dets = None
    return build_queue(state, dets, NUM_FRAMES, budget, cfg, queue_id=queue_id, based_on=0,
                       frame_size=SIZE, **kw)


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lo, hi = np.maximum(a[:, :2], b[:, :2]), np.minimum(a[:, 2:], b[:, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=1)
    area = lambda x: np.prod(x[:, 2:] - x[:, :2], axis=1)  # noqa: E731
    return inter / (area(a) + area(b) - inter)


def test_fast_queue_is_the_top_ranked_frames_with_every_box_as_an_item():
    state, dets = make_state()
    boxes = state.boxes()
    risk = score_risk(boxes, dets, state.keyframes(), NO_HONEY)
    # the frames order ranks the boxes and the probably missing boxes after the tracks' ends
    missing = missing_boxes(boxes, state.keyframes(), NUM_FRAMES, NO_HONEY)
    frame = np.r_[boxes.frame, missing.frame]
    by_frame = np.argsort(frame, kind="stable")
    weight = np.r_[np.ones(len(boxes)), np.full(len(missing), NO_HONEY.missing_box_weight)]
    order = frame_order(frame[by_frame], np.r_[boxes.track_id, missing.track_id][by_frame],
                        np.r_[risk.score, missing.p][by_frame], NUM_FRAMES, NO_HONEY,
                        weight[by_frame])
    # the run-aware order alone (no coverage skeleton): the top-ranked frames
    queue = queue_of(8, cfg=RUNS_ONLY)
    assert queue.mode == "fast" and queue.budget == 8
    assert queue.frames.tolist() == order[:8].tolist()
    # the default puts the skeleton first: the same frames re-ordered by `anchored_order`
    shown = np.r_[boxes.frame, missing.frame[missing.p >= NO_HONEY.frames_missing_min_p]]
    eligible = order[np.isin(order, shown)]  # frames with an item to show
    skeleton = anchored_order(eligible, state.keyframes().frame, NUM_FRAMES,
                              NO_HONEY.anchor_frames)
    assert NO_HONEY.anchor_frames > 0
    assert queue_of(8).frames.tolist() == skeleton[:8].tolist() != order[:8].tolist()
    assert not np.isin(queue.frames, boxes.frame).all()  # frames of missing boxes only, too
    # every box of a queued frame is an item, and so is every probably missing box there:
    # three a frame here (three tracks, or the three tracks' missing boxes after their ends)
    assert len(queue) == 3 * 8 and queue.item.tolist() == list(range(24))
    assert (queue.kind == ItemKind.RISK).all() and np.isnan(queue.truth_xyxy).all()
    assert sorted(zip(queue.frame[queue.reason == Reason.OPEN_END].tolist(),
                      queue.track_id[queue.reason == Reason.OPEN_END].tolist())) == sorted(
        (f, t) for f, t in zip(missing.frame.tolist(), missing.track_id.tolist())
        if f in queue.frames)
    # ranks follow the frame order; within a frame the riskiest box first
    assert queue.rank.tolist() == np.repeat(np.arange(8), 3).tolist()
    for r in range(8):
        scores = queue.score[queue.rank == r]
        assert (np.diff(scores) <= 0).all()
    # the shown boxes are the annotation's
    for i in np.flatnonzero(np.isin(queue.frame, boxes.frame)).tolist():
        box, _ = state.box_at(int(queue.track_id[i]), int(queue.frame[i]))
        np.testing.assert_array_equal(queue.xyxy[i], box)


def test_the_undetected_track_leads_every_frame_and_its_gap_is_queued():
    # the run-aware order queues the gap among its first 5 frames, and so does the default's
    # even skeleton (its first 5 looks: one every ~10 frames of the 50 that show items)
    for queue in (queue_of(5, cfg=RUNS_ONLY), queue_of(5)):
        assert set(queue.frames.tolist()) & set(RISKY)
        for r in range(len(queue.frames)):  # the weakly detected track is the first box of
            if queue.frames[r] < 50:  # every frame with boxes
                assert queue.track_id[queue.rank == r][0] == 3


@pytest.mark.parametrize(("mode", "rate", "budget", "expected"), [
    ("fast", 0.5, 10, 0),
    ("strict", 0.1, 10, 1),
    ("strict", 0.3, 10, 3),
    ("strict", 0.01, 10, 1),  # at least one
    ("strict", 0.1, 1, 0),  # a one-frame budget stays risk only
    ("strict", 0.0, 10, 0),
    ("strict", 1.0, 4, 3),  # never the whole budget
], ids=["fast", "10pct", "30pct", "at-least-one", "budget-1", "rate-0", "not-all"])
def test_spot_check_count(mode, rate, budget, expected):
    assert spot_check_count(budget, ReviewConfig(mode=mode, spot_check_rate=rate)) == expected


@pytest.mark.parametrize(("rate", "items", "expected"), [
    (0.0, 100, 0), (0.02, 100, 2), (0.01, 20, 1), (0.01, 19, 0), (0.1, 19, 2), (0.5, 0, 0),
], ids=["off", "2pct", "at-least-one", "too-few-items", "rate-counts", "empty"])
def test_honeypot_count(rate, items, expected):
    assert honeypot_count(items, ReviewConfig(honeypot_rate=rate)) == expected


def test_strict_queue_spot_checks_confident_frames_spread_through_the_order():
    cfg = replace(NO_HONEY, mode="strict", spot_check_rate=0.3)
    state, dets = make_state()
    queue = queue_of(10, cfg)
    fast = queue_of(10)
    spot_frames = np.unique(queue.frame[queue.kind == ItemKind.SPOT_CHECK])
    assert queue.mode == "strict" and len(spot_frames) == 3 and len(queue.frames) == 10
    # the risk part is the fast queue's top 7 frames, in the same order
    risk_frames = [f for f in queue.frames.tolist() if f not in spot_frames]
    assert risk_frames == fast.frames[:7].tolist()
    # spot checks are confident frames: highest box risk below the median frame
    boxes = state.boxes()
    risk = score_risk(boxes, dets, state.keyframes(), cfg)
    frame_max = {f: risk.score[boxes.frame == f].max() for f in np.unique(boxes.frame)}
    median = np.median(list(frame_max.values()))
    assert all(frame_max[f] < median for f in spot_frames.tolist())
    assert not set(spot_frames.tolist()) & set(RISKY)
    # a whole frame is a spot check, and they are not all at the end
    for f in spot_frames.tolist():
        assert (queue.kind[queue.frame == f] == ItemKind.SPOT_CHECK).all()
    spot_ranks = np.unique(queue.rank[queue.kind == ItemKind.SPOT_CHECK])
    assert spot_ranks.min() < 7


def test_honeypots_are_shifted_from_a_known_truth_among_low_risk_boxes():
    cfg = ReviewConfig(honeypot_rate=0.1, honeypot_shift=0.25)
    queue = queue_of(20, cfg)
    honey = queue.kind == ItemKind.HONEYPOT
    boxed = np.isin(queue.frames, np.arange(50)).sum()  # tracks end at 49: later frames, no box
    assert honey.sum() == round(0.1 * 3 * boxed)
    state, _ = make_state()
    for i in np.flatnonzero(honey).tolist():
        truth, _ = state.box_at(int(queue.track_id[i]), int(queue.frame[i]))
        np.testing.assert_array_equal(queue.truth_xyxy[i], truth)
    overlap = iou(queue.xyxy[honey], queue.truth_xyxy[honey])
    assert ((overlap > 0.45) & (overlap < 0.7)).all(), overlap
    assert (queue.xyxy[honey] >= 0).all() and (queue.xyxy[honey][:, 2] <= SIZE[0]).all()
    assert (queue.xyxy[honey][:, 3] <= SIZE[1]).all()
    assert np.isnan(queue.truth_xyxy[~honey]).all()
    # drawn among the lower-risk items
    assert np.median(queue.score[honey]) <= np.median(queue.score)


def test_honeypots_prefer_boxes_at_human_keyframes():
    state, dets = make_state()
    frames = [31, 33, 35, 37]
    state.apply(Corrections.create(op=[Op.ACCEPT] * 4, track_id=3, frame=frames))
    cfg = ReviewConfig(honeypot_rate=0.05)
    # every frame: the 150 boxes of frames 0..49 (and missing-box items past their ends)
    queue = build_queue(state, dets, NUM_FRAMES, NUM_FRAMES, cfg, queue_id="q0001-k",
                        based_on=4)
    honey = queue.kind == ItemKind.HONEYPOT
    assert honey.sum() == round(0.05 * 150) == 8
    keyed = set(zip(queue.track_id[honey].tolist(), queue.frame[honey].tolist()))
    assert keyed >= {(3, f) for f in frames}  # every keyframe box first, then automatic ones
    cfg = ReviewConfig(honeypot_rate=0.02)
    queue = build_queue(state, dets, NUM_FRAMES, NUM_FRAMES, cfg, queue_id="q0001-k",
                        based_on=4)
    honey = queue.kind == ItemKind.HONEYPOT
    assert honey.sum() == 3
    assert set(zip(queue.track_id[honey].tolist(), queue.frame[honey].tolist())) <= {
        (3, f) for f in frames}


def test_no_honeypots_when_asked_for_none():
    queue = queue_of(20, ReviewConfig(honeypot_rate=0.5), honeypots=False)
    assert not (queue.kind == ItemKind.HONEYPOT).any()


def test_the_same_inputs_give_the_same_queue_and_another_id_other_draws():
    cfg = ReviewConfig(mode="strict", spot_check_rate=0.3, honeypot_rate=0.1)
    a, b = queue_of(10, cfg), queue_of(10, cfg)
    for name, col in a.columns().items():
        np.testing.assert_array_equal(col, getattr(b, name), err_msg=name)
    others = [queue_of(10, cfg, queue_id=f"q0000-{i}") for i in range(4)]
    assert any(not np.array_equal(o.frame, a.frame) or not np.array_equal(o.kind, a.kind)
               for o in others)


@pytest.mark.parametrize(("budget", "message"), [
    (0, "budget must be >= 1 frame"),
    (61, "the video has 60 frames"),
], ids=["zero", "more-than-frames"])
def test_bad_budget_raises(budget, message):
    with pytest.raises(InputFormatError, match=message):
        queue_of(budget)


def test_a_budget_past_the_frames_with_boxes_queues_them_all():
    # by default a probably missing box below frames_missing_min_p is not shown, and the edge
    # frames after the tracks end are that unlikely (END_RISK): only the frames with boxes
    assert sorted(queue_of(60).frames.tolist()) == list(range(50))
    queue = queue_of(60, cfg=replace(NO_HONEY, frames_missing_min_p=0.0))
    # every frame with boxes, and the edge_frames frames after the automatic tracks end (frame
    # 49), where their objects probably still are: items of their own showing the last box
    edge = NO_HONEY.edge_frames
    assert sorted(queue.frames.tolist()) == list(range(50 + edge)) and queue.budget == 60
    after = queue.frame >= 50
    assert (queue.reason[after] == Reason.OPEN_END).all()
    assert sorted(queue.track_id[after].tolist()) == sorted([1, 2, 3] * edge)
    state, _ = make_state()
    last = state.boxes().for_frame(49)
    for i in np.flatnonzero(after):
        np.testing.assert_array_equal(queue.xyxy[i], last.xyxy[last.track_id == queue.track_id[i]][0])


def test_an_annotation_without_boxes_raises():
    empty = AnnotationState(Boxes.empty(), num_frames=NUM_FRAMES)
    with pytest.raises(InputFormatError, match="no boxes"):
        build_queue(empty, None, NUM_FRAMES, 5, queue_id="q", based_on=0)


# ------------------------------------------------------------------------------- answer files


@pytest.fixture
def honey_queue():
    return queue_of(20, ReviewConfig(honeypot_rate=0.1))


def test_answer_lines_become_corrections_and_answers(honey_queue, tmp_path):
    q = honey_queue
    risk = np.flatnonzero(q.kind == ItemKind.RISK)
    h = int(np.flatnonzero(q.kind == ItemKind.HONEYPOT)[0])
    a, b, c = risk[:3].tolist()
    path = write_lines(tmp_path / "answers.jsonl", [
        {"item": a, "op": "accept"},
        {"item": b, "op": "adjust", "box": [1, 2, 30, 40], "author": "bo"},
        {"item": c, "op": "absent", "track": int(q.track_id[c]), "frame": int(q.frame[c])},
        {"item": h, "op": "adjust", "box": [5, 5, 50, 50]},
        {"op": "accept", "track": 1, "frame": 55 - 10},
    ])
    corrections, answers = read_answer_file(path, q, "ana", 7)
    assert corrections.op.tolist() == [Op.ACCEPT, Op.ADJUST, Op.ABSENT, Op.ACCEPT]
    assert corrections.track_id.tolist()[:3] == q.track_id[[a, b, c]].tolist()
    assert corrections.frame.tolist() == [*q.frame[[a, b, c]].tolist(), 45]
    np.testing.assert_array_equal(corrections.xyxy[0], q.xyxy[a])  # accept pins the shown box
    assert corrections.source_line.tolist() == [1, 2, 3, 5]
    # the honeypot is answered, not applied
    assert answers.item.tolist() == [a, b, c, h]
    assert answers.op.tolist() == [Op.ACCEPT, Op.ADJUST, Op.ABSENT, Op.ADJUST]
    np.testing.assert_array_equal(answers.xyxy[0], q.xyxy[a])
    np.testing.assert_array_equal(answers.xyxy[1], [1, 2, 30, 40])
    assert np.isnan(answers.xyxy[2]).all()
    assert answers.author.tolist() == ["ana", "bo", "ana", "ana"]


@pytest.mark.parametrize(("line", "message"), [
    ({"item": 999, "op": "accept"}, r"line 2: item 999 is not in queue q0000-test \(items 0\.\.59\)"),
    ({"item": 0, "op": "create", "box": [0, 0, 5, 5]}, "line 2: an item answer's 'op' must be one of"),
    ({"item": 0, "op": "adjust"}, "line 2: op 'adjust' needs box"),
    ({"item": 0, "op": "accept", "track": 77}, "line 2: item 0 is track"),
    ({"item": 0, "op": "accept", "frame": 59}, "line 2: item 0 is frame"),
    ({"item": "3", "op": "accept"}, "line 2: 'item' must be an integer"),
    ({"item": 0, "op": "accept", "extra": 1}, "line 2: unknown field"),
], ids=["unknown-item", "bad-op", "adjust-no-box", "track-disagrees", "frame-disagrees",
        "item-not-int", "unknown-field"])
def test_bad_answer_lines_name_the_line(honey_queue, tmp_path, line, message):
    path = write_lines(tmp_path / "answers.jsonl", [{"item": 1, "op": "accept"}, line])
    with pytest.raises(InputFormatError, match=message):
        read_answer_file(path, honey_queue, "ana", 0)


def test_item_lines_without_a_queue_are_refused(tmp_path):
    path = write_lines(tmp_path / "answers.jsonl", [{"op": "accept", "track": 1, "frame": 2},
                                                    {"item": 1, "op": "accept"}])
    with pytest.raises(InputFormatError, match=r"answers.jsonl line 2: refers to a review queue"):
        read_answer_file(path, None, "ana", 0)


def test_an_empty_answer_file_is_refused(honey_queue, tmp_path):
    path = write_lines(tmp_path / "answers.jsonl", ["# nothing"])
    with pytest.raises(InputFormatError, match="no corrections in the file"):
        read_answer_file(Path(path), honey_queue, "ana", 0)


def test_a_drawn_object_s_open_end_is_queued_and_answering_it_extends_the_track():
    state, dets = make_state()
    # a missed object drawn once at frame 20 (a track with one keyframe and nothing after it)
    created = state.apply(Corrections.create(op=[Op.CREATE], track_id=[-1], frame=[20],
                                             xyxy=[[250.0, 150, 280, 200]], author="ana"))
    new = int(created.track_id[0])
    # the run-aware order (its open ends are the riskiest frames; the default's even skeleton
    # would spend these 3 looks on coverage first)
    cfg = ReviewConfig(honeypot_rate=0.0, open_end_frames=10, open_end_risk=0.99, spread_frames=0,
                       anchor_frames=0)
    queue = build_queue(state, dets, NUM_FRAMES, 3, cfg, queue_id="q0001-test", based_on=1)
    ends = np.flatnonzero((queue.reason == Reason.OPEN_END) & (queue.track_id == new))
    assert sorted(queue.frame[ends].tolist()) == [10, 30]  # before its start and after its end
    np.testing.assert_allclose(queue.xyxy[ends], [[250.0, 150, 280, 200]] * 2)  # the hint
    assert queue.item.tolist() == list(range(len(queue)))
    # the reviewer gives the object's box at frame 30: the track now runs 20..30, interpolated
    after = ends[queue.frame[ends] == 30][0]
    answer = Corrections.create(op=[Op.ADJUST], track_id=[new], frame=[30],
                                xyxy=[[270.0, 150, 300, 200]], author="ana")
    state.apply(answer)
    track = state.track_boxes(new)
    assert track.frame.tolist() == list(range(20, 31))
    np.testing.assert_allclose(track.xyxy[5], [260.0, 150, 290, 200])
    assert queue.track_id[after] == new
