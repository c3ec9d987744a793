"""Pairwise intersection over union of two box sets (numba kernels)."""

from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = ["PARALLEL_MIN_PAIRS", "iou_matrix", "iou_matrix_parallel", "iou_row"]

# Below this many pairs the serial kernel wins: a parallel launch costs tens of microseconds,
# the serial kernel about 5 us for 30 x 30 boxes.
PARALLEL_MIN_PAIRS = 250_000


@njit(cache=True)
def iou_row(a_xyxy: np.ndarray, i: int, b_xyxy: np.ndarray, out: np.ndarray) -> None:
    """out[i, j] = IoU(a_xyxy[i], b_xyxy[j]) for every j; writes row i of `out` only.

    a_xyxy: (n, 4), b_xyxy: (m, 4) boxes, pixels; out: (n, m) float. Shared by the IoU kernels
    here and `trackannot.kernels.risk` (a row per call, so a caller may run rows in `prange`).
    """
    ax1 = np.float64(a_xyxy[i, 0])
    ay1 = np.float64(a_xyxy[i, 1])
    ax2 = np.float64(a_xyxy[i, 2])
    ay2 = np.float64(a_xyxy[i, 3])
    area_a = max(ax2 - ax1, 0.0) * max(ay2 - ay1, 0.0)
    for j in range(b_xyxy.shape[0]):
        bx1 = np.float64(b_xyxy[j, 0])
        by1 = np.float64(b_xyxy[j, 1])
        bx2 = np.float64(b_xyxy[j, 2])
        by2 = np.float64(b_xyxy[j, 3])
        # intersection = overlap width * overlap height (0 if they do not overlap)
        iw = min(ax2, bx2) - max(ax1, bx1)
        ih = min(ay2, by2) - max(ay1, by1)
        inter = iw * ih if iw > 0.0 and ih > 0.0 else 0.0
        # union = area(a) + area(b) - intersection
        union = area_a + max(bx2 - bx1, 0.0) * max(by2 - by1, 0.0) - inter
        out[i, j] = inter / union if union > 0.0 else 0.0


@njit(cache=True)
def iou_matrix(a_xyxy: np.ndarray, b_xyxy: np.ndarray) -> np.ndarray:
    """IoU of every box in `a_xyxy` with every box in `b_xyxy` (serial).

    The tracker's matrices are tens of rows, where this serial build is the fast one.

    Args:
        a_xyxy: (n, 4) float32 boxes (x1, y1, x2, y2), pixels.
        b_xyxy: (m, 4) float32 boxes, pixels.

    Returns:
        (n, m) float32 IoU in [0, 1]; 0 where the union is empty (degenerate boxes).
    """
    out = np.empty((a_xyxy.shape[0], b_xyxy.shape[0]), dtype=np.float32)
    # prange without parallel=True runs serially; rows are independent either way
    for i in prange(a_xyxy.shape[0]):
        iou_row(a_xyxy, i, b_xyxy, out)
    return out


@njit(cache=True, parallel=True)
def iou_matrix_parallel(a_xyxy: np.ndarray, b_xyxy: np.ndarray) -> np.ndarray:
    """`iou_matrix` with rows spread over all cores, for large batches (offline matching).

    Worth it above about `PARALLEL_MIN_PAIRS` pairs; same arguments and result.
    """
    out = np.empty((a_xyxy.shape[0], b_xyxy.shape[0]), dtype=np.float32)
    # each row i writes only out[i, :]: independent outputs, safe for prange
    for i in prange(a_xyxy.shape[0]):
        iou_row(a_xyxy, i, b_xyxy, out)
    return out
