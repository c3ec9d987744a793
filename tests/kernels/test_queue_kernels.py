"""Kernels of the review queue (`trackannot.kernels.candidates`, `trackannot.kernels.proposals`)
against plain-NumPy references, compiled and with the JIT off."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from trackannot.kernels.candidates import nearest_overlap
from trackannot.kernels.proposals import pick_keyframes, window_sums

from tests.kernels._nojit import run_without_jit
from trackannot.boxes import pair_iou

DECAY, WINDOW = 0.8, 6


def _boxes(rng: np.random.Generator, n: int) -> np.ndarray:
    xy = rng.uniform(0, 60, (n, 2))
    wh = rng.uniform(10, 30, (n, 2))
    return np.c_[xy, xy + wh].astype(np.float32)


def nearest_overlap_reference(q_frame, q_xyxy, step, max_frames, b_frame, b_xyxy, b_track,
                              min_iou):
    n = len(q_frame)
    track, best, dist = np.full(n, -1, np.int64), np.zeros(n, np.float32), np.zeros(n, np.int64)
    for i in range(n):
        for d in range(1, max_frames + 1):
            at = np.flatnonzero(b_frame == q_frame[i] + step * d)
            if not len(at):
                continue
            iou = pair_iou(np.repeat(q_xyxy[i:i + 1], len(at), 0), b_xyxy[at]).astype(np.float32)
            ok = iou >= min_iou
            if ok.any():
                j = int(np.argmax(np.where(ok, iou, -1.0)))
                track[i], best[i], dist[i] = b_track[at[j]], iou[j], d
                break
    return track, best, dist


def window_sums_reference(frame, p, seg_start, decay, window):
    out = np.zeros(len(frame))
    for s in range(len(seg_start) - 1):
        lo, hi = seg_start[s], seg_start[s + 1]
        for i in range(lo, hi):
            d = np.abs(frame[lo:hi] - frame[i])
            out[i] = p[i] * np.sum(np.where(d <= window, p[lo:hi] * decay ** d, 0.0))
    return out


def pick_keyframes_reference(frame, p, seg, seg_start, pickable, decay, window, verify_s,
                             adjust_s, limit):
    """Greedy by gain, recomputing every gain after each pick (no heap shortcuts)."""
    q = p.astype(np.float64).copy()
    done = ~pickable.copy()
    rows, es, gains = [], [], []
    while len(rows) < limit and not done.all():
        e = window_sums_reference(frame, q, seg_start, decay, window)
        gain = e / (verify_s + q * (adjust_s - verify_s))
        gain_open = np.where(done, -np.inf, gain)
        i = int(np.argmax(gain_open))  # ties: the lower row
        rows.append(i)
        es.append(e[i])
        gains.append(gain[i])
        done[i] = True
        same = seg == seg[i]
        d = np.abs(frame - frame[i])
        q = np.where(same & (d <= window), q * (1.0 - decay ** d), q)
    return np.array(rows, np.int64), np.array(es), np.array(gains)


def _segments(rng: np.random.Generator, n_seg: int):
    frames, starts = [], [0]
    for _ in range(n_seg):
        size = int(rng.integers(0, 30))
        frames.append(np.sort(rng.choice(60, size=size, replace=False)))
        starts.append(starts[-1] + size)
    frame = np.concatenate(frames).astype(np.int64) if frames else np.zeros(0, np.int64)
    seg_start = np.array(starts, np.int64)
    seg = np.repeat(np.arange(n_seg), np.diff(seg_start)).astype(np.int64)
    return frame, seg, seg_start


@pytest.mark.parametrize("n", [0, 1, 40], ids=["empty", "one", "many"])
@pytest.mark.parametrize("step", [-1, 1], ids=["before", "after"])
def test_nearest_overlap_equals_its_reference(n, step):
    rng = np.random.default_rng([n, step + 1])
    b_frame = np.sort(rng.integers(0, 30, 80)).astype(np.int64)
    b_xyxy = _boxes(rng, 80)
    b_track = rng.integers(1, 6, 80).astype(np.int64)
    b_start = np.searchsorted(b_frame, np.arange(31)).astype(np.int64)
    q_frame = rng.integers(0, 30, n).astype(np.int64)
    q_xyxy = _boxes(rng, n)
    got = nearest_overlap(q_frame, q_xyxy, step, 4, b_start, b_xyxy, b_track, 0.2)
    want = nearest_overlap_reference(q_frame, q_xyxy, step, 4, b_frame, b_xyxy, b_track, 0.2)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-6)
    if n == 40:
        assert (got[0] >= 0).sum() >= 5  # the case is not trivially "nothing found"


@pytest.mark.parametrize("n_seg", [0, 1, 6], ids=["empty", "one-segment", "many"])
def test_window_sums_and_greedy_picks_equal_their_references(n_seg):
    rng = np.random.default_rng(n_seg)
    frame, seg, seg_start = _segments(rng, n_seg)
    p = rng.uniform(0, 1, len(frame)) ** 2
    pickable = rng.uniform(0, 1, len(frame)) < 0.8
    np.testing.assert_allclose(window_sums(frame, p, seg_start, DECAY, WINDOW),
                               window_sums_reference(frame, p, seg_start, DECAY, WINDOW))
    got = pick_keyframes(frame, p, seg, seg_start, pickable, DECAY, WINDOW, 1.6, 7.0, 25)
    want = pick_keyframes_reference(frame, p, seg, seg_start, pickable, DECAY, WINDOW, 1.6, 7.0,
                                    25)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_allclose(got[1], want[1])
    np.testing.assert_allclose(got[2], want[2])
    assert not np.isin(got[0], np.flatnonzero(~pickable)).any()


def test_a_pick_discounts_its_neighbours_so_the_next_goes_elsewhere():
    # one segment, a long wrong stretch 10..30 and a short one 50..54
    frame = np.arange(60, dtype=np.int64)
    p = np.where((frame >= 10) & (frame <= 30), 0.9, np.where((frame >= 50) & (frame <= 54), 0.9,
                                                              0.01))
    rows, _, _ = pick_keyframes(frame, p, np.zeros(60, np.int64), np.array([0, 60], np.int64),
                                np.ones(60, bool), 0.85, 40, 1.6, 7.0, 3)
    assert 17 <= rows[0] <= 23  # the middle of the long stretch first
    assert all(abs(int(r) - int(rows[0])) >= 5 for r in rows[1:])  # then away from it
    assert any(50 <= r <= 54 for r in rows.tolist())


_SCRIPT = """
import sys
import numba
import numpy as np
from trackannot.kernels.candidates import nearest_overlap
from trackannot.kernels.proposals import pick_keyframes, window_sums
if not numba.config.DISABLE_JIT or hasattr(window_sums, "py_func"):
    sys.exit("JIT was not disabled")
