"""Risk score: behaviour on built cases, bad input, and a real-data gate on MOT15 KITTI-13."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from trackannot.boxes import COLUMNS, Boxes, Origin
from trackannot.config import ReviewConfig
from trackannot.errors import ConfigError, InputFormatError
from trackannot.keyframes import Keyframes
from trackannot.risk import FEATURES, Reason, Risk, open_ends, rank_frames, risk_features, score_risk

FRAMES = 10


def _track(track_id: int, x: float, origin: Origin = Origin.DETECTED, n: int = FRAMES,
           det: bool = True) -> Boxes:
    """A still 50 x 100 px box at x, frames 0..n-1."""
    return Boxes.create(
        xyxy=np.tile([x, 0.0, x + 50.0, 100.0], (n, 1)), frame=np.arange(n),
        track_id=np.full(n, track_id), origin=np.full(n, int(origin)),
        det_index=np.arange(n) if det else np.full(n, -1), score=np.full(n, 0.9),
    )


def _boxes(*parts: Boxes) -> Boxes:
    """The rows of all parts, sorted by (frame, track_id)."""
    cols = {name: np.concatenate([getattr(p, name) for p in parts]) for name in COLUMNS}
    return Boxes.create(**cols, sort=True)


def _detections_at(*xs: float) -> Boxes:
    parts = [_track(-1, x) for x in xs]
    return _boxes(*parts).replace(track_id=np.full(FRAMES * len(xs), -1))


def test_box_far_from_detections_scores_higher() -> None:
    boxes = _boxes(_track(1, 0.0, Origin.INTERPOLATED, det=False),
                   _track(2, 400.0, Origin.INTERPOLATED, det=False))
    risk = score_risk(boxes, _detections_at(0.0), None)
    on, off = risk.score[boxes.track_id == 1], risk.score[boxes.track_id == 2]
    assert off.min() > on.max() + 0.2
    assert set(risk.reason[boxes.track_id == 2]) <= {
        Reason.NO_DETECTION, Reason.LOW_CONFIDENCE, Reason.TRACK_CONFIDENCE}


def test_without_detections_support_comes_from_det_index() -> None:
    boxes = _boxes(_track(1, 0.0), _track(2, 400.0, Origin.PREDICTED, det=False))
    risk = score_risk(boxes, None, None)
    assert risk.score[boxes.track_id == 2].min() > risk.score[boxes.track_id == 1].max()


def test_keyframes_score_lowest() -> None:
    boxes = _boxes(_track(1, 0.0, Origin.INTERPOLATED, det=False))
    origin = boxes.origin.copy()
    origin[[0, FRAMES - 1]] = Origin.KEYFRAME
    boxes = boxes.replace(origin=origin)
    keys = Keyframes.create(track_id=[1, 1], frame=[0, FRAMES - 1],
                            xyxy=boxes.xyxy[[0, FRAMES - 1]])
    cfg = ReviewConfig()
    risk = score_risk(boxes, None, keys, cfg)
    assert risk.score[0] == pytest.approx(cfg.keyframe_risk)
    assert risk.score[-1] == pytest.approx(cfg.keyframe_risk)
    assert risk.score[1:-1].min() > cfg.keyframe_risk
    assert risk.score[FRAMES // 2] == risk.score.max()  # the middle is farthest from both
    assert risk.reason[0] == Reason.KEYFRAME
    # a keyframe row is near certain whatever its other signals say
    plain = score_risk(boxes, None, None)
    assert plain.score[0] == pytest.approx(cfg.keyframe_risk)
    assert plain.score[FRAMES // 2] > 0.5


def test_keyframes_of_other_tracks_do_not_lower_risk() -> None:
    boxes = _boxes(_track(1, 0.0), _track(2, 400.0))
    keys = Keyframes.create(track_id=[2], frame=[3], xyxy=[[400, 0, 450, 100]])
    with_keys = score_risk(boxes, None, keys)
    without = score_risk(boxes, None, None)
    one = boxes.track_id == 1
    np.testing.assert_array_equal(with_keys.score[one], without.score[one])
    assert with_keys.score[(boxes.track_id == 2) & (boxes.frame == 3)] < 0.02


def test_overlapping_tracks_raise_risk() -> None:
    apart = _boxes(_track(1, 0.0), _track(2, 400.0))
    close = _boxes(_track(1, 0.0), _track(2, 10.0))  # IoU 40 / 60 = 0.67
    r_apart = score_risk(apart, None, None)
    r_close = score_risk(close, None, None)
    assert (r_close.score > r_apart.score + 0.05).all()
    overlap = risk_features(close, None)[:, FEATURES.index("overlap")]
    np.testing.assert_allclose(overlap, 40.0 / 60.0, rtol=1e-6)


def test_track_ends_and_gaps_raise_risk() -> None:
    boxes = _boxes(_track(1, 0.0, n=40))
    risk = score_risk(boxes, None, None)
    assert risk.score[0] > risk.score[20] and risk.score[-1] > risk.score[20]
    gapped = boxes[(boxes.frame < 15) | (boxes.frame > 25)]
    r_gap = score_risk(gapped, None, None)
    at_gap = np.flatnonzero(gapped.frame == 14)[0]
    assert r_gap.score[at_gap] > risk.score[14]
    assert r_gap.reason[at_gap] in (Reason.GAP, Reason.TRACK_CONFIDENCE, Reason.LOW_CONFIDENCE)


def test_scores_reasons_and_frame_totals_are_valid() -> None:
    rng = np.random.default_rng(7)
    n = 400
    xy = rng.uniform(0, 500, (n, 2))
    wh = rng.uniform(5, 120, (n, 2))
    boxes = Boxes.create(
        xyxy=np.c_[xy, xy + wh], frame=rng.integers(0, 30, n), track_id=rng.integers(0, 25, n),
        score=rng.uniform(0, 1, n), origin=rng.integers(0, 4, n),
        det_index=rng.integers(-1, 3, n), pos_std=rng.uniform(0, 30, n), sort=True,
    )
    pairs = np.unique(np.c_[boxes.frame, boxes.track_id], axis=0, return_index=True)[1]
    boxes = boxes[np.sort(pairs)]
    dets = Boxes.create(xyxy=np.c_[xy, xy + wh][:100] + 3.0, frame=rng.integers(0, 30, 100),
                        score=rng.uniform(0, 1, 100), sort=True)
    risk = score_risk(boxes, dets, None)
    assert risk.score.shape == (len(boxes),) and risk.reason.shape == (len(boxes),)
    assert ((risk.score >= 0) & (risk.score <= 1)).all()
    assert set(risk.reason.tolist()) <= {int(r) for r in Reason}
    np.testing.assert_array_equal(risk.frame, np.unique(boxes.frame))
    np.testing.assert_allclose(risk.frame_expected.sum(), risk.score.sum())
    assert ((risk.frame_any >= risk.frame_expected / np.bincount(boxes.frame)[risk.frame] - 1e-9)
            & (risk.frame_any <= 1)).all()
    plain = ReviewConfig(spread_frames=0, track_start_risk=0.0, track_end_risk=0.0)  # no open ends
    ranked = rank_frames(boxes, risk, 40, plain)
    assert sorted(ranked.tolist()) == list(range(40))
    per = risk.per_frame(40)
    assert (np.diff(per[ranked]) <= 0).all() and per[30:].sum() == 0
    spread = rank_frames(boxes, risk, 40)
    assert sorted(spread.tolist()) == list(range(40)) and spread[0] == ranked[0]


def test_spread_ranking_moves_on_to_other_errors() -> None:
    # track 1: a long risky stretch (no detection) at frames 0..9; track 2: one risky box at 30
    risky = _track(1, 0.0, Origin.PREDICTED, det=False)
    lone = Boxes.create(xyxy=[[400, 0, 450, 100]], frame=[30], track_id=[2],
                        origin=[int(Origin.PREDICTED)])
    boxes = _boxes(risky, lone)
    risk = score_risk(boxes, None, None)
    assert risk.score[-1] < risk.score[:-1].min()  # a one-box track alone is less risky here
    plain = rank_frames(boxes, risk, 40, ReviewConfig(spread_frames=0))
    spread = rank_frames(boxes, risk, 40, ReviewConfig(spread_frames=5))
    assert plain[:FRAMES].tolist() == sorted(plain[:FRAMES].tolist(), key=lambda f: (
        -risk.per_frame(40)[f], f))
    assert 30 not in plain[:FRAMES].tolist()
    assert 30 in spread[:4].tolist()  # after one look at track 1, track 2's box comes next


def test_rank_frames_rejects_mismatched_input() -> None:
    boxes = _boxes(_track(1, 0.0))
    risk = score_risk(boxes, None, None)
    with pytest.raises(InputFormatError, match="risk has 10 scores but boxes has 9 rows"):
        rank_frames(boxes[1:], risk, FRAMES)
    with pytest.raises(InputFormatError, match="num_frames = 5"):
        rank_frames(boxes, risk, 5)


def test_empty_input() -> None:
    risk = score_risk(Boxes.empty(), None, None)
    assert isinstance(risk, Risk)
    assert risk.score.shape == (0,) and risk.reason.shape == (0,) and risk.frame.shape == (0,)
    assert rank_frames(Boxes.empty(), risk, 3).tolist() == [0, 1, 2]
    risk = score_risk(Boxes.empty(), _detections_at(0.0), Keyframes.empty())
    assert risk.frame_expected.shape == (0,)


def test_reason_labels_are_readable() -> None:
    assert Reason.NO_DETECTION.label == "no detection"
    assert [r.value for r in Reason][1: len(FEATURES) + 1] == list(range(1, len(FEATURES) + 1))
    assert [Reason(i + 1).name.lower() for i in range(len(FEATURES))] == list(FEATURES)


@pytest.mark.parametrize("key, value", [("keyframe_risk", 1.5), ("keyframe_decay_frames", 0.0),
                                        ("keyframe_decay_frames", math.inf),
                                        ("spread_frames", -1)])
def test_review_config_rejects_bad_values(key: str, value: float) -> None:
    with pytest.raises(ConfigError, match=f"review.{key}"):
        ReviewConfig(**{key: value})


def test_real_mot15_top_frames_hold_more_errors_than_their_share(data_dir: Path) -> None:
    from benchmarks.bench_risk import error_runs, labelled
    from benchmarks.datasets import load_mot15

    seq = next(s for s in load_mot15(data_dir) if s.name == "KITTI-13")  # held out of the fit
    data = labelled(seq, "MOT15")
    tracks, wrong = data["tracks"], data["wrong"]
    risk = score_risk(tracks, seq.detections, None)
    n, k = seq.num_frames, math.ceil(0.2 * seq.num_frames)
    wrong_per_frame = np.bincount(tracks.frame[wrong], minlength=n)
    order, run = error_runs(tracks, wrong)
    assert wrong_per_frame.sum() > 100 and run.max() + 1 > 50

    def shares(frames: np.ndarray) -> tuple[float, float]:
        seen = np.unique(run[(run >= 0) & np.isin(tracks.frame[order], frames)])
        return wrong_per_frame[frames].sum() / wrong_per_frame.sum(), len(seen) / (run.max() + 1)

    boxes_ranked, runs_ranked = shares(rank_frames(tracks, risk, n)[:k])
    boxes_uniform, runs_uniform = shares(np.arange(0, n, 5))
    assert boxes_ranked > 0.3 and boxes_ranked > boxes_uniform + 0.1
    assert runs_ranked > 0.75 and runs_ranked > runs_uniform + 0.2


def test_open_ends_expect_missing_boxes_before_starts_and_after_ends() -> None:
    cfg = ReviewConfig(edge_frames=3, track_start_risk=0.4, track_end_risk=0.2, open_end_frames=10,
                       open_end_risk=0.5)
    auto = Boxes.create(frame=np.arange(5, 15), track_id=1, xyxy=np.tile([0, 0, 10, 10], (10, 1)))
    frame, track, risk = open_ends(auto, None, 100, cfg)
    assert sorted(zip(frame.tolist(), track.tolist(), risk.tolist())) == [(2, 1, 0.4), (17, 1, 0.2)]
    # a drawn track (keyframe rows) is open by open_end_frames on both sides
    drawn = Boxes.create(frame=[40], track_id=[2], xyxy=[[0, 0, 10, 10]], origin=[Origin.KEYFRAME])
    frame, track, risk = open_ends(drawn, None, 100, cfg)
    assert sorted(zip(frame.tolist(), risk.tolist())) == [(30, 0.5), (50, 0.5)]
    # closed by an outside keyframe right after its last box: no open end after it
    closed = Keyframes.create(track_id=[2, 2], frame=[40, 41], xyxy=[[0, 0, 10, 10]] * 2,
                              outside=[False, True])
    frame, _, _ = open_ends(drawn, closed, 100, cfg)
    assert frame.tolist() == [30]
    # outside the video: dropped
    frame, _, _ = open_ends(auto, None, 16, cfg)
    assert frame.tolist() == [2]


def test_rank_frames_visits_an_open_end_first() -> None:
    cfg = ReviewConfig(spread_frames=0, track_start_risk=0.0, track_end_risk=0.0, open_end_frames=10,
                       open_end_risk=0.9)
    drawn = Boxes.create(frame=[40], track_id=[2], xyxy=[[0, 0, 10, 10]], origin=[Origin.KEYFRAME])
    risk = score_risk(drawn, None, None)
    ranked = rank_frames(drawn, risk, 100, cfg)
    assert ranked[:2].tolist() in ([30, 50], [50, 30])
    off = ReviewConfig(spread_frames=0, track_start_risk=0.0, track_end_risk=0.0, open_end_risk=0.0)
    assert rank_frames(drawn, risk, 100, off)[0] == 40
