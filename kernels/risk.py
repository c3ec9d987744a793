"""Numba kernels of `trackannot.risk` and `trackannot.ranking`: best overlap within a frame, the
spread frame ranking and the run-aware frame ranking."""

from __future__ import annotations

import heapq

import numpy as np
from numba import njit

from trackannot.kernels.iou import iou_row

__all__ = ["max_iou_same_frame", "run_rank", "spread_rank"]


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
            iou_row(a_xyxy[k:k + 1], 0, b_xyxy[j0:j1], row[:, : j1 - j0])
            for j in range(j0, j1):
                if skip_same_track and b_track[j] == a_track[k]:
                    continue
                v = row[0, j - j0]
                if v > best[k]:
                    best[k] = v
                    arg[k] = j
        i = i1
    return best, arg


@njit(cache=True)
def _discount(rows: np.ndarray, frame: np.ndarray, seg: np.ndarray, p: np.ndarray,
              per: np.ndarray, pos: int, f: int, spread: int, step: int) -> None:
    """Scale down the risk of one track's rows within `spread` frames of f, walking by `step`."""
    j = pos + step
    while 0 <= j < rows.shape[0] and seg[j] == seg[pos]:
        q = rows[j]
        d = abs(frame[q] - f)
        if d > spread:
            break
        new = p[q] * d / (spread + 1.0)
        per[frame[q]] -= p[q] - new
        p[q] = new
        j += step


