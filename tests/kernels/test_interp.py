"""Linear interpolation kernels vs the NumPy reference, CVAT semantics, and the no-JIT path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.kernels._nojit import run_without_jit
from trackannot.kernels.interp import (
    linear_counts,
    linear_counts_numpy,
    linear_counts_serial,
    linear_fill,
    linear_fill_numpy,
    linear_fill_serial,
)

Arrays = dict[str, np.ndarray]


def random_keyframes(seed: int, n_tracks: int) -> Arrays:
    """Tracks of 1-8 keyframes, gaps of 1-6 frames (adjacent keyframes included), ~30% outside."""
    rng = np.random.default_rng(seed)
    per_track = rng.integers(1, 9, n_tracks)
    n = int(per_track.sum())
    gaps = rng.integers(1, 7, n)
    starts = np.r_[0, np.cumsum(per_track)].astype(np.int64)
    frame = np.empty(n, np.int64)
    for k in range(n_tracks):
        lo, hi = starts[k], starts[k + 1]
        frame[lo:hi] = rng.integers(0, 50) + np.cumsum(gaps[lo:hi]) - gaps[lo]
    xy = rng.uniform(0, 1000, (n, 2))
    wh = rng.uniform(1, 200, (n, 2))
    return {
        "key_frame": frame,
        "key_xyxy": np.c_[xy, xy + wh].astype(np.float32),
        "key_outside": rng.random(n) < 0.3,
        "seg_start": starts,
    }


def run(fill, counts, key: Arrays) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Size, allocate (poisoned) and fill; returns counts, out_frame, out_xyxy, out_key."""
    c = counts(key["key_frame"], key["key_outside"], key["seg_start"])
    out_start = np.r_[0, np.cumsum(c)].astype(np.int64)
    m = int(out_start[-1])
    out_frame = np.full(m, -99, np.int64)
    out_xyxy = np.full((m, 4), np.nan, np.float32)
    out_key = np.full(m, -99, np.int64)
    fill(key["key_frame"], key["key_xyxy"], key["key_outside"], key["seg_start"], out_start,
         out_frame, out_xyxy, out_key)
    return c, out_frame, out_xyxy, out_key


def semantic_rows(key: Arrays) -> list[tuple[int, int, tuple[float, ...], int]]:
    """Per-frame loop straight from the CVAT rules: (track, frame, box, key row) in output order."""
    rows = []
    f, o, s = key["key_frame"], key["key_outside"], key["seg_start"]
    b = key["key_xyxy"].astype(np.float64)
    for k in range(len(s) - 1):
        for i in range(s[k], s[k + 1]):
            if o[i]:
                continue
            if i + 1 == s[k + 1]:
                rows.append((k, int(f[i]), tuple(b[i].astype(np.float32)), i))
                continue
            for fr in range(f[i], f[i + 1]):
                t = (fr - f[i]) / (f[i + 1] - f[i])
                box = tuple((b[i] + (b[i + 1] - b[i]) * t).astype(np.float32))
                rows.append((k, fr, box, i if fr == f[i] else -1))
    return rows


def test_hand_computed_cvat_semantics() -> None:
    # track 0: present 0 -> outside 4 (box 40) -> present 10 (last, own row only)
    # track 1: single present keyframe; track 2: single outside keyframe (nothing)
    key = {
        "key_frame": np.array([0, 4, 10, 7, 3], np.int64),
        "key_xyxy": np.array([[0, 0, 10, 10], [40, 0, 50, 10], [5, 5, 6, 6],
                              [1, 2, 3, 4], [9, 9, 9, 9]], np.float32),
        "key_outside": np.array([False, True, False, False, True]),
        "seg_start": np.array([0, 3, 4, 5], np.int64),
    }
    c, frame, xyxy, k = run(linear_fill, linear_counts, key)
    assert c.tolist() == [5, 1, 0]
    # frames 0-3 head toward the outside keyframe's box; 4-9 are outside; 10 is the last keyframe
    assert frame.tolist() == [0, 1, 2, 3, 10, 7]
    assert k.tolist() == [0, -1, -1, -1, 2, 3]
    np.testing.assert_array_equal(xyxy[:4, 0], [0, 10, 20, 30])
    np.testing.assert_array_equal(xyxy[:4, 2], [10, 20, 30, 40])
    np.testing.assert_array_equal(xyxy[4], [5, 5, 6, 6])
    np.testing.assert_array_equal(xyxy[5], [1, 2, 3, 4])


def test_adjacent_and_thirds() -> None:
    key = {
        "key_frame": np.array([5, 6, 9], np.int64),
        "key_xyxy": np.array([[0, 0, 3, 3], [3, 0, 6, 3], [0, 3, 3, 6]], np.float32),
        "key_outside": np.array([False, False, False]),
        "seg_start": np.array([0, 3], np.int64),
    }
    _, frame, xyxy, k = run(linear_fill, linear_counts, key)
    assert frame.tolist() == [5, 6, 7, 8, 9]
    assert k.tolist() == [0, 1, -1, -1, 2]
    # 3 + (0 - 3) * 1/3 = 2, y 0 + 3 * 2/3 = 2
    np.testing.assert_array_equal(xyxy[2], np.float32([2, 1, 5, 4]))
    np.testing.assert_array_equal(xyxy[3], np.float32([1, 2, 4, 5]))


def test_empty_input() -> None:
    empty = {"key_frame": np.zeros(0, np.int64), "key_xyxy": np.zeros((0, 4), np.float32),
             "key_outside": np.zeros(0, bool), "seg_start": np.zeros(1, np.int64)}
    for fill, counts in ((linear_fill, linear_counts), (linear_fill_numpy, linear_counts_numpy)):
        c, frame, xyxy, k = run(fill, counts, empty)
        assert c.shape == (0,) and frame.shape == (0,) and xyxy.shape == (0, 4) and k.shape == (0,)


