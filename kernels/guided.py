"""Detection-guided interpolation between human keyframes (numba kernel + NumPy reference).

Linear interpolation (CVAT, Label Studio) draws a straight line between two keyframes; objects
that turn, accelerate, or move with a moving camera drift off it. `guided_fill` emits exactly the
rows of `trackannot.kernels.interp.linear_fill` (same frames, same keyframe rows) and replaces the
boxes strictly between two *present* keyframes K1 (frame f1) and K2 (frame f2) with a path that
follows the detector where the detector agrees with the keyframes:

1. Anchors and bias. Each keyframe looks for the detection at its own frame overlapping it most
   (IoU >= anchor_iou). A segment whose keyframes match fewer than `min_anchors` detections keeps
   the line: the detector does not see this object well. Detectors draw boxes unlike people
   (wider, shifted), so each anchor's offset o = ((kx - dx) / dw, (ky - dy) / dh, log(kw / dw),
   log(kh / dh)) is blended linearly from K1 to K2 and added, times `bias`, to every detection in
   between (a missing anchor borrows the other's offset).
2. Support. A forward Kalman pass starts at K1 with the line's velocity, a backward pass at K2;
   each takes, per frame, the corrected detection overlapping its own prediction most
   (IoU >= gate_iou) and updates on it. A pass that ends at IoU >= end_iou with the other
   keyframe followed this object the whole way; one that does not was led astray (a passer-by,
   an occluder). If neither gets through, the segment keeps the line. Otherwise a detection is
   used where both passes take it, or where only a pass that got through takes anything.
3. Smoothing. A constant-velocity Kalman filter runs from K1 (exact) through the used detections
   to K2 (a zero-noise measurement), then a Rauch-Tung-Striebel smoother runs back. Without
   measurements this is the straight line (the prior velocity is the line's), so frames between
   detections bend smoothly toward them.
4. Dead band. Departures from the line up to `deadband` x the box side are dropped (shrunk toward
   the line by that much): small ones are as likely the detector's wander as the object's.

Segments with no used detection keep the linear boxes bit for bit, as do segments ending at an
outside keyframe. Each segment depends only on its two keyframes and the detections, so any
subset of tracks or window of keyframes gives the same rows as the full call.

State: (cx, cy, w, h) and velocities, float64, pixels. With a diagonal process and measurement
noise and constant velocity, the 8x8 covariance splits into four independent 2x2 (position,
velocity) blocks; the kernel runs those four scalar filters, the reference `guided_fill_numpy`
the full 8x8 matrices (same results up to rounding).

Parameters come as one float64 vector built by `guided_params` (layout: the `P_*` indices), from
`trackannot.config.InterpolateConfig` in `trackannot.interpolate`.

Throughput entry point: `guided_fill(key_frame, key_xyxy, key_outside, seg_start, out_start,
det_start, det_xyxy, det_score, guided_params(), out_frame, out_xyxy, out_key)` with the arrays
of `linear_fill` (out_start from `linear_counts`) plus detections in CSR by frame
(`trackannot.interpolate.detections_by_frame`).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit, prange

from trackannot.kernels.interp import linear_fill_numpy

__all__ = ["NUM_PARAMS", "guided_fill", "guided_fill_numpy", "guided_fill_serial",
           "guided_params"]

# layout of `params` (float64 vector); meanings and trade-offs: InterpolateConfig
P_MIN_SCORE = 0
P_GATE_IOU = 1
P_ANCHOR_IOU = 2
P_MIN_ANCHORS = 3
P_BIAS = 4
P_END_IOU = 5
P_STD_ACCEL = 6
P_STD_ACCEL_SIZE = 7
P_STD_MEAS = 8
P_STD_MEAS_SIZE = 9
P_STD_VEL_INIT = 10
P_DEADBAND = 11
NUM_PARAMS = 12

# smallest box side used to scale noises, pixels: keeps every variance positive
MIN_SIDE = 1.0
# prior std of the smoother's initial velocity, fraction of box side per frame: diffuse, so the
# path is set by the keyframes and the detections, not by the prior
SMOOTH_VEL_INIT = 1.0


def guided_params(
    *,
    min_score: float = 0.0,
    gate_iou: float = 0.4,
    anchor_iou: float = 0.8,
    min_anchors: int = 1,
    bias: float = 0.5,
    end_iou: float = 0.3,
    std_accel: float = 0.03,
    std_accel_size: float = 0.1,
    std_measurement: float = 0.03,
    std_measurement_size: float = 0.1,
    std_velocity_init: float = 0.05,
    deadband: float = 0.03,
) -> npt.NDArray[np.float64]:
    """(NUM_PARAMS,) float64 `params` of `guided_fill`; defaults = `InterpolateConfig()`."""
    params = np.empty(NUM_PARAMS)
    params[P_MIN_SCORE] = min_score
    params[P_GATE_IOU] = gate_iou
    params[P_ANCHOR_IOU] = anchor_iou
    params[P_MIN_ANCHORS] = min_anchors
    params[P_BIAS] = bias
    params[P_END_IOU] = end_iou
    params[P_STD_ACCEL] = std_accel
    params[P_STD_ACCEL_SIZE] = std_accel_size
    params[P_STD_MEAS] = std_measurement
    params[P_STD_MEAS_SIZE] = std_measurement_size
    params[P_STD_VEL_INIT] = std_velocity_init
    params[P_DEADBAND] = deadband
    return params


# ----------------------------------------------------------------------------- box helpers


@njit(cache=True)
def _cxcywh(xyxy: np.ndarray, i: int, out: np.ndarray) -> None:
    """out (4,) float64 = (cx, cy, w, h) of row i of xyxy (float32 pixels)."""
    x1 = np.float64(xyxy[i, 0])
    y1 = np.float64(xyxy[i, 1])
    x2 = np.float64(xyxy[i, 2])
    y2 = np.float64(xyxy[i, 3])
    out[0] = 0.5 * (x1 + x2)
    out[1] = 0.5 * (y1 + y2)
    out[2] = x2 - x1
    out[3] = y2 - y1


@njit(cache=True)
def _iou_cxcywh(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two (cx, cy, w, h) boxes; 0 when the union is empty."""
    iw = min(a[0] + 0.5 * a[2], b[0] + 0.5 * b[2]) - max(a[0] - 0.5 * a[2], b[0] - 0.5 * b[2])
    ih = min(a[1] + 0.5 * a[3], b[1] + 0.5 * b[3]) - max(a[1] - 0.5 * a[3], b[1] - 0.5 * b[3])
    inter = iw * ih if iw > 0.0 and ih > 0.0 else 0.0
    union = max(a[2], 0.0) * max(a[3], 0.0) + max(b[2], 0.0) * max(b[3], 0.0) - inter
    return inter / union if union > 0.0 else 0.0


