"""One tracker frame as numba kernels: predict, three gated association stages, correct, spawn,
report, retire (the steps of `trackannot.track.tracker`).

Everything except the Hungarian search runs here, so a frame costs one kernel call. A stage whose
gated pairs are not all isolated (see `gate_pairs`) stops the kernel and hands its hard part back
to the caller, which solves it with scipy's `linear_sum_assignment` and calls `advance_frame`
again with the result; the kernel applies it and carries on with the next stage.

Track state lives in caller-owned arrays with room for `cap` tracks; the first `counts[0]` rows
are the live tracks, in increasing track id (new tracks are appended, retired ones are removed by
an order-keeping compaction). Columns of `ints` (int64, (cap, 5)) and `params` are named by the
constants below.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from trackannot.kernels.assign import gate_pairs
from trackannot.kernels.iou import iou_matrix
from trackannot.kernels.kalman import (
    initial_state,
    kalman_predict,
    kalman_update,
    measurement_noise,
    process_noise,
)

__all__ = ["N_PARAMS", "advance_frame"]

# columns of the per-track int64 table
ID, CLASS, HITS, MISSES, CONFIRMED = 0, 1, 2, 3, 4
N_INT_COLUMNS = 5
# entries of `params` (float64), copied from TrackConfig
(P_HIGH, P_LOW, P_NEW, P_MIN_IOU, P_MIN_IOU_LOW, P_MIN_IOU_TENT, P_FUSE, P_MIN_HITS,
 P_MAX_LOST, P_REPORT_PREDICTED, P_STD_POS, P_STD_VEL, P_STD_MEAS, P_RECOVER) = range(14)
N_PARAMS = 14
# output columns: floats (float32) and ints (int64)
O_X1, O_Y1, O_X2, O_Y2, O_SCORE, O_STD = range(6)
O_ID, O_CLASS, O_ORIGIN, O_DET = range(4)
# backfill rows (int64): track id, frame, detection row
B_ID, B_FRAME, B_ROW = range(3)
# association stages, in order; DONE comes after the last
STAGE_HIGH, STAGE_LOW, STAGE_TENTATIVE, STAGE_RECOVER, DONE = 0, 1, 2, 3, 4
ORIGIN_DETECTED, ORIGIN_PREDICTED = 0, 1


@njit(cache=True)
def _predict(x: np.ndarray, P: np.ndarray, ints: np.ndarray, t: int, steps: int,
             params: np.ndarray) -> None:
    """x, P of live tracks `steps` frames ahead; lost tracks stop changing size."""
    for k in range(t):
        if ints[k, MISSES] > 0:
            # a box that is not seen must not grow or shrink without bound (ByteTrack/BoT-SORT)
            x[k, 6] = 0.0
            x[k, 7] = 0.0
    for _ in range(min(steps, int(params[P_MAX_LOST]) + 1)):
        q = process_noise(x[:t], params[P_STD_POS], params[P_STD_VEL])
        x_new, P_new = kalman_predict(x[:t], P[:t], q)
        x[:t] = x_new
        P[:t] = P_new
    for k in range(t):
        ints[k, MISSES] += steps - 1


@njit(cache=True)
def _state_xyxy(x: np.ndarray, t: int) -> np.ndarray:
    """(t, 4) float32 boxes of the first t states."""
    out = np.empty((t, 4), dtype=np.float32)
    for k in range(t):
        hw = 0.5 * x[k, 2]
        hh = 0.5 * x[k, 3]
        out[k, 0] = x[k, 0] - hw
        out[k, 1] = x[k, 1] - hh
        out[k, 2] = x[k, 0] + hw
        out[k, 3] = x[k, 1] + hh
    return out


@njit(cache=True)
def _iou(x: np.ndarray, ints: np.ndarray, t: int, det_xyxy: np.ndarray,
         det_class: np.ndarray) -> np.ndarray:
    """(t, n) IoU of predicted boxes with detections, 0 across classes."""
    iou = iou_matrix(_state_xyxy(x, t), det_xyxy)
    for k in range(t):
        for j in range(det_xyxy.shape[0]):
            if ints[k, CLASS] != det_class[j]:
                iou[k, j] = 0.0
    return iou


# a recovery pair's affinity (1 - distance / recover_distance) must exceed this (a positive floor)
_RECOVER_MIN_AFFINITY = 1e-6
# a recovered detection's larger side is within this factor of the lost track's larger side
_RECOVER_SIZE_RATIO = 2.0


@njit(cache=True)
def _near(x: np.ndarray, ints: np.ndarray, t: int, det_xyxy: np.ndarray, det_class: np.ndarray,
          recover_distance: float) -> np.ndarray:
    """(t, n) recovery affinity of lost tracks' predictions and detections, 0 across classes.

    A box that disappears behind something is seen shrinking (only its visible part is
    detected) and reappears on the far side: its prediction and the new detection often do not
    overlap at all, so IoU cannot re-link them. Here the gap between their centres is measured
    in units of the larger side of the two boxes (the side least cut by the occluder):
    affinity = 1 - gap / recover_distance (<= 0: never), and the larger sides must agree within
    a factor _RECOVER_SIZE_RATIO.
    """
    n = det_xyxy.shape[0]
    out = np.zeros((t, n), dtype=np.float32)
    for k in range(t):
        side_k = max(x[k, 2], x[k, 3])
        for j in range(n):
            if ints[k, CLASS] != det_class[j]:
                continue
            w = np.float64(det_xyxy[j, 2]) - np.float64(det_xyxy[j, 0])
            h = np.float64(det_xyxy[j, 3]) - np.float64(det_xyxy[j, 1])
            side_j = max(w, h)
            if side_j <= 0.0 or side_k <= 0.0:
                continue
            if side_j > _RECOVER_SIZE_RATIO * side_k or side_k > _RECOVER_SIZE_RATIO * side_j:
                continue
            dx = np.float64(det_xyxy[j, 0]) + 0.5 * w - x[k, 0]
            dy = np.float64(det_xyxy[j, 1]) + 0.5 * h - x[k, 1]
            if dx * x[k, 4] + dy * x[k, 5] <= 0.0:
                continue  # not ahead of the prediction along the track's motion
            gap = np.sqrt(dx * dx + dy * dy) / max(side_k, side_j)
            a = 1.0 - gap / recover_distance
            if a > 0.0:
                out[k, j] = a
    for j in range(n):  # near more than one confirmed track (a crowd): ambiguous, never
        near = 0
        for k in range(t):
            if out[k, j] > 0.0 and ints[k, CONFIRMED] == 1:
                near += 1
        if near > 1:
            out[:, j] = 0.0
    return out


@njit(cache=True)
def _candidates(stage: int, ints: np.ndarray, t: int, det_of_track: np.ndarray,
                det_taken: np.ndarray, det_score: np.ndarray,
                params: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
    """Tracks (rows) and detections (columns) that take part in `stage`, and its gate/weights.

    STAGE_HIGH: confirmed tracks (lost ones included) vs high-score detections.
    STAGE_LOW: confirmed tracks still unmatched that were matched in the previous frame vs
        detections in [low_score, high_score).
    STAGE_RECOVER: confirmed tracks lost before this frame vs the high-score detections left
        over (only when recover_distance > 0; gated by `_near`, not IoU).
    STAGE_TENTATIVE: tentative tracks vs the high-score detections left over.
    """
    rows = np.empty(t, dtype=np.int64)
    nr = 0
    for k in range(t):
        if det_of_track[k] >= 0:
            continue
        confirmed = ints[k, CONFIRMED] == 1
        if stage == STAGE_HIGH and confirmed:
            rows[nr] = k
            nr += 1
        elif stage == STAGE_LOW and confirmed and ints[k, MISSES] == 0:
            rows[nr] = k
            nr += 1
        elif (stage == STAGE_RECOVER and confirmed and ints[k, MISSES] > 0
              and params[P_RECOVER] > 0.0):
            rows[nr] = k
            nr += 1
        elif stage == STAGE_TENTATIVE and not confirmed:
            rows[nr] = k
            nr += 1
    n = det_score.shape[0]
    cols = np.empty(n, dtype=np.int64)
    nc = 0
    # thresholds compare in float32, the scores' precision (a score of 0.7 is >= 0.7)
    high_score = np.float32(params[P_HIGH])
    low_score = np.float32(params[P_LOW])
    new_score = np.float32(params[P_NEW])
    for j in range(n):
        if det_taken[j]:
            continue
        s = det_score[j]
        high = s >= high_score
        if stage == STAGE_RECOVER:  # only detections that would otherwise start a new track
            if high and s >= new_score:
                cols[nc] = j
                nc += 1
        elif (stage != STAGE_LOW and high) or (stage == STAGE_LOW and not high
                                               and s >= low_score):
            cols[nc] = j
            nc += 1
    weight = np.ones(n, dtype=np.float32)
    if stage != STAGE_LOW and stage != STAGE_RECOVER and params[P_FUSE] > 0.0:
        weight[:] = det_score
    if stage == STAGE_HIGH:
        min_iou = params[P_MIN_IOU]
    elif stage == STAGE_LOW:
        min_iou = params[P_MIN_IOU_LOW]
    elif stage == STAGE_RECOVER:
        min_iou = _RECOVER_MIN_AFFINITY
    else:
        min_iou = params[P_MIN_IOU_TENT]
    return rows[:nr], cols[:nc], min_iou, weight


@njit(cache=True)
def _apply(rows: np.ndarray, cols: np.ndarray, det_of_track: np.ndarray,
           det_taken: np.ndarray) -> None:
    """Record matched pairs: track rows[i] takes detection cols[i]."""
    for i in range(rows.shape[0]):
        det_of_track[rows[i]] = cols[i]
        det_taken[cols[i]] = True


@njit(cache=True)
def _associate(stage: int, iou: np.ndarray, ints: np.ndarray, t: int, det_of_track: np.ndarray,
               det_taken: np.ndarray, det_score: np.ndarray, params: np.ndarray,
               x: np.ndarray, det_xyxy: np.ndarray,
               det_class: np.ndarray) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """Run stages from `stage` on, applying isolated pairs, until one needs a search.

    Returns (next stage, hard cost sub-matrix, its global rows, its global columns). The hard
    part is empty exactly when every stage is through (the next stage is then DONE); after the
    last stage's search the next stage is DONE too, with a non-empty hard part.
    """
    while stage < DONE:
        rows, cols, min_iou, weight = _candidates(stage, ints, t, det_of_track, det_taken,
                                                  det_score, params)
        stage += 1
        if rows.shape[0] == 0 or cols.shape[0] == 0:
            continue
        affinity = iou
        if stage == STAGE_RECOVER + 1:  # the stage just taken: gated by distance, not IoU
            affinity = _near(x, ints, t, det_xyxy, det_class, params[P_RECOVER])
        cost, pair_r, pair_c, hard_r, hard_c = gate_pairs(affinity, rows, cols, min_iou, weight)
        _apply(rows[pair_r], cols[pair_c], det_of_track, det_taken)
        if hard_r.shape[0] and stage == STAGE_RECOVER + 1:
            continue  # recovery takes unambiguous (isolated) pairs only
        if hard_r.shape[0]:
            sub = np.empty((hard_r.shape[0], hard_c.shape[0]))
            for a in range(hard_r.shape[0]):
                for b in range(hard_c.shape[0]):
                    sub[a, b] = cost[hard_r[a], hard_c[b]]
            return stage, sub, rows[hard_r], cols[hard_c]
    empty = np.empty(0, dtype=np.int64)
    return DONE, np.empty((0, 0)), empty, empty.copy()


@njit(cache=True)
def _xyxy_to_cxcywh(xyxy: np.ndarray) -> np.ndarray:
    """(n, 4) float32 (x1, y1, x2, y2) -> (n, 4) float64 (cx, cy, w, h)."""
    out = np.empty((xyxy.shape[0], 4))
    for k in range(xyxy.shape[0]):
        w = np.float64(xyxy[k, 2]) - np.float64(xyxy[k, 0])
        h = np.float64(xyxy[k, 3]) - np.float64(xyxy[k, 1])
        out[k, 0] = np.float64(xyxy[k, 0]) + 0.5 * w
        out[k, 1] = np.float64(xyxy[k, 1]) + 0.5 * h
        out[k, 2] = w
        out[k, 3] = h
    return out


@njit(cache=True)
def _correct(frame: int, x: np.ndarray, P: np.ndarray, ints: np.ndarray, score: np.ndarray,
             pending: np.ndarray, t: int, det_of_track: np.ndarray, det_xyxy: np.ndarray,
             det_score: np.ndarray, params: np.ndarray) -> np.ndarray:
    """Kalman update of matched tracks; hit/miss counters; confirmation; tentative frames.

    Returns the rows of tracks confirmed in this frame.
    """
    matched = np.flatnonzero(det_of_track[:t] >= 0)
    if matched.shape[0]:
        rows = det_of_track[matched]
        x_new, P_new = kalman_update(
            x[matched], P[matched], _xyxy_to_cxcywh(det_xyxy[rows]),
            measurement_noise(x[matched], params[P_STD_MEAS]),
        )
        for a in range(matched.shape[0]):
            x[matched[a]] = x_new[a]
            P[matched[a]] = P_new[a]
    min_hits = int(params[P_MIN_HITS])
    now = np.empty(t, dtype=np.int64)
    n_now = 0
    for k in range(t):
        d = det_of_track[k]
        if d < 0:
            ints[k, MISSES] += 1
            ints[k, HITS] = 0
            continue
        score[k] = det_score[d]
        ints[k, MISSES] = 0
        ints[k, HITS] += 1
        hits = ints[k, HITS]
        if ints[k, CONFIRMED] == 0:
            if hits < min_hits:  # remember the frame for track_detections' backfill
                pending[k, hits - 1] = frame
                pending[k, min_hits - 1 + hits - 1] = d
            else:
                ints[k, CONFIRMED] = 1
                now[n_now] = k
                n_now += 1
    return now[:n_now]


@njit(cache=True)
def _spawn(frame: int, x: np.ndarray, P: np.ndarray, ints: np.ndarray, score: np.ndarray,
           pending: np.ndarray, counts: np.ndarray, det_of_track: np.ndarray,
           det_taken: np.ndarray, det_xyxy: np.ndarray, det_score: np.ndarray,
           det_class: np.ndarray, params: np.ndarray) -> int:
    """Append a tentative track (confirmed at once if min_hits == 1) per leftover detection
    scoring at least high_score and new_track_score. Returns the new track count."""
    t = counts[0]
    min_hits = int(params[P_MIN_HITS])
    high_score = np.float32(params[P_HIGH])
    new_score = np.float32(params[P_NEW])
    for j in range(det_score.shape[0]):
        s = det_score[j]
        if det_taken[j] or s < high_score or s < new_score:
            continue
        x0, P0 = initial_state(_xyxy_to_cxcywh(det_xyxy[j:j + 1]), params[P_STD_POS],
                               params[P_STD_VEL])
        x[t] = x0[0]
        P[t] = P0[0]
        ints[t, ID] = counts[1]
        counts[1] += 1
        ints[t, CLASS] = det_class[j]
        ints[t, HITS] = 1
        ints[t, MISSES] = 0
        ints[t, CONFIRMED] = 1 if min_hits <= 1 else 0
        score[t] = s
        if min_hits > 1:
            pending[t, 0] = frame
            pending[t, min_hits - 1] = j
        det_of_track[t] = j
        det_taken[j] = True
        t += 1
    return t


@njit(cache=True)
def _report(frame: int, x: np.ndarray, P: np.ndarray, ints: np.ndarray, score: np.ndarray,
            pending: np.ndarray, t: int, det_of_track: np.ndarray, confirmed_now: np.ndarray,
            params: np.ndarray, out_f: np.ndarray, out_i: np.ndarray, bf_i: np.ndarray,
            bf_f: np.ndarray) -> tuple[int, int]:
    """Write the confirmed tracks' output rows (and backfill rows); returns both counts."""
    report_predicted = int(params[P_REPORT_PREDICTED])
    n = 0
    for k in range(t):
        d = det_of_track[k]
        if ints[k, CONFIRMED] == 0 or (d < 0 and ints[k, MISSES] > report_predicted):
            continue
        hw = 0.5 * x[k, 2]
        hh = 0.5 * x[k, 3]
        out_f[n, O_X1] = x[k, 0] - hw
        out_f[n, O_Y1] = x[k, 1] - hh
        out_f[n, O_X2] = x[k, 0] + hw
        out_f[n, O_Y2] = x[k, 1] + hh
        out_f[n, O_SCORE] = score[k]
        # pos_std = sqrt(mean of the centre-x and centre-y variances)
        out_f[n, O_STD] = np.sqrt(0.5 * (P[k, 0, 0] + P[k, 1, 1]))
        out_i[n, O_ID] = ints[k, ID]
        out_i[n, O_CLASS] = ints[k, CLASS]
        out_i[n, O_ORIGIN] = ORIGIN_DETECTED if d >= 0 else ORIGIN_PREDICTED
        out_i[n, O_DET] = d
        n += 1
    k_pending = int(params[P_MIN_HITS]) - 1
    nb = 0
    for a in range(confirmed_now.shape[0]):
        k = confirmed_now[a]
        for b in range(k_pending):
            bf_i[nb, B_ID] = ints[k, ID]
            bf_i[nb, B_FRAME] = pending[k, b]
            bf_i[nb, B_ROW] = pending[k, k_pending + b]
            bf_f[nb] = np.sqrt(0.5 * (P[k, 0, 0] + P[k, 1, 1]))
            nb += 1
    return n, nb


