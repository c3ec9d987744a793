"""Keyframe selection kernel: vs the brute-force reference, optimality, reproduction, no-JIT."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from tests.kernels._nojit import run_without_jit
from trackannot.kernels.interp import linear_counts, linear_fill
from trackannot.kernels.sparse import select_keyframes, select_keyframes_numpy


def random_runs(seed: int, n_runs: int, max_len: int = 50) -> dict[str, np.ndarray]:
    """Runs of drifting, jittering, resizing boxes; ~70% closed; ~3% forced rows."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, max_len + 1, n_runs)
    run_start = np.r_[0, np.cumsum(lengths)].astype(np.int64)
    parts = []
    for m in lengths:
        t = np.arange(m)[:, None]
        centre = rng.uniform(100, 900, 2) + t * rng.normal(0, 3, 2) + np.cumsum(
            rng.normal(0, 1.5, (m, 2)), axis=0)
        size = rng.uniform(15, 150, 2) * np.exp(np.cumsum(rng.normal(0, 0.01, (m, 1)), axis=0))
        parts.append(np.c_[centre - size / 2, centre + size / 2])
    n = int(run_start[-1])
    return {
        "xyxy": np.concatenate(parts).astype(np.float32),
        "run_start": run_start,
        "closed": rng.random(n_runs) < 0.7,
        "keep": rng.random(n) < 0.03,
    }


def reproduces(runs: dict[str, np.ndarray], selected: np.ndarray, tol: float) -> np.ndarray:
    """Per row: linear_fill of the selected keyframes gives an identical box or IoU >= tol.

    Also checks that interpolation emits exactly one box per original row (no more, no fewer).
    """
    xyxy, run_start, closed = runs["xyxy"], runs["run_start"], runs["closed"]
    frame = np.concatenate([np.arange(run_start[k + 1] - run_start[k])
                            for k in range(len(run_start) - 1)]).astype(np.int64)
    rows = np.flatnonzero(selected)
    ends = run_start[1:][closed] - 1
    # one track per run; the closing outside keyframe carries the run's last box
    key_run = np.r_[np.searchsorted(run_start, rows, "right") - 1, np.flatnonzero(closed)]
    key_frame = np.r_[frame[rows], frame[ends] + 1]
    key_xyxy = np.r_[xyxy[rows], xyxy[ends]]
    key_outside = np.r_[np.zeros(len(rows), bool), np.ones(len(ends), bool)]
    order = np.lexsort((key_frame, key_run))
    seg_start = np.searchsorted(key_run[order], np.arange(len(run_start))).astype(np.int64)
    counts = linear_counts(key_frame[order], key_outside[order], seg_start)
    assert np.array_equal(counts, np.diff(run_start))
    out_start = np.r_[0, np.cumsum(counts)].astype(np.int64)
    m = int(out_start[-1])
    out_frame, out_xyxy, out_key = np.empty(m, np.int64), np.empty((m, 4), np.float32), \
        np.empty(m, np.int64)
    linear_fill(key_frame[order], key_xyxy[order], key_outside[order], seg_start, out_start,
                out_frame, out_xyxy, out_key)
    assert np.array_equal(out_frame, frame)
    assert np.array_equal(out_key >= 0, selected)
    assert np.array_equal(out_xyxy[selected], xyxy[selected])  # exact at keyframes
    return box_ok(out_xyxy, xyxy, tol)