@njit(cache=True)
def _frame_sums(frame: np.ndarray, value: np.ndarray, track_order: np.ndarray, num_frames: int
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(per-frame sum of `value`, position of each row in `track_order`, each frame's first
    row): what both frame rankers start from (rows sorted by frame)."""
    n = frame.shape[0]
    per = np.zeros(num_frames, dtype=np.float64)
    for r in range(n):
        per[frame[r]] += value[r]
    pos_of = np.empty(n, dtype=np.int64)
    for j in range(n):
        pos_of[track_order[j]] = j
    return per, pos_of, np.searchsorted(frame, np.arange(num_frames + 1))


@njit(cache=True)
def _pop_best(heap: list, per: np.ndarray, done: np.ndarray) -> int:
    """The not yet picked frame of highest `per` (earlier frame on ties) from a lazy max-heap
    of (-worth, frame): an entry whose frame's worth dropped since it was pushed goes back with
    the current worth. Marks the frame done."""
    while True:
        neg, f = heapq.heappop(heap)
        if done[f]:
            continue
        if -neg > per[f] + 1e-12 * (1.0 + abs(per[f])):  # stale: its worth dropped since
            heapq.heappush(heap, (-per[f], f))
            continue
        done[f] = True
        return f


@njit(cache=True)
def spread_rank(frame: np.ndarray, score: np.ndarray, track_order: np.ndarray,
                track_seg: np.ndarray, num_frames: int, spread: int) -> np.ndarray:
    """Frames in review order: most expected wrong boxes first, looked-at tracks counting less.

    After a frame is picked, each of its tracks' boxes d <= spread frames away keeps
    d / (spread + 1) of its risk (a person who corrects the track at the picked frame fixes its
    neighbourhood too), so the next picks go to other errors. spread = 0 is a plain sort by
    expected wrong boxes. Ties: the earlier frame first. Lazy max-heap: O((n + F) log F).

    Args:
        frame: (n,) int64 frame of each row, rows sorted by frame; all < num_frames.
        score: (n,) float64 risk of each row (not modified).
        track_order: (n,) int64 rows sorted by (track_id, frame).
        track_seg: (n,) int64 track number of each position of `track_order`.
        num_frames: frames to rank (0..num_frames-1).
        spread: frames around a picked frame whose boxes of the same tracks are discounted.

    Returns:
        (num_frames,) int64 every frame once, in review order.
    """
    p = score.copy()
    per, pos_of, start = _frame_sums(frame, p, track_order, num_frames)
    heap = [(-per[f], f) for f in range(num_frames)]
    heapq.heapify(heap)
    done = np.zeros(num_frames, dtype=np.bool_)
    out = np.empty(num_frames, dtype=np.int64)
    for k in range(num_frames):
        f = _pop_best(heap, per, done)
        out[k] = f
        if spread > 0:
            for r in range(start[f], start[f + 1]):
                _discount(track_order, frame, track_seg, p, per, pos_of[r], f, spread, -1)
                _discount(track_order, frame, track_seg, p, per, pos_of[r], f, spread, 1)
    return out


@njit(cache=True)
def _run_walk(track_order: np.ndarray, frame: np.ndarray, value: np.ndarray, link: np.ndarray,
              picked: np.ndarray, side: np.ndarray, other: np.ndarray, per: np.ndarray,
              pos: int, step: int, eps: float) -> None:
    """From a picked position, walk one way along its key (`step`: -1 left, 1 right) and set
    each row's chance that its run does not reach the pick (`side`) to 1 - the product of the
    links between them, stopping at another pick, the key's end, a product below `eps`, or a
    row that an earlier pick beyond this one already left as low (the earlier pick's product to
    it is this one's times the product between the two picks; equal means that product is 1,
    so every row further on is unchanged too)."""
    prod = 1.0
    j = pos + step
    while 0 <= j < track_order.shape[0]:
        prod *= link[j - 1] if step > 0 else link[j]  # link[i]: between positions i, i + 1
        if prod < eps or picked[j]:
            break
        q = track_order[j]
        if side[q] <= 1.0 - prod + 1e-12:
            break
        old = value[q] * side[q] * other[q]
        side[q] = 1.0 - prod
        per[frame[q]] += value[q] * side[q] * other[q] - old
        j += step


@njit(cache=True)
def run_rank(frame: np.ndarray, value: np.ndarray, link: np.ndarray, track_order: np.ndarray,
             num_frames: int, eps: float) -> np.ndarray:
    """Frames in review order: most expected error runs not yet shown first.

    Rows of one key (a track's boxes and probably missing boxes, a candidate's chain) taken in
    frame order form runs: `link[j]` is the chance that the row at `track_order[j + 1]` is in
    the same error run as the row at `track_order[j]`, given that one is wrong (0 between keys).
    A row's worth is its `value` (chance that it is wrong, weighted) times the chance that its
    run reaches no picked row of its key on the left, times the same on the right: 1 - the
    product of the links between them. A frame's worth is its rows' sum; the best frame is
    picked, its rows are shown, and the rows of their keys on either side lose the worth of
    runs that the pick already shows. With links 1 a key is one run (shown once); with links 0
    every row is a run of its own (a plain sort by value). Ties: the earlier frame first. Lazy
    max-heap: O((n + F) log F) plus the walks, each cut where the product falls below `eps`.

    Args:
        frame: (n,) int64 frame of each row, rows sorted by frame; all < num_frames.
        value: (n,) float64 worth of each row >= 0 (not modified).
        link: (n,) float64 in [0, 1] per position of `track_order` (module docstring; the last
            position of each key: 0).
        track_order: (n,) int64 rows sorted by (key, frame).
        num_frames: frames to rank (0..num_frames-1).
        eps: walks stop where the product of links falls below this.

    Returns:
        (num_frames,) int64 every frame once, in review order.
    """
    n = frame.shape[0]
    left = np.ones(n, dtype=np.float64)
    right = np.ones(n, dtype=np.float64)
    per, pos_of, start = _frame_sums(frame, value, track_order, num_frames)
    picked = np.zeros(n, dtype=np.bool_)
    heap = [(-per[f], f) for f in range(num_frames)]
    heapq.heapify(heap)
    done = np.zeros(num_frames, dtype=np.bool_)
    out = np.empty(num_frames, dtype=np.int64)
    for k in range(num_frames):
        f = _pop_best(heap, per, done)
        out[k] = f
        for r in range(start[f], start[f + 1]):
            picked[pos_of[r]] = True
        for r in range(start[f], start[f + 1]):
            pos = pos_of[r]
            # rows on the left: their right side now meets this pick; rows on the right: left
            _run_walk(track_order, frame, value, link, picked, right, left, per, pos, -1, eps)
            _run_walk(track_order, frame, value, link, picked, left, right, per, pos, 1, eps)
    return out
