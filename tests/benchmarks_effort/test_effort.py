"""Effort simulator: cost arithmetic, the oracle's corrections on tiny synthetic cases, manual k=1."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.effort.cost import ActionCounts, CostModel
from benchmarks.effort.oracle import ACCEPT_IOU, Oracle, owners
from benchmarks.effort.strategies import (
    active_review, box_accuracy, manual, queue_review, review, uniform_frames,
)
from trackannot.boxes import Boxes, Origin, pair_iou
from trackannot.config import InterpolateConfig
from trackannot.corrections import Op
from trackannot.state import AnnotationState

LINEAR = InterpolateConfig(method="linear")
A = [0.0, 0.0, 10.0, 10.0]
B = [100.0, 0.0, 110.0, 10.0]


def _boxes(rows: list[tuple[int, int, list[float]]], origin: int = Origin.DETECTED) -> Boxes:
    rows = sorted(rows, key=lambda r: (r[0], r[1]))
    return Boxes.create(frame=[r[0] for r in rows], track_id=[r[1] for r in rows],
                        xyxy=[r[2] for r in rows], origin=np.full(len(rows), origin, np.uint8))


def _ops(corrections) -> list[str]:
    return [Op(int(o)).name.lower() for o in corrections.op]


def test_cost_model_seconds_is_the_weighted_sum():
    cost = CostModel(verify_s=1.5, adjust_s=4.0, draw_s=7.0, delete_s=2.0, identity_s=5.0)
    counts = ActionCounts(verify=10, adjust=3, draw=2, delete=1, split=1, merge=2)
    assert cost.seconds(counts) == pytest.approx(10 * 1.5 + 3 * 4 + 2 * 7 + 2 + 3 * 5)
    assert cost.seconds(ActionCounts()) == 0.0
    counts.add(ActionCounts(draw=1))
    assert counts.as_dict()["draw"] == 3


def test_default_cost_model_cites_every_figure():
    cost = CostModel()
    assert set(cost.sources) == {"verify_s", "adjust_s", "draw_s", "delete_s", "identity_s"}
    assert cost.draw_s == 7.0 and cost.verify_s == 1.6


def test_oracle_accepts_a_good_box_and_adjusts_a_shifted_one():
    gt = _boxes([(f, 1, A) for f in range(3)] + [(f, 2, B) for f in range(3)])
    shifted = [B[0] + 3, B[1], B[2] + 3, B[3]]  # IoU 0.54: matched (>= 0.5) but below 0.7
    tracks = _boxes([(f, 5, A) for f in range(3)] + [(f, 6, shifted) for f in range(3)])
    state = AnnotationState(tracks, num_frames=3, cfg=LINEAR)
    batch, counts = Oracle(gt, owners(tracks, gt)[0]).review_frame(state, 1)
    assert _ops(batch) == ["accept", "adjust"]
    assert batch.track_id.tolist() == [5, 6]
    np.testing.assert_allclose(batch.xyxy[1], B)
    assert (counts.verify, counts.adjust) == (1, 1)
    state.apply(batch)
    np.testing.assert_allclose(state.box_at(6, 1)[0], B)


def test_oracle_marks_a_false_positive_absent_and_creates_a_missed_object():
    gt = _boxes([(f, 1, A) for f in range(3)] + [(2, 2, B)])
    tracks = _boxes([(f, 5, A) for f in range(3)] + [(f, 6, [50.0, 50.0, 60.0, 60.0]) for f in range(3)])
    state = AnnotationState(tracks, num_frames=3, cfg=LINEAR)
    batch, counts = Oracle(gt, owners(tracks, gt)[0]).review_frame(state, 2)
    assert _ops(batch) == ["accept", "absent", "create"]
    assert batch.track_id[1] == 6
    np.testing.assert_allclose(batch.xyxy[2], B)
    assert (counts.verify, counts.delete, counts.draw) == (1, 1, 1)
    state.apply(batch)
    assert box_accuracy(state.boxes().for_frame(2), gt.for_frame(2)) == 1.0


def test_oracle_fixes_an_identity_switch_with_split_and_merge():
    # gt 1 at A, gt 2 at B on frames 0..5; track 5 follows gt 1 for frames 0..3 then jumps to
    # gt 2 (frames 4, 5); track 6 follows gt 2 on frames 0..3 only.
    gt = _boxes([(f, 1, A) for f in range(6)] + [(f, 2, B) for f in range(6)])
    tracks = _boxes([(f, 5, A) for f in range(4)] + [(f, 5, B) for f in (4, 5)]
                    + [(f, 6, B) for f in range(4)])
    state = AnnotationState(tracks, num_frames=6, cfg=LINEAR)
    oracle = Oracle(gt, owners(tracks, gt)[0])
    batch, counts = oracle.review_frame(state, 4)
    assert _ops(batch)[:2] == ["split", "merge"]
    assert batch.track_id[0] == 5 and batch.track_id[1] == 6 and batch.other_id[1] == batch.other_id[0]
    assert (counts.split, counts.merge) == (1, 1)
    state.apply(batch)
    final = state.boxes()
    np.testing.assert_allclose(final[final.track_id == 6].xyxy, [B] * 6)
    # the person also extends track 5 (gt 1) to frame 4, where it lost its object
    assert _ops(batch)[2:] == ["adjust", "adjust"] and batch.track_id[3] == 5
    assert final[final.track_id == 5].frame.tolist() == [0, 1, 2, 3, 4]
    assert set(final.track_id.tolist()) == {5, 6}
    early = final[final.frame <= 4]
    assert box_accuracy(early, gt[gt.frame <= 4]) == 1.0


def test_manual_every_frame_is_exact_and_costs_draw_then_adjust():
    gt = _boxes([(f, 1, [f, 0.0, f + 10.0, 10.0]) for f in range(2, 7)] + [(f, 2, B) for f in range(5)])
    out, counts = manual(gt, num_frames=10, k=1)
    assert box_accuracy(out, gt) == 1.0
    assert len(out) == len(gt)
    assert (counts.draw, counts.adjust, counts.delete) == (2, 8, 2)
    out3, counts3 = manual(gt, num_frames=10, k=3)
    assert counts3.adjust == 4  # keyframes gt 1: 2, 5, 6; gt 2: 0, 3, 4; the 2 first ones drawn
    assert box_accuracy(out3, gt) == 1.0  # straight motion: linear is exact


def test_review_every_frame_fixes_every_box():
    rng = np.random.default_rng(0)
    gt = _boxes([(f, 1, [f * 2.0, 0.0, f * 2.0 + 20.0, 20.0]) for f in range(20)]
                + [(f, 2, [100.0, f, 120.0, f + 20.0]) for f in range(5, 20)])
    noisy = [(f, 7, list(np.add([f * 2.0, 0.0, f * 2.0 + 20.0, 20.0], rng.normal(0, 4, 4))))
             for f in range(15)]
    tracks = _boxes(noisy + [(f, 8, [300.0, 0.0, 320.0, 20.0]) for f in range(3)])
    assert box_accuracy(tracks, gt) < 0.6
    out, counts = review(tracks, tracks, gt, 20, uniform_frames(20, 1), LINEAR)
    assert box_accuracy(out, gt) == 1.0
    assert counts.delete >= 1 and counts.draw >= 1


def test_risk_review_checks_only_risky_boxes_and_still_draws_missed_objects():
    gt = _boxes([(f, 1, [f * 2.0, 0.0, f * 2.0 + 20.0, 20.0]) for f in range(20)]
                + [(f, 2, [100.0, f, 120.0, f + 20.0]) for f in range(20)])
    tracks = _boxes([(f, 7, [f * 2.0, 0.0, f * 2.0 + 20.0, 20.0]) for f in range(20)])
    frames = uniform_frames(20, 5)
    _, every = review(tracks, tracks, gt, 20, frames, LINEAR)
    out, some = review(tracks, tracks, gt, 20, frames, LINEAR, min_risk=1.0)  # nothing is risky
    assert every.verify == len(frames) and some.verify == 0  # no box checked...
    assert some.draw == every.draw == len(frames)  # ...but the missed object is drawn
    # gt 2 is drawn at 0, 5, 10, 15 and interpolated between; nothing after its last keyframe
    assert box_accuracy(out, gt) == 36 / 40


def test_oracle_keeps_the_rest_of_a_track_after_marking_a_bad_frame_absent():
    # track 7 follows gt 1 except at frame 4 where its box is off the object (gt 1 still there,
    # covered by track 8): absent there, and the track is picked up again at frame 5
    gt = _boxes([(f, 1, [f * 2.0, 0.0, f * 2.0 + 20.0, 20.0]) for f in range(10)])
    rows = [(f, 7, [f * 2.0, 0.0, f * 2.0 + 20.0, 20.0]) for f in range(10) if f != 4]
    tracks = _boxes(rows + [(4, 7, [200.0, 0, 220, 20]), (4, 8, [8.0, 0.0, 28.0, 20.0])])
    state = AnnotationState(tracks, num_frames=10, cfg=LINEAR)
    batch, counts = Oracle(gt, {7: 1, 8: 1}).review_frame(state, 4)
    state.apply(batch)
    assert state.box_at(7, 4) is None and state.box_at(7, 5) is not None
    assert state.box_at(7, 9) is not None
    assert counts.delete == 1 and counts.verify >= 1


def test_active_review_reaches_its_checkpoints_and_improves_accuracy():
    rng = np.random.default_rng(1)
    gt = _boxes([(f, 1, [f * 2.0, 0.0, f * 2.0 + 20.0, 20.0]) for f in range(40)]
                + [(f, 2, [100.0, f, 120.0, f + 20.0]) for f in range(10, 40)])
    noisy = [(f, 7, list(np.add([f * 2.0, 0.0, f * 2.0 + 20.0, 20.0], rng.normal(0, 6, 4))))
             for f in range(40)]
    tracks = _boxes(noisy)
    points = active_review(tracks, tracks, gt, 40, checkpoints=[2, 10, 40], batch_frames=2)
    assert [p.frames_reviewed for p in points] == [2, 10, 40]
    acc = [box_accuracy(p.boxes, gt) for p in points]
    assert acc[-1] == 1.0 and acc[0] < acc[-1]
    seconds = [CostModel().seconds(p.counts) for p in points]
    assert seconds == sorted(seconds) and seconds[0] > 0


def test_owners_majority_and_frames_without_gt():
    gt = _boxes([(f, 1, A) for f in range(3)] + [(3, 2, B)])
    tracks = _boxes([(f, 5, A) for f in range(3)] + [(3, 5, B), (4, 5, B), (4, 6, A)])
    owner, matched = owners(tracks, gt)
    assert owner == {5: 1}  # matched to 1 three times, to 2 once; frame 4 has no gt
    assert matched.tolist() == [1, 1, 1, 2, -1, -1]


def test_frame_view_matches_the_state_after_edits():
    from benchmarks.effort.strategies import _FrameView

    gt = _boxes([(f, 1, A) for f in range(6)] + [(f, 2, B) for f in range(6)])
    tracks = _boxes([(f, 5, A) for f in range(4)] + [(f, 5, B) for f in (4, 5)]
                    + [(f, 6, B) for f in range(4)] + [(f, 7, [50.0, 50, 60, 60]) for f in range(6)])
    state = AnnotationState(tracks, num_frames=6, cfg=LINEAR)
    view, oracle = _FrameView(state), Oracle(gt, owners(tracks, gt)[0])
    for f in (1, 4):
        batch, _ = oracle.review_frame(state, f, view.at(f))
        previous = state.apply(batch)
        view.update(state, {*batch.track_id.tolist(), *batch.other_id.tolist(), *previous.track_id.tolist()})
        for g in range(6):
            want, got = state.boxes().for_frame(g), view.at(g)
            for name in ("track_id", "xyxy", "origin"):
                np.testing.assert_array_equal(getattr(got, name), getattr(want, name))
    assert 7 not in view.at(5).track_id  # the false positive was marked absent at frame 1


def test_oracle_merges_a_fragment_into_the_track_it_continues():
    gt = _boxes([(f, 1, A) for f in range(6)])
    tracks = _boxes([(f, 5, A) for f in range(3)] + [(f, 6, A) for f in range(3, 6)])
    state = AnnotationState(tracks, num_frames=6, cfg=LINEAR)
    oracle = Oracle(gt, owners(tracks, gt)[0])
    for f in (1, 4):
        batch, counts = oracle.review_frame(state, f)
        state.apply(batch)
    assert _ops(batch) == ["merge", "adjust"] and counts.merge == 1 and counts.verify == 1
    final = state.boxes()
    assert final.track_id.tolist() == [5] * 6
    np.testing.assert_allclose(final.xyxy, [A] * 6)


def test_a_drawn_missed_object_is_keyed_over_its_run_like_manual():
    # gt 2 is visible at frames 3..14 and never tracked; drawn at frame 5 with manual_k=4 the person
    # keys its run at 3, 7, 11 and 14 (adjusts) and marks it outside at 15 (a delete)
    gt = _boxes([(f, 2, [100.0 + f, 0.0, 120.0 + f, 20.0]) for f in range(3, 15)])
    tracks = _boxes([(f, 7, A) for f in range(20)])
    state = AnnotationState(tracks, num_frames=20, cfg=LINEAR)
    batch, counts = Oracle(gt, {}, manual_k=4, num_frames=20).review_frame(state, 5)
    state.apply(batch)
    new = [t for t in state.track_ids if t != 7]
    assert len(new) == 1
    drawn = state.track_boxes(new[0])
    assert drawn.frame.tolist() == list(range(3, 15))
    np.testing.assert_allclose(drawn.xyxy, gt.xyxy)  # straight motion: exact
    assert (counts.draw, counts.adjust, counts.delete) == (1, 4, 2)  # delete: track 7 is not gt


def test_a_drawn_box_the_engine_does_not_carry_is_keyed_along_the_object_where_it_is_uncovered():
    # gt 2 is visible at 3..14 and never tracked; drawn at 5 with nothing to carry it, the hybrid
    # annotator (carry_k=4) keys it forward at 9, 13 and 14 (the last frame) and marks it outside
    # at 15, and backward at 3 (the first); gt 1 leaves its track 7 (0..9) at 12: the box drawn
    # there is joined to the track (interpolated 10, 11), so only 14 (the last) and the outside mark
    gt = _boxes([(f, 2, [100.0 + f, 0.0, 120.0 + f, 20.0]) for f in range(3, 15)]
                + [(f, 1, A) for f in range(15)])
    tracks = _boxes([(f, 7, A) for f in range(10)])
    state = AnnotationState(tracks, num_frames=20, cfg=LINEAR)
    oracle = Oracle(gt, {7: 1}, num_frames=20, reenter=False, carry_k=4)
    batch, counts = oracle.review_frame(state, 5)
    state.apply(batch)
    keys, more = oracle.key_uncarried(state)
    new = [t for t in state.track_ids if t != 7][0]
    assert sorted(zip(keys.frame.tolist(), _ops(keys))) == [
        (3, "adjust"), (9, "adjust"), (13, "adjust"), (14, "adjust"), (15, "absent")]
    assert set(keys.track_id.tolist()) == {new}
    assert (more.adjust, more.delete, more.draw) == (4, 1, 0)
    state.apply(keys)
    np.testing.assert_allclose(state.track_boxes(new).xyxy, gt.xyxy[gt.track_id == 2])
    batch, _ = oracle.review_frame(state, 12, only=set())  # draws only
    assert _ops(batch) == ["adjust"] and batch.track_id[0] == 7
    state.apply(batch)
    keys, more = oracle.key_uncarried(state)
    assert list(zip(keys.frame.tolist(), _ops(keys))) == [(14, "adjust"), (15, "absent")]
    state.apply(keys)
    assert state.track_boxes(7).frame.tolist() == list(range(15))
    # without carry_k nothing is keyed
    plain = Oracle(gt, {7: 1}, num_frames=20, reenter=False)
    state = AnnotationState(tracks, num_frames=20, cfg=LINEAR)
    state.apply(plain.review_frame(state, 5)[0])
    assert len(plain.key_uncarried(state)[0]) == 0


def test_an_open_end_answered_is_keyed_on_and_a_later_part_of_the_track_is_kept():
    # track 7 (gt 1) has boxes 0..4 and 12..19; gt 1 is there at 0..7 and again at 12..19. The
    # open end asked at 5 is answered with a box; the engine does not carry it, so it is keyed
    # at 7 (the last frame in view); no outside mark at 8: it would cut the boxes at 12..19
    gt = _boxes([(f, 1, A) for f in (*range(8), *range(12, 20))])
    tracks = _boxes([(f, 7, A) for f in (*range(5), *range(12, 20))])
    state = AnnotationState(tracks, num_frames=20, cfg=LINEAR)
    oracle = Oracle(gt, {7: 1}, num_frames=20, reenter=False, carry_k=10)
    batch, counts = oracle.review_frame(state, 5, only=set(), open_ends=[7], draw_missed=False)
    assert _ops(batch) == ["adjust"] and counts.draw == 1
    state.apply(batch)
    keys, more = oracle.key_uncarried(state)
    assert list(zip(keys.frame.tolist(), _ops(keys))) == [(7, "adjust")]
    state.apply(keys)
    assert state.track_boxes(7).frame.tolist() == [*range(8), *range(12, 20)]


# ------------------------------------------------------------------ issue 13: queue-driven review


def test_propagating_annotator_moves_an_unchecked_box_of_its_object_instead_of_drawing_again():
    # track 7 is gt 1's; at frame 2 its box is off the object (IoU 0.33) and not checked (risk
    # policy): the person drawing gt 1 moves that box (an adjust on track 7, which its edit
    # then carries) rather than add a second track; a box that does not touch it is left
    gt = _boxes([(f, 1, A) for f in range(5)])
    off = [5.0, 0.0, 15.0, 10.0]
    for box, ops, track in ((off, ["adjust"], 7), ([30.0, 0.0, 40.0, 10.0], ["create"], None)):
        tracks = _boxes([(f, 7, A if f != 2 else box) for f in range(5)])
        state = AnnotationState(tracks, num_frames=5, cfg=LINEAR)
        batch, counts = Oracle(gt, {7: 1}, reenter=False).review_frame(state, 2, only=set())
        assert _ops(batch) == ops
        assert batch.track_id[0] == track if track is not None else batch.track_id[0] != 7
        assert (counts.adjust, counts.draw) == ((1, 0) if track else (0, 1))
        state.apply(batch)
        assert box_accuracy(state.boxes().for_frame(2), gt.for_frame(2)) == 1.0
        assert len(state.boxes().for_frame(2)) == (1 if track else 2)
    # the keying annotator keys the object's run on a track of its own, as before
    tracks = _boxes([(f, 7, A if f != 2 else off) for f in range(5)])
    state = AnnotationState(tracks, num_frames=5, cfg=LINEAR)
    batch, _ = Oracle(gt, {7: 1}, manual_k=4, num_frames=5).review_frame(state, 2, only=set())
    assert _ops(batch)[0] == "create"


def test_propagating_annotator_does_not_pick_a_track_up_after_an_absent_mark():
    # as test_oracle_keeps_the_rest..., but the propagating annotator sees only frame 4: the
    # track ends there (only what the frame shows), the keying annotator keys it again at 5
    gt = _boxes([(f, 1, [f * 2.0, 0.0, f * 2.0 + 20.0, 20.0]) for f in range(10)])
    rows = [(f, 7, [f * 2.0, 0.0, f * 2.0 + 20.0, 20.0]) for f in range(10) if f != 4]
    tracks = _boxes(rows + [(4, 7, [200.0, 0, 220, 20]), (4, 8, [8.0, 0.0, 28.0, 20.0])])
    for reenter, alive in ((True, True), (False, False)):
        state = AnnotationState(tracks, num_frames=10, cfg=LINEAR)
        batch, counts = Oracle(gt, {7: 1, 8: 1}, reenter=reenter).review_frame(state, 4)
        state.apply(batch)
        assert (state.box_at(7, 9) is not None) is alive
        assert counts.delete == 1 and counts.verify == (2 if reenter else 1)


def test_a_box_on_an_ignore_region_is_left_not_marked_absent():
    gt = _boxes([(f, 1, A) for f in range(3)])
    tracks = _boxes([(f, 5, A) for f in range(3)] + [(f, 6, [50.0, 50, 60, 60]) for f in range(3)])
    dontcare = _boxes([(1, -1, [45.0, 45.0, 62.0, 66.0])])  # the box lies fully inside it
    state = AnnotationState(tracks, num_frames=3, cfg=LINEAR)
    batch, counts = Oracle(gt, {5: 1}, ignore=dontcare).review_frame(state, 1)
    assert _ops(batch) == ["accept"] and (counts.verify, counts.delete) == (2, 0)
    batch, counts = Oracle(gt, {5: 1}, ignore=dontcare).review_frame(state, 2)  # none at frame 2
    assert _ops(batch) == ["accept", "absent"] and counts.delete == 1


def test_candidates_are_accepted_adjusted_or_rejected_from_the_truth_at_their_frame():
    c_box = [200.0, 0.0, 220.0, 20.0]
    gt = _boxes([(0, 1, A), (0, 2, B), (0, 3, c_box)])
    tracks = _boxes([(0, 5, A), (1, 5, A)])
    state = AnnotationState(tracks, num_frames=2, cfg=LINEAR)
    hints = np.array([[101.0, 0.0, 111.0, 10.0],  # B at IoU 0.82: accepted as shown
                      [204.0, 0.0, 224.0, 20.0],  # c_box at IoU 0.67: adjusted to the truth
                      [300.0, 0.0, 310.0, 10.0],  # nothing there: rejected
                      [1.0, 0.0, 11.0, 10.0]])  # A, already covered by track 5: rejected
    oracle = Oracle(gt, {5: 1})
    batch, counts = oracle.review_frame(state, 0, only=set(), candidates=hints, draw_missed=False)
    assert _ops(batch) == ["create", "create"]
    np.testing.assert_allclose(batch.xyxy, [hints[0], c_box])
    assert oracle.last_rejected == [2, 3]
    assert (counts.verify, counts.draw) == (1 + 2, 1)  # one accept, two rejections; one draw
    state.apply(batch)
    assert box_accuracy(state.boxes().for_frame(0), gt) == 1.0


def test_a_candidate_that_continues_a_track_extends_it():
    gt = _boxes([(f, 1, A) for f in range(4)])
    tracks = _boxes([(f, 5, A) for f in range(3)])  # ends early: gt 1 is still there at frame 3
    state = AnnotationState(tracks, num_frames=4, cfg=LINEAR)
    oracle = Oracle(gt, {5: 1})
    batch, counts = oracle.review_frame(state, 3, only=set(), candidates=np.array([A]),
                                        continues=np.array([5]), draw_missed=False)
    assert _ops(batch) == ["adjust"] and batch.track_id.tolist() == [5] and counts.verify == 1
    state.apply(batch)
    assert state.track_boxes(5).frame.tolist() == [0, 1, 2, 3]


def test_open_ends_are_extended_closed_or_only_looked_at():
    gt = _boxes([(f, 1, A) for f in range(6)] + [(f, 2, B) for f in range(3)])
    tracks = _boxes([(f, 5, A) for f in range(3)] + [(f, 6, B) for f in range(3)])
    state = AnnotationState(tracks, num_frames=6, cfg=LINEAR)
    oracle = Oracle(gt, {5: 1, 6: 2})
    batch, counts = oracle.review_frame(state, 4, open_ends=[5, 6], draw_missed=False)
    # track 5's object is there and uncovered: drawn on the track; track 6's left: absent
    assert _ops(batch) == ["adjust", "absent"] and batch.track_id.tolist() == [5, 6]
    assert (counts.draw, counts.delete) == (1, 1)
    state.apply(batch)
    assert state.box_at(5, 4) is not None and state.box_at(6, 4) is None
    # an open end before a track's start whose object is not there: a look, nothing marked
    late = _boxes([(f, 7, B) for f in range(3, 6)])
    state = AnnotationState(late, num_frames=6, cfg=LINEAR)
    batch, counts = Oracle(_boxes([(f, 2, B) for f in range(3, 6)]), {7: 2}).review_frame(
        state, 1, open_ends=[7], draw_missed=False)
    assert len(batch) == 0 and counts.verify == 1
    assert state.track_boxes(7).frame.tolist() == [3, 4, 5]


def _scene(frames: int = 60):
    """Two objects; the tracker has a noisy track of one and misses the other entirely."""
    rng = np.random.default_rng(3)
    gt = _boxes([(f, 1, [f * 2.0, 0.0, f * 2.0 + 20.0, 20.0]) for f in range(frames)]
                + [(f, 2, [200.0, f, 220.0, f + 20.0]) for f in range(10, frames)])
    noisy = [(f, 7, list(np.add([f * 2.0, 0.0, f * 2.0 + 20.0, 20.0], rng.normal(0, 6, 4))))
             for f in range(frames)]
    return gt, _boxes(noisy)


def test_queue_review_spends_its_budgets_in_order_and_improves_accuracy():
    gt, tracks = _scene()
    budgets = [10.0, 40.0, 1e9]  # the last: until the queue has nothing new
    points = queue_review(tracks, tracks, gt, 60, budgets, batch=2, propagate=False,
                          cfg=LINEAR)
    assert len(points) == 3
    seconds = [CostModel().seconds(p.counts) for p in points]
    assert seconds[0] >= 10.0 and seconds[1] >= 40.0 and seconds == sorted(seconds)
    looks = [p.frames_reviewed for p in points]
    assert looks == sorted(looks) and looks[-1] <= 60  # a frame is looked at once at most
    acc = [box_accuracy(p.boxes, gt) for p in points]
    assert acc[0] < acc[-1] and acc[-1] > 0.9


def test_queue_review_can_spend_its_budgets_in_looks():
    gt, tracks = _scene()
    points = queue_review(tracks, tracks, gt, 60, [3, 7], batch=2, propagate=False, cfg=LINEAR,
                          unit="looks")
    assert [p.frames_reviewed for p in points] == [3, 7]
    with pytest.raises(ValueError, match="unit must be"):
        queue_review(tracks, tracks, gt, 60, [3], batch=2, unit="minutes")


def test_quality_at_the_crossing_is_linear_between_the_levels_around_it():
    from benchmarks.effort.run import quality_at

    levels = [{"human_s_per_frame": 2.0, "box_accuracy": 0.96, "hota": 0.9, "idf1": 0.8},
              {"human_s_per_frame": 1.0, "box_accuracy": 0.92, "hota": 0.7, "idf1": 0.6}]
    got = quality_at(levels, 0.95)  # a quarter of the way down from the 0.96 level
    assert got == pytest.approx({"hota": 0.85, "idf1": 0.75})
    assert quality_at(levels, 0.90) == {"hota": 0.7, "idf1": 0.6}  # the cheapest level reaches it
    assert quality_at(levels, 0.99) is None
    assert quality_at([{"human_s_per_frame": 1.0, "box_accuracy": 0.99}], 0.95) is None  # unscored


def test_queue_review_checks_only_risky_boxes_with_min_risk():
    gt, tracks = _scene()
    every = queue_review(tracks, tracks, gt, 60, [60.0], batch=2, propagate=False, cfg=LINEAR)
    risky = queue_review(tracks, tracks, gt, 60, [60.0], batch=2, propagate=False, cfg=LINEAR,
                         min_risk=1.1)  # no box is that risky: none checked, missed ones drawn
    assert every[0].counts.verify + every[0].counts.adjust >= every[0].frames_reviewed
    # the looks left: open ends and candidates (a yes/no each), never track 7's boxes; the only
    # adjusts move a box of track 7 that is off its object (IoU < 0.5) while drawing the object
    off = int((pair_iou(tracks.xyxy, gt.xyxy[gt.track_id == 1]) < 0.5).sum())
    loose = int((pair_iou(tracks.xyxy, gt.xyxy[gt.track_id == 1]) < ACCEPT_IOU).sum())
    assert risky[0].counts.verify <= 2 and risky[0].counts.adjust <= off < loose
    assert risky[0].counts.adjust < every[0].counts.adjust
    assert risky[0].counts.draw > 0


def test_crossing_is_linear_between_the_levels_around_the_target():
    from benchmarks.effort.run import crossing

    assert crossing([(2.0, 0.96), (1.0, 0.90)], 0.95) == pytest.approx(1.0 + 0.05 / 0.06)
    assert crossing([(0.5, 0.97), (1.0, 0.99)], 0.95) == 0.5  # the cheapest level already
    assert crossing([(1.0, 0.90), (2.0, 0.94)], 0.95) is None


def _level(cost_acc: dict[str, tuple[float, float]]) -> dict:
    halves = {h: {"human_s_per_frame": c, "box_accuracy": a} for h, (c, a) in cost_acc.items()}
    return {"halves": halves, **halves["all"]}


def test_summarize_reports_c_held_out_with_the_variant_picked_on_the_other_half():
    from benchmarks.effort.run import summarize

    def curve(pts):  # pts: per level {scope: (s/frame, acc)}
        return [_level(p) for p in pts]

    flat = {"all": (1.0, 0.96), "even": (1.0, 0.96), "odd": (1.0, 0.96)}
    rows = {
        "manual": curve([{"all": (4.0, 0.96), "even": (4.0, 0.96), "odd": (4.0, 0.96)}]),
        "uniform": curve([flat]),
        # frames: cheap on the even half, dear on the odd; risk: the other way round
        "queue_frames": curve([{"all": (0.5, 0.96), "even": (0.2, 0.96), "odd": (0.9, 0.96)}]),
        "queue_frames_risk": curve([{"all": (0.6, 0.96), "even": (0.8, 0.96), "odd": (0.3, 0.96)}]),
    }
    res = summarize("KITTI-Car", rows)
    picks = res["c_picks"]["0.95"]
    assert picks["all"] == {"variant": "queue_frames", "s_per_frame": 0.5}
    # held out on even: picked on odd (risk, 0.3 there), measured on even: 0.8
    assert picks["even"]["variant"] == "queue_frames_risk" and picks["even"]["s_per_frame"] == 0.8
    assert picks["odd"]["variant"] == "queue_frames" and picks["odd"]["s_per_frame"] == 0.9
    goals = {(g["scope"], g["goal"]): g for g in res["goals"]}
    assert goals[("all", "(c) <= 0.6x (b)")]["value"] == pytest.approx(0.5)
    assert goals[("all", "(c) <= 0.6x (b)")]["met"]
    assert not goals[("odd", "(c) <= 0.6x (b)")]["met"]  # 0.9 / 1.0
    assert not goals[("all", "(c) <= 0.40 s/frame")]["met"]
    transfer = res["budget_transfer"]["queue_frames"]["0.95"]["fit_even"]
    assert transfer["held_out"] == {"human_s_per_frame": 0.9, "box_accuracy": 0.96}


def test_crossings_carried_leave_out_the_keying_seconds_of_the_levels_that_record_them():
    from benchmarks.effort.run import crossings

    def level(cost: float, keyed: float, acc: float) -> dict:
        half = {"human_s_per_frame": cost, "box_accuracy": acc, "keyed_s_per_frame": keyed}
        return {**half, "halves": {"even": dict(half), "odd": dict(half)}}

    rows = {"queue_anchor5_hybrid80_looks": [level(1.0, 0.4, 0.94), level(2.0, 1.0, 0.96)],
            "manual": [_level({"all": (4.0, 0.96), "even": (4.0, 0.96), "odd": (4.0, 0.96)})]}
    plain, carried = crossings(rows), crossings(rows, carried=True)
    assert plain["queue_anchor5_hybrid80_looks"]["all"]["0.95"] == pytest.approx(1.5)
    # without the keying: (0.6, 0.94) and (1.0, 0.96), halfway between
    assert carried["queue_anchor5_hybrid80_looks"]["odd"]["0.95"] == pytest.approx(0.8)
    assert "manual" not in carried  # it records no keying seconds


def test_error_run_bound_fixes_the_longest_runs_first():
    from types import SimpleNamespace

    from benchmarks.effort.run import error_run_bound

    # gt 1 on frames 0..9, gt 2 on 0..9; the pre-labels cover gt 1 on 0..5 only and gt 2 on
    # 0..9 but for frames 2 and 7: runs of 4, 1 and 1 wrong boxes, 14 of 20 right
    gt = _boxes([(f, 1, A) for f in range(10)] + [(f, 2, B) for f in range(10)])
    auto = _boxes([(f, 5, A) for f in range(6)] + [(f, 6, B) for f in range(10) if f not in (2, 7)])
    data = SimpleNamespace(seqs=[SimpleNamespace(num_frames=10)], gts=[gt], autos=[auto])
    bound = error_run_bound(data, CostModel(), 0.9)  # 18 right needed: the run of 4 does it
    assert bound["error_runs"] == 3 and bound["prelabel_accuracy"] == pytest.approx(0.7)
    assert bound["runs_needed"] == 1 and bound["s_per_frame_verify"] == pytest.approx(0.16)
    # gt 1's run seen at frame 7, where nothing is shown: one look at the missing box, 1.6 s
    assert bound["s_per_frame_frame_looks"] == pytest.approx(0.16)
    more = error_run_bound(data, CostModel(), 0.95)
    assert more["runs_needed"] == 2
    # then gt 2's run at frame 7 (1.6 s) before the one at frame 2 (track 5's box shown: 3.2 s)
    assert more["s_per_frame_frame_looks"] == pytest.approx(0.32)
    assert error_run_bound(data, CostModel(), 0.5)["runs_needed"] == 0


def test_apply_answers_skips_only_the_edits_that_no_longer_fit():
    from benchmarks.effort.strategies import SKIPPED, apply_answers
    from trackannot.corrections import Corrections

    state = AnnotationState(_boxes([(f, 5, A) for f in range(3)]), num_frames=3, cfg=LINEAR)
    # the split at frame 0 cannot be made (nothing before it), so the merge of its piece neither
    batch = Corrections.create(op=[int(Op.ACCEPT), int(Op.SPLIT), int(Op.MERGE)], track_id=[5, 5, 5],
                               frame=[1, 0, -1], xyxy=np.full((3, 4), np.nan), other_id=[-1, 77, 77])
    before = SKIPPED["edits"]
    previous = apply_answers(state, batch, 1)
    assert previous.track_id.tolist() == [5] and SKIPPED["edits"] - before == 2
    assert state.keyframes().frame.tolist() == [1] and state.track_ids == [5]


def test_queue_review_in_keyframes_order_answers_one_item_a_look():
    gt, tracks = _scene()
    points = queue_review(tracks, tracks, gt, 60, [8.0, 60.0], batch=3, order="keyframes",
                          propagate=False, cfg=LINEAR)
    first, last = points
    # one item a look: a proposal is one box (a verification, an adjust or a draw on its track)
    assert first.counts.verify + first.counts.adjust + first.counts.draw + first.counts.delete \
        <= first.frames_reviewed + 1
    assert last.frames_reviewed > first.frames_reviewed
    assert box_accuracy(last.boxes, gt) > box_accuracy(tracks, gt)


def test_make_state_switches_the_engines_propagation():
    from benchmarks.effort.strategies import make_state
    from trackannot.corrections import Corrections

    moving = [[100.0 + 2 * f, 0.0, 120.0 + 2 * f, 20.0] for f in range(20)]
    dets = _boxes([(f, -1, moving[f]) for f in range(20)])
    dets = dets.replace(score=np.full(len(dets), 0.9, np.float32))
    auto = _boxes([(f, 1, A) for f in range(20)])
    create = Corrections.create(op=[int(Op.CREATE)], track_id=[50], frame=[10],
                                xyxy=[moving[10]], other_id=[-1])
    carried = {}
    for on in (False, True):
        state = make_state(auto, 20, dets, None, propagate=on)
        state.apply(create)
        carried[on] = state.track_boxes(50)
    assert carried[False].frame.tolist() == [10]
    assert len(carried[True]) > 10  # carried along the detections both ways
    assert box_accuracy(carried[True], _boxes([(f, 9, moving[f]) for f in range(20)])) > 0.5


def test_queue_review_reports_each_look():
    gt, tracks = _scene()
    seen = []
    points = queue_review(tracks, tracks, gt, 60, [30.0], batch=2, propagate=False, cfg=LINEAR,
                          on_look=lambda state, frame, counts: seen.append((frame, counts)))
    assert len(seen) == points[0].frames_reviewed
    total = ActionCounts()
    for _, c in seen:
        total.add(c)
    assert total.as_dict() == points[0].counts.as_dict()


def test_queue_review_counts_apart_what_the_hybrid_annotator_spent_keying():
    # gt 2 is never tracked and has no detection: drawn at a look, nothing carries it, so the
    # hybrid annotator keys it along; those actions are in the checkpoint's counts and in keyed
    gt, tracks = _scene()
    hybrid = queue_review(tracks, tracks, gt, 60, [4, 12], batch=2, cfg=LINEAR, unit="looks",
                          carry_k=10)
    plain = queue_review(tracks, tracks, gt, 60, [4, 12], batch=2, cfg=LINEAR, unit="looks")
    for p in hybrid:
        assert all(p.keyed.as_dict()[k] <= v for k, v in p.counts.as_dict().items())
    assert hybrid[-1].keyed.adjust >= 4  # gt 2's run (10..59) keyed every 10 frames
    assert hybrid[0].keyed.adjust <= hybrid[-1].keyed.adjust
    assert all(v == 0 for p in plain for v in p.keyed.as_dict().values())
    without = CostModel().seconds(hybrid[-1].counts) - CostModel().seconds(hybrid[-1].keyed)
    assert 0 < without < CostModel().seconds(hybrid[-1].counts)


def test_queue_review_with_anchor_frames_spreads_its_first_looks_over_the_video():
    from trackannot.config import ReviewConfig

    gt, tracks = _scene()

    def looks(cfg: ReviewConfig) -> list[int]:
        seen: list[int] = []
        queue_review(tracks, tracks, gt, 60, [1e9], batch=2, propagate=False, cfg=LINEAR,
                     review_cfg=cfg, on_look=lambda state, frame, counts: seen.append(frame))
        return seen

    def longest(frames: list[int]) -> int:  # edge stretches twice, as anchored_order counts them
        a = sorted(set(frames))
        return max(2 * a[0], 2 * (59 - a[-1]), *(b - x for x, b in zip(a, a[1:])))

    anchored, plain = looks(ReviewConfig(anchor_frames=10)), looks(ReviewConfig(anchor_frames=0))
    first = next(m for m in range(1, len(anchored) + 1) if longest(anchored[:m]) <= 10)
    assert first <= 4 * 60 // 10 + 2  # the skeleton comes first
    assert longest(plain[:first]) > 10  # the risk order alone leaves a longer stretch unlooked


@pytest.mark.parametrize(("frames", "spacing"), [(100, 10), (154, 5), (447, 5), (45, 20)])
def test_the_skeleton_needs_as_many_looks_as_an_even_cover(frames: int, spacing: int) -> None:
    from benchmarks.effort.coverage import longest_stretch, skeleton_looks

    looks = skeleton_looks(frames, spacing)
    # the fewest looks that cover: the first within spacing // 2 of the start, the last within
    # it of the end, one every `spacing` between; the skeleton's middle-first split costs at most
    # one more (the old bisecting skeleton needed ~1.5x: 1,496 against 991 on KITTI Car)
    fewest = 1 + -(-(frames - 1 - 2 * (spacing // 2)) // spacing)
    assert fewest <= looks <= fewest + 1
    # an edge stretch counts twice: looks at 2 and 5 of 10 frames leave 4, 3 and 2 x 4
    assert longest_stretch(np.array([5, 2]), 10) == 8
    assert longest_stretch(np.zeros(0, np.int64), 10) == 20


def test_queue_review_with_honeypots_pays_an_adjust_for_each_and_leaves_the_annotation():
    from trackannot.config import ReviewConfig

    gt, tracks = _scene()
    kw = dict(batch=2, propagate=False, cfg=LINEAR, unit="looks")
    plain = queue_review(tracks, tracks, gt, 60, [20], **kw)[0]
    with_pots = queue_review(tracks, tracks, gt, 60, [20], honeypots=True,
                             review_cfg=ReviewConfig(honeypot_rate=0.5), **kw)[0]
    assert plain.honeypots == 0 and with_pots.honeypots > 0
    assert with_pots.frames_reviewed == plain.frames_reviewed == 20
    # each one caught and fixed (an adjust); the box under it was not checked in that look
    assert with_pots.counts.adjust >= with_pots.honeypots
    assert with_pots.counts.adjust + with_pots.counts.verify <= (
        plain.counts.adjust + plain.counts.verify + with_pots.honeypots)


def test_honeypot_reach_counts_what_a_policy_reviewer_would_check():
    from benchmarks.effort.honeypots import met
    from tests._review import make_queue
    from trackannot.review import ItemKind

    kinds = [ItemKind.RISK, ItemKind.RISK, ItemKind.HONEYPOT, ItemKind.HONEYPOT,
             ItemKind.SPOT_CHECK, ItemKind.CANDIDATE]
    queue = make_queue(kinds, scores=[0.9, 0.2, 0.85, 0.1, 0.3, 0.95])
    assert met(queue, 0.8) == {"items": 6, "asked_box_items": 1, "honeypots": 2,
                               "honeypots_met": 1, "spot_items": 1, "spot_items_met": 0}


def test_the_benchmark_refuses_a_limit_that_leaves_a_half_empty_and_a_report_of_nothing(
        tmp_path, capsys):
    from benchmarks.effort.run import main

    with pytest.raises(SystemExit) as exit_:
        main(["--limit", "1", "--out", str(tmp_path)])
    assert exit_.value.code == 2 and "--limit must be at least 2" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["--report", "--out", str(tmp_path)])
    assert exit_.value.code == 2 and f"no results in {tmp_path}" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # nothing written