@pytest.mark.parametrize("seed,n_tracks", [(0, 1), (1, 7), (2, 300), (3, 2000)],
                         ids=["one-track", "few", "hundreds", "thousands"])
def test_kernel_matches_reference(seed: int, n_tracks: int) -> None:
    key = random_keyframes(seed, n_tracks)
    got = run(linear_fill, linear_counts, key)
    ref = run(linear_fill_numpy, linear_counts_numpy, key)
    for name, a, b in zip(("counts", "frame", "xyxy", "key"), got, ref):
        np.testing.assert_array_equal(a, b, err_msg=name)  # bit for bit, not approximately
    rows = semantic_rows(key)
    c, frame, xyxy, k = got
    assert len(rows) == len(frame) == int(c.sum())
    assert frame.tolist() == [r[1] for r in rows]
    assert k.tolist() == [r[3] for r in rows]
    np.testing.assert_array_equal(xyxy, np.array([r[2] for r in rows], np.float32).reshape(-1, 4))


@pytest.mark.parametrize("seed,n_tracks", [(0, 1), (1, 7), (3, 2000)],
                         ids=["one-track", "few", "thousands"])
def test_serial_kernels_equal_the_parallel_ones(seed: int, n_tracks: int) -> None:
    key = random_keyframes(seed, n_tracks)
    for name, a, b in zip(("counts", "frame", "xyxy", "key"),
                          run(linear_fill_serial, linear_counts_serial, key),
                          run(linear_fill, linear_counts, key)):
        np.testing.assert_array_equal(a, b, err_msg=name)


@pytest.mark.parametrize("seed", [4, 5, 6])
def test_passes_through_every_present_keyframe(seed: int) -> None:
    key = random_keyframes(seed, 500)
    c, frame, xyxy, k = run(linear_fill, linear_counts, key)
    present = np.flatnonzero(~key["key_outside"])
    at_key = k >= 0
    # every present keyframe appears exactly once, at its own frame, with its exact box
    assert np.array_equal(np.sort(k[at_key]), present)
    np.testing.assert_array_equal(frame[at_key], key["key_frame"][k[at_key]])
    np.testing.assert_array_equal(xyxy[at_key], key["key_xyxy"][k[at_key]])
    # no outside keyframe's frame is emitted by its own track
    track_of_row = np.repeat(np.arange(len(c)), c)
    track_of_key = np.repeat(np.arange(len(c)), np.diff(key["seg_start"]))
    emitted = set(zip(track_of_row.tolist(), frame.tolist()))
    outside = np.flatnonzero(key["key_outside"])
    outside_pairs = zip(track_of_key[outside].tolist(), key["key_frame"][outside].tolist())
    assert not emitted & set(outside_pairs)
    # rows of each track are in strictly increasing frame order
    same = track_of_row[1:] == track_of_row[:-1]
    assert (np.diff(frame)[same] > 0).all()


def test_respects_out_start_offsets() -> None:
    """Track k writes exactly rows out_start[k]:out_start[k + 1], leaving other rows alone."""
    key = random_keyframes(7, 50)
    c = linear_counts(key["key_frame"], key["key_outside"], key["seg_start"])
    pad = np.arange(len(c) + 1, dtype=np.int64) * 3  # 3 spare rows before each track's rows
    out_start = np.r_[0, np.cumsum(c)].astype(np.int64) + pad
    m = int(out_start[-1])
    results = []
    for fill in (linear_fill, linear_fill_numpy):
        out = (np.full(m, -99, np.int64), np.full((m, 4), -1, np.float32),
               np.full(m, -99, np.int64))
        fill(key["key_frame"], key["key_xyxy"], key["key_outside"], key["seg_start"],
             out_start, *out)
        results.append(out)
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)
    written = results[0][0] != -99
    assert written.sum() == c.sum()
    for k in range(len(c)):
        assert written[out_start[k]: out_start[k] + c[k]].all()


_SCRIPT = """
import sys
import numba
import numpy as np
from trackannot.kernels.interp import (
    linear_counts, linear_counts_serial, linear_fill, linear_fill_serial,
)
if not numba.config.DISABLE_JIT or hasattr(linear_fill, "py_func"):
    sys.exit("JIT was not disabled")
d = dict(np.load(sys.argv[1]))
out = {}
for tag, counts, fill in (("", linear_counts, linear_fill),
                          ("serial_", linear_counts_serial, linear_fill_serial)):
    c = counts(d["key_frame"], d["key_outside"], d["seg_start"])
    out_start = np.r_[0, np.cumsum(c)].astype(np.int64)
    m = int(out_start[-1])
    f, x, k = np.empty(m, np.int64), np.empty((m, 4), np.float32), np.empty(m, np.int64)
    fill(d["key_frame"], d["key_xyxy"], d["key_outside"], d["seg_start"], out_start, f, x, k)
    out.update({tag + "counts": c, tag + "frame": f, tag + "xyxy": x, tag + "key": k})
np.savez(sys.argv[2], **out)
"""


def test_kernels_run_without_jit(tmp_path: Path) -> None:
    key = random_keyframes(8, 40)
    got = run_without_jit(_SCRIPT, key, tmp_path)
    ref = run(linear_fill, linear_counts, key)
    assert len(ref[1]) > 100
    for name, value in zip(("counts", "frame", "xyxy", "key"), ref):
        np.testing.assert_array_equal(got[name], value, err_msg=name)
        np.testing.assert_array_equal(got["serial_" + name], value, err_msg=name)
