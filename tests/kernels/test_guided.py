"""Guided interpolation kernel: agreement with the NumPy reference, linear's rows, keyframes
exact, behaviour on curved motion and crossing objects, and the no-JIT path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.kernels._nojit import run_without_jit
from trackannot.kernels.guided import (
    NUM_PARAMS, guided_fill, guided_fill_numpy, guided_fill_serial, guided_params,
)
from trackannot.kernels.interp import linear_counts, linear_fill

Arrays = dict[str, np.ndarray]


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise IoU of (n, 4) xyxy boxes."""
    iw = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])  # noqa: E731
    return iw * ih / (area(a) + area(b) - iw * ih)


def xyxy(cx: np.ndarray, cy: np.ndarray, w: np.ndarray, h: np.ndarray) -> np.ndarray:
    return np.c_[cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2].astype(np.float32)


def scene(seed: int, n_tracks: int, outside_share: float = 0.2) -> tuple[Arrays, Arrays]:
    """Objects on curved paths, keyframes every 4-12 frames on the path, detections = path +
    2% noise, 15% missed, with a few clutter boxes per frame; (keyframes, detections CSR)."""
    rng = np.random.default_rng(seed)
    num_frames = 120
    key_rows: list[tuple[int, int, np.ndarray, bool]] = []
    det_frame, det_box = [], []
    for t in range(n_tracks):
        start = int(rng.integers(0, 40))
        length = int(rng.integers(2, 80))
        f = np.arange(start, start + length)
        c0, v = rng.uniform(100, 900, 2), rng.normal(0, 3, 2)
        amp, period = rng.uniform(0, 40), rng.uniform(15, 60)
        cx = c0[0] + v[0] * (f - start) + amp * np.sin((f - start) / period * 2 * np.pi)
        cy = c0[1] + v[1] * (f - start)
        w, h = rng.uniform(20, 120) * (1 + 0.005 * (f - start)), rng.uniform(40, 200)
        path = xyxy(cx, cy, w, np.full(length, h))
        keys = np.unique(np.r_[0, np.cumsum(rng.integers(1, 13, 20)), length - 1])
        keys = keys[keys < length]
        for k in keys:
            key_rows.append((t, int(f[k]), path[k], bool(rng.random() < outside_share)))
        seen = rng.random(length) > 0.15
        noise = rng.normal(0, 0.02, (length, 4)) * np.c_[w, np.full(length, h), w, np.full(
            length, h)]
        det_frame.append(f[seen])
        det_box.append((path + noise)[seen])
    clutter_frame = rng.integers(0, num_frames, 3 * num_frames)
    clutter_xy = rng.uniform(0, 1000, (len(clutter_frame), 2))
    det_frame.append(clutter_frame)
    det_box.append(np.c_[clutter_xy, clutter_xy + rng.uniform(20, 150, (len(clutter_frame), 2))])
    frames = np.concatenate(det_frame)
    order = np.argsort(frames, kind="stable")
    boxes = np.concatenate(det_box).astype(np.float32)[order]
    dets = {"det_start": np.searchsorted(frames[order], np.arange(num_frames + 1)).astype(
        np.int64), "det_xyxy": boxes, "det_score": rng.uniform(0.3, 1, len(boxes)).astype(
        np.float32)}
    return keyframe_arrays(key_rows, n_tracks), dets


def keyframe_arrays(rows: list[tuple[int, int, np.ndarray, bool]], n_tracks: int) -> Arrays:
    track = np.array([r[0] for r in rows], np.int64).reshape(-1)
    counts = np.bincount(track, minlength=n_tracks)
    return {
        "key_frame": np.array([r[1] for r in rows], np.int64).reshape(-1),
        "key_xyxy": np.array([r[2] for r in rows], np.float32).reshape(-1, 4),
        "key_outside": np.array([r[3] for r in rows], bool).reshape(-1),
        "seg_start": np.r_[0, np.cumsum(counts)].astype(np.int64),
    }


def run(fill, keys: Arrays, dets: Arrays, params: np.ndarray | None = None) -> Arrays:
    counts = linear_counts(keys["key_frame"], keys["key_outside"], keys["seg_start"])
    out_start = np.r_[0, np.cumsum(counts)].astype(np.int64)
    m = int(out_start[-1])
    out = {"out_frame": np.full(m, -7, np.int64), "out_xyxy": np.full((m, 4), np.nan, np.float32),
           "out_key": np.full(m, -7, np.int64)}
    args = [keys["key_frame"], keys["key_xyxy"], keys["key_outside"], keys["seg_start"], out_start]
    if fill is linear_fill:
        fill(*args, *out.values())
    else:
        fill(*args, dets["det_start"], dets["det_xyxy"], dets["det_score"],
             guided_params() if params is None else params, *out.values())
    return out


