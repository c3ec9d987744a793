"""Every kernel also runs as plain Python (NUMBA_DISABLE_JIT=1) and gives the compiled result."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from trackannot.kernels.iou import iou_matrix, iou_matrix_parallel
from trackannot.kernels.kalman import kalman_predict, kalman_update

# Run in a child process: numba reads NUMBA_DISABLE_JIT once, at import.
_SCRIPT = """
import sys
import numba
import numpy as np
from trackannot.kernels.iou import iou_matrix, iou_matrix_parallel
from trackannot.kernels.kalman import kalman_predict, kalman_update
if not numba.config.DISABLE_JIT or hasattr(kalman_predict, "py_func"):
    sys.exit("JIT was not disabled")
d = dict(np.load(sys.argv[1]))
out = {}
out["iou"] = iou_matrix(d["a"], d["b"])
out["iou_parallel"] = iou_matrix_parallel(d["a"], d["b"])
out["iou_empty"] = iou_matrix(d["a"][:0], d["b"])
out["x_pred"], out["P_pred"] = kalman_predict(d["x"], d["P"], d["q"])
out["x_upd"], out["P_upd"] = kalman_update(d["x"], d["P"], d["z"], d["r"])
np.savez(sys.argv[2], **out)
"""


def test_kernels_run_without_jit(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    xy = rng.uniform(0, 100, (6, 2))
    a = np.c_[xy, xy + rng.uniform(1, 30, (6, 2))].astype(np.float32)
    b = a[::-1] + np.float32(2.0)
    x = np.c_[rng.uniform(10, 100, (4, 4)), rng.normal(0, 1, (4, 4))]
    A = rng.normal(0, 1, (4, 8, 8))
    inputs = dict(a=a, b=b, x=x, P=A @ A.transpose(0, 2, 1) + np.eye(8),
                  q=rng.uniform(0.1, 1, (4, 8)), z=x[:, :4] + 1.0, r=rng.uniform(0.5, 2, (4, 4)))
    np.savez(tmp_path / "in.npz", **inputs)
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(tmp_path / "in.npz"), str(tmp_path / "out.npz")],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    got = np.load(tmp_path / "out.npz")
    np.testing.assert_allclose(got["iou"], iou_matrix(a, b), atol=1e-7)
    np.testing.assert_allclose(got["iou_parallel"], iou_matrix_parallel(a, b), atol=1e-7)
    assert got["iou_empty"].shape == (0, 6)
    for name, (xk, Pk) in {
        "pred": kalman_predict(inputs["x"], inputs["P"], inputs["q"]),
        "upd": kalman_update(inputs["x"], inputs["P"], inputs["z"], inputs["r"]),
    }.items():
        np.testing.assert_allclose(got[f"x_{name}"], xk, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(got[f"P_{name}"], Pk, rtol=1e-10, atol=1e-10)
