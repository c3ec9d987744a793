"""Propagation of one human box along its object's detections (numba kernel + NumPy reference).

`propagate_run` walks the processed frames away from a seed box (a person's box) in one
direction: entry 0 is the seed's frame, entries 1..m the frames it may step to, in walk order
(descending frames for a backward run). A constant-velocity Kalman filter (`trackannot.kernels.
kalman`: state cx, cy, w, h and velocities) starts at the seed box with zero velocity and, at each
entry:

1. Breaks. A video gap before the entry (`step_gap`, from the frame times), or a scene cut: at
   least `CUT_MIN_DETECTIONS` confident detections (score >= `CUT_SCORE`) on both sides and
   fewer than `CUT_SHARE` of the previous entry's overlapping one of the entry's at IoU >=
   `CUT_IOU` (every object changed at once). The run stops before the entry.
2. Predict, once per decoded frame between the two entries (sampled videos step several).
3. Gate. Among the entry's detections with score >= min_score, those at IoU >= gate_iou with the
   predicted box and within motion_gate standard deviations of it (the innovation over the
   diagonal of S = H P H' + R, centre and size) are candidates; the one of highest IoU wins.
4. Evidence of another track (compared as detected, `det_raw`: the other boxes are the
   detector's too). The winner at IoU >= claim_iou with the track's own automatic box
   at the entry is the track's own evidence. Otherwise, at IoU >= claim_iou with another track's
   automatic box (`other_kind` OTHER_TRACK) or human keyframe (OTHER_KEYFRAME), it belongs to
   that track: the run stops before the entry (a conflict).
5. Update on the winner; no winner: coast. More than max_gap entries in a row without a winner:
   the run stops (evidence end).
6. Rejoin. Once the estimate agrees with the track's own automatic box (IoU >= rejoin_iou)
   rejoin_frames entries in a row, the run stops and hands over to the automatic boxes from the
   first of those entries.

Only entries up to the last one with a detection are emitted; entries coasted between two
supported ones (or between the seed and the first) get the straight line between those boxes,
not the drifting prediction. A run that rejoins across a hole in the track's automatic boxes
(the coasted entries before the rejoin have none) emits those entries too, on the line from its
last box (or the seed) to the automatic box it rejoins. Boxes are the filter's posterior
(corrected detections).

Parameters come as one float64 vector (`propagate_params`; meanings: `trackannot.config.
PropagateConfig`). The stop codes (`STOP_*`) are `trackannot.propagate.StopReason` values.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

from trackannot.kernels.kalman import (
    initial_state, kalman_predict, kalman_update, measurement_noise, process_noise,
)

__all__ = ["NUM_PARAMS", "OTHER_KEYFRAME", "OTHER_TRACK", "first_cut", "propagate_params",
           "propagate_run", "propagate_run_numpy"]

# layout of `params` (float64 vector)
P_GATE_IOU = 0
P_MOTION_GATE = 1
P_MAX_GAP = 2
P_REJOIN_FRAMES = 3
P_REJOIN_IOU = 4
P_CLAIM_IOU = 5
P_MIN_SCORE = 6
NUM_PARAMS = 7

# kinds of other evidence
OTHER_TRACK = 1  # an automatic box of another track
OTHER_KEYFRAME = 2  # a present human keyframe of another track

# stop codes (`trackannot.propagate.StopReason`)
STOP_END = 0  # the entries ran out (the orchestrator says why: video end, limit, bound)
STOP_EVIDENCE = 1
STOP_CONFLICT_TRACK = 2
STOP_CONFLICT_KEYFRAME = 3
STOP_GAP = 4
STOP_CUT = 5
STOP_REJOINED = 6

# Kalman noises, as fractions of the box side per frame: `trackannot.config.TrackConfig`'s
# defaults (tuned on MOT15 and KITTI), so a run moves as the tracker's tracks do
STD_POSITION = 1.0 / 20.0
STD_VELOCITY = 0.009
STD_MEASUREMENT = 0.035

# scene cut test (module docstring, 1.): confident detections, enough of them on both sides,
# and almost none overlapping across the cut. Chosen so that no frame of the benchmark
# sequences is a cut (none has one; 0 of 9,618 consecutive frame pairs of MOT15 train and KITTI
# Car 0000-0013, where 3 detections / IoU 0.3 / 25% found 14 in KITTI's turning drives), while
# a shot change with a handful of objects is one
CUT_SCORE = 0.5
CUT_MIN_DETECTIONS = 4
CUT_IOU = 0.1
CUT_SHARE = 0.15


def propagate_params(*, gate_iou: float, motion_gate: float, max_gap: int, rejoin_frames: int,
                     rejoin_iou: float, claim_iou: float, min_score: float
                     ) -> npt.NDArray[np.float64]:
    """The kernel's parameter vector."""
    params = np.zeros(NUM_PARAMS, np.float64)
    params[P_GATE_IOU] = gate_iou
    params[P_MOTION_GATE] = motion_gate
    params[P_MAX_GAP] = max_gap
    params[P_REJOIN_FRAMES] = rejoin_frames
    params[P_REJOIN_IOU] = rejoin_iou
    params[P_CLAIM_IOU] = claim_iou
    params[P_MIN_SCORE] = min_score
    return params


