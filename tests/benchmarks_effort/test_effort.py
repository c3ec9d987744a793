"""Effort simulator: cost arithmetic, the oracle's corrections on tiny synthetic cases, manual k=1."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.effort.cost import ActionCounts, CostModel
from benchmarks.effort.oracle import Oracle, owners
from benchmarks.effort.strategies import active_review, box_accuracy, manual, review, uniform_frames
from trackannot.boxes import Boxes, Origin
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
