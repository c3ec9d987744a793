"""The frames order's run-aware ranking (`trackannot.ranking.frame_order`, `run_links` and the
`trackannot.kernels.risk.run_rank` kernel) on tiny cases where the error runs are known."""

from __future__ import annotations

import numpy as np

from trackannot.config import ReviewConfig
from trackannot.kernels.risk import run_rank, spread_rank
from trackannot.ranking import frame_order, run_links


def _rows(*rows: tuple[int, int, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(frame, key, p) of rows given as (frame, key, p), sorted by frame."""
    a = np.array(sorted(rows), np.float64).reshape(-1, 3)
    return a[:, 0].astype(np.int64), a[:, 1].astype(np.int64), a[:, 2]


def test_a_long_sure_run_takes_one_frame_and_the_short_runs_come_next() -> None:
    # track 1 is wrong at frames 0-9 (one run), tracks 2 and 3 each at one frame
    frame, key, p = _rows(*[(f, 1, 0.9) for f in range(10)], (20, 2, 0.5), (30, 3, 0.5))
    order = frame_order(frame, key, p, 40, ReviewConfig())
    assert order[0] == 0
    assert set(order[1:3].tolist()) == {20, 30}
    # the spread ranking comes back to the long run 6 frames on, before either short run
    track_order = np.lexsort((frame, key))
    seg = np.cumsum(np.r_[True, key[track_order][1:] != key[track_order][:-1]]) - 1
    spread = spread_rank(frame, p, track_order.astype(np.int64), seg.astype(np.int64), 40, 5)
    assert spread[1] == 6


def test_where_the_probability_falls_the_run_is_likely_over() -> None:
    # frames 0-1 probably wrong, frames 2-3 probably right: a pick at 0 leaves 2-3 most of
    # their worth, while a second look at frame 1 is worth nothing
    frame, key, p = _rows((0, 1, 0.8), (1, 1, 0.8), (2, 1, 0.1), (3, 1, 0.1), (2, 2, 0.05))
    order, link = run_links(frame, key, p)
    assert key[order].tolist() == [1, 1, 1, 1, 2]
    assert np.allclose(link, [1.0, 0.125, 1.0, 0.0, 0.0])
    ranked = frame_order(frame, key, p, 4, ReviewConfig())
    assert ranked[:2].tolist() == [0, 2]


def test_rows_apart_in_time_or_of_other_keys_are_runs_of_their_own() -> None:
    frame, key, p = _rows((0, 1, 0.5), (2, 1, 0.5), (2, 2, 0.5))
    _, link = run_links(frame, key, p)
    assert link.tolist() == [0.0, 0.0, 0.0]


def test_a_candidate_chain_is_one_run_however_far_apart_its_frames() -> None:
    frame, key, p = _rows((40, 7, 0.6), (45, 7, 0.6), (50, 7, 0.6), (60, 1, 0.3))
    whole = key == 7
    order = frame_order(frame, key, p, 61, ReviewConfig(), whole=whole)
    assert order[:2].tolist() == [40, 60]
    # without the chain marked whole, every detection of it is a run of its own
    assert frame_order(frame, key, p, 61, ReviewConfig())[:3].tolist() == [40, 45, 50]


def test_without_links_the_kernel_sorts_frames_by_their_worth() -> None:
    rng = np.random.default_rng(3)
    frame = np.sort(rng.integers(0, 30, 200)).astype(np.int64)
    key = rng.integers(0, 8, 200).astype(np.int64)
    value = rng.uniform(0, 1, 200)
    order = np.lexsort((frame, key)).astype(np.int64)
    got = run_rank(frame, value, np.zeros(200), order, 30, 1e-4)
    per = np.bincount(frame, weights=value, minlength=30)
    assert got.tolist() == np.lexsort((np.arange(30), -per)).tolist()


def test_weights_scale_a_row_s_worth_but_not_its_run() -> None:
    # a missing box (weight 3) outranks a box of equal p; its neighbour in the run does not
    frame, key, p = _rows((0, 1, 0.4), (5, 2, 0.4), (6, 2, 0.4))
    weight = np.where(key == 2, 3.0, 1.0)
    order = frame_order(frame, key, p, 7, ReviewConfig(), weight=weight)
    assert order[:2].tolist() == [5, 0]


def _brute_force_order(frame, value, link, order, num_frames, picks):
    """The first `picks` frames of `run_rank`'s greedy, each frame's worth recomputed from
    scratch: a row keeps value * (1 - links product to the nearest pick of its key on the left)
    * (the same on the right); links are 0 between keys, so a product never crosses one."""
    pos_of = np.empty(len(order), np.int64)
    pos_of[order] = np.arange(len(order))
    picked: set[int] = set()
    out: list[int] = []
    for _ in range(picks):
        worth = np.zeros(num_frames)
        for r in range(len(frame)):
            j = pos_of[r]
            left = right = 1.0
            prod, i = 1.0, j - 1
            while i >= 0 and prod > 0:
                prod *= link[i]
                if i in picked and prod > 0:
                    left = 1.0 - prod
                    break
                i -= 1
            prod, i = 1.0, j + 1
            while i < len(order) and prod > 0:
                prod *= link[i - 1]
                if i in picked and prod > 0:
                    right = 1.0 - prod
                    break
                i += 1
            worth[frame[r]] += value[r] * left * right
        worth[out] = -1.0
        f = int(np.argmax(worth))
        if worth[f] < 1e-9:
            break
        out.append(f)
        picked.update(pos_of[frame == f].tolist())
    return out


def test_the_kernel_matches_the_worths_recomputed_from_scratch() -> None:
    rng = np.random.default_rng(11)
    for _ in range(20):
        n_frames, n_keys = 25, 4
        frame = np.repeat(np.arange(n_frames), n_keys)
        key = np.tile(np.arange(n_keys), n_frames)
        keep = rng.uniform(size=len(frame)) > 0.2
        frame, key = frame[keep].astype(np.int64), key[keep].astype(np.int64)
        p = rng.choice([0.2, 0.5, 0.9], size=len(frame)) * rng.uniform(0.9, 1.0, len(frame))
        order, link = run_links(frame, key, p)
        got = run_rank(frame, p, link, order, n_frames, 0.0)
        want = _brute_force_order(frame, p, link, order, n_frames, 12)
        assert got[:len(want)].tolist() == want
