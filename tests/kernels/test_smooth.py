"""RTS smoothing kernel vs the 8-state NumPy reference, hard constraints, edge cases, no-JIT run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.kernels._nojit import run_without_jit
from trackannot.kernels.smooth import (
    MISSING,
    OBSERVED,
    PINNED,
    smooth_runs,
    smooth_runs_numpy,
    smooth_runs_serial,
)

Arrays = dict[str, np.ndarray]


def random_runs(seed: int, n_runs: int, max_len: int = 40) -> Arrays:
    """Runs of 1..max_len rows: boxes drifting with 3% jitter, modes 70/15/15% observed/pinned/
    missing, a few tiny (sub-pixel) boxes to exercise the noise floor."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, max_len + 1, n_runs)
    run_start = np.r_[0, np.cumsum(lengths)].astype(np.int64)
    parts = []
    for m in lengths:
        f = np.arange(m)[:, None]
        start = np.r_[rng.uniform(0, 1000, 2), rng.uniform(5, 300, 2)]
        speed = np.r_[rng.normal(0, 4, 2), rng.normal(0, 0.5, 2)]
        cxcywh = start + speed * f
        cxcywh[:, 2:] = np.maximum(cxcywh[:, 2:], 2.0)
        cxcywh += rng.normal(0, 0.03, (m, 4)) * cxcywh[:, [2, 3, 2, 3]]
        parts.append(np.c_[cxcywh[:, :2] - cxcywh[:, 2:] / 2, cxcywh[:, :2] + cxcywh[:, 2:] / 2])
    xyxy = np.concatenate(parts).astype(np.float32)
    n = len(xyxy)
    tiny = rng.random(n) < 0.03
    xyxy[tiny, 2:] = xyxy[tiny, :2] + np.float32(0.25)
    mode = rng.choice([OBSERVED, PINNED, MISSING], n, p=[0.7, 0.15, 0.15]).astype(np.uint8)
    return {"xyxy": xyxy, "mode": mode, "run_start": run_start}


def run(fn, a: Arrays, strength: float) -> np.ndarray:
    out = np.full(a["xyxy"].shape, np.nan, np.float32)  # poisoned: every row must be written
    fn(a["xyxy"], a["mode"], a["run_start"], strength, out)
    return out


@pytest.mark.parametrize("strength", [0.3, 1.0, 2.5, 10.0], ids=lambda s: f"strength{s}")
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kernel_equals_reference(seed: int, strength: float) -> None:
    a = random_runs(seed, 25)
    got = run(smooth_runs, a, strength)
    want = run(smooth_runs_numpy, a, strength)
    assert np.isfinite(got).all()
    # float64 in both; the 2x2 closed forms and the 8x8 solves round differently, float32 out
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-3)
    # the smoothing did something: observed rows moved
    moved = (a["mode"] == OBSERVED) & (np.diff(a["run_start"]).repeat(np.diff(a["run_start"])) > 2)
    assert np.abs(got[moved] - a["xyxy"][moved]).max() > 1.0


@pytest.mark.parametrize("seed,n_runs", [(0, 1), (1, 25), (2, 400)],
                         ids=["one-run", "few", "hundreds"])
def test_serial_kernel_equals_the_parallel_one(seed: int, n_runs: int) -> None:
    a = random_runs(seed, n_runs)
    np.testing.assert_array_equal(run(smooth_runs_serial, a, 1.0), run(smooth_runs, a, 1.0))


def test_pinned_rows_exact_and_one_row_runs_unchanged() -> None:
    a = random_runs(7, 40)
    got = run(smooth_runs, a, 2.0)
    pinned = a["mode"] == PINNED
    assert pinned.sum() > 20
    np.testing.assert_array_equal(got[pinned], a["xyxy"][pinned])
    single = np.flatnonzero(np.diff(a["run_start"]) == 1)
    assert len(single) > 0
    rows = a["run_start"][single]
    np.testing.assert_array_equal(got[rows], a["xyxy"][rows])