@njit(cache=True)
def _iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two xyxy boxes (any float dtype); 0 for empty unions or NaN boxes."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if not (iw > 0 and ih > 0):
        return 0.0
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


@njit(cache=True)
def _to_xyxy(x: np.ndarray) -> np.ndarray:
    """Box [x1, y1, x2, y2] of a state row [cx, cy, w, h, ...]."""
    out = np.empty(4)
    out[0] = x[0] - x[2] / 2
    out[1] = x[1] - x[3] / 2
    out[2] = x[0] + x[2] / 2
    out[3] = x[1] + x[3] / 2
    return out


@njit(cache=True)
def _to_z(xyxy: np.ndarray) -> np.ndarray:
    """Measurement [cx, cy, w, h] of a box."""
    z = np.empty(4)
    z[0] = (xyxy[0] + xyxy[2]) / 2
    z[1] = (xyxy[1] + xyxy[3]) / 2
    z[2] = xyxy[2] - xyxy[0]
    z[3] = xyxy[3] - xyxy[1]
    return z


@njit(cache=True)
def _is_cut(det_start: np.ndarray, det_xyxy: np.ndarray, det_score: np.ndarray, a: int,
            b: int) -> bool:
    """Scene cut between entries a and b (module docstring, 1.)."""
    na = 0
    nb = 0
    for i in range(det_start[a], det_start[a + 1]):
        na += det_score[i] >= CUT_SCORE
    for j in range(det_start[b], det_start[b + 1]):
        nb += det_score[j] >= CUT_SCORE
    if na < CUT_MIN_DETECTIONS or nb < CUT_MIN_DETECTIONS:
        return False
    kept = 0
    for i in range(det_start[a], det_start[a + 1]):
        if det_score[i] < CUT_SCORE:
            continue
        for j in range(det_start[b], det_start[b + 1]):
            if det_score[j] >= CUT_SCORE and _iou(det_xyxy[i], det_xyxy[j]) >= CUT_IOU:
                kept += 1
                break
    return kept < CUT_SHARE * na


@njit(cache=True)
def first_cut(det_start: np.ndarray, det_xyxy: np.ndarray, det_score: np.ndarray) -> int:
    """The first entry k >= 1 with a scene cut between entries k - 1 and k (the rule of 1.
    above), or -1: `det_start` (m + 2,) offsets of each entry's detections in det_*."""
    for k in range(1, det_start.shape[0] - 1):
        if _is_cut(det_start, det_xyxy, det_score, k - 1, k):
            return k
    return -1