@njit(cache=True)
def _correct(d: np.ndarray, o: np.ndarray, out: np.ndarray) -> None:
    """out = detection d (cx, cy, w, h) moved by the bias offset o (box units, log sizes)."""
    out[0] = d[0] + o[0] * d[2]
    out[1] = d[1] + o[1] * d[3]
    out[2] = d[2] * np.exp(o[2])
    out[3] = d[3] * np.exp(o[3])


@njit(cache=True)
def _best(det_start, det_xyxy, det_score, f, box, o, params, threshold, z_best) -> int:
    """Row of the detection at frame f that, moved by offset o, overlaps `box` most.

    Only detections with score >= min_score and IoU >= threshold count; the first of equal
    IoUs wins (as np.argmax). z_best receives the moved detection. -1 when none qualifies.
    """
    if f < 0 or f + 1 >= det_start.shape[0]:
        return -1
    d = np.empty(4)
    z = np.empty(4)
    best = 0.0
    pick = -1
    for i in range(det_start[f], det_start[f + 1]):
        if det_score[i] < params[P_MIN_SCORE]:
            continue
        _cxcywh(det_xyxy, i, d)
        _correct(d, o, z)
        v = _iou_cxcywh(box, z)
        if v >= threshold and (pick < 0 or v > best) and d[2] > 0.0 and d[3] > 0.0:
            best = v
            pick = i
            z_best[:] = z
    return pick


