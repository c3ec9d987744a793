"""Missed-object candidates: chains of detections no track explains (`trackannot.candidates`)."""

from __future__ import annotations

import numpy as np
import pytest

from trackannot.boxes import Boxes
from trackannot.candidates import ATTACH_FRAMES, Candidates, find_candidates
from trackannot.config import ReviewConfig, TrackConfig
from trackannot.track import track_detections

NUM_FRAMES = 40


def _rows(frames, box, score=0.9, step=(2.0, 0.0)):
    """Detections of one object moving `step` px per frame from `box`."""
    frames = list(frames)
    x = np.array(box, np.float64) + np.outer(np.array(frames) - frames[0], np.r_[step, step])
    return frames, x, [score] * len(frames)


def _boxes(*objects, track_ids=None) -> Boxes:
    frame = np.concatenate([o[0] for o in objects])
    xyxy = np.concatenate([o[1] for o in objects])
    score = np.concatenate([o[2] for o in objects])
    track = (np.concatenate([[t] * len(o[0]) for t, o in zip(track_ids, objects)])
             if track_ids else np.full(len(frame), -1))
    return Boxes.create(frame=frame, xyxy=xyxy, score=score, track_id=track, sort=True)


A = _rows(range(0, 40), [10, 10, 50, 90])  # tracked
B = _rows(range(8, 28), [200, 40, 240, 120], score=0.6)  # detected, never tracked


def test_an_object_detected_but_not_tracked_is_one_candidate_and_a_tracked_one_none():
    tracks = _boxes(A, track_ids=[1])
    dets = _boxes(A, B)
    found = find_candidates(tracks, dets, NUM_FRAMES)
    assert len(found) == 1
    assert (found.first_frame[0], found.last_frame[0], found.detections[0]) == (8, 27, 20)
    assert found.track_id[0] == -1  # a new object: no track ends next to it
    chain = found.chain(0)
    assert sorted(dets.frame[chain].tolist()) == list(range(8, 28))
    assert (dets.xyxy[chain, 0] >= 200).all()  # B's detections only, none of A's
    # the hint is one of B's detections, at a frame of the chain
    hint = np.flatnonzero((dets.frame == found.frame[0]) & (dets.xyxy[:, 0] >= 200))
    np.testing.assert_array_equal(found.xyxy[0], dets.xyxy[hint[0]])
    assert 0 < found.p_real[0] < 1
    assert found.expected_boxes[0] == pytest.approx(found.p_real[0] * 20)
    assert find_candidates(_boxes(A, B, track_ids=[1, 2]), dets, NUM_FRAMES).frame.size == 0


def test_a_tentative_track_that_never_confirmed_becomes_a_candidate():
    short = _rows(range(20, 23), [150, 100, 190, 180], score=0.95)  # 3 frames < min_hits 4
    dets = _boxes(A, short)
    tracks = track_detections(dets, TrackConfig(), frames=range(NUM_FRAMES))
    assert set(tracks.track_id.tolist()) == {1}  # the tracker dropped it
    found = find_candidates(tracks, dets, NUM_FRAMES)
    assert len(found) == 1 and (found.first_frame[0], found.last_frame[0]) == (20, 22)
    assert found.mean_score[0] == pytest.approx(0.95) and found.detections[0] == 3


def test_chains_shorter_than_the_minimum_are_dropped():
    dets = _boxes(A, _rows(range(20, 23), [150, 100, 190, 180]))
    tracks = _boxes(A, track_ids=[1])
    assert len(find_candidates(tracks, dets, NUM_FRAMES, ReviewConfig(candidate_min_detections=3))) == 1
    assert len(find_candidates(tracks, dets, NUM_FRAMES, ReviewConfig(candidate_min_detections=4))) == 0


def test_detections_a_track_covers_are_explained_up_to_the_gate():
    # the detections sit 12 px right of the track's boxes: IoU 28/52 ~ 0.54 with them
    moved = (A[0], A[1] + np.array([12, 0, 12, 0]), A[2])
    tracks = _boxes(A, track_ids=[1])
    assert len(find_candidates(tracks, _boxes(moved), NUM_FRAMES)) == 0
    loose = find_candidates(tracks, _boxes(moved), NUM_FRAMES, ReviewConfig(candidate_gate_iou=0.6))
    assert len(loose) == 1 and loose.detections[0] == 40


def test_a_chain_where_a_track_ends_continues_that_track():
    # the tracker followed A until frame 19; weak detections of it go on to frame 30
    tracked = (A[0][:20], A[1][:20], A[2][:20])
    tail = (A[0][20:31], A[1][20:31], [0.4] * 11)
    found = find_candidates(_boxes(tracked, track_ids=[7]), _boxes(tracked, tail), NUM_FRAMES)
    assert len(found) == 1
    assert found.track_id[0] == 7 and (found.first_frame[0], found.last_frame[0]) == (20, 30)
    # a chain that starts more than ATTACH_FRAMES after the track's end is a new object
    late = (A[0][20 + ATTACH_FRAMES:], A[1][20 + ATTACH_FRAMES:], [0.4] * (20 - ATTACH_FRAMES))
    found = find_candidates(_boxes(tracked, track_ids=[7]), _boxes(tracked, late), NUM_FRAMES)
    assert len(found) == 1 and found.track_id[0] == -1


def test_rejected_hint_boxes_drop_their_chains():
    tracks = _boxes(A, track_ids=[1])
    dets = _boxes(A, B)
    found = find_candidates(tracks, dets, NUM_FRAMES)
    rejected = Boxes.create(frame=found.frame, xyxy=found.xyxy)
    assert len(find_candidates(tracks, dets, NUM_FRAMES, rejected=rejected)) == 0
    elsewhere = Boxes.create(frame=found.frame, xyxy=found.xyxy + 100)
    assert len(find_candidates(tracks, dets, NUM_FRAMES, rejected=elsewhere)) == 1


def test_no_detections_no_candidates():
    tracks = _boxes(A, track_ids=[1])
    for dets in (None, Boxes.empty()):
        found = find_candidates(tracks, dets, NUM_FRAMES)
        assert isinstance(found, Candidates) and len(found) == 0 and found.chain_start.tolist() == [0]


def test_take_keeps_each_candidate_with_its_chain():
    other = _rows(range(30, 36), [100, 150, 130, 200])
    found = find_candidates(_boxes(A, track_ids=[1]), _boxes(A, B, other), NUM_FRAMES)
    assert len(found) == 2
    back = found.take(np.array([1, 0]))
    assert back.first_frame.tolist() == found.first_frame[::-1].tolist()
    np.testing.assert_array_equal(back.chain(0), found.chain(1))
    np.testing.assert_array_equal(back.chain(1), found.chain(0))