d = dict(np.load(sys.argv[1]))
out = {}
for step in (-1, 1):
    t, b, g = nearest_overlap(d["q_frame"], d["q_xyxy"], step, 4, d["b_start"], d["b_xyxy"],
                              d["b_track"], 0.2)
    out[f"track{step}"], out[f"iou{step}"], out[f"dist{step}"] = t, b, g
out["e"] = window_sums(d["frame"], d["p"], d["seg_start"], 0.8, 6)
out["rows"], out["pe"], out["gain"] = pick_keyframes(d["frame"], d["p"], d["seg"], d["seg_start"],
                                                     d["pickable"], 0.8, 6, 1.6, 7.0, 25)
np.savez(sys.argv[2], **out)
"""


def test_the_kernels_give_the_same_results_without_the_jit(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    b_frame = np.sort(rng.integers(0, 30, 80)).astype(np.int64)
    frame, seg, seg_start = _segments(rng, 5)
    inputs = {
        "q_frame": rng.integers(0, 30, 20).astype(np.int64), "q_xyxy": _boxes(rng, 20),
        "b_start": np.searchsorted(b_frame, np.arange(31)).astype(np.int64),
        "b_xyxy": _boxes(rng, 80), "b_track": rng.integers(1, 6, 80).astype(np.int64),
        "frame": frame, "seg": seg, "seg_start": seg_start,
        "p": rng.uniform(0, 1, len(frame)), "pickable": np.ones(len(frame), bool),
    }
    got = run_without_jit(_SCRIPT, inputs, tmp_path)
    for step in (-1, 1):
        want = nearest_overlap(inputs["q_frame"], inputs["q_xyxy"], step, 4, inputs["b_start"],
                               inputs["b_xyxy"], inputs["b_track"], 0.2)
        for name, w in zip(("track", "iou", "dist"), want):
            np.testing.assert_allclose(got[f"{name}{step}"], w, rtol=1e-6)
    np.testing.assert_allclose(got["e"], window_sums(frame, inputs["p"], seg_start, 0.8, 6))
    rows, pe, gain = pick_keyframes(frame, inputs["p"], seg, seg_start, inputs["pickable"], 0.8,
                                    6, 1.6, 7.0, 25)
    np.testing.assert_array_equal(got["rows"], rows)
    np.testing.assert_allclose(got["pe"], pe)
    np.testing.assert_allclose(got["gain"], gain)
