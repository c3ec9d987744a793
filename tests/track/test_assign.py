"""Gated Hungarian assignment: which pairs match and which are left over."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from trackannot.errors import InputFormatError
from trackannot.track.assign import assign_tracks

CASES = [
    # (iou, min_iou, col_weight, expected pairs, unmatched rows, unmatched cols)
    ([[0.9]], 0.3, None, [(0, 0)], [], []),
    ([[0.2]], 0.3, None, [], [0], [0]),
    ([[0.3]], 0.3, None, [(0, 0)], [], []),
    ([[0.0]], 0.0, None, [], [0], [0]),
    # a strong pair is kept rather than two weak ones (not maximum cardinality)
    ([[0.9, 0.25], [0.25, 0.0]], 0.2, None, [(0, 0)], [1], [1]),
    # the best total wins: swapping beats the greedy choice of the 0.6 pair
    ([[0.6, 0.5], [0.5, 0.0]], 0.1, None, [(0, 1), (1, 0)], [], []),
    # below the gate a pair cannot be used even when it would complete the matching
    ([[0.6, 0.5], [0.5, 0.0]], 0.55, None, [(0, 0)], [1], [1]),
    # score fusion changes which detection a track takes, not what is allowed
    ([[0.5, 0.45]], 0.3, [0.6, 0.9], [(0, 1)], [], [0]),
    ([[0.5, 0.45]], 0.3, None, [(0, 0)], [], [1]),
    ([[0.5, 0.1]], 0.3, [0.1, 1.0], [(0, 0)], [], [1]),
    # more rows than columns and the reverse
    ([[0.8], [0.7], [0.0]], 0.3, None, [(0, 0)], [1, 2], []),
    ([[0.0, 0.7, 0.4]], 0.3, None, [(0, 1)], [], [0, 2]),
]
IDS = [
    "one-pair", "below-gate", "at-gate", "zero-iou-never-matches", "strong-pair-kept",
    "best-total", "gate-blocks-completion", "fusion-prefers-confident", "no-fusion-prefers-iou",
    "fusion-cannot-open-gate", "tall", "wide",
]


@pytest.mark.parametrize(("iou", "min_iou", "weight", "pairs", "free_rows", "free_cols"), CASES,
                         ids=IDS)
def test_assign_cases(iou, min_iou, weight, pairs, free_rows, free_cols) -> None:
    w = None if weight is None else np.asarray(weight, dtype=np.float32)
    a = assign_tracks(np.asarray(iou, dtype=np.float32), min_iou, w)
    assert list(zip(a.rows.tolist(), a.cols.tolist())) == pairs
    assert a.unmatched_rows.tolist() == free_rows
    assert a.unmatched_cols.tolist() == free_cols
    for arr in a:
        assert arr.dtype == np.int64


@pytest.mark.parametrize("shape", [(0, 0), (0, 3), (4, 0)], ids=["empty", "no-rows", "no-cols"])
def test_assign_empty(shape: tuple[int, int]) -> None:
    a = assign_tracks(np.zeros(shape, dtype=np.float32), 0.3)
    assert a.rows.size == 0 and a.cols.size == 0
    assert a.unmatched_rows.tolist() == list(range(shape[0]))
    assert a.unmatched_cols.tolist() == list(range(shape[1]))


@pytest.mark.parametrize("seed", range(5), ids=[f"seed{s}" for s in range(5)])
def test_assign_is_optimal_gated_matching(seed: int) -> None:
    """Same total as an explicit lapjv-style problem with dummy rows/columns."""
    rng = np.random.default_rng(seed)
    n, m, gate = 7, 5, 0.3
    iou = (rng.random((n, m)) * (rng.random((n, m)) < 0.5)).astype(np.float32)
    a = assign_tracks(iou, gate)
    assert np.all(iou[a.rows, a.cols] >= gate)
    # dummy formulation: match (i, j) costs -iou if allowed, leaving anything unmatched costs 0
    big = 1e6
    cost = np.full((n + m, m + n), big)
    cost[:n, :m] = np.where(iou >= gate, -iou, big)
    cost[:n, m:] = np.where(np.eye(n) > 0, 0.0, big)
    cost[n:, :m] = np.where(np.eye(m) > 0, 0.0, big)
    cost[n:, m:] = 0.0
    r, c = linear_sum_assignment(cost)
    best = -cost[r, c][cost[r, c] < 0].sum()
    assert iou[a.rows, a.cols].sum() == pytest.approx(best, abs=1e-5)


@pytest.mark.parametrize(
    ("iou", "weight", "match"),
    [(np.zeros(3, np.float32), None, r"iou must be \(n, m\)"),
     (np.zeros((2, 3), np.float32), np.ones(2, np.float32), r"col_weight must be \(3,\)")],
    ids=["1d-iou", "weight-length"],
)
def test_assign_rejects_bad_shapes(iou, weight, match: str) -> None:
    with pytest.raises(InputFormatError, match=match):
        assign_tracks(iou, 0.3, weight)
