"""Linear interpolation of keyframed tracks into per-frame boxes (numba kernels + NumPy reference).

Keyframe semantics are CVAT's track shapes (see `trackannot.keyframes`): a present keyframe emits
its own box and, up to the next keyframe of its track, boxes interpolated toward that keyframe's
box (even when the next keyframe is outside: it keeps the box it had when marked); an outside
keyframe emits nothing up to the next keyframe; the last keyframe of a track emits its own box if
present, and nothing after it.

Inputs are the columns of a `Keyframes` (rows sorted by (track_id, frame)) cut into tracks by CSR
offsets `seg_start` ((t + 1,) int64: rows of track k are seg_start[k]:seg_start[k + 1]). The caller
(`trackannot.interpolate`) sizes the output with `linear_counts`, builds `out_start` as its
cumulative sum and allocates the out_* arrays; `linear_fill` writes them. Track k writes only rows
out_start[k]:out_start[k + 1], in frame order, so tracks run in parallel (prange) without races.

Arithmetic: t = (f - f0) / (f1 - f0); box = b0 + (b1 - b0) * t in float64, stored float32. At a
keyframe t = 0 and the stored box is exactly the keyframe's float32 box. `linear_fill_numpy` does
the same operations in the same order, so kernel and reference agree bit for bit.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit, prange

__all__ = ["PARALLEL_MIN_ROWS", "linear_counts", "linear_counts_numpy", "linear_counts_serial",
           "linear_fill", "linear_fill_numpy", "linear_fill_serial"]

# Below this many output rows (or keyframes) the one-thread kernels (`*_serial`) win: a parallel
# launch costs tens of microseconds on an idle machine and milliseconds on a busy one (the worker
# threads must be scheduled first), while a row costs nanoseconds (linear) to a fraction of a
# microsecond (guided); the tracks of a frame-range read or of an edit come one at a time.
PARALLEL_MIN_ROWS = 20_000


@njit(cache=True)
def _track_count(key_frame: np.ndarray, key_outside: np.ndarray, lo: int, hi: int) -> int:
    """Rows emitted by the keyframes lo:hi of one track."""
    n = 0
    for i in range(lo, hi - 1):
        if not key_outside[i]:
            # a present keyframe covers [f_i, f_{i+1}): itself plus the frames up to the next one
            n += key_frame[i + 1] - key_frame[i]
    if hi > lo and not key_outside[hi - 1]:
        n += 1  # the last keyframe emits its own box and nothing after it
    return n


@njit(cache=True, parallel=True)
def linear_counts(
    key_frame: np.ndarray, key_outside: np.ndarray, seg_start: np.ndarray
) -> np.ndarray:
    """Number of rows each track emits under linear interpolation.

    Args:
        key_frame: (n,) int64 keyframe frames, increasing within each track.
        key_outside: (n,) bool, True for outside keyframes.
        seg_start: (t + 1,) int64 CSR offsets of the tracks' rows in the key_* arrays.

    Returns:
        (t,) int64 rows per track; out_start = [0, *cumsum(counts)] sizes `linear_fill`'s output.
    """
    n_tracks = seg_start.shape[0] - 1
    counts = np.zeros(max(n_tracks, 0), dtype=np.int64)
    # each track writes only counts[k]: independent outputs
    for k in prange(n_tracks):
        counts[k] = _track_count(key_frame, key_outside, seg_start[k], seg_start[k + 1])
    return counts


@njit(cache=True)
def linear_counts_serial(
    key_frame: np.ndarray, key_outside: np.ndarray, seg_start: np.ndarray
) -> np.ndarray:
    """`linear_counts` on one thread, for a few tracks (`PARALLEL_MIN_ROWS`); same result."""
    n_tracks = seg_start.shape[0] - 1
    counts = np.zeros(max(n_tracks, 0), dtype=np.int64)
    for k in range(n_tracks):
        counts[k] = _track_count(key_frame, key_outside, seg_start[k], seg_start[k + 1])
    return counts


@njit(cache=True)
def _fill_segment(
    i: int, f0: int, span: int, key_xyxy: np.ndarray, nxt: int, r: int,
    out_frame: np.ndarray, out_xyxy: np.ndarray, out_key: np.ndarray,
) -> None:
    """Rows r:r+span for keyframe i at frame f0, heading toward keyframe `nxt`.

    The keyframe row is written outside the loop so the loop body has no branch; the four
    coordinates are separate scalar stores (faster than a 4-vector temporary in numba).
    """
    x1 = np.float64(key_xyxy[i, 0])
    y1 = np.float64(key_xyxy[i, 1])
    x2 = np.float64(key_xyxy[i, 2])
    y2 = np.float64(key_xyxy[i, 3])
    # d = b1 - b0, per coordinate
    dx1 = np.float64(key_xyxy[nxt, 0]) - x1
    dy1 = np.float64(key_xyxy[nxt, 1]) - y1
    dx2 = np.float64(key_xyxy[nxt, 2]) - x2
    dy2 = np.float64(key_xyxy[nxt, 3]) - y2
    # the keyframe itself: t = 0, so the box is b0 exactly
    out_frame[r] = f0
    out_key[r] = i
    out_xyxy[r, 0] = key_xyxy[i, 0]
    out_xyxy[r, 1] = key_xyxy[i, 1]
    out_xyxy[r, 2] = key_xyxy[i, 2]
    out_xyxy[r, 3] = key_xyxy[i, 3]
    fspan = np.float64(span)
    for j in range(1, span):
        t = np.float64(j) / fspan  # t = (f - f0) / (f1 - f0), with f - f0 = j
        out_frame[r + j] = f0 + j
        out_key[r + j] = -1
        # box = b0 + (b1 - b0) * t, float64, stored float32
        out_xyxy[r + j, 0] = np.float32(x1 + dx1 * t)
        out_xyxy[r + j, 1] = np.float32(y1 + dy1 * t)
        out_xyxy[r + j, 2] = np.float32(x2 + dx2 * t)
        out_xyxy[r + j, 3] = np.float32(y2 + dy2 * t)


@njit(cache=True, parallel=True)
def linear_fill(
    key_frame: np.ndarray,
    key_xyxy: np.ndarray,
    key_outside: np.ndarray,
    seg_start: np.ndarray,
    out_start: np.ndarray,
    out_frame: np.ndarray,
    out_xyxy: np.ndarray,
    out_key: np.ndarray,
) -> None:
    """Write the linearly interpolated rows of every track (CVAT keyframe semantics).

    Args:
        key_frame: (n,) int64 keyframe frames, increasing within each track.
        key_xyxy: (n, 4) float32 keyframe boxes, pixels (outside keyframes carry a box too).
        key_outside: (n,) bool, True for outside keyframes.
        seg_start: (t + 1,) int64 CSR offsets of the tracks' rows in the key_* arrays.
        out_start: (t + 1,) int64 offsets of the tracks' output rows: [0, *cumsum(linear_counts)].
        out_frame: (m,) int64 output, frame of each row.
        out_xyxy: (m, 4) float32 output, box of each row, pixels.
        out_key: (m,) int64 output, the keyframe row at out_frame[r] if there is one, else -1.
    """
    # each track writes only its rows out_start[k]:out_start[k + 1]: independent outputs
    for k in prange(seg_start.shape[0] - 1):
        _fill_track(key_frame, key_xyxy, key_outside, seg_start[k], seg_start[k + 1],
                    out_start[k], out_frame, out_xyxy, out_key)


@njit(cache=True)
def linear_fill_serial(
    key_frame: np.ndarray,
    key_xyxy: np.ndarray,
    key_outside: np.ndarray,
    seg_start: np.ndarray,
    out_start: np.ndarray,
    out_frame: np.ndarray,
    out_xyxy: np.ndarray,
    out_key: np.ndarray,
) -> None:
    """`linear_fill` on one thread, for a few tracks (`PARALLEL_MIN_ROWS`); same result."""
    for k in range(seg_start.shape[0] - 1):
        _fill_track(key_frame, key_xyxy, key_outside, seg_start[k], seg_start[k + 1],
                    out_start[k], out_frame, out_xyxy, out_key)


@njit(cache=True)
def _fill_track(key_frame: np.ndarray, key_xyxy: np.ndarray, key_outside: np.ndarray, lo: int,
                hi: int, r: int, out_frame: np.ndarray, out_xyxy: np.ndarray,
                out_key: np.ndarray) -> None:
    """Rows of one track (keyframes lo:hi) from output row r on."""
    for i in range(lo, hi):
        if key_outside[i]:
            continue  # outside: no boxes until the next keyframe
        if i + 1 < hi:
            span = key_frame[i + 1] - key_frame[i]
            _fill_segment(i, key_frame[i], span, key_xyxy, i + 1, r,
                          out_frame, out_xyxy, out_key)
            r += span
        else:
            # the last keyframe: its own box only (span 1, heading nowhere)
            _fill_segment(i, key_frame[i], 1, key_xyxy, i, r, out_frame, out_xyxy, out_key)
            r += 1


def _emitted_per_key(
    key_frame: npt.NDArray[np.int64],
    key_outside: npt.NDArray[np.bool_],
    seg_start: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """Rows each keyframe emits, and which keyframes are the last of their track."""
    n = len(key_frame)
    last = np.zeros(n, dtype=bool)
    ends = seg_start[1:][seg_start[1:] > seg_start[:-1]]
    last[ends - 1] = True
    span = np.ones(n, dtype=np.int64)
    nxt = ~last
    span[nxt] = key_frame[1:][nxt[:-1]] - key_frame[:-1][nxt[:-1]]
    span[key_outside] = 0
    return span, last


def linear_counts_numpy(
    key_frame: npt.NDArray[np.int64],
    key_outside: npt.NDArray[np.bool_],
    seg_start: npt.NDArray[np.int64],
) -> npt.NDArray[np.int64]:
    """Plain-NumPy reference of `linear_counts` (same arguments and result)."""
    span, _ = _emitted_per_key(key_frame, key_outside, seg_start)
    csum = np.r_[0, np.cumsum(span)]
    return (csum[seg_start[1:]] - csum[seg_start[:-1]]).astype(np.int64)


def linear_fill_numpy(
    key_frame: npt.NDArray[np.int64],
    key_xyxy: npt.NDArray[np.float32],
    key_outside: npt.NDArray[np.bool_],
    seg_start: npt.NDArray[np.int64],
    out_start: npt.NDArray[np.int64],
    out_frame: npt.NDArray[np.int64],
    out_xyxy: npt.NDArray[np.float32],
    out_key: npt.NDArray[np.int64],
) -> None:
    """Plain-NumPy reference of `linear_fill`: same arguments, same writes, vectorised."""
    n = len(key_frame)
    if n == 0:
        return
    span, last = _emitted_per_key(key_frame, key_outside, seg_start)
    # output row of each keyframe's first row: its track's out_start + rows before it in the track
    track = np.repeat(np.arange(len(seg_start) - 1), np.diff(seg_start))
    csum = np.r_[0, np.cumsum(span)]
    first_row = out_start[track] + csum[:-1] - csum[seg_start[track]]
    # one entry per output row: which keyframe it comes from and j = f - f0
    src = np.repeat(np.arange(n), span)
    j = np.arange(len(src), dtype=np.int64) - np.repeat(csum[:-1], span)
    rows = first_row[src] + j
    nxt = np.where(last, np.arange(n), np.arange(n) + 1)[src]
    b0 = key_xyxy[src].astype(np.float64)
    b1 = key_xyxy[nxt].astype(np.float64)
    t = j.astype(np.float64) / span[src].astype(np.float64)  # t = (f - f0) / (f1 - f0)
    out_frame[rows] = key_frame[src] + j
    out_key[rows] = np.where(j == 0, src, -1)
    out_xyxy[rows] = (b0 + (b1 - b0) * t[:, None]).astype(np.float32)  # b0 + (b1 - b0) t