@njit(cache=True)
def _segment_offsets(det_start, det_xyxy, det_score, f1, f2, b1, b2, params):
    """(2, 4) bias offsets at K1 and K2 times `bias`, and how many keyframes (0-2) matched."""
    o = np.zeros((2, 4))
    zero = np.zeros(4)
    d = np.empty(4)
    found = 0
    for k in range(2):
        key = b1 if k == 0 else b2
        i = _best(det_start, det_xyxy, det_score, f1 if k == 0 else f2, key, zero, params,
                  params[P_ANCHOR_IOU], d)
        if i >= 0 and key[2] > 0.0 and key[3] > 0.0:
            found += 1 << k
            o[k, 0] = (key[0] - d[0]) / d[2]
            o[k, 1] = (key[1] - d[1]) / d[3]
            o[k, 2] = np.log(key[2] / d[2])
            o[k, 3] = np.log(key[3] / d[3])
    if found == 1:
        o[1] = o[0]
    elif found == 2:
        o[0] = o[1]
    o *= params[P_BIAS]
    return o, (found & 1) + (found >> 1)


@njit(cache=True)
def _blend(o: np.ndarray, j: int, m: int, out: np.ndarray) -> None:
    """out = bias offset at step j of m: o[0] (at K1) blended linearly into o[1] (at K2)."""
    t = j / m
    for c in range(4):
        out[c] = o[0, c] + (o[1, c] - o[0, c]) * t


@njit(cache=True)
def _noise(params: np.ndarray, lin: np.ndarray, j: int, c: int, process: bool) -> float:
    """Variance of coordinate c at step j: a std (fraction of box side) times the line's side.

    The side is the width for cx and w, the height for cy and h (noise scales with the box).
    """
    if process:
        std = params[P_STD_ACCEL] if c < 2 else params[P_STD_ACCEL_SIZE]
    else:
        std = params[P_STD_MEAS] if c < 2 else params[P_STD_MEAS_SIZE]
    return (std * max(lin[j, 2 + (c % 2)], MIN_SIDE)) ** 2


# ---------------------------------------------------------------- scalar (pos, vel) filters


@njit(cache=True)
def _predict(x: np.ndarray, P: np.ndarray, q: float) -> None:
    """One frame of constant velocity, in place: x = F x, P = F P F' + Q.

    x = (position, velocity); P = (p00, p01, p11) of the symmetric 2x2 covariance;
    F = [[1, 1], [0, 1]]; Q = q [[1/3, 1/2], [1/2, 1]] (continuous white-noise acceleration
    over one frame: positive definite, so the smoother's inverse always exists).
    """
    x[0] += x[1]
    p00 = P[0] + 2.0 * P[1] + P[2]
    p01 = P[1] + P[2]
    P[0] = p00 + q / 3.0
    P[1] = p01 + 0.5 * q
    P[2] += q


@njit(cache=True)
def _update(x: np.ndarray, P: np.ndarray, z: float, r: float) -> None:
    """Measure the position z with variance r, in place; r = 0 pins it (the K2 keyframe).

    K = P H' / (H P H' + r), H = [1, 0]; x += K (z - H x); P = (I - K H) P.
    """
    s = P[0] + r
    if s <= 0.0:
        return
    k0 = P[0] / s
    k1 = P[1] / s
    innovation = z - x[0]
    x[0] += k0 * innovation
    x[1] += k1 * innovation
    p11 = P[2] - k1 * P[1]
    P[1] -= k0 * P[1]
    P[0] -= k0 * P[0]
    P[2] = p11


@njit(cache=True)
def _start(lin: np.ndarray, j0: int, step: int, vel_std: float, x: np.ndarray,
           P: np.ndarray) -> None:
    """x, P (4, 2), (4, 3) at keyframe step j0: exact box, the line's velocity (sign `step`)."""
    m = lin.shape[0] - 1
    for c in range(4):
        x[c, 0] = lin[j0, c]
        x[c, 1] = step * (lin[m, c] - lin[0, c]) / m
        P[c, 0] = 0.0
        P[c, 1] = 0.0
        P[c, 2] = (vel_std * max(lin[j0, 2 + (c % 2)], MIN_SIDE)) ** 2


# ------------------------------------------------------------------------- segment passes


