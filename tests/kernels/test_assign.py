"""Gating kernel: similarity, isolated pairs and the part left to the Hungarian search."""

from __future__ import annotations

import numpy as np
import pytest

from trackannot.kernels.assign import gate_pairs, unmatched


def gate_reference(iou: np.ndarray, rows, cols, min_iou: float, weight: np.ndarray):
    """Allowed pairs, then isolated ones by row/column degree, with plain NumPy."""
    sub = iou[np.ix_(rows, cols)]
    sim = sub * weight[cols][None, :]
    allowed = (sub >= np.float32(min_iou)) & (sim > 0)
    cost = np.where(allowed, -sim.astype(np.float64), 0.0)
    rdeg, cdeg = allowed.sum(1), allowed.sum(0)
    iso = allowed & (rdeg[:, None] == 1) & (cdeg[None, :] == 1)
    pr, pc = np.nonzero(iso)
    hard_r = np.flatnonzero((rdeg > 0) & ~iso.any(1))
    hard_c = np.flatnonzero((cdeg > 0) & ~iso.any(0))
    return cost, pr, pc, hard_r, hard_c


@pytest.mark.parametrize(
    ("n", "m", "density", "seed"),
    [(0, 0, 0.5, 0), (0, 4, 0.5, 1), (1, 1, 1.0, 2), (1, 6, 0.3, 3), (8, 1, 0.3, 4),
     (12, 10, 0.15, 5), (12, 10, 0.6, 6)],
    ids=["empty", "no-rows", "one-one", "one-row", "one-col", "sparse", "dense"],
)
def test_gate_pairs_matches_reference(n: int, m: int, density: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    full = (rng.random((n + 3, m + 2)) * (rng.random((n + 3, m + 2)) < density)).astype(np.float32)
    rows = np.sort(rng.choice(n + 3, n, replace=False)).astype(np.int64)
    cols = np.sort(rng.choice(m + 2, m, replace=False)).astype(np.int64)
    weight = rng.uniform(0.5, 1.0, m + 2).astype(np.float32)
    got = gate_pairs(full, rows, cols, 0.3, weight)
    want = gate_reference(full, rows, cols, 0.3, weight)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-6)
    for g, w in zip(got[1:], want[1:]):
        np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize(
    ("count", "taken", "expected"),
    [(0, [], []), (3, [], [0, 1, 2]), (3, [2, 0], [1]), (4, [0, 1, 2, 3], [])],
    ids=["empty", "none-taken", "some-taken", "all-taken"],
)
def test_unmatched(count: int, taken: list[int], expected: list[int]) -> None:
    got = unmatched(count, np.array(taken, dtype=np.int64))
    assert got.dtype == np.int64 and got.tolist() == expected
