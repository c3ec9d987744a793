"""Numba kernels of `trackannot.proposals`: expected change of a keyframe, and the greedy picks."""

from __future__ import annotations

import heapq

import numpy as np
from numba import njit

__all__ = ["pick_keyframes", "window_sums"]


@njit(cache=True)
def _expected_change(frame: np.ndarray, p: np.ndarray, lo: int, hi: int, i: int, decay: float,
                     window: int) -> float:
    """p[i] * sum of p[j] * decay ** |frame[j] - frame[i]| over rows j in lo..hi-1 within
    `window` frames of row i (rows lo..hi-1 are one segment, sorted by frame)."""
    f = frame[i]
    total = p[i]
    j = i - 1
    while j >= lo and f - frame[j] <= window:
        total += p[j] * decay ** (f - frame[j])
        j -= 1
    j = i + 1
    while j < hi and frame[j] - f <= window:
        total += p[j] * decay ** (frame[j] - f)
        j += 1
    return p[i] * total


@njit(cache=True)
def window_sums(frame: np.ndarray, p: np.ndarray, seg_start: np.ndarray, decay: float,
                window: int) -> np.ndarray:
    """Expected change of keying each row: the wrong boxes around it that the key would fix.

    E[i] = p[i] * sum over rows j of i's segment with |frame[j] - frame[i]| <= window of
    p[j] * decay ** |frame[j] - frame[i]|: a key changes the track only where its box is wrong
    (p[i]; a right box is accepted as it is), and then fixes the wrong boxes of the run around
    it: box j is wrong with chance p[j], and is in the same run with chance decay ** distance
    (errors come in runs).

    Args:
        frame: (n,) int64 frame of each row; rows sorted by (segment, frame).
        p: (n,) float64 probability that each row's box is wrong.
        seg_start: (s + 1,) int64 first row of each segment (a track between two keyframes).
        decay: in (0, 1), how much of an error's run reaches one frame further.
        window: frames beyond which nothing counts.

    Returns:
        (n,) float64 E of each row.
    """
    out = np.zeros(frame.shape[0], dtype=np.float64)
    for s in range(seg_start.shape[0] - 1):
        lo, hi = seg_start[s], seg_start[s + 1]
        for i in range(lo, hi):
            out[i] = _expected_change(frame, p, lo, hi, i, decay, window)
    return out


@njit(cache=True)
def pick_keyframes(frame: np.ndarray, p: np.ndarray, seg: np.ndarray, seg_start: np.ndarray,
                   pickable: np.ndarray, decay: float, window: int, verify_s: float,
                   adjust_s: float, limit: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows to key, best first: greedy on expected change per second of human time.

    Each row's gain is E / (verify_s + p * (adjust_s - verify_s)) (`window_sums`; a key costs a
    look, plus a redraw when the box is wrong). After a row is picked, the probability of every
    box of its segment within `window` frames is scaled by (1 - decay ** d), d frames from the
    pick (the key fixed that much of it), and the gains around it are recomputed, so the next
    picks go to other errors. Every recomputed gain is pushed again and an entry whose gain fell
since it was pushed goes back with its new gain (a lazy max-heap). Ties: the lower row.

    Args:
        frame, p, seg_start, decay, window: as `window_sums` (p is not modified).
        seg: (n,) int64 segment of each row.
        pickable: (n,) bool rows that may be proposed (the others still count in E).
        verify_s, adjust_s: seconds to look at a box and accept it / to redraw it.
        limit: most picks to return.

    Returns:
        (k,) int64 picked rows in order, (k,) float64 their E and (k,) float64 their gain when
        picked.
    """
    n = frame.shape[0]
    q = p.copy()
    e = window_sums(frame, q, seg_start, decay, window)
    gain = e / (verify_s + q * (adjust_s - verify_s))
    heap = [(-gain[i], i) for i in range(n) if pickable[i]]
    heapq.heapify(heap)
    done = ~pickable  # rows never proposed need no gain
    rows = np.empty(min(limit, len(heap)), dtype=np.int64)
    picked_e = np.empty(rows.shape[0], dtype=np.float64)
    picked_gain = np.empty(rows.shape[0], dtype=np.float64)
    k = 0
    while k < rows.shape[0] and len(heap):
        neg, i = heapq.heappop(heap)
        if done[i]:
            continue
        if -neg > gain[i] + 1e-12 * (1.0 + gain[i]):  # stale: it fell since it was pushed
            heapq.heappush(heap, (-gain[i], i))
            continue
        done[i] = True
        rows[k], picked_e[k], picked_gain[k] = i, e[i], gain[i]
        k += 1
        lo, hi = seg_start[seg[i]], seg_start[seg[i] + 1]
        f = frame[i]
        near_lo = lo + np.searchsorted(frame[lo:hi], f - 2 * window)
        near_hi = lo + np.searchsorted(frame[lo:hi], f + 2 * window, side="right")
        for j in range(near_lo, near_hi):  # the key fixes its neighbourhood: p *= 1 - decay ** d
            d = abs(frame[j] - f)
            if d <= window:
                q[j] *= 1.0 - decay ** d
        for j in range(near_lo, near_hi):  # E changed within 2 windows of the pick
            if not done[j]:
                e[j] = _expected_change(frame, q, lo, hi, j, decay, window)
                gain[j] = e[j] / (verify_s + q[j] * (adjust_s - verify_s))
                heapq.heappush(heap, (-gain[j], j))  # a cheaper look can raise the gain
    return rows[:k], picked_e[:k], picked_gain[:k]