@njit(cache=True)
def _retire(x: np.ndarray, P: np.ndarray, ints: np.ndarray, score: np.ndarray,
            pending: np.ndarray, t: int, det_of_track: np.ndarray, params: np.ndarray) -> int:
    """Drop unmatched tentative tracks and tracks lost for more than max_lost_frames, keeping
    the order of the others. Returns the new track count."""
    max_lost = int(params[P_MAX_LOST])
    kept = 0
    for k in range(t):
        alive = (ints[k, CONFIRMED] == 1 or det_of_track[k] >= 0) and ints[k, MISSES] <= max_lost
        if not alive:
            continue
        if kept != k:
            x[kept] = x[k]
            P[kept] = P[k]
            ints[kept] = ints[k]
            score[kept] = score[k]
            pending[kept] = pending[k]
        kept += 1
    return kept


@njit(cache=True)
def advance_frame(
    frame: int, steps: int, stage: int, pairs_r: np.ndarray, pairs_c: np.ndarray,
    iou: np.ndarray, det_of_track: np.ndarray, det_taken: np.ndarray, det_xyxy: np.ndarray,
    det_score: np.ndarray, det_class: np.ndarray, x: np.ndarray, P: np.ndarray,
    ints: np.ndarray, score: np.ndarray, pending: np.ndarray, counts: np.ndarray,
    params: np.ndarray, out_f: np.ndarray, out_i: np.ndarray, bf_i: np.ndarray,
    bf_f: np.ndarray,
) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray, int, int]:
    """Run one frame from `stage` until it needs a Hungarian search or is done.

    Args:
        frame: frame index. steps: frames since the previous processed frame (>= 1).
        stage: STAGE_HIGH to start a frame; on a resume, the value the last call returned.
        pairs_r, pairs_c: (k,) int64 track rows / detection rows matched by the caller's search
            of the last call's hard part (empty when starting a frame).
        iou: (t, n) float32 from the last call of this frame (anything when starting a frame).
        det_of_track: (cap,) int64 scratch, matched detection row per track (-1 none).
        det_taken: (n,) bool scratch, detection rows already matched.
        det_xyxy, det_score, det_class: (n, 4) float32, (n,) float32, (n,) int32 detections.
        x, P, ints, score, pending: track state, (cap, 8), (cap, 8, 8), (cap, 5) int64,
            (cap,) float32, (cap, 2 * (min_hits - 1)) int64 (frames, then detection rows).
        counts: (2,) int64 [live tracks, next track id], updated in place.
        params: (N_PARAMS,) float64 settings.
        out_f, out_i: (cap, 6) float32 and (cap, 4) int64 output rows.
        bf_i, bf_f: (cap * (min_hits - 1), 3) int64 and (...,) float32 backfill rows.

    Returns:
        (stage, iou, hard cost, hard rows, hard cols, output rows, backfill rows). If the hard
        part is empty the frame is finished and the outputs are written; otherwise solve the
        hard cost (minimise; a pair of cost 0 is not allowed) and call again with `stage`.
    """
    t = counts[0]
    if stage == STAGE_HIGH:  # a new frame (a resume is always at a later stage)
        _predict(x, P, ints, t, steps, params)
        det_of_track[:] = -1
        det_taken[:] = False
        iou = _iou(x, ints, t, det_xyxy, det_class)
    _apply(pairs_r, pairs_c, det_of_track, det_taken)
    stage, sub, hard_r, hard_c = _associate(stage, iou, ints, t, det_of_track, det_taken,
                                            det_score, params, x, det_xyxy, det_class)
    if hard_r.shape[0]:
        return stage, iou, sub, hard_r, hard_c, 0, 0
    confirmed_now = _correct(frame, x, P, ints, score, pending, t, det_of_track, det_xyxy,
                             det_score, params)
    t_all = _spawn(frame, x, P, ints, score, pending, counts, det_of_track, det_taken, det_xyxy,
                   det_score, det_class, params)
    n_out, n_bf = _report(frame, x, P, ints, score, pending, t_all, det_of_track, confirmed_now,
                          params, out_f, out_i, bf_i, bf_f)
    counts[0] = _retire(x, P, ints, score, pending, t_all, det_of_track, params)
    return DONE, iou, sub, hard_r, hard_c, n_out, n_bf