NO_DETS = {"det_start": np.zeros(1, np.int64), "det_xyxy": np.zeros((0, 4), np.float32),
           "det_score": np.zeros(0, np.float32)}
ONE_ROW = keyframe_arrays([(0, 5, np.array([1, 2, 30, 40]), False)], 1)
EMPTY = keyframe_arrays([], 0)


@pytest.mark.parametrize(
    ("keys", "dets"),
    [(EMPTY, NO_DETS), (ONE_ROW, NO_DETS), scene(1, 1), scene(2, 12), scene(3, 30, 0.0),
     scene(4, 30, 0.5)],
    ids=["empty", "one-row", "one-track", "12-tracks", "30-tracks-present", "30-tracks-outside"],
)
def test_kernel_matches_reference_and_linear_rows(keys: Arrays, dets: Arrays) -> None:
    got = run(guided_fill, keys, dets)
    ref = run(guided_fill_numpy, keys, dets)
    lin = run(linear_fill, keys, dets)
    for name in ("out_frame", "out_key"):
        np.testing.assert_array_equal(got[name], ref[name], err_msg=name)
        np.testing.assert_array_equal(got[name], lin[name], err_msg=name)
    np.testing.assert_allclose(got["out_xyxy"], ref["out_xyxy"], rtol=0, atol=1e-3)
    is_key = got["out_key"] >= 0
    np.testing.assert_array_equal(got["out_xyxy"][is_key], keys["key_xyxy"][got["out_key"][
        is_key]])
    if len(keys["key_frame"]) > 20:
        moved = np.any(got["out_xyxy"] != lin["out_xyxy"], axis=1)
        assert 0.1 < moved.mean() < 1.0  # the detections are followed somewhere, not at keys
        assert not moved[is_key].any()


@pytest.mark.parametrize(("keys", "dets"), [(ONE_ROW, NO_DETS), scene(1, 1), scene(4, 30, 0.5)],
                         ids=["one-row", "one-track", "30-tracks-outside"])
def test_serial_kernel_equals_the_parallel_one(keys: Arrays, dets: Arrays) -> None:
    got, want = run(guided_fill_serial, keys, dets), run(guided_fill, keys, dets)
    for name in ("out_frame", "out_xyxy", "out_key"):
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)


def test_without_detections_equals_linear_bit_for_bit() -> None:
    keys, dets = scene(5, 40)
    lin = run(linear_fill, keys, dets)
    for no_dets in (NO_DETS, {**dets, "det_score": np.zeros_like(dets["det_score"])}):
        params = guided_params(min_score=0.5)
        got = run(guided_fill, keys, no_dets, params)
        for name in lin:
            np.testing.assert_array_equal(got[name], lin[name], err_msg=name)


def test_segments_into_outside_keyframes_stay_linear() -> None:
    keys, dets = scene(6, 40, outside_share=0.5)
    got, lin = run(guided_fill, keys, dets), run(linear_fill, keys, dets)
    # the keyframe opening each row's segment, and whether the next keyframe is outside
    key_row = np.maximum.accumulate(np.where(got["out_key"] >= 0, got["out_key"], -1))
    into_outside = keys["key_outside"][np.minimum(key_row + 1, len(keys["key_frame"]) - 1)]
    assert into_outside.sum() > 20
    np.testing.assert_array_equal(got["out_xyxy"][into_outside], lin["out_xyxy"][into_outside])


def curved_track(seed: int) -> tuple[np.ndarray, Arrays, Arrays]:
    """One object on a 60-frame arc, keyframes at 0, 30, 59, noisy detections every frame."""
    rng = np.random.default_rng(seed)
    f = np.arange(60)
    cx = 300 + 250 * np.sin(f / 59 * np.pi)
    cy = 200 + 3 * f
    truth = xyxy(cx, cy, np.full(60, 60.0), np.full(60, 120.0))
    keys = keyframe_arrays([(0, int(k), truth[k], False) for k in (0, 30, 59)], 1)
    noisy = truth + rng.normal(0, 3, truth.shape).astype(np.float32)
    dets = {"det_start": np.arange(61, dtype=np.int64), "det_xyxy": noisy,
            "det_score": np.full(60, 0.9, np.float32)}
    return truth, keys, dets


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_curved_motion_guided_beats_linear(seed: int) -> None:
    truth, keys, dets = curved_track(seed)
    got, lin = run(guided_fill, keys, dets), run(linear_fill, keys, dets)
    inner = got["out_key"] < 0
    iou_g = box_iou(got["out_xyxy"][inner], truth[got["out_frame"][inner]])
    iou_l = box_iou(lin["out_xyxy"][inner], truth[lin["out_frame"][inner]])
    assert iou_l.mean() < 0.7
    assert iou_g.mean() > 0.9
    assert (iou_g >= 0.7).all()