@njit(cache=True)
def _other_kind(other_start: np.ndarray, other_xyxy: np.ndarray, other_kind: np.ndarray,
                k: int, box: np.ndarray, claim_iou: float) -> int:
    """The kind of another track's evidence that `box` overlaps at entry k (0: none); a
    keyframe wins over an automatic box."""
    kind = 0
    for o in range(other_start[k], other_start[k + 1]):
        if _iou(box, other_xyxy[o]) >= claim_iou:
            kind = max(kind, int(other_kind[o]))
    return kind


@njit(cache=True)
def propagate_run(seed_xyxy: np.ndarray, step_frame: np.ndarray, step_gap: np.ndarray,
                  det_start: np.ndarray, det_xyxy: np.ndarray, det_raw: np.ndarray,
                  det_score: np.ndarray, other_start: np.ndarray, other_xyxy: np.ndarray, other_kind: np.ndarray,
                  own_xyxy: np.ndarray, params: np.ndarray, out_xyxy: np.ndarray,
                  out_det: np.ndarray, out_score: np.ndarray, out_std: np.ndarray
                  ) -> tuple[int, int, int]:
    """Walk from the seed through entries 1..m (module docstring).

    Args:
        seed_xyxy: (4,) float64, the person's box at entry 0.
        step_frame: (m + 1,) int64 decoded frame of each entry, in walk order.
        step_gap: (m + 1,) bool, a video gap between entry k - 1 and entry k.
        det_start: (m + 2,) int64 offsets of each entry's detections in det_*.
        det_xyxy: (d, 4) float32 detections in the person's style (the seed's offset from its
            own detection applied: `trackannot.propagate`), gated and followed.
        det_raw: (d, 4) float32 the same detections as detected, compared with the other
            tracks' boxes, the track's own box and across a cut (boxes of the detector's style).
        det_score: (d,) float32.
        other_start: (m + 2,) int64 offsets of each entry's other-track boxes in other_*.
        other_xyxy: (o, 4) float32; other_kind: (o,) uint8 `OTHER_TRACK` or `OTHER_KEYFRAME`.
        own_xyxy: (m + 1, 4) float32 the track's own automatic box at each entry (NaN: none).
        params: `propagate_params`.
        out_xyxy: (m, 4) float32, box of entry k at row k - 1 (written up to n_emit).
        out_det: (m,) int64 detection row used (-1: coasted, filled by the line).
        out_score: (m,) float32 score of that detection (0 where coasted).
        out_std: (m,) float32 standard deviation of the box centre, pixels.

    Returns:
        (n_emit, stop, code): entries 1..n_emit are the run; `stop` is the entry where it
        stopped (the first one not taken from it: a conflict's, a gap's, the first after the
        evidence ends, the first handed over on rejoin; m + 1 when the entries ran out, code
        STOP_END, also while coasting: n_emit < m then, and more entries may go on); `code` a
        `STOP_*` value.
    """
    m = step_frame.shape[0] - 1
    gate_iou, motion_gate = params[P_GATE_IOU], params[P_MOTION_GATE]
    max_gap, rejoin_frames = int(params[P_MAX_GAP]), int(params[P_REJOIN_FRAMES])
    rejoin_iou, claim_iou, min_score = params[P_REJOIN_IOU], params[P_CLAIM_IOU], params[P_MIN_SCORE]
    z0 = np.empty((1, 4))
    z0[0] = _to_z(seed_xyxy)
    x, P = initial_state(z0, STD_POSITION, STD_VELOCITY)
    last = 0  # last entry with a detection (0: the seed)
    misses = 0
    agree = 0
    stop, code = m + 1, STOP_END
    for k in range(1, m + 1):
        if step_gap[k]:
            stop, code = k, STOP_GAP
            break
        if _is_cut(det_start, det_raw, det_score, k - 1, k):
            stop, code = k, STOP_CUT
            break
        for _ in range(max(abs(step_frame[k] - step_frame[k - 1]), 1)):
            # x = F x; P = F P F' + Q
            x, P = kalman_predict(x, P, process_noise(x, STD_POSITION, STD_VELOCITY))
        pred = _to_xyxy(x[0])
        r = measurement_noise(x, STD_MEASUREMENT)
        best, best_iou = -1, gate_iou
        for d in range(det_start[k], det_start[k + 1]):
            if det_score[d] < min_score:
                continue
            iou = _iou(pred, det_xyxy[d])
            if iou < best_iou or (iou == best_iou and best >= 0):
                continue
            z = _to_z(det_xyxy[d])
            d2 = 0.0  # squared innovation over diag(S), S = H P H' + R
            for i in range(4):
                d2 += (z[i] - x[0, i]) ** 2 / (P[0, i, i] + r[0, i])
            if d2 <= motion_gate * motion_gate:
                best, best_iou = d, iou
        if best >= 0:
            if not _iou(det_raw[best], own_xyxy[k]) >= claim_iou:
                kind = _other_kind(other_start, other_xyxy, other_kind, k, det_raw[best],
                                   claim_iou)
                if kind > 0:
                    stop = k
                    code = STOP_CONFLICT_KEYFRAME if kind == OTHER_KEYFRAME else \
                        STOP_CONFLICT_TRACK
                    break
            z = np.empty((1, 4))
            z[0] = _to_z(det_xyxy[best])
            # K = P H' S^-1; x = x + K (z - H x); P = (I - K H) P (I - K H)' + K R K'
            x, P = kalman_update(x, P, z, r)
            last, misses = k, 0
            out_det[k - 1] = best
            out_score[k - 1] = det_score[best]
        else:
            misses += 1
            out_det[k - 1] = -1
            out_score[k - 1] = 0.0
            if misses > max_gap:
                stop, code = last + 1, STOP_EVIDENCE
                break
        box = _to_xyxy(x[0])
        for i in range(4):
            out_xyxy[k - 1, i] = box[i]
        out_std[k - 1] = np.sqrt((P[0, 0, 0] + P[0, 1, 1]) / 2)
        agree = agree + 1 if _iou(box, own_xyxy[k]) >= rejoin_iou else 0
        if agree >= rejoin_frames:
            stop, code = k - agree + 1, STOP_REJOINED
            last = k - agree  # the last supported entry before the agreeing ones
            while last > 0 and out_det[last - 1] < 0:
                last -= 1
            break
    n_emit = min(last, stop - 1)
    _fill_coasted(seed_xyxy, step_frame, out_xyxy, out_det, out_std, n_emit)
    if code == STOP_REJOINED and n_emit < stop - 1 and _hole(own_xyxy, n_emit + 1, stop):
        start = seed_xyxy.copy()
        if n_emit > 0:
            for i in range(4):
                start[i] = out_xyxy[n_emit - 1, i]
        _fill_line(start, own_xyxy[stop], step_frame, n_emit, stop, out_xyxy)
        n_emit = stop - 1
    return n_emit, stop, code


