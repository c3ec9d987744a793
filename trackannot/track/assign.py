"""Gated Hungarian assignment of tracks to detections on an IoU similarity."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

from trackannot.errors import InputFormatError
from trackannot.kernels.assign import gate_pairs, unmatched

__all__ = ["Assignment", "assign_subset", "assign_tracks"]


class Assignment(NamedTuple):
    """Result of `assign_tracks`.

    Attributes:
        rows: (k,) int64 matched row (track) indices, increasing.
        cols: (k,) int64 matched column (detection) indices; `rows[i]` goes with `cols[i]`.
        unmatched_rows: (n - k,) int64, increasing.
        unmatched_cols: (m - k,) int64, increasing.
    """

    rows: npt.NDArray[np.int64]
    cols: npt.NDArray[np.int64]
    unmatched_rows: npt.NDArray[np.int64]
    unmatched_cols: npt.NDArray[np.int64]


def assign_tracks(
    iou: npt.NDArray[np.float32],
    min_iou: float,
    col_weight: npt.NDArray[np.float32] | None = None,
) -> Assignment:
    """Match rows to columns, maximising total similarity; pairs below `min_iou` never match.

    The similarity of a pair is its IoU, times `col_weight[col]` when given (ByteTrack's score
    fusion). Pairs with IoU < `min_iou` are gated out: their similarity is set to 0, and a pair of
    similarity 0 counts as "not matched", so the optimum is the best gated matching, not a forced
    one. This is the cost-limit assignment of ByteTrack's `lap.lapjv(..., cost_limit=...)`:
    leaving a row and a column unmatched costs as much as a pair of similarity 0, so a strong
    pair is never given up to make two weak ones, as a maximum-cardinality matching would.

    Args:
        iou: (n, m) float32 IoU of rows (tracks) with columns (detections), in [0, 1].
        min_iou: pairs with IoU below this are never matched.
        col_weight: optional (m,) float32 weights in [0, 1] (detection scores) multiplied into the
            similarity; they change which pairs win, not which pairs are allowed.

    Returns:
        `Assignment` of matched pairs and unmatched rows and columns.

    Raises:
        InputFormatError: `iou` is not 2-D, or `col_weight` does not have one entry per column.

    Example:
        >>> iou = np.array([[0.9, 0.25], [0.25, 0.0]], dtype=np.float32)
        >>> a = assign_tracks(iou, min_iou=0.2)
        >>> a.rows.tolist(), a.cols.tolist(), a.unmatched_rows.tolist()
        ([0], [0], [1])
    """
    if iou.ndim != 2:
        raise InputFormatError(f"iou must be (n, m), got shape {iou.shape}")
    n, m = iou.shape
    if col_weight is not None and col_weight.shape != (m,):
        raise InputFormatError(
            f"col_weight must be ({m},) to match iou {iou.shape}, got {col_weight.shape}"
        )
    if n == 0 or m == 0:
        return _no_match(n, m)
    rows, cols, free_rows, free_cols = assign_subset(
        np.ascontiguousarray(iou, dtype=np.float32), np.arange(n), np.arange(m), min_iou,
        _ones(m) if col_weight is None else np.ascontiguousarray(col_weight, dtype=np.float32),
    )
    order = np.argsort(rows, kind="stable")
    return Assignment(rows[order], cols[order], free_rows, free_cols)


def assign_subset(
    iou: npt.NDArray[np.float32],
    rows: npt.NDArray[np.int64],
    cols: npt.NDArray[np.int64],
    min_iou: float,
    col_weight: npt.NDArray[np.float32],
) -> tuple[npt.NDArray[np.int64], ...]:
    """`assign_tracks` on the sub-matrix iou[rows][:, cols], in the indices of `iou`.

    The tracker's entry point: it matches a few rows and columns of one frame's IoU matrix per
    stage without copying the sub-matrix. Isolated allowed pairs are taken directly (see
    `gate_pairs`); `linear_sum_assignment` runs only on the rest, usually nothing.

    Args:
        iou: (N, M) float32 IoU of all tracks with all detections.
        rows: (n,) int64 rows of `iou` to match.
        cols: (m,) int64 columns of `iou` to match.
        min_iou: pairs below this IoU never match.
        col_weight: (M,) float32 score per column multiplied into the similarity.

    Returns:
        matched_rows, matched_cols: (k,) int64 matched pairs (rows and columns of `iou`).
        free_rows, free_cols: int64 unmatched members of `rows` and `cols`, in their order.
    """
    n, m = rows.shape[0], cols.shape[0]
    if n == 0 or m == 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, rows, cols
    cost, pair_r, pair_c, hard_r, hard_c = gate_pairs(iou, rows, cols, min_iou, col_weight)
    if hard_r.size:
        sub = cost[np.ix_(hard_r, hard_c)]
        r, c = linear_sum_assignment(sub)
        keep = sub[r, c] < 0.0  # a pair of cost 0 is not allowed: leave both unmatched
        pair_r = np.concatenate((pair_r, hard_r[r[keep]]))
        pair_c = np.concatenate((pair_c, hard_c[c[keep]]))
    return (rows[pair_r], cols[pair_c], rows[unmatched(n, pair_r)], cols[unmatched(m, pair_c)])


def _ones(m: int) -> npt.NDArray[np.float32]:
    return np.ones(m, dtype=np.float32)


def _no_match(n: int, m: int) -> Assignment:
    empty = np.empty(0, dtype=np.int64)
    return Assignment(empty, empty.copy(), np.arange(n, dtype=np.int64),
                      np.arange(m, dtype=np.int64))