@njit(cache=True)
def _gate_pass(det_start, det_xyxy, det_score, f1, lin, o, params, backward, pick) -> float:
    """One tracking pass over the inner frames from K1 (or from K2 when `backward`).

    Predicts one frame at a time, takes the best gated corrected detection (pick[j] = its row
    at step j, frame f1 + j; -1 where none) and updates on it. Returns the IoU of the pass's
    prediction at the other keyframe's frame with that keyframe.
    """
    m = lin.shape[0] - 1
    j0 = m if backward else 0
    step = -1 if backward else 1
    x = np.empty((4, 2))
    P = np.empty((4, 3))
    _start(lin, j0, step, params[P_STD_VEL_INIT], x, P)
    pred = np.empty(4)
    oj = np.empty(4)
    z = np.empty(4)
    for k in range(1, m + 1):
        j = j0 + step * k
        for c in range(4):
            _predict(x[c], P[c], _noise(params, lin, j, c, True))
            pred[c] = x[c, 0]
        if k == m:
            break  # reached the other keyframe
        _blend(o, j, m, oj)
        pick[j] = _best(det_start, det_xyxy, det_score, f1 + j, pred, oj, params,
                        params[P_GATE_IOU], z)
        if pick[j] >= 0:
            for c in range(4):
                _update(x[c], P[c], z[c], _noise(params, lin, j, c, False))
    return _iou_cxcywh(pred, lin[m - j0])


@njit(cache=True)
def _smooth(lin: np.ndarray, z: np.ndarray, has: np.ndarray, params: np.ndarray) -> np.ndarray:
    """(m + 1, 4) smoothed (cx, cy, w, h): K1 (exact) through z[has] to K2 (exact).

    Forward Kalman filter, then RTS: xs[j] = xf[j] + C (xs[j + 1] - xp[j + 1]) with
    C = Pf[j] F' Pp[j + 1]^-1.
    """
    m = lin.shape[0] - 1
    xf = np.empty((m + 1, 4, 2))
    Pf = np.empty((m + 1, 4, 3))
    xp = np.empty((m + 1, 4, 2))
    Pp = np.empty((m + 1, 4, 3))
    _start(lin, 0, 1, SMOOTH_VEL_INIT, xf[0], Pf[0])
    for j in range(1, m + 1):
        for c in range(4):
            xp[j, c] = xf[j - 1, c]
            Pp[j, c] = Pf[j - 1, c]
            _predict(xp[j, c], Pp[j, c], _noise(params, lin, j, c, True))
            xf[j, c] = xp[j, c]
            Pf[j, c] = Pp[j, c]
            if j == m:
                _update(xf[j, c], Pf[j, c], lin[m, c], 0.0)
            elif has[j]:
                _update(xf[j, c], Pf[j, c], z[j, c], _noise(params, lin, j, c, False))
    xs = np.empty((m + 1, 4, 2))
    xs[m] = xf[m]
    for j in range(m - 1, -1, -1):
        for c in range(4):
            p00, p01, p11 = Pf[j, c, 0], Pf[j, c, 1], Pf[j, c, 2]
            a, b, d = Pp[j + 1, c, 0], Pp[j + 1, c, 1], Pp[j + 1, c, 2]
            det = a * d - b * b
            # C = (Pf F') Pp^-1 with Pf F' = [[p00 + p01, p01], [p01 + p11, p11]]
            c00 = ((p00 + p01) * d - p01 * b) / det
            c01 = (p01 * a - (p00 + p01) * b) / det
            c10 = ((p01 + p11) * d - p11 * b) / det
            c11 = (p11 * a - (p01 + p11) * b) / det
            dx0 = xs[j + 1, c, 0] - xp[j + 1, c, 0]
            dx1 = xs[j + 1, c, 1] - xp[j + 1, c, 1]
            xs[j, c, 0] = xf[j, c, 0] + c00 * dx0 + c01 * dx1
            xs[j, c, 1] = xf[j, c, 1] + c10 * dx0 + c11 * dx1
    return xs[:, :, 0].copy()


@njit(cache=True)
def _observations(det_xyxy, o, pick_f, pick_b, use_f, use_b):
    """(m + 1, 4) corrected detections used per step, and the (m + 1,) bool mask of steps."""
    m = pick_f.shape[0] - 1
    z = np.empty((m + 1, 4))
    has = np.zeros(m + 1, np.bool_)
    d = np.empty(4)
    oj = np.empty(4)
    for j in range(1, m):
        pick = -1
        if pick_f[j] >= 0 and pick_f[j] == pick_b[j]:
            pick = pick_f[j]  # consistent with both keyframes
        elif use_f and pick_b[j] < 0:
            pick = pick_f[j]
        elif use_b and pick_f[j] < 0:
            pick = pick_b[j]
        if pick >= 0:
            has[j] = True
            _cxcywh(det_xyxy, pick, d)
            _blend(o, j, m, oj)
            _correct(d, oj, z[j])
    return z, has


