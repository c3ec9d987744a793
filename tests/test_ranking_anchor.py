"""The frames order's coverage skeleton (`trackannot.ranking.anchored_order`,
`ReviewConfig.anchor_frames`) on small cases where the right picks are known."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.effort.coverage import longest_stretch as _longest_stretch
from tests.test_review_orders import NUM_FRAMES, make_state, queue_of
from trackannot.config import ReviewConfig
from trackannot.corrections import Corrections, Op
from trackannot.errors import ConfigError
from trackannot.ranking import anchored_order



def test_off_or_nothing_to_order_returns_the_order_as_it_was() -> None:
    order = np.array([5, 2, 9, 0], np.int64)
    assert anchored_order(order, np.zeros(0, np.int64), 10, 0).tolist() == [5, 2, 9, 0]
    assert anchored_order(np.zeros(0, np.int64), np.zeros(0, np.int64), 10, 3).tolist() == []


def _fewest_looks(looked: np.ndarray, num_frames: int, spacing: int) -> int:
    """The fewest looks that leave no stretch longer than `spacing` around `looked`: m - 1
    inside a stretch of m pieces, and at an edge one per `spacing` beyond the first half."""
    a = np.unique(looked)
    inner = sum(-(-int(d) // spacing) - 1 for d in np.diff(a))
    edges = sum(max(0, -(-(2 * r - spacing) // (2 * spacing))) for r in (a[0], num_frames - 1 - a[-1]))
    return inner + edges


@pytest.mark.parametrize("anchor_frames", [3, 10, 33], ids=["3", "10", "33"])
def test_the_skeleton_covers_the_video_with_the_fewest_looks(anchor_frames: int) -> None:
    n = 200
    order = np.random.default_rng(0).permutation(n).astype(np.int64)
    looked = np.array([50, 51, 120], np.int64)
    out = anchored_order(order, looked, n, anchor_frames)
    assert sorted(out.tolist()) == list(range(n))
    # the shortest prefix that covers the video is the skeleton, and it has exactly as many
    # looks as an even cover needs (the old bisecting skeleton needed ~1.5x), then `order`
    covered = [m for m in range(n + 1)
               if _longest_stretch(np.r_[looked, out[:m]], n) <= anchor_frames]
    m = covered[0]
    assert m == _fewest_looks(looked, n, anchor_frames) > 0
    rest = out[m:]
    assert rest.tolist() == [f for f in order.tolist() if f in set(rest.tolist())]


def test_the_skeleton_halves_the_video_first_then_splits_the_longest_stretch_evenly() -> None:
    order = np.r_[15, 30, [f for f in range(41) if f not in (15, 30)]].astype(np.int64)
    out = anchored_order(order, np.zeros(0, np.int64), 41, 20)
    # the middle (20) whatever the risk order; then each edge stretch (2 x 20 frames) at the
    # frame that leaves 2 x 6 = 12 and 14 frames; the risk order after that
    assert out[:3].tolist() == [20, 6, 34]
    assert out[3:].tolist() == [f for f in order.tolist() if f not in (20, 6, 34)]
    # 10 frames, spacing 4: the middle, then the longer end, then the start
    assert anchored_order(np.arange(10), np.zeros(0, np.int64), 10, 4).tolist()[:3] == [4, 8, 1]


def test_a_frame_that_cannot_be_queued_gives_way_to_the_nearest_that_can_the_better_ranked() -> None:
    frames = [f for f in range(41) if f != 6]
    order = np.array(sorted(frames, key=lambda f: (f != 7, f)), np.int64)  # 7 ranked first
    out = anchored_order(order, np.zeros(0, np.int64), 41, 20)
    assert out[:3].tolist() == [20, 7, 34]  # 5 and 7 are as near to 6: 7 is ranked better
    order = order[order != 7]
    assert anchored_order(order, np.zeros(0, np.int64), 41, 20)[:3].tolist() == [20, 5, 34]


def test_frames_already_looked_at_anchor_so_a_covered_video_keeps_the_risk_order() -> None:
    order = np.arange(100)[::-1].astype(np.int64)
    looked = np.r_[np.arange(0, 100, 8), 99].astype(np.int64)
    assert anchored_order(order, looked, 100, 10).tolist() == order.tolist()
    # one look missing in the middle: the stretch 40-56 (16 frames) needs one look, at its middle
    out = anchored_order(order, looked[looked != 48], 100, 10)
    assert out[:1].tolist() == [48]
    assert out[1:].tolist() == [f for f in order.tolist() if f != 48]


def test_only_frames_of_the_order_are_picked_and_a_stretch_without_one_is_left() -> None:
    order = np.array([9, 3, 60], np.int64)  # frames 61-99 and most of 0-59 cannot be queued
    out = anchored_order(order, np.zeros(0, np.int64), 100, 10)
    assert sorted(out.tolist()) == [3, 9, 60]


def test_the_queue_spreads_its_first_looks_over_the_video_with_anchor_frames() -> None:
    state, dets = make_state()  # boxes, candidates and missing boxes at frames 0-42 of 60
    plain = queue_of(state, dets, 6, cfg=ReviewConfig(honeypot_rate=0.0, anchor_frames=0)).frames
    spread = queue_of(state, dets, 6, cfg=ReviewConfig(honeypot_rate=0.0, anchor_frames=10)).frames
    default = queue_of(state, dets, 6, cfg=ReviewConfig(honeypot_rate=0.0)).frames  # skeleton 5
    assert len(plain) == len(spread) == len(default) == 6
    frames_with_rows = np.unique(np.r_[queue_of(state, dets, NUM_FRAMES).frames])
    span = frames_with_rows.max() + 1
    assert _longest_stretch(spread, span) < _longest_stretch(plain, span)
    assert _longest_stretch(default, span) < _longest_stretch(plain, span)
    # a keyframe counts as a look: with a box accepted at the skeleton's first frame, the
    # next queue's skeleton starts elsewhere
    first = int(spread[0])
    row = state.boxes().for_frame(first)
    state.apply(Corrections.create(op=[Op.ACCEPT] * len(row), frame=[first] * len(row),
                                   track_id=row.track_id, xyxy=row.xyxy))
    again = queue_of(state, dets, 6, cfg=ReviewConfig(honeypot_rate=0.0, anchor_frames=10)).frames
    assert first not in again[:1].tolist()


def test_anchor_frames_must_be_an_int_of_at_least_0() -> None:
    with pytest.raises(ConfigError, match=r"review.anchor_frames .* -1"):
        ReviewConfig(anchor_frames=-1)


def test_frames_candidate_min_p_hides_unlikely_candidates_but_keeps_the_frames() -> None:
    from trackannot.review import ItemKind

    state, dets = make_state()  # object B: a candidate the frames order queues
    shown = queue_of(state, dets, 8)
    assert (shown.kind == ItemKind.CANDIDATE).any()
    p = float(shown.score[shown.kind == ItemKind.CANDIDATE].max())
    hidden = queue_of(state, dets, 8, cfg=ReviewConfig(honeypot_rate=0.0,
                                                       frames_candidate_min_p=min(1.0, p + 0.01)))
    assert not (hidden.kind == ItemKind.CANDIDATE).any()
    assert hidden.frames.tolist() == shown.frames.tolist()  # candidates still rank frames
    kept = queue_of(state, dets, 8, cfg=ReviewConfig(honeypot_rate=0.0, frames_candidate_min_p=p))
    assert (kept.kind == ItemKind.CANDIDATE).sum() == (shown.kind == ItemKind.CANDIDATE).sum()


def test_frames_missing_min_p_hides_unlikely_missing_boxes_but_they_still_rank_frames() -> None:
    from trackannot.proposals import END_RISK
    from trackannot.risk import Reason

    state, dets = make_state()  # tracks 1 and 2 end at frame 39: END_RISK after it (< 0.27)
    every = ReviewConfig(honeypot_rate=0.0, frames_missing_min_p=0.0, anchor_frames=0)
    shown = queue_of(state, dets, NUM_FRAMES, cfg=every)
    ends = (shown.reason == Reason.OPEN_END) & (shown.frame > 39)
    assert sorted(set(shown.frame[ends].tolist())) == [40, 41, 42]
    assert max(END_RISK) < ReviewConfig().frames_missing_min_p
    hidden = queue_of(state, dets, NUM_FRAMES, cfg=ReviewConfig(honeypot_rate=0.0, anchor_frames=0))
    assert not ((hidden.reason == Reason.OPEN_END) & (hidden.frame > 39)).any()
    # the rest of the queue (run-aware order) is untouched: the same items, in the same order
    keep = ~np.isin(shown.frame, [40, 41, 42])
    assert hidden.frame.tolist() == shown.frame[keep].tolist()
    assert hidden.track_id.tolist() == shown.track_id[keep].tolist()
    # a threshold at the least likely one shows them all again
    at = ReviewConfig(honeypot_rate=0.0, anchor_frames=0, frames_missing_min_p=float(END_RISK[-1]))
    assert queue_of(state, dets, NUM_FRAMES, cfg=at).frame.tolist() == shown.frame.tolist()


def test_frames_missing_min_p_must_be_a_probability() -> None:
    with pytest.raises(ConfigError, match=r"review.frames_missing_min_p .* 1.5"):
        ReviewConfig(frames_missing_min_p=1.5)
