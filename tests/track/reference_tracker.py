"""Plain-NumPy reference of the tracker's frame step (`trackannot.kernels.track_step`).

The same algorithm written the obvious way, one NumPy operation per idea and scipy's
`linear_sum_assignment` on every whole stage matrix, with no isolated-pair shortcut: the fast
kernel must give the same tracks. Only the Kalman steps are shared (they have their own tests
against filterpy).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from trackannot.config import TrackConfig
from trackannot.track.kalman import (
    cxcywh_to_xyxy,
    initiate_state,
    position_std,
    predict_state,
    update_state,
)


def gated_assignment(iou: np.ndarray, min_iou: float, weight: np.ndarray):
    """Max total similarity over pairs with IoU >= min_iou (float32 compare); (rows, cols)."""
    allowed = (iou >= np.float32(min_iou)) & (iou * weight[None, :] > 0)
    cost = np.where(allowed, -(iou * weight[None, :]).astype(np.float64), 0.0)
    r, c = linear_sum_assignment(cost)
    keep = cost[r, c] < 0
    return r[keep], c[keep]


class ReferenceTracker:
    """Per-frame outputs as dicts of columns, like `Tracker.update` (without backfill)."""

    def __init__(self, cfg: TrackConfig) -> None:
        self.cfg = cfg
        self.x, self.P = np.zeros((0, 8)), np.zeros((0, 8, 8))
        self.ids = np.zeros(0, np.int64)
        self.cls = np.zeros(0, np.int32)
        self.score = np.zeros(0, np.float32)
        self.confirmed = np.zeros(0, bool)
        self.hits = np.zeros(0, np.int64)
        self.misses = np.zeros(0, np.int64)
        self.next_id = 1
        self.last = None

    def update(self, frame: int, xyxy: np.ndarray, score: np.ndarray, cls: np.ndarray) -> dict:
        steps = 1 if self.last is None else frame - self.last
        self.last = frame
        self._predict(steps)
        det_of_track, taken = self._associate(self._iou(xyxy, cls), score)
        self._correct(det_of_track, xyxy, score)
        det_of_track = self._spawn(det_of_track, taken, xyxy, score, cls)
        return self._report_and_retire(det_of_track)

    def _predict(self, steps: int) -> None:
        cfg = self.cfg
        if len(self.ids):
            self.x[self.misses > 0, 6:8] = 0.0
            for _ in range(min(steps, cfg.max_lost_frames + 1)):
                self.x, self.P = predict_state(self.x, self.P, cfg.std_position, cfg.std_velocity)
            self.misses += steps - 1

    def _iou(self, xyxy: np.ndarray, cls: np.ndarray) -> np.ndarray:
        t, n = len(self.ids), len(xyxy)
        if not t or not n:
            return np.zeros((t, n), np.float32)
        a = cxcywh_to_xyxy(self.x)[:, None, :].astype(np.float64)
        b = xyxy[None, :, :].astype(np.float64)
        iw = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
        ih = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
        inter = iw * ih

        def area(z: np.ndarray) -> np.ndarray:
            return np.clip(z[..., 2] - z[..., 0], 0, None) * np.clip(z[..., 3] - z[..., 1], 0, None)

        union = area(a) + area(b) - inter
        iou = np.where(union > 0, inter / np.where(union > 0, union, 1), 0).astype(np.float32)
        iou[self.cls[:, None] != cls[None, :]] = 0.0
        return iou

    def _associate(self, iou: np.ndarray, score: np.ndarray):
        cfg = self.cfg
        det_of_track = np.full(len(self.ids), -1, np.int64)
        taken = np.zeros(len(score), bool)
        is_high = score >= np.float32(cfg.high_score)
        fused = score if cfg.fuse_score else np.ones_like(score)
        stages = [
            (self.confirmed, is_high, cfg.min_iou, fused),
            (self.confirmed & (self.misses == 0), ~is_high & (score >= np.float32(cfg.low_score)),
             cfg.min_iou_low, np.ones_like(score)),
            (~self.confirmed, is_high, cfg.min_iou_tentative, fused),
        ]
        for track_ok, det_ok, gate, weight in stages:
            rows = np.flatnonzero(track_ok & (det_of_track < 0))
            cols = np.flatnonzero(det_ok & ~taken)
            if rows.size and cols.size:
                r, c = gated_assignment(iou[np.ix_(rows, cols)], gate, weight[cols])
                det_of_track[rows[r]] = cols[c]
                taken[cols[c]] = True
        return det_of_track, taken

    def _correct(self, det_of_track: np.ndarray, xyxy: np.ndarray, score: np.ndarray) -> None:
        matched = det_of_track >= 0
        idx = np.flatnonzero(matched)
        if idx.size:
            self.x[idx], self.P[idx] = update_state(self.x[idx], self.P[idx],
                                                    xyxy[det_of_track[idx]],
                                                    self.cfg.std_measurement)
            self.score[idx] = score[det_of_track[idx]]
        self.misses = np.where(matched, 0, self.misses + 1)
        self.hits = np.where(matched, self.hits + 1, 0)
        self.confirmed |= self.hits >= self.cfg.min_hits

    def _spawn(self, det_of_track, taken, xyxy, score, cls) -> np.ndarray:
        cfg = self.cfg
        is_high = score >= np.float32(cfg.high_score)
        spawn = np.flatnonzero(is_high & ~taken & (score >= np.float32(cfg.new_track_score)))
        if not spawn.size:
            return det_of_track
        x, P = initiate_state(xyxy[spawn], cfg.std_position, cfg.std_velocity)
        k = spawn.size
        self.x, self.P = np.concatenate((self.x, x)), np.concatenate((self.P, P))
        self.ids = np.r_[self.ids, np.arange(self.next_id, self.next_id + k)]
        self.next_id += k
        self.cls = np.r_[self.cls, cls[spawn]].astype(np.int32)
        self.score = np.r_[self.score, score[spawn]].astype(np.float32)
        self.confirmed = np.r_[self.confirmed, np.full(k, cfg.min_hits <= 1)]
        self.hits = np.r_[self.hits, np.ones(k, np.int64)]
        self.misses = np.r_[self.misses, np.zeros(k, np.int64)]
        return np.r_[det_of_track, spawn]

    def _report_and_retire(self, det_of_track: np.ndarray) -> dict:
        cfg = self.cfg
        show = self.confirmed & ((det_of_track >= 0) | (self.misses <= cfg.report_predicted))
        out = {
            "xyxy": cxcywh_to_xyxy(self.x[show]), "score": self.score[show],
            "class_id": self.cls[show], "track_id": self.ids[show],
            "origin": (det_of_track[show] < 0).astype(np.uint8),
            "det_index": det_of_track[show], "pos_std": position_std(self.P[show]),
        }
        alive = (self.confirmed | (det_of_track >= 0)) & (self.misses <= cfg.max_lost_frames)
        for name in ("x", "P", "ids", "cls", "score", "confirmed", "hits", "misses"):
            setattr(self, name, getattr(self, name)[alive])
        return out