@njit(cache=True)
def _guided_segment(key_frame, key_xyxy, i, det_start, det_xyxy, det_score, params,
                    out_xyxy, r0) -> None:
    """Overwrite rows r0.. (the inner frames of keyframes i -> i + 1) with the guided path.

    Leaves the linear boxes when the detector misses the keyframes or no detection is used.
    """
    f1 = key_frame[i]
    m = key_frame[i + 1] - f1
    b1 = np.empty(4)
    b2 = np.empty(4)
    _cxcywh(key_xyxy, i, b1)
    _cxcywh(key_xyxy, i + 1, b2)
    o, anchored = _segment_offsets(det_start, det_xyxy, det_score, f1, f1 + m, b1, b2, params)
    if anchored < params[P_MIN_ANCHORS]:
        return
    lin = np.empty((m + 1, 4))
    for j in range(m + 1):
        for c in range(4):
            lin[j, c] = b1[c] + (b2[c] - b1[c]) * (j / m)
    pick_f = np.full(m + 1, -1, np.int64)
    pick_b = np.full(m + 1, -1, np.int64)
    end_f = _gate_pass(det_start, det_xyxy, det_score, f1, lin, o, params, False, pick_f)
    end_b = _gate_pass(det_start, det_xyxy, det_score, f1, lin, o, params, True, pick_b)
    reach_f = end_f >= params[P_END_IOU]
    reach_b = end_b >= params[P_END_IOU]
    if not (reach_f or reach_b):
        return  # neither pass got through to the other keyframe: both were led astray
    z, has = _observations(det_xyxy, o, pick_f, pick_b, reach_f, reach_b)
    if not has.any():
        return
    xs = _smooth(lin, z, has, params)
    for j in range(1, m):
        for c in range(4):
            # dead band: departures up to `deadband` x side are shrunk to the line
            side = max(lin[j, 2 + (c % 2)], MIN_SIDE)
            dev = (xs[j, c] - lin[j, c]) / side
            dev = max(dev - params[P_DEADBAND], 0.0) if dev > 0.0 else min(
                dev + params[P_DEADBAND], 0.0)
            xs[j, c] = lin[j, c] + dev * side
        r = r0 + j - 1
        out_xyxy[r, 0] = xs[j, 0] - 0.5 * xs[j, 2]
        out_xyxy[r, 1] = xs[j, 1] - 0.5 * xs[j, 3]
        out_xyxy[r, 2] = xs[j, 0] + 0.5 * xs[j, 2]
        out_xyxy[r, 3] = xs[j, 1] + 0.5 * xs[j, 3]


# ------------------------------------------------------------------------------ the kernel


@njit(cache=True)
def _fill_track(key_frame, key_xyxy, key_outside, lo, hi, det_start, det_xyxy, det_score,
                params, r, out_frame, out_xyxy, out_key) -> None:
    """Rows of one track (keyframes lo:hi) from output row r on, in frame order."""
    for i in range(lo, hi):
        if key_outside[i]:
            continue  # an outside keyframe emits nothing until the next keyframe
        out_frame[r] = key_frame[i]
        out_xyxy[r] = key_xyxy[i]
        out_key[r] = i
        r += 1
        if i + 1 == hi:
            break  # nothing after a track's last keyframe
        f0 = key_frame[i]
        f1 = key_frame[i + 1]
        r0 = r
        for f in range(f0 + 1, f1):
            # linear_fill's rows: box = b0 + (b1 - b0) * t in float64, t = (f - f0) / (f1 - f0)
            t = (f - f0) / (f1 - f0)
            for c in range(4):
                b0 = np.float64(key_xyxy[i, c])
                out_xyxy[r, c] = b0 + (np.float64(key_xyxy[i + 1, c]) - b0) * t
            out_frame[r] = f
            out_key[r] = -1
            r += 1
        if not key_outside[i + 1] and f1 - f0 >= 2:
            _guided_segment(key_frame, key_xyxy, i, det_start, det_xyxy, det_score, params,
                            out_xyxy, r0)