def test_straight_line_comes_back() -> None:
    """Noise-free constant velocity (position and size) is what the model assumes: unchanged."""
    f = np.arange(60.0)
    xyxy = np.c_[100 + 3 * f, 50 + f, 180 + 4 * f, 250 + 1.5 * f].astype(np.float32)
    a = {"xyxy": xyxy, "mode": np.zeros(60, np.uint8), "run_start": np.array([0, 60])}
    for strength in (1.0, 3.0, 10.0):
        np.testing.assert_allclose(run(smooth_runs, a, strength), xyxy, atol=0.01)


def test_passes_through_pinned_and_fills_missing() -> None:
    """A pinned row pulls its neighbours; a missing row's own box is ignored."""
    f = np.arange(21.0)
    xyxy = np.c_[10 * f, np.zeros(21), 10 * f + 40, np.full(21, 40.0)].astype(np.float32)
    mode = np.zeros(21, np.uint8)
    xyxy[10] += np.float32(12.0)  # pinned at a box shifted 12 px
    mode[10] = PINNED
    xyxy[15] = [900, 900, 990, 990]  # missing: a wild box that must not matter
    mode[15] = MISSING
    a = {"xyxy": xyxy, "mode": mode, "run_start": np.array([0, 21])}
    got = run(smooth_runs, a, 2.0)
    np.testing.assert_array_equal(got[10], xyxy[10])
    assert 3.0 < got[9, 0] - 90.0 < 12.0 and 3.0 < got[11, 0] - 110.0 < 12.0
    assert abs(got[0, 0]) < 1.0 and abs(got[20, 0] - 200.0) < 1.0  # far away: back on the line
    # the line, but for the pinned 12 px offset 5 frames away (about exp(-5 / (sqrt(2) 2)) of it)
    np.testing.assert_allclose(got[15], [150, 0, 190, 40], atol=3.0)
    xyxy[15] = [-50, 300, 10, 301]  # another wild box: nothing changes
    np.testing.assert_array_equal(run(smooth_runs, a, 2.0), got)


def test_empty_and_missing_only() -> None:
    empty = {"xyxy": np.empty((0, 4), np.float32), "mode": np.empty(0, np.uint8),
             "run_start": np.zeros(1, np.int64)}
    assert run(smooth_runs, empty, 1.0).shape == (0, 4)
    assert run(smooth_runs_numpy, empty, 1.0).shape == (0, 4)
    # a run with no measurement at all keeps a constant-velocity line through its first box
    xyxy = np.array([[0, 0, 10, 10], [5, 5, 20, 20], [50, 50, 55, 80]], np.float32)
    a = {"xyxy": xyxy, "mode": np.full(3, MISSING, np.uint8), "run_start": np.array([0, 3])}
    got = run(smooth_runs, a, 1.0)
    np.testing.assert_allclose(got, xyxy[[0, 0, 0]], atol=1e-4)
    np.testing.assert_allclose(got, run(smooth_runs_numpy, a, 1.0), atol=1e-4)


# Run in a child process: numba reads NUMBA_DISABLE_JIT once, at import.
_SCRIPT = """
import sys
import numba
import numpy as np
from trackannot.kernels.smooth import smooth_runs, smooth_runs_serial
if not numba.config.DISABLE_JIT or hasattr(smooth_runs, "py_func"):
    sys.exit("JIT was not disabled")
d = dict(np.load(sys.argv[1]))
out = np.full(d["xyxy"].shape, np.nan, np.float32)
smooth_runs(d["xyxy"], d["mode"], d["run_start"], 1.5, out)
serial = np.full(d["xyxy"].shape, np.nan, np.float32)
smooth_runs_serial(d["xyxy"], d["mode"], d["run_start"], 1.5, serial)
np.savez(sys.argv[2], out=out, serial=serial)
"""


def test_kernel_runs_without_jit(tmp_path: Path) -> None:
    a = random_runs(11, 8, max_len=15)
    got = run_without_jit(_SCRIPT, a, tmp_path)
    np.testing.assert_allclose(got["out"], run(smooth_runs, a, 1.5),
                               rtol=1e-6, atol=1e-4)
    np.testing.assert_array_equal(got["serial"], got["out"])