@njit(cache=True)
def _hole(own_xyxy: np.ndarray, a: int, b: int) -> bool:
    """Entries a..b-1 have no automatic box of the track."""
    for k in range(a, b):
        if not np.isnan(own_xyxy[k, 0]):
            return False
    return True


@njit(cache=True)
def _fill_line(start: np.ndarray, end: np.ndarray, step_frame: np.ndarray, a: int, b: int,
               out_xyxy: np.ndarray) -> None:
    """Entries a+1..b-1 on the straight line from `start` (entry a) to `end` (entry b), by
    frame: the coasted entries between a run's last box and the automatic box it rejoins."""
    f0, f1 = step_frame[a], step_frame[b]
    for j in range(a + 1, b):
        w = (step_frame[j] - f0) / (f1 - f0)
        for i in range(4):
            out_xyxy[j - 1, i] = start[i] + w * (end[i] - start[i])


@njit(cache=True)
def _fill_coasted(seed_xyxy: np.ndarray, step_frame: np.ndarray, out_xyxy: np.ndarray,
                  out_det: np.ndarray, out_std: np.ndarray, n_emit: int) -> None:
    """Coasted entries 1..n_emit between two supported ones (or the seed) get the straight line
    between those boxes, by frame."""
    prev = 0  # entry of the last supported box (0: the seed)
    for k in range(1, n_emit + 1):
        if out_det[k - 1] < 0:
            continue
        if k - prev > 1:
            f0, f1 = step_frame[prev], step_frame[k]
            for j in range(prev + 1, k):
                w = (step_frame[j] - f0) / (f1 - f0)
                for i in range(4):
                    a = seed_xyxy[i] if prev == 0 else out_xyxy[prev - 1, i]
                    out_xyxy[j - 1, i] = a + w * (out_xyxy[k - 1, i] - a)
                out_std[j - 1] = max(out_std[k - 1], out_std[j - 1])
        prev = k