@njit(cache=True, parallel=True)
def guided_fill(
    key_frame: np.ndarray,
    key_xyxy: np.ndarray,
    key_outside: np.ndarray,
    seg_start: np.ndarray,
    out_start: np.ndarray,
    det_start: np.ndarray,
    det_xyxy: np.ndarray,
    det_score: np.ndarray,
    params: np.ndarray,
    out_frame: np.ndarray,
    out_xyxy: np.ndarray,
    out_key: np.ndarray,
) -> None:
    """Detection-guided interpolation of every track (parallel over tracks).

    Args:
        key_frame: (n,) int64 keyframe frames, sorted by (track, frame).
        key_xyxy: (n, 4) float32 keyframe boxes, pixels.
        key_outside: (n,) bool outside flags.
        seg_start: (t + 1,) int64 offsets: track t's keyframes are seg_start[t]:seg_start[t + 1].
        out_start: (t + 1,) int64 offsets of each track's output rows ([0, *cumsum of
            `linear_counts`]).
        det_start: (num_frames + 1,) int64 offsets: detections of frame f are rows
            det_start[f]:det_start[f + 1]; frames at or past num_frames have none.
        det_xyxy: (d, 4) float32 detector boxes, pixels, any track.
        det_score: (d,) float32 detector scores.
        params: (NUM_PARAMS,) float64 from `guided_params`.
        out_frame: (m,) int64 output, frame of each row.
        out_xyxy: (m, 4) float32 output, boxes, pixels.
        out_key: (m,) int64 output, keyframe row at out_frame[r] if there is one, else -1.
    """
    # each track writes only its rows out_start[t]:out_start[t + 1]: independent outputs
    for t in prange(seg_start.shape[0] - 1):
        _fill_track(key_frame, key_xyxy, key_outside, seg_start[t], seg_start[t + 1], det_start,
                    det_xyxy, det_score, params, out_start[t], out_frame, out_xyxy, out_key)


@njit(cache=True)
def guided_fill_serial(
    key_frame: np.ndarray,
    key_xyxy: np.ndarray,
    key_outside: np.ndarray,
    seg_start: np.ndarray,
    out_start: np.ndarray,
    det_start: np.ndarray,
    det_xyxy: np.ndarray,
    det_score: np.ndarray,
    params: np.ndarray,
    out_frame: np.ndarray,
    out_xyxy: np.ndarray,
    out_key: np.ndarray,
) -> None:
    """`guided_fill` on one thread, for a few tracks (`trackannot.kernels.interp.
    PARALLEL_MIN_ROWS`); same arguments and result."""
    for t in range(seg_start.shape[0] - 1):
        _fill_track(key_frame, key_xyxy, key_outside, seg_start[t], seg_start[t + 1], det_start,
                    det_xyxy, det_score, params, out_start[t], out_frame, out_xyxy, out_key)



# ------------------------------------------------------------------ plain-NumPy reference

_F = np.kron(np.array([[1.0, 1.0], [0.0, 1.0]]), np.eye(4))  # (8, 8) constant velocity
_H = np.c_[np.eye(4), np.zeros((4, 4))]  # (4, 8): measure (cx, cy, w, h)


def _np_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """(k,) IoU of one (cx, cy, w, h) box with k such boxes."""
    lo = np.maximum(box[:2] - 0.5 * box[2:], boxes[:, :2] - 0.5 * boxes[:, 2:])
    hi = np.minimum(box[:2] + 0.5 * box[2:], boxes[:, :2] + 0.5 * boxes[:, 2:])
    iw, ih = (hi - lo).T
    inter = np.where((iw > 0) & (ih > 0), iw * ih, 0.0)
    union = (max(box[2], 0.0) * max(box[3], 0.0)
             + np.maximum(boxes[:, 2], 0) * np.maximum(boxes[:, 3], 0) - inter)
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def _np_best(dets: tuple[np.ndarray, np.ndarray, np.ndarray], f: int, box: np.ndarray,
             o: np.ndarray, params: np.ndarray, threshold: float) -> tuple[int, np.ndarray]:
    """Reference `_best`: (row, moved detection), or (-1, zeros) when none qualifies."""
    det_start, det_xyxy, det_score = dets
    if f < 0 or f + 1 >= len(det_start):
        return -1, np.zeros(4)
    rows = np.arange(det_start[f], det_start[f + 1])
    x = det_xyxy[rows].astype(np.float64)
    d = np.c_[(x[:, :2] + x[:, 2:]) / 2, x[:, 2:] - x[:, :2]]
    z = np.c_[d[:, :2] + o[:2] * d[:, 2:], d[:, 2:] * np.exp(o[2:])]
    iou = _np_iou(box, z)
    ok = (det_score[rows] >= params[P_MIN_SCORE]) & (iou >= threshold) & (d[:, 2:] > 0).all(1)
    if not ok.any():
        return -1, np.zeros(4)
    k = int(np.argmax(np.where(ok, iou, -1.0)))
    return int(rows[k]), z[k]