def test_crossing_object_is_not_followed() -> None:
    """A walks right on a straight line and is hidden (no detections) in frames 12-28 while B
    crosses its path downward; B's detections must not pull A's boxes."""
    f = np.arange(41)
    a = xyxy(100 + 10.0 * f, np.full(41, 300.0), np.full(41, 50.0), np.full(41, 100.0))
    b = xyxy(np.full(41, 300.0), 60 + 12.0 * f, np.full(41, 55.0), np.full(41, 110.0))
    rows = [(int(k), a[k]) for k in f if not 12 <= k <= 28] + [(int(k), b[k]) for k in f]
    rows.sort(key=lambda r: r[0])
    frames = np.array([r[0] for r in rows])
    dets = {"det_start": np.searchsorted(frames, np.arange(42)).astype(np.int64),
            "det_xyxy": np.array([r[1] for r in rows], np.float32),
            "det_score": np.full(len(rows), 0.9, np.float32)}
    keys = keyframe_arrays([(0, 0, a[0], False), (0, 40, a[40], False)], 1)
    got = run(guided_fill, keys, dets)
    iou = box_iou(got["out_xyxy"], a[got["out_frame"]])
    assert iou.min() > 0.95
    # B alone near A's keyframes' line is not taken either
    only_b = {"det_start": np.arange(42, dtype=np.int64), "det_xyxy": b,
              "det_score": np.full(41, 0.9, np.float32)}
    got_b, lin = run(guided_fill, keys, only_b), run(linear_fill, keys, only_b)
    np.testing.assert_array_equal(got_b["out_xyxy"], lin["out_xyxy"])


def test_params_layout() -> None:
    params = guided_params(gate_iou=0.25, deadband=0.0)
    assert params.shape == (NUM_PARAMS,) and params.dtype == np.float64
    assert 0.25 in params


# Run in a child process: numba reads NUMBA_DISABLE_JIT once, at import.
_SCRIPT = """
import sys
import numba
import numpy as np
from trackannot.kernels.guided import guided_fill, guided_fill_serial, guided_params
from trackannot.kernels.interp import linear_counts
if not numba.config.DISABLE_JIT or hasattr(guided_fill, "py_func"):
    sys.exit("JIT was not disabled")
d = dict(np.load(sys.argv[1]))
counts = linear_counts(d["key_frame"], d["key_outside"], d["seg_start"])
out_start = np.r_[0, np.cumsum(counts)].astype(np.int64)
m = int(out_start[-1])
got = {}
for tag, fill in (("", guided_fill), ("serial_", guided_fill_serial)):
    out = [np.empty(m, np.int64), np.empty((m, 4), np.float32), np.empty(m, np.int64)]
    fill(d["key_frame"], d["key_xyxy"], d["key_outside"], d["seg_start"], out_start,
         d["det_start"], d["det_xyxy"], d["det_score"], guided_params(), *out)
    got.update({tag + "out_frame": out[0], tag + "out_xyxy": out[1], tag + "out_key": out[2]})
np.savez(sys.argv[2], **got)
"""


def test_kernel_runs_without_jit(tmp_path: Path) -> None:
    keys, dets = scene(7, 6)
    got = run_without_jit(_SCRIPT, {**keys, **dets}, tmp_path)
    want = run(guided_fill, keys, dets)
    assert len(want["out_frame"]) > 50
    np.testing.assert_array_equal(got["out_frame"], want["out_frame"])
    np.testing.assert_array_equal(got["out_key"], want["out_key"])
    np.testing.assert_allclose(got["out_xyxy"], want["out_xyxy"], rtol=0, atol=1e-3)
    for name in ("out_frame", "out_xyxy", "out_key"):
        np.testing.assert_array_equal(got["serial_" + name], got[name], err_msg=name)
