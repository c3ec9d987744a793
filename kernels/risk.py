"""Best overlap of each box with other boxes of the same frame (numba kernel for `trackannot.risk`)."""

from __future__ import annotations

import numpy as np
from numba import njit

from trackannot.kernels.iou import _iou_row

__all__ = ["max_iou_same_frame"]


@njit(cache=True)
def max_iou_same_frame(
    a_frame: np.ndarray, a_xyxy: np.ndarray, a_track: np.ndarray,
    b_frame: np.ndarray, b_xyxy: np.ndarray, b_track: np.ndarray, skip_same_track: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """For each box of `a`, its largest IoU with a box of `b` at the same frame.

    Args:
        a_frame: (n,) int64 frame of each `a` box, sorted ascending.
        a_xyxy: (n, 4) float32 boxes, pixels.
        a_track: (n,) int64 track ids of `a`.
        b_frame: (m,) int64 frames of `b`, sorted ascending.
        b_xyxy: (m, 4) float32 boxes, pixels.
        b_track: (m,) int64 track ids of `b`.
        skip_same_track: ignore pairs with equal track ids (`b` is `a`: overlap with *other*
            tracks only).

    Returns:
        (n,) float32 best IoU (0 where the frame has no other box) and (n,) int64 row of `b`
        giving it (-1 where none).
    """
    n = a_frame.shape[0]
    m = b_frame.shape[0]
    best = np.zeros(n, dtype=np.float32)
    arg = np.full(n, -1, dtype=np.int64)
    row = np.empty((1, m), dtype=np.float32)
    j0 = 0
    i = 0
    while i < n:
        f = a_frame[i]
        i1 = i
        while i1 < n and a_frame[i1] == f:
            i1 += 1
        while j0 < m and b_frame[j0] < f:
            j0 += 1
        j1 = j0
        while j1 < m and b_frame[j1] == f:
            j1 += 1
        for k in range(i, i1):
            _iou_row(a_xyxy[k:k + 1], 0, b_xyxy[j0:j1], row[:, : j1 - j0])
            for j in range(j0, j1):
                if skip_same_track and b_track[j] == a_track[k]:
                    continue
                v = row[0, j - j0]
                if v > best[k]:
                    best[k] = v
                    arg[k] = j
        i = i1
    return best, arg