def _np_noise(params: np.ndarray, side: np.ndarray, process: bool) -> np.ndarray:
    """Q (8, 8) when `process`, else R (4, 4), for one step with box sides (4,)."""
    if process:
        std = np.array([params[P_STD_ACCEL]] * 2 + [params[P_STD_ACCEL_SIZE]] * 2) * side
        return np.kron(np.array([[1 / 3, 1 / 2], [1 / 2, 1.0]]), np.diag(std**2))
    std = np.array([params[P_STD_MEAS]] * 2 + [params[P_STD_MEAS_SIZE]] * 2) * side
    return np.diag(std**2)


def _np_update(x: np.ndarray, P: np.ndarray, z: np.ndarray,
               R: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x += K (z - H x), P = (I - K H) P with K = P H' (H P H' + R)^-1."""
    K = np.linalg.solve(_H @ P @ _H.T + R, _H @ P).T
    return x + K @ (z - _H @ x), (np.eye(8) - K @ _H) @ P


def _np_offsets(lin, f1, dets, params) -> tuple[np.ndarray, int]:
    """Reference `_segment_offsets`: (m + 1, 4) blended offsets per step, anchors found."""
    m = len(lin) - 1
    o = np.zeros((2, 4))
    found = []
    for k, j in enumerate((0, m)):
        i, d = _np_best(dets, f1 + j, lin[j], np.zeros(4), params, params[P_ANCHOR_IOU])
        if i >= 0 and lin[j, 2] > 0 and lin[j, 3] > 0:
            found.append(k)
            o[k] = np.r_[(lin[j, :2] - d[:2]) / d[2:], np.log(lin[j, 2:] / d[2:])]
    if len(found) == 1:
        o[:] = o[found[0]]
    o *= params[P_BIAS]
    return o[0] + (o[1] - o[0]) * (np.arange(m + 1) / m)[:, None], len(found)


def _np_pass(lin, f1, dets, params, blend, backward) -> tuple[np.ndarray, float]:
    """Reference `_gate_pass` with full 8x8 matrices: (picks, IoU at the other keyframe)."""
    m = len(lin) - 1
    side = np.maximum(lin[:, [2, 3, 2, 3]], MIN_SIDE)
    j0, step = (m, -1) if backward else (0, 1)
    x = np.r_[lin[j0], step * (lin[m] - lin[0]) / m]
    P = np.diag(np.r_[np.zeros(4), (params[P_STD_VEL_INIT] * side[j0]) ** 2])
    pick = np.full(m + 1, -1, np.int64)
    for k in range(1, m + 1):
        j = j0 + step * k
        x, P = _F @ x, _F @ P @ _F.T + _np_noise(params, side[j], True)
        if k == m:
            break
        pick[j], z = _np_best(dets, f1 + j, x[:4], blend[j], params, params[P_GATE_IOU])
        if pick[j] >= 0:
            x, P = _np_update(x, P, z, _np_noise(params, side[j], False))
    return pick, float(_np_iou(x[:4], lin[m - j0][None])[0])


def _np_smooth(lin, z, has, params) -> np.ndarray:
    """Reference `_smooth`: full-matrix Kalman filter + RTS smoother, (m + 1, 4)."""
    m = len(lin) - 1
    side = np.maximum(lin[:, [2, 3, 2, 3]], MIN_SIDE)
    xf = [np.r_[lin[0], (lin[m] - lin[0]) / m]]
    Pf = [np.diag(np.r_[np.zeros(4), (SMOOTH_VEL_INIT * side[0]) ** 2])]
    xp, Pp = [None], [None]
    for j in range(1, m + 1):
        x, P = _F @ xf[-1], _F @ Pf[-1] @ _F.T + _np_noise(params, side[j], True)
        xp.append(x)
        Pp.append(P)
        if j == m:
            x, P = _np_update(x, P, lin[m], np.zeros((4, 4)))
        elif has[j]:
            x, P = _np_update(x, P, z[j], _np_noise(params, side[j], False))
        xf.append(x)
        Pf.append(P)
    xs = [xf[m]]
    for j in range(m - 1, -1, -1):
        C = Pf[j] @ _F.T @ np.linalg.inv(Pp[j + 1])
        xs.insert(0, xf[j] + C @ (xs[0] - xp[j + 1]))
    return np.array(xs)[:, :4]


def _np_segment(lin, f1, dets, params) -> np.ndarray | None:
    """Reference `_guided_segment`: (m - 1, 4) xyxy of the inner frames, or None (the line)."""
    m = len(lin) - 1
    blend, anchored = _np_offsets(lin, f1, dets, params)
    if anchored < params[P_MIN_ANCHORS]:
        return None
    (pf, end_f), (pb, end_b) = (_np_pass(lin, f1, dets, params, blend, b) for b in (False, True))
    if end_f < params[P_END_IOU] and end_b < params[P_END_IOU]:
        return None
    use = np.where((pf >= 0) & (pf == pb), pf, -1)
    if end_f >= params[P_END_IOU]:
        use = np.where((pb < 0) & (pf >= 0), pf, use)
    if end_b >= params[P_END_IOU]:
        use = np.where((pf < 0) & (pb >= 0), pb, use)
    use[[0, m]] = -1
    if not (use >= 0).any():
        return None
    x = dets[1][np.maximum(use, 0)].astype(np.float64)
    d = np.c_[(x[:, :2] + x[:, 2:]) / 2, x[:, 2:] - x[:, :2]]
    z = np.c_[d[:, :2] + blend[:, :2] * d[:, 2:], d[:, 2:] * np.exp(blend[:, 2:])]
    xs = _np_smooth(lin, z, use >= 0, params)[1:m]
    side = np.maximum(lin[1:m, [2, 3, 2, 3]], MIN_SIDE)
    dev = (xs - lin[1:m]) / side
    xs = lin[1:m] + np.sign(dev) * np.maximum(np.abs(dev) - params[P_DEADBAND], 0.0) * side
    return np.c_[xs[:, :2] - 0.5 * xs[:, 2:], xs[:, :2] + 0.5 * xs[:, 2:]]


def guided_fill_numpy(key_frame, key_xyxy, key_outside, seg_start, out_start, det_start,
                      det_xyxy, det_score, params, out_frame, out_xyxy, out_key) -> None:
    """Plain-NumPy reference of `guided_fill`: same arguments, same writes.

    Rows come from `linear_fill_numpy`; each guided segment is then recomputed with full 8x8
    Kalman matrices (the kernel runs four 2x2 blocks), so the two agree up to rounding.
    """
    linear_fill_numpy(key_frame, key_xyxy, key_outside, seg_start, out_start, out_frame,
                      out_xyxy, out_key)
    dets = (det_start, det_xyxy, det_score)
    for t in range(len(seg_start) - 1):
        rows = np.arange(out_start[t], out_start[t + 1])
        for i in range(seg_start[t], seg_start[t + 1] - 1):
            m = int(key_frame[i + 1] - key_frame[i])
            if key_outside[i] or key_outside[i + 1] or m < 2:
                continue
            b = key_xyxy[i:i + 2].astype(np.float64)
            b = np.c_[(b[:, :2] + b[:, 2:]) / 2, b[:, 2:] - b[:, :2]]
            lin = b[0] + (b[1] - b[0]) * (np.arange(m + 1) / m)[:, None]
            boxes = _np_segment(lin, int(key_frame[i]), dets, params)
            if boxes is not None:
                r0 = rows[np.flatnonzero(out_key[rows] == i)[0]] + 1
                out_xyxy[r0:r0 + m - 1] = boxes
