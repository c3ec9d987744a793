"""Gated Hungarian assignment of tracks to detections on an IoU similarity.

`assign_tracks` is the standalone form. The tracker runs the same steps inside its frame kernel:
`trackannot.kernels.assign.gate_pairs` gates the pairs and takes the isolated ones directly, and
`solve_hard_part` (scipy's `linear_sum_assignment`) searches the rest.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

from trackannot.errors import InputFormatError
from trackannot.kernels.assign import gate_pairs, unmatched

__all__ = ["Assignment", "assign_tracks", "solve_hard_part"]


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

    An allowed pair whose row and column have no other allowed pair is in every optimal matching,
    so such pairs are taken without a search; the Hungarian algorithm runs on the rest only.

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
    all_rows, all_cols = np.arange(n), np.arange(m)
    weight = _ones(m) if col_weight is None else np.ascontiguousarray(col_weight, np.float32)
    cost, pair_r, pair_c, hard_r, hard_c = gate_pairs(
        np.ascontiguousarray(iou, dtype=np.float32), all_rows, all_cols, min_iou, weight
    )
    if hard_r.size:
        r, c = solve_hard_part(cost[np.ix_(hard_r, hard_c)], hard_r, hard_c)
        pair_r, pair_c = np.concatenate((pair_r, r)), np.concatenate((pair_c, c))
    order = np.argsort(pair_r, kind="stable")
    return Assignment(pair_r[order], pair_c[order], unmatched(n, pair_r), unmatched(m, pair_c))


def solve_hard_part(
    cost: npt.NDArray[np.float64],
    rows: npt.NDArray[np.int64],
    cols: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Hungarian search on the part of a gated problem that is not isolated pairs.

    Args:
        cost: (h, k) float64 gated cost from `gate_pairs` (-similarity, 0 = not allowed).
        rows, cols: (h,), (k,) int64 the caller's indices of the cost's rows and columns.

    Returns:
        The matched (rows, cols), int64; pairs of cost 0 are left unmatched.
    """
    r, c = linear_sum_assignment(cost)
    keep = cost[r, c] < 0.0
    return rows[r[keep]], cols[c[keep]]


def _ones(m: int) -> npt.NDArray[np.float32]:
    return np.ones(m, dtype=np.float32)


def _no_match(n: int, m: int) -> Assignment:
    empty = np.empty(0, dtype=np.int64)
    return Assignment(empty, empty.copy(), np.arange(n, dtype=np.int64),
                      np.arange(m, dtype=np.int64))
