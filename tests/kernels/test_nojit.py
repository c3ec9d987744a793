"""Every kernel also runs as plain Python (NUMBA_DISABLE_JIT=1) and gives the compiled result."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.kernels._nojit import run_without_jit
from trackannot.boxes import Boxes
from trackannot.config import TrackConfig
from trackannot.kernels.assign import gate_pairs, unmatched
from trackannot.kernels.iou import iou_matrix, iou_matrix_parallel
from trackannot.kernels.kalman import (
    initial_state,
    kalman_predict,
    kalman_update,
    measurement_noise,
    process_noise,
)
from trackannot.track import track_detections

# Run in a child process: numba reads NUMBA_DISABLE_JIT once, at import.
_SCRIPT = """
import sys
import numba
import numpy as np
from trackannot.kernels.assign import gate_pairs, unmatched
from trackannot.kernels.iou import iou_matrix, iou_matrix_parallel
from trackannot.kernels.kalman import (
    initial_state, kalman_predict, kalman_update, measurement_noise, process_noise,
)
if not numba.config.DISABLE_JIT or hasattr(kalman_predict, "py_func"):
    sys.exit("JIT was not disabled")
d = dict(np.load(sys.argv[1]))
out = {}
out["iou"] = iou_matrix(d["a"], d["b"])
out["iou_parallel"] = iou_matrix_parallel(d["a"], d["b"])
out["iou_empty"] = iou_matrix(d["a"][:0], d["b"])
out["x_pred"], out["P_pred"] = kalman_predict(d["x"], d["P"], d["q"])
out["x_upd"], out["P_upd"] = kalman_update(d["x"], d["P"], d["z"], d["r"])
out["q"] = process_noise(d["x"], 0.05, 0.01)
out["r_meas"] = measurement_noise(d["x"], 0.03)
out["x0"], out["P0"] = initial_state(d["x"][:, :4], 0.05, 0.01)
gated = gate_pairs(d["iou"], np.arange(5), np.arange(4), 0.3, np.ones(4, np.float32))
for name, value in zip(("cost", "pair_r", "pair_c", "hard_r", "hard_c"), gated):
    out[name] = value
out["unmatched"] = unmatched(6, np.array([1, 4]))
# the frame kernel (advance_frame and its steps), through the whole tracker
from trackannot.boxes import Boxes
from trackannot.config import TrackConfig
from trackannot.track import track_detections
dets = Boxes.create(xyxy=d["seq_xyxy"], frame=d["seq_frame"], score=d["seq_score"])
tracks = track_detections(dets, TrackConfig(min_hits=2))
for name, value in tracks.columns().items():
    out["tracks_" + name] = value
np.savez(sys.argv[2], **out)
"""


def test_kernels_run_without_jit(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    xy = rng.uniform(0, 100, (6, 2))
    a = np.c_[xy, xy + rng.uniform(1, 30, (6, 2))].astype(np.float32)
    b = a[::-1] + np.float32(2.0)
    x = np.c_[rng.uniform(10, 100, (4, 4)), rng.normal(0, 1, (4, 4))]
    A = rng.normal(0, 1, (4, 8, 8))
    # a small crowded sequence: 8 objects drifting through each other for 15 frames
    centre = rng.uniform(50, 250, (8, 2))[None] + np.arange(15)[:, None, None] * rng.normal(
        0, 5, (8, 2))[None]
    seq_xyxy = np.concatenate([centre - 20, centre + 20], axis=2).reshape(-1, 4)
    inputs = dict(a=a, b=b, x=x, P=A @ A.transpose(0, 2, 1) + np.eye(8),
                  q=rng.uniform(0.1, 1, (4, 8)), z=x[:, :4] + 1.0, r=rng.uniform(0.5, 2, (4, 4)),
                  iou=(rng.random((5, 4)) * (rng.random((5, 4)) < 0.6)).astype(np.float32),
                  seq_xyxy=seq_xyxy.astype(np.float32), seq_frame=np.repeat(np.arange(15), 8),
                  seq_score=rng.choice([0.9, 0.75, 0.4], 120).astype(np.float32))
    got = run_without_jit(_SCRIPT, inputs, tmp_path)
    np.testing.assert_allclose(got["iou"], iou_matrix(a, b), atol=1e-7)
    np.testing.assert_allclose(got["iou_parallel"], iou_matrix_parallel(a, b), atol=1e-7)
    assert got["iou_empty"].shape == (0, 6)
    for name, (xk, Pk) in {
        "pred": kalman_predict(inputs["x"], inputs["P"], inputs["q"]),
        "upd": kalman_update(inputs["x"], inputs["P"], inputs["z"], inputs["r"]),
    }.items():
        np.testing.assert_allclose(got[f"x_{name}"], xk, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(got[f"P_{name}"], Pk, rtol=1e-10, atol=1e-10)
    x4 = inputs["x"]
    np.testing.assert_allclose(got["q"], process_noise(x4, 0.05, 0.01), rtol=1e-12)
    np.testing.assert_allclose(got["r_meas"], measurement_noise(x4, 0.03), rtol=1e-12)
    x0, P0 = initial_state(x4[:, :4], 0.05, 0.01)
    np.testing.assert_allclose(got["x0"], x0)
    np.testing.assert_allclose(got["P0"], P0)
    gated = gate_pairs(inputs["iou"], np.arange(5), np.arange(4), 0.3, np.ones(4, np.float32))
    for name, value in zip(("cost", "pair_r", "pair_c", "hard_r", "hard_c"), gated):
        np.testing.assert_array_equal(got[name], value, err_msg=name)
    np.testing.assert_array_equal(got["unmatched"], unmatched(6, np.array([1, 4])))
    dets = Boxes.create(xyxy=inputs["seq_xyxy"], frame=inputs["seq_frame"],
                        score=inputs["seq_score"])
    tracks = track_detections(dets, TrackConfig(min_hits=2))
    assert len(tracks) > 50
    for name, value in tracks.columns().items():
        np.testing.assert_allclose(got["tracks_" + name], value, rtol=1e-6, atol=1e-4,
                                   err_msg=name)
