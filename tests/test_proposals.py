"""Keyframe proposals (`trackannot.proposals`): expected change of keying a (track, frame)."""

from __future__ import annotations

import numpy as np

from trackannot import proposals as prop
from trackannot.boxes import Boxes, Origin
from trackannot.config import ReviewConfig
from trackannot.corrections import Corrections, Op
from trackannot.keyframes import Keyframes
from trackannot.proposals import missing_boxes, propose_keyframes
from trackannot.risk import Reason, Risk, score_risk
from trackannot.state import AnnotationState

NUM_FRAMES = 120
WRONG = range(50, 70)  # track 1 has no detection here: a stretch of risky boxes


def make_state() -> tuple[AnnotationState, Boxes]:
    """Track 1 over frames 0..119, detected but in WRONG; track 2 detected throughout."""
    f = np.arange(NUM_FRAMES)
    one = np.c_[2.0 * f, np.full(len(f), 10.0), 2.0 * f + 30, np.full(len(f), 90.0)]
    two = np.tile([300.0, 50, 340, 150], (len(f), 1))
    frame = np.r_[f, f]
    track = np.r_[np.ones(len(f)), np.full(len(f), 2)]
    xyxy = np.r_[one, two].astype(np.float32)
    unsupported = (track == 1) & np.isin(frame, WRONG)
    tracks = Boxes.create(frame=frame, xyxy=xyxy, track_id=track, sort=True,
                          score=np.where(unsupported, 0.3, 0.9),
                          origin=np.where(unsupported, Origin.PREDICTED, Origin.DETECTED),
                          det_index=np.where(unsupported, -1, 0))
    order = np.lexsort((track, frame))
    dets = Boxes.create(frame=frame[order][~unsupported[order]],
                        xyxy=xyxy[order][~unsupported[order]] + 0.5, score=0.9)
    return AnnotationState(tracks, num_frames=NUM_FRAMES, detections=dets), dets


def _risk(boxes: Boxes) -> Risk:
    """Risk 0.9 for track 1's boxes in WRONG, 0.05 elsewhere, 0.01 at keyframes (the risk
    model's own numbers are tested in tests/test_risk.py; here only what proposals do with it)."""
    wrong = (boxes.track_id == 1) & np.isin(boxes.frame, WRONG)
    score = np.where(wrong, 0.9, np.where(boxes.origin == Origin.KEYFRAME, 0.01, 0.05))
    frame, inverse = np.unique(boxes.frame, return_inverse=True)
    per_frame = np.bincount(inverse, weights=score)
    return Risk(score=score, reason=np.where(wrong, Reason.NO_DETECTION, Reason.NONE).astype(np.uint8),
                frame=frame.astype(np.int64), frame_expected=per_frame, frame_any=per_frame)


def _proposals(state: AnnotationState, dets: Boxes, limit: int = 400):
    boxes, keys = state.boxes(), state.keyframes()
    return propose_keyframes(boxes, _risk(boxes), keys, NUM_FRAMES, limit)


def test_the_middle_of_a_long_wrong_run_comes_before_a_frame_next_to_a_keyframe():
    state, dets = make_state()
    state.apply(Corrections.create(op=[Op.ACCEPT], track_id=[1], frame=[50]))  # keyed at 50
    got = _proposals(state, dets)
    assert got.track_id[0] == 1 and 56 <= got.frame[0] <= 66  # the middle of 51..69
    assert (got.first_frame[0], got.last_frame[0]) == (51, NUM_FRAMES - 1)  # its run
    mine = got.track_id == 1
    position = {int(f): i for i, f in enumerate(got.frame) if mine[i]}
    assert 51 in position and position[int(got.frame[0])] < position[51]
    at = {int(f): float(e) for f, e, m in zip(got.frame, got.expected_change, mine) if m}
    assert at[int(got.frame[0])] > 2 * at[51]
    assert 50 not in position  # a keyed frame is never proposed


def test_a_key_fixes_its_neighbourhood_so_the_next_proposal_of_the_run_is_far_from_it():
    state, dets = make_state()
    got = _proposals(state, dets, limit=3)
    in_run = [int(f) for f, t in zip(got.frame, got.track_id) if t == 1 and f in WRONG]
    assert len(in_run) >= 2
    assert min(abs(a - b) for i, a in enumerate(in_run) for b in in_run[i + 1:]) >= 5


def test_gaps_and_frames_past_a_track_end_are_proposed_with_the_box_it_would_have():
    f = np.r_[np.arange(0, 20), np.arange(24, 40)]  # frames 20..23 missing
    boxes = Boxes.create(frame=f, xyxy=np.c_[2.0 * f, 10 + 0 * f, 2.0 * f + 30, 90 + 0 * f],
                         track_id=5)
    missing = missing_boxes(boxes, None, 60)
    gap = missing.reason == Reason.GAP
    assert missing.frame[gap].tolist() == [20, 21, 22, 23]
    np.testing.assert_allclose(missing.xyxy[gap][:, 0], 2.0 * np.arange(20, 24))  # on the line
    assert np.allclose(missing.p[gap], prop.GAP_RISK)
    end = missing.reason == Reason.OPEN_END
    cfg = ReviewConfig()
    assert sorted(missing.frame[end].tolist()) == list(range(40, 40 + cfg.edge_frames))
    np.testing.assert_array_equal(missing.xyxy[end], np.tile(boxes.xyxy[-1], (cfg.edge_frames, 1)))
    assert missing.p[end].tolist() == list(prop.END_RISK[: cfg.edge_frames])
    # an outside keyframe at the gap's start says the object left: no gap to ask about
    keys = Keyframes.create(track_id=[5], frame=[20], xyxy=[[40, 10, 70, 90]], outside=[True])
    assert not (missing_boxes(boxes, keys, 60).reason == Reason.GAP).any()


def test_nothing_to_propose_without_boxes_or_budget():
    state, dets = make_state()
    assert len(_proposals(state, dets, limit=0)) == 0
    empty = propose_keyframes(Boxes.empty(), score_risk(Boxes.empty(), None, None), None, 10, 5)
    assert len(empty) == 0 and empty.xyxy.shape == (0, 4)


def test_a_track_marked_absent_before_any_box_is_keyed_still_gets_proposals():
    # every keyframe of the annotation is an outside mark: there is no straight line anywhere
    state, dets = make_state()
    state.apply(Corrections.create(op=[Op.ABSENT], track_id=[2], frame=[60]))
    assert state.keyframes().outside.all()
    got = _proposals(state, dets)
    assert len(got) and got.track_id[0] == 1 and got.frame[0] in WRONG
