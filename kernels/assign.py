"""Gating for the track/detection assignment: similarity, forced pairs, the part left to search."""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["gate_pairs", "unmatched"]


@njit(cache=True)
def gate_pairs(
    iou: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    min_iou: float,
    col_weight: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Gated cost of the sub-problem iou[rows][:, cols], split into forced and searched parts.

    A pair is allowed if its IoU >= min_iou and its similarity, iou * col_weight[col], is > 0.
    An allowed pair whose row and column have no other allowed pair is an isolated edge of the
    bipartite graph: every optimal assignment takes it, so it is returned as matched without a
    search. Only the rows and columns of the other connected components ("hard") need the
    Hungarian algorithm; in tracking they are the few crowded spots of a frame.

    Args:
        iou: (N, M) float32 IoU of all tracks with all detections.
        rows: (n,) int64 rows of `iou` taking part.
        cols: (m,) int64 columns of `iou` taking part.
        min_iou: pairs below this IoU are not allowed.
        col_weight: (M,) float32 weight per column of `iou` (ones for plain IoU).

    Returns:
        cost: (n, m) float64, -similarity for allowed pairs, 0.0 elsewhere (minimise it).
        pair_r, pair_c: (k,) int64 positions in `rows`/`cols` of the isolated pairs.
        hard_r: int64 positions in `rows` with allowed pairs outside isolated pairs.
        hard_c: int64 positions in `cols` likewise.
    """
    n = rows.shape[0]
    m = cols.shape[0]
    cost = np.zeros((n, m))
    row_deg = np.zeros(n, dtype=np.int64)
    col_deg = np.zeros(m, dtype=np.int64)
    row_last = np.full(n, -1, dtype=np.int64)
    gate = np.float32(min_iou)  # compare in the IoU's precision
    for i in range(n):
        for j in range(m):
            v = iou[rows[i], cols[j]]
            s = v * col_weight[cols[j]]
            if v >= gate and s > 0.0:
                # cost = -similarity: minimising total cost maximises total similarity
                cost[i, j] = -s
                row_deg[i] += 1
                col_deg[j] += 1
                row_last[i] = j
    pair_r = np.empty(n, dtype=np.int64)
    pair_c = np.empty(n, dtype=np.int64)
    k = 0
    isolated_col = np.zeros(m, dtype=np.bool_)
    hard_r = np.empty(n, dtype=np.int64)
    nh = 0
    for i in range(n):
        if row_deg[i] == 0:
            continue
        j = row_last[i]
        if row_deg[i] == 1 and col_deg[j] == 1:
            pair_r[k] = i
            pair_c[k] = j
            isolated_col[j] = True
            k += 1
        else:
            hard_r[nh] = i
            nh += 1
    hard_c = np.empty(m, dtype=np.int64)
    mh = 0
    for j in range(m):
        if col_deg[j] > 0 and not isolated_col[j]:
            hard_c[mh] = j
            mh += 1
    return cost, pair_r[:k], pair_c[:k], hard_r[:nh], hard_c[:mh]


@njit(cache=True)
def unmatched(count: int, taken: np.ndarray) -> np.ndarray:
    """Increasing int64 indices in range(count) that are not in `taken`."""
    free = np.ones(count, dtype=np.bool_)
    for i in range(taken.shape[0]):
        free[taken[i]] = False
    return np.flatnonzero(free).astype(np.int64)
