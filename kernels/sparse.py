"""Fewest keyframes that reproduce a run of boxes under linear interpolation (numba + reference).

A run is a track's boxes on consecutive frames. Keyframes are chosen among its rows so that
`trackannot.kernels.interp.linear_fill` between consecutive chosen rows gives, at every row, a box
with IoU >= tolerance against the original (or the identical box). A run may be closed by an
outside keyframe one frame after its last row, carrying the last row's box (CVAT semantics): the
last segment then heads toward that box and the last row itself need not be kept.

The choice is exact, not greedy: a shortest path over the DAG of admissible segments (Imai and
Iri's polyline simplification), relaxed forward in row order. Checking one segment a -> b costs
O(b - a) IoUs, so a brute force is O(L^3) per run. The kernel prunes with a necessary condition:
IoU(x, g) >= t implies the 1-D IoU of the x-extents (and of the y-extents) is >= t (the 2-D
intersection is iw * ih and the 2-D union is at least ih * (1-D union of x)), which bounds each
coordinate of x to an interval around g's:

    x1 in [g1 - w (1 - t) / t, g1 + w (1 - t)],   x2 in [g2 - w (1 - t), g2 + w (1 - t) / t]

(w = g2 - g1; likewise y with the height). With a fixed start a, the interpolated coordinate at
row i is b_a + v (i - a) for the slope v = (b_b - b_a) / (b - a), so every row bounds v to an
interval; their intersection (a wedge) only shrinks as b grows. An end b outside the wedge is
skipped without the O(b - a) check, and once the wedge is empty no later b can fit. The bounds
carry a small slack for float rounding, so pruning never removes an admissible segment: the
kernel and the brute-force reference choose identical keyframes (tested). The wedge bounds of
each row are computed once per call (`_row_bounds`), not once per segment.

Cost: on smooth tracks with 1% jitter at tolerance 0.9 (3% of boxes kept), about 50 wedge steps,
18 segment checks (most rejected at the row that failed last time) and 53 IoUs per box.

Ties (several minimal choices) go to the smallest predecessor row, in both implementations.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit, prange

__all__ = ["select_keyframes", "select_keyframes_numpy"]

# wedge slack in pixels, absolute + relative to the coordinate: far above float32 rounding of the
# interpolated box (~6e-8 relative), far below any box size that matters
_SLACK_ABS = 1e-3
_SLACK_REL = 1e-5


@njit(cache=True)
def _fits(x1: float, y1: float, x2: float, y2: float, g: np.ndarray, i: int, tol: float) -> bool:
    """Interpolated box (x1, y1, x2, y2) reproduces g[i]: identical, or IoU >= tol (float64)."""
    gx1 = np.float64(g[i, 0])
    gy1 = np.float64(g[i, 1])
    gx2 = np.float64(g[i, 2])
    gy2 = np.float64(g[i, 3])
    if x1 == gx1 and y1 == gy1 and x2 == gx2 and y2 == gy2:
        return True
    # intersection = overlap width * overlap height (0 if they do not overlap)
    iw = min(x2, gx2) - max(x1, gx1)
    ih = min(y2, gy2) - max(y1, gy1)
    inter = iw * ih if iw > 0.0 and ih > 0.0 else 0.0
    # union = area(x) + area(g) - intersection
    union = max(x2 - x1, 0.0) * max(y2 - y1, 0.0) + max(gx2 - gx1, 0.0) * max(gy2 - gy1, 0.0)
    union -= inter
    return union > 0.0 and inter / union >= tol


@njit(cache=True)
def _segment_fits(xyxy: np.ndarray, lo: int, last: int, a: int, b: int, tol: float,
                  hint: np.ndarray) -> bool:
    """Interpolating rows a -> b (local indices; b may be last + 1, the closing box) fits every
    row strictly between them. hint[0] is the row that failed last time: checked first."""
    ra = lo + a
    rb = lo + min(b, last)
    x1 = np.float64(xyxy[ra, 0])
    y1 = np.float64(xyxy[ra, 1])
    x2 = np.float64(xyxy[ra, 2])
    y2 = np.float64(xyxy[ra, 3])
    dx1 = np.float64(xyxy[rb, 0]) - x1
    dy1 = np.float64(xyxy[rb, 1]) - y1
    dx2 = np.float64(xyxy[rb, 2]) - x2
    dy2 = np.float64(xyxy[rb, 3]) - y2
    span = np.float64(b - a)
    first = hint[0]
    for k in range(a, b):
        # k == a stands for the hinted row (if it lies inside), then all rows except it
        i = first if k == a else k
        if i <= a or i >= b or (k != a and i == first):
            continue
        t = np.float64(i - a) / span  # t = (f - f0) / (f1 - f0)
        # box = b0 + (b1 - b0) t, rounded to float32 as linear_fill stores it
        bx1 = np.float64(np.float32(x1 + dx1 * t))
        by1 = np.float64(np.float32(y1 + dy1 * t))
        bx2 = np.float64(np.float32(x2 + dx2 * t))
        by2 = np.float64(np.float32(y2 + dy2 * t))
        if not _fits(bx1, by1, bx2, by2, xyxy, lo + i, tol):
            hint[0] = i
            return False
    return True


@njit(cache=True)
def _row_bounds(xyxy: np.ndarray, tol: float, r: int, bounds: np.ndarray) -> None:
    """bounds[r] = (low x1, y1, x2, y2, high x1, y1, x2, y2): where each coordinate of a box
    with IoU >= tol against xyxy[r] must lie (the 1-D bounds of the module docstring + slack)."""
    grow = (1.0 - tol) / tol  # how far an edge may move outward, relative to the size
    shrink = 1.0 - tol  # how far an edge may move inward
    for axis in range(2):
        size = max(np.float64(xyxy[r, axis + 2]) - np.float64(xyxy[r, axis]), 0.0)
        g_low = np.float64(xyxy[r, axis])  # x1 or y1
        g_high = np.float64(xyxy[r, axis + 2])  # x2 or y2
        # x1 in [g1 - grow w, g1 + shrink w];  x2 in [g2 - shrink w, g2 + grow w]
        bounds[r, axis] = g_low - grow * size - _SLACK_ABS - _SLACK_REL * abs(g_low)
        bounds[r, 4 + axis] = g_low + shrink * size + _SLACK_ABS + _SLACK_REL * abs(g_low)
        bounds[r, axis + 2] = g_high - shrink * size - _SLACK_ABS - _SLACK_REL * abs(g_high)
        bounds[r, 6 + axis] = g_high + grow * size + _SLACK_ABS + _SLACK_REL * abs(g_high)


@njit(cache=True)
def _select_run(xyxy: np.ndarray, bounds: np.ndarray, keep: np.ndarray, lo: int, hi: int,
                closed: bool, tol: float, selected: np.ndarray) -> None:
    """Fewest keyframes for rows lo:hi (one run); marks selected[lo:hi].

    For each start a, the ends b are scanned in order while the slope wedge (low, high per
    coordinate, kept in wl, wh) is not empty: row b narrows it to the slopes v with
    b_a + v (b - a) inside bounds[b].
    """
    last = hi - lo - 1
    end = last + 1 if closed else last  # local index of the final keyframe (closing box or row)
    count = np.full(end + 1, np.iinfo(np.int64).max, dtype=np.int64)
    parent = np.full(end + 1, -1, dtype=np.int64)
    wl = np.empty(4, dtype=np.float64)
    wh = np.empty(4, dtype=np.float64)
    base = np.empty(4, dtype=np.float64)
    hint = np.zeros(1, dtype=np.int64)
    count[0] = 1
    for a in range(end):
        for c in range(4):
            wl[c] = -np.inf
            wh[c] = np.inf
            base[c] = np.float64(xyxy[lo + a, c])
        hint[0] = -1
        for b in range(a + 1, end + 1):
            rb = lo + min(b, last)
            inv = 1.0 / np.float64(b - a)
            if count[a] + 1 < count[b]:
                inside = True
                for c in range(4):
                    v = (np.float64(xyxy[rb, c]) - base[c]) * inv  # v = (b_b - b_a) / (b - a)
                    inside = inside and wl[c] <= v <= wh[c]
                if inside and _segment_fits(xyxy, lo, last, a, b, tol, hint):
                    count[b] = count[a] + 1
                    parent[b] = a
            if b == end or keep[rb]:
                break  # a forced row cannot be skipped
            empty = False
            for c in range(4):
                # b_a + v (b - a) in [low, high]  <=>  v in [(low - b_a) / (b - a), ...]
                wl[c] = max(wl[c], (bounds[rb, c] - base[c]) * inv)
                wh[c] = min(wh[c], (bounds[rb, 4 + c] - base[c]) * inv)
                empty = empty or wl[c] > wh[c]
            if empty:
                break  # no later end can fit
    b = end
    while b >= 0:
        if b <= last:
            selected[lo + b] = True
        b = parent[b]


@njit(cache=True, parallel=True)
def select_keyframes(xyxy: np.ndarray, run_start: np.ndarray, closed: np.ndarray,
                     keep: np.ndarray, iou_tolerance: float) -> np.ndarray:
    """Choose the fewest keyframes per run (exact), forced rows included.

    Args:
        xyxy: (n, 4) float32 boxes, pixels; each run's rows are contiguous, in frame order, on
            consecutive frames.
        run_start: (r + 1,) int64 CSR offsets of the runs' rows.
        closed: (r,) bool, the run is closed by an outside keyframe one frame after its last row,
            carrying that row's box (else the last row must be a keyframe).
        keep: (n,) bool rows that must be keyframes (each run's first row always is).
        iou_tolerance: every row must be reproduced with IoU >= this, in (0, 1].

    Returns:
        (n,) bool, the rows to keep as (present) keyframes.
    """
    n = xyxy.shape[0]
    selected = np.zeros(n, dtype=np.bool_)
    bounds = np.empty((n, 8), dtype=np.float64)
    for r in prange(n):
        _row_bounds(xyxy, iou_tolerance, r, bounds)
    # each run writes only selected[run_start[k]:run_start[k + 1]]: independent outputs
    for k in prange(run_start.shape[0] - 1):
        if run_start[k + 1] > run_start[k]:
            _select_run(xyxy, bounds, keep, run_start[k], run_start[k + 1], closed[k],
                        iou_tolerance, selected)
    return selected


def _fits_numpy(boxes: npt.NDArray[np.float32], orig: npt.NDArray[np.float32],
                tol: float) -> npt.NDArray[np.bool_]:
    """Row-wise: identical, or IoU >= tol (float64), as the kernel's `_fits`."""
    b = boxes.astype(np.float64)
    g = orig.astype(np.float64)
    iw = np.minimum(b[:, 2], g[:, 2]) - np.maximum(b[:, 0], g[:, 0])
    ih = np.minimum(b[:, 3], g[:, 3]) - np.maximum(b[:, 1], g[:, 1])
    inter = np.where((iw > 0) & (ih > 0), iw * ih, 0.0)
    area_b = np.maximum(b[:, 2] - b[:, 0], 0.0) * np.maximum(b[:, 3] - b[:, 1], 0.0)
    area_g = np.maximum(g[:, 2] - g[:, 0], 0.0) * np.maximum(g[:, 3] - g[:, 1], 0.0)
    union = area_b + area_g - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        ok = (union > 0) & (inter / union >= tol)
    return ok | (b == g).all(axis=1)


def select_keyframes_numpy(xyxy: npt.NDArray[np.float32], run_start: npt.NDArray[np.int64],
                           closed: npt.NDArray[np.bool_], keep: npt.NDArray[np.bool_],
                           iou_tolerance: float) -> npt.NDArray[np.bool_]:
    """Brute-force reference of `select_keyframes`: every segment checked, no pruning. O(L^3)."""
    selected = np.zeros(len(xyxy), dtype=bool)
    for k in range(len(run_start) - 1):
        lo, hi = int(run_start[k]), int(run_start[k + 1])
        if hi == lo:
            continue
        boxes = np.r_[xyxy[lo:hi], xyxy[hi - 1: hi]] if closed[k] else xyxy[lo:hi]
        end = len(boxes) - 1
        count = [1] + [np.iinfo(np.int64).max] * end
        parent = [-1] * (end + 1)
        for a in range(end):
            for b in range(a + 1, end + 1):
                if count[a] + 1 < count[b]:
                    t = np.arange(1, b - a, dtype=np.float64) / np.float64(b - a)
                    b0 = boxes[a].astype(np.float64)
                    interp = (b0 + (boxes[b].astype(np.float64) - b0) * t[:, None])
                    if _fits_numpy(interp.astype(np.float32), boxes[a + 1: b], iou_tolerance).all():
                        count[b], parent[b] = count[a] + 1, a
                if b == end or keep[lo + b]:
                    break
        b = end
        while b >= 0:
            if lo + b < hi:
                selected[lo + b] = True
            b = parent[b]
    return selected