def box_ok(a: np.ndarray, b: np.ndarray, tol: float) -> np.ndarray:
    """Identical, or IoU >= tol in float64 (written out independently of the kernel)."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    iw = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = iw * ih
    union = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]) + (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = union - inter
    iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    return (iou >= tol) | (a == b).all(axis=1)


def run_kernel(runs: dict[str, np.ndarray], tol: float) -> np.ndarray:
    return select_keyframes(runs["xyxy"], runs["run_start"], runs["closed"], runs["keep"], tol)


@pytest.mark.parametrize("seed,tol", [(0, 0.5), (1, 0.8), (2, 0.9), (3, 0.95), (4, 1.0)],
                         ids=["tol0.5", "tol0.8", "tol0.9", "tol0.95", "tol1.0"])
def test_kernel_matches_brute_force(seed: int, tol: float) -> None:
    runs = random_runs(seed, 120)
    got = run_kernel(runs, tol)
    ref = select_keyframes_numpy(runs["xyxy"], runs["run_start"], runs["closed"], runs["keep"],
                                 tol)
    # the wedge pruning never drops an admissible segment: identical choice, not just count
    np.testing.assert_array_equal(got, ref)
    assert reproduces(runs, got, tol).all()
    assert got[runs["keep"]].all() and got[runs["run_start"][:-1]].all()
    if tol < 1.0:
        assert got.sum() < 0.9 * len(got)  # it does compress


@pytest.mark.parametrize("seed", range(6))
def test_fewest_keyframes_by_exhaustive_search(seed: int) -> None:
    """On short runs, no subset with fewer keyframes reproduces the run (independent of the DP)."""
    runs = random_runs(100 + seed, 12, max_len=9)
    tol = 0.85
    got = run_kernel(runs, tol)
    for k in range(len(runs["run_start"]) - 1):
        lo, hi = runs["run_start"][k], runs["run_start"][k + 1]
        one = {"xyxy": runs["xyxy"][lo:hi], "run_start": np.array([0, hi - lo], np.int64),
               "closed": runs["closed"][k: k + 1], "keep": runs["keep"][lo:hi]}
        best = hi - lo
        must = {0} | set(np.flatnonzero(one["keep"]).tolist())
        if not one["closed"][0]:
            must.add(int(hi - lo - 1))
        free = [i for i in range(1, hi - lo) if i not in must]
        for size in range(len(must), best):
            valid = [
                chosen for extra in itertools.combinations(free, size - len(must))
                if reproduces(one, (chosen := np.isin(np.arange(hi - lo), [*must, *extra])),
                              tol).all()
            ]
            if valid:
                best = size
                break
        assert got[lo:hi].sum() == best, f"run {k}"


def test_hand_cases() -> None:
    base = np.array([10, 20, 30, 40], np.float32)
    moving = base + np.arange(10, dtype=np.float32)[:, None] * np.float32([1, 0, 1, 0])
    static = np.tile(base, (6, 1))
    zigzag = base + np.float32([[0, 0, 0, 0], [30, 0, 30, 0]] * 2)
    runs = {
        "xyxy": np.concatenate([moving, static, static[:1], zigzag, static]),
        "run_start": np.array([0, 10, 16, 17, 21, 27], np.int64),
        "closed": np.array([False, True, True, False, True]),
        "keep": np.zeros(27, bool),
    }
    runs["keep"][21 + 4] = True
    got = run_kernel(runs, 0.9)
    # straight motion: its ends; static + closed: first row (the outside box repeats it);
    # one row; zigzag: all; static with a forced row 4: rows 0 and 4
    assert np.flatnonzero(got).tolist() == [0, 9, 10, 16, 17, 18, 19, 20, 21, 25]
    assert reproduces(runs, got, 0.9).all()


def test_empty_and_single() -> None:
    empty = select_keyframes(np.zeros((0, 4), np.float32), np.zeros(1, np.int64),
                             np.zeros(0, bool), np.zeros(0, bool), 0.9)
    assert empty.shape == (0,)
    one = select_keyframes(np.ones((1, 4), np.float32), np.array([0, 1], np.int64),
                           np.array([True]), np.zeros(1, bool), 0.9)
    assert one.tolist() == [True]


_SCRIPT = """
import sys
import numba
import numpy as np
from trackannot.kernels.sparse import select_keyframes
if not numba.config.DISABLE_JIT or hasattr(select_keyframes, "py_func"):
    sys.exit("JIT was not disabled")
d = dict(np.load(sys.argv[1]))
sel = select_keyframes(d["xyxy"], d["run_start"], d["closed"], d["keep"], 0.9)
np.savez(sys.argv[2], sel=sel)
"""


def test_kernel_runs_without_jit(tmp_path: Path) -> None:
    runs = random_runs(9, 20)
    got = run_without_jit(_SCRIPT, runs, tmp_path)["sel"]
    np.testing.assert_array_equal(got, run_kernel(runs, 0.9))
    assert 0 < got.sum() < len(got)
