"""The frames order's coverage skeleton (`trackannot.ranking.anchored_order`,
`ReviewConfig.anchor_frames`) on small cases where the right picks are known."""

from __future__ import annotations

import numpy as np
import pytest

from tests.test_review_orders import NUM_FRAMES, make_state, queue_of
from trackannot.config import ReviewConfig
from trackannot.corrections import Corrections, Op
from trackannot.errors import ConfigError
from trackannot.ranking import anchored_order


def _longest_stretch(looked: np.ndarray, num_frames: int) -> int:
    """The longest stretch between looks, an edge stretch counted twice (as `anchored_order`)."""
    a = np.unique(looked)
    if not len(a):
        return 2 * num_frames
    return int(max(2 * a[0], 2 * (num_frames - 1 - a[-1]), *(np.diff(a) if len(a) > 1 else [0])))


def test_off_or_nothing_to_order_returns_the_order_as_it_was() -> None:
    order = np.array([5, 2, 9, 0], np.int64)
    assert anchored_order(order, np.zeros(0, np.int64), 10, 0).tolist() == [5, 2, 9, 0]
    assert anchored_order(np.zeros(0, np.int64), np.zeros(0, np.int64), 10, 3).tolist() == []


@pytest.mark.parametrize("anchor_frames", [3, 10, 33], ids=["3", "10", "33"])
def test_the_skeleton_leaves_no_stretch_longer_than_anchor_frames(anchor_frames: int) -> None:
    n = 200
    order = np.random.default_rng(0).permutation(n).astype(np.int64)
    looked = np.array([50, 51, 120], np.int64)
    out = anchored_order(order, looked, n, anchor_frames)
    assert sorted(out.tolist()) == list(range(n))
    # the shortest prefix that covers the video is the skeleton: at most ~4 looks per
    # anchor_frames (each split leaves stretches of at least a quarter), then `order` as it was
    covered = [m for m in range(n + 1)
               if _longest_stretch(np.r_[looked, out[:m]], n) <= anchor_frames]
    m = covered[0]
    assert 0 < m <= 4 * n // anchor_frames + 2
    rest = out[m:]
    assert rest.tolist() == [f for f in order.tolist() if f in set(rest.tolist())]


def test_the_longest_stretch_is_split_first_at_its_best_ranked_frame_near_its_middle() -> None:
    # 41 frames, none looked; the risk order puts 15 then 30 first, then the rest ascending
    order = np.r_[15, 30, [f for f in range(41) if f not in (15, 30)]].astype(np.int64)
    out = anchored_order(order, np.zeros(0, np.int64), 41, 20)
    # whole video: best-ranked frame 15; then the end stretch (2 x 25 frames) at its best frame
    # in its half next to the edge (28-40): 30; then the start (2 x 15): frame 0 (of 0-7); the
    # stretches left (15-30, 30-end, 0-15) are at most 20
    assert out[:3].tolist() == [15, 30, 0]
    assert out[3:].tolist() == [f for f in order.tolist() if f not in (15, 30, 0)]


def test_frames_already_looked_at_anchor_so_a_covered_video_keeps_the_risk_order() -> None:
    order = np.arange(100)[::-1].astype(np.int64)
    looked = np.r_[np.arange(0, 100, 8), 99].astype(np.int64)
    assert anchored_order(order, looked, 100, 10).tolist() == order.tolist()
    # one look missing in the middle: the stretch 40-56 (16 frames) is split at the best-ranked
    # frame (the highest here) of its middle half 44-52, then 40-52 (12) at 49 of 43-49
    out = anchored_order(order, looked[looked != 48], 100, 10)
    assert out[:2].tolist() == [52, 49]
    assert out[2:].tolist() == [f for f in order.tolist() if f not in (52, 49)]


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
