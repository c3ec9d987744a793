"""Numba kernel of `trackannot.candidates`: the nearest overlapping box a few frames away."""

from __future__ import annotations

import numpy as np
from numba import njit
from trackannot.kernels.iou import iou_row

__all__ = ["nearest_overlap"]


@njit(cache=True)
def nearest_overlap(q_frame: np.ndarray, q_xyxy: np.ndarray, step: int, max_frames: int,
                    b_start: np.ndarray, b_xyxy: np.ndarray, b_track: np.ndarray,
                    min_iou: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each query box, the first frame `step` * 1..max_frames away holding a box of `b`
    at IoU >= min_iou with it, and there the best such box.

    Used to find the track a chain of unexplained detections continues: a track that ends just
    before the chain starts (step -1 from the chain's first detection) or starts just after it
    ends (step +1 from its last detection).

    Args:
        q_frame: (n,) int64 frame of each query box.
        q_xyxy: (n, 4) float32 query boxes, pixels.
        step: -1 (look at earlier frames) or +1 (later frames).
        max_frames: frames to look through, nearest first.
        b_start: (F + 1,) int64 first row of `b` at each frame 0..F-1 (rows sorted by frame);
            frames outside 0..F-1 hold no box.
        b_xyxy: (m, 4) float32 boxes, pixels.
        b_track: (m,) int64 track id of each `b` box.
        min_iou: boxes below this IoU do not count.

    Returns:
        (n,) int64 track id of the box found (-1: none), (n,) float32 its IoU (0: none) and
        (n,) int64 frames between the query and it (0: none).
    """
    n = q_frame.shape[0]
    n_frames = b_start.shape[0] - 1
    track = np.full(n, -1, dtype=np.int64)
    best = np.zeros(n, dtype=np.float32)
    dist = np.zeros(n, dtype=np.int64)
    row = np.empty((1, b_xyxy.shape[0]), dtype=np.float32)
    for i in range(n):
        for d in range(1, max_frames + 1):
            f = q_frame[i] + step * d
            if f < 0 or f >= n_frames:
                break
            lo = b_start[f]
            hi = b_start[f + 1]
            if hi == lo:
                continue
            iou_row(q_xyxy[i:i + 1], 0, b_xyxy[lo:hi], row[:, : hi - lo])
            for j in range(lo, hi):
                v = row[0, j - lo]
                if v >= min_iou and v > best[i]:
                    best[i] = v
                    track[i] = b_track[j]
                    dist[i] = d
            if track[i] >= 0:
                break
    return track, best, dist