# ------------------------------------------------------------------------------ reference


def _np_iou(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if not (iw > 0 and ih > 0):
        return 0.0
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def _np_side(x: np.ndarray) -> np.ndarray:
    """Scale of each state entry: the width for x-like entries, the height for y-like."""
    w, h = max(x[2], 1.0), max(x[3], 1.0)
    return np.array([w, h, w, h])


def propagate_run_numpy(seed_xyxy: np.ndarray, step_frame: np.ndarray, step_gap: np.ndarray,
                        det_start: np.ndarray, det_xyxy: np.ndarray, det_raw: np.ndarray,
                        det_score: np.ndarray, other_start: np.ndarray, other_xyxy: np.ndarray, other_kind: np.ndarray,
                        own_xyxy: np.ndarray, params: np.ndarray
                        ) -> tuple[int, int, int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Plain-NumPy reference of `propagate_run` (full 8x8 matrices, filterpy's equations).

    Returns:
        (n_emit, stop, code, out_xyxy, out_det, out_score, out_std) with the outputs cut to
        n_emit rows.
    """
    m = len(step_frame) - 1
    gate_iou, motion_gate = params[P_GATE_IOU], params[P_MOTION_GATE]
    max_gap, rejoin_frames = int(params[P_MAX_GAP]), int(params[P_REJOIN_FRAMES])
    rejoin_iou, claim_iou, min_score = params[P_REJOIN_IOU], params[P_CLAIM_IOU], params[P_MIN_SCORE]
    F = np.eye(8)
    F[:4, 4:] = np.eye(4)
    H = np.eye(4, 8)
    seed = np.asarray(seed_xyxy, np.float64)
    x = np.zeros(8)
    x[:4] = [(seed[0] + seed[2]) / 2, (seed[1] + seed[3]) / 2, seed[2] - seed[0],
             seed[3] - seed[1]]
    s = _np_side(x)
    P = np.diag(np.r_[(2 * STD_POSITION * s) ** 2, (10 * STD_VELOCITY * s) ** 2])
    out_xyxy = np.zeros((m, 4), np.float32)
    out_det = np.full(m, -1, np.int64)
    out_score = np.zeros(m, np.float32)
    out_std = np.zeros(m, np.float32)
    last, misses, agree = 0, 0, 0
    stop, code = m + 1, STOP_END

    def box_of(state: np.ndarray) -> np.ndarray:
        return np.array([state[0] - state[2] / 2, state[1] - state[3] / 2,
                         state[0] + state[2] / 2, state[1] + state[3] / 2])

    def confident(k: int) -> np.ndarray:
        rows = np.arange(det_start[k], det_start[k + 1])
        return rows[det_score[rows] >= CUT_SCORE]

    for k in range(1, m + 1):
        if step_gap[k]:
            stop, code = k, STOP_GAP
            break
        a, b = confident(k - 1), confident(k)
        if len(a) >= CUT_MIN_DETECTIONS and len(b) >= CUT_MIN_DETECTIONS:
            kept = sum(any(_np_iou(det_raw[i], det_raw[j]) >= CUT_IOU for j in b) for i in a)
            if kept < CUT_SHARE * len(a):
                stop, code = k, STOP_CUT
                break
        for _ in range(max(abs(int(step_frame[k] - step_frame[k - 1])), 1)):
            s = _np_side(x)
            Q = np.diag(np.r_[(STD_POSITION * s) ** 2, (STD_VELOCITY * s) ** 2])
            x = F @ x
            P = F @ P @ F.T + Q
        pred = box_of(x)
        R = np.diag((STD_MEASUREMENT * _np_side(x)) ** 2)
        S = H @ P @ H.T + R
        best, best_iou = -1, gate_iou
        for d in range(det_start[k], det_start[k + 1]):
            if det_score[d] < min_score:
                continue
            iou = _np_iou(pred, det_xyxy[d])
            if iou < best_iou or (iou == best_iou and best >= 0):
                continue
            dd = np.asarray(det_xyxy[d], np.float64)
            z = np.array([(dd[0] + dd[2]) / 2, (dd[1] + dd[3]) / 2, dd[2] - dd[0], dd[3] - dd[1]])
            if np.sum((z - x[:4]) ** 2 / np.diag(S)) <= motion_gate ** 2:
                best, best_iou = d, iou
        if best >= 0:
            if not _np_iou(det_raw[best], own_xyxy[k]) >= claim_iou:
                kinds = [int(other_kind[o]) for o in range(other_start[k], other_start[k + 1])
                         if _np_iou(det_raw[best], other_xyxy[o]) >= claim_iou]
                if kinds:
                    stop = k
                    code = STOP_CONFLICT_KEYFRAME if max(kinds) == OTHER_KEYFRAME else \
                        STOP_CONFLICT_TRACK
                    break
            dd = np.asarray(det_xyxy[best], np.float64)
            z = np.array([(dd[0] + dd[2]) / 2, (dd[1] + dd[3]) / 2, dd[2] - dd[0], dd[3] - dd[1]])
            K = P @ H.T @ np.linalg.inv(S)
            x = x + K @ (z - H @ x)
            A = np.eye(8) - K @ H
            P = A @ P @ A.T + K @ R @ K.T  # Joseph form, as the kernel
            last, misses = k, 0
            out_det[k - 1], out_score[k - 1] = best, det_score[best]
        else:
            misses += 1
            if misses > max_gap:
                stop, code = last + 1, STOP_EVIDENCE
                break
        box = box_of(x)
        out_xyxy[k - 1] = box
        out_std[k - 1] = np.sqrt((P[0, 0] + P[1, 1]) / 2)
        agree = agree + 1 if _np_iou(box, own_xyxy[k]) >= rejoin_iou else 0
        if agree >= rejoin_frames:
            stop, code = k - agree + 1, STOP_REJOINED
            last = max([0] + [j for j in range(1, k - agree + 1) if out_det[j - 1] >= 0])
            break
    n = min(last, stop - 1)
    supported = [0] + [k for k in range(1, n + 1) if out_det[k - 1] >= 0]
    for prev, k in zip(supported[:-1], supported[1:]):
        start = seed if prev == 0 else out_xyxy[prev - 1].astype(np.float64)
        for j in range(prev + 1, k):
            w = (step_frame[j] - step_frame[prev]) / (step_frame[k] - step_frame[prev])
            out_xyxy[j - 1] = start + w * (out_xyxy[k - 1] - start)
            out_std[j - 1] = max(out_std[k - 1], out_std[j - 1])
    # a rejoin across a hole in the automatic boxes: the line from the last box to the rejoined
    if code == STOP_REJOINED and n < stop - 1 and np.isnan(own_xyxy[n + 1:stop, 0]).all():
        start = seed if n == 0 else out_xyxy[n - 1].astype(np.float64)
        end = np.asarray(own_xyxy[stop], np.float64)
        for j in range(n + 1, stop):
            w = (step_frame[j] - step_frame[n]) / (step_frame[stop] - step_frame[n])
            out_xyxy[j - 1] = start + w * (end - start)
        n = stop - 1
    return n, stop, code, out_xyxy[:n], out_det[:n], out_score[:n], out_std[:n]
