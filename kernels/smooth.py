"""Fixed-interval smoothing of box runs: constant-velocity Kalman filter + RTS pass (numba kernel).

A run is one track's boxes on consecutive frames, rows sorted by frame. Each box is taken as
z = [cx, cy, w, h] (pixels). Every coordinate follows its own constant-velocity model with state
[p, v] (position and velocity per frame); the 8-state filter of `trackannot.kernels.kalman` with
diagonal Q and R is exactly four such 2-state filters, which is what the kernel runs:

    F = [[1, 1], [0, 1]]                  x_k = F x_{k-1} + noise     (one frame per step)
    H = [1, 0]                            z_k = H x_k + noise
    Q = q [[1/3, 1/2], [1/2, 1]]          white-noise acceleration of spectral density q,
                                          integrated over one frame (Bar-Shalom et al. 6.2.2)
    R = r = (MEASUREMENT_STD * side)^2    side = box width for cx and w, height for cy and h
    q = r / strength^4

With this Q, the smoothed mean is the cubic smoothing spline with penalty lambda = r / q
(Wecker and Ansley 1983), whose equivalent kernel has a bandwidth of lambda^(1/4) samples
(Silverman 1984): `strength` is that bandwidth, in frames. Scaling r and q with the box side
(as DeepSORT/BoT-SORT scale their noise) makes the smoothing the same for small and large boxes.

Rows have a mode:
- OBSERVED: a measurement with variance r (detector boxes).
- PINNED: a measurement with variance 0 (human keyframes, boxes interpolated between them): the
  smoothed curve passes through the box, and the output row is the input row, bit for bit.
- MISSING: no measurement (the tracker's own predictions): the row gets the smoothed box of its
  neighbours; its input box is not used (its noise scale is the previous row's), except as the
  prior mean when it is the first row of its run.

The prior of a run is centred on its first row's box with a position std of INIT_POSITION_STD *
side and a velocity of 0 with std INIT_VELOCITY_STD * side per frame: both far wider than any
measurement, so the prior hardly matters (a one-row observed run comes out unchanged exactly).

The kernel runs the forward filter and the RTS backward pass per run, in float64, with the 2x2
matrices written out as scalars; runs are independent (prange), each writes only its own rows.
`smooth_runs_numpy` is the textbook 8-state matrix form (NumPy, one step at a time): it checks
that the scalar decomposition and the closed-form 2x2 algebra are right.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit, prange

__all__ = [
    "MISSING",
    "OBSERVED",
    "PINNED",
    "PARALLEL_MIN_ROWS",
    "smooth_runs",
    "smooth_runs_numpy",
    "smooth_runs_serial",
]

# Below this many rows `smooth_runs_serial` wins: a parallel launch costs tens of microseconds
# on an idle machine and milliseconds on a busy one (the worker threads must be scheduled); one
# track of a few thousand rows, as a frame-range read or an edit smooths, takes well under that.
PARALLEL_MIN_ROWS = 50_000

OBSERVED = 0
PINNED = 1
MISSING = 2

# measurement std as a fraction of the box side. Only the ratio q / r (set by `strength`) moves
# the smoothed mean; this sets the scale against which the priors below are "wide".
MEASUREMENT_STD = 0.05
# prior std of a run's first position and of its velocity (per frame), as multiples of the side:
# 20 measurement stds and an object crossing its own size every frame, i.e. nearly diffuse
INIT_POSITION_STD = 1.0
INIT_VELOCITY_STD = 1.0
# smallest box side used to scale the noise, pixels: keeps r and q positive for degenerate boxes
MIN_SIDE = 1.0


@njit(cache=True)
def _coordinates(xyxy: np.ndarray, mode: np.ndarray, lo: int,
                 hi: int) -> tuple[np.ndarray, np.ndarray]:
    """z (m, 4) = [cx, cy, w, h] float64 of rows lo:hi, and the noise scale (m, 4) per coordinate.

    A MISSING row (after the first) takes the previous row's scale: its box is not a measurement.
    """
    m = hi - lo
    z = np.empty((m, 4))
    side = np.empty((m, 4))
    for j in range(m):
        x1 = np.float64(xyxy[lo + j, 0])
        y1 = np.float64(xyxy[lo + j, 1])
        w = np.float64(xyxy[lo + j, 2]) - x1
        h = np.float64(xyxy[lo + j, 3]) - y1
        z[j, 0] = x1 + 0.5 * w
        z[j, 1] = y1 + 0.5 * h
        z[j, 2] = w
        z[j, 3] = h
        if j > 0 and mode[lo + j] == MISSING:
            for c in range(4):
                side[j, c] = side[j - 1, c]
        else:
            side[j, 0] = max(w, MIN_SIDE)
            side[j, 1] = max(h, MIN_SIDE)
            side[j, 2] = side[j, 0]
            side[j, 3] = side[j, 1]
    return z, side


@njit(cache=True)
def _smooth_coordinate(z: np.ndarray, side: np.ndarray, mode: np.ndarray, lo: int, c: int,
                       inv_strength4: float, xs: np.ndarray, xf: np.ndarray, pf: np.ndarray,
                       xp: np.ndarray, pp: np.ndarray) -> None:
    """Forward filter + RTS pass of coordinate c over one run; smoothed positions into xs[:, c].

    xf, xp: (m, 2) filtered / predicted means [p, v]; pf, pp: (m, 3) their covariances as
    [P00, P01, P11] (P is symmetric). Work arrays, overwritten.
    """
    m = z.shape[0]
    r0 = (MEASUREMENT_STD * side[0, c]) ** 2
    # prior: x = [z_0, 0], P = diag((INIT_POSITION_STD s)^2, (INIT_VELOCITY_STD s)^2)
    x0 = z[0, c]
    x1 = 0.0
    p00 = (INIT_POSITION_STD * side[0, c]) ** 2
    p01 = 0.0
    p11 = (INIT_VELOCITY_STD * side[0, c]) ** 2
    r = r0
    for j in range(m):
        if j > 0:
            # q = r_{j-1} / strength^4: the process noise of the step from row j-1
            q = r * inv_strength4
            # x = F x
            x0 = x0 + x1
            # P = F P F' + Q, with F = [[1, 1], [0, 1]], Q = q [[1/3, 1/2], [1/2, 1]]
            p00 = p00 + 2.0 * p01 + p11 + q / 3.0
            p01 = p01 + p11 + 0.5 * q
            p11 = p11 + q
        xp[j, 0] = x0
        xp[j, 1] = x1
        pp[j, 0] = p00
        pp[j, 1] = p01
        pp[j, 2] = p11
        r = (MEASUREMENT_STD * side[j, c]) ** 2
        kind = mode[lo + j]
        if kind != MISSING:
            rk = 0.0 if kind == PINNED else r
            # S = H P H' + R;  K = P H' / S;  y = z - H x
            s = p00 + rk
            k0 = p00 / s
            k1 = p01 / s
            y = z[j, c] - x0
            # x = x + K y
            x0 = x0 + k0 * y
            x1 = x1 + k1 * y
            # P = (I - K H) P, written so that R = 0 gives P00 = P01 = 0 exactly (1 - k0 = R / S)
            p11 = p11 - k1 * p01
            p00 = p00 * (rk / s)
            p01 = p01 * (rk / s)
        xf[j, 0] = x0
        xf[j, 1] = x1
        pf[j, 0] = p00
        pf[j, 1] = p01
        pf[j, 2] = p11
    # RTS: x_s(j) = x_f(j) + C (x_s(j+1) - x_p(j+1)),  C = P_f(j) F' P_p(j+1)^-1
    s0 = xf[m - 1, 0]
    s1 = xf[m - 1, 1]
    xs[m - 1, c] = s0
    for j in range(m - 2, -1, -1):
        # P_f F' = [[P00 + P01, P01], [P01 + P11, P11]]
        a00 = pf[j, 0] + pf[j, 1]
        a01 = pf[j, 1]
        a10 = pf[j, 1] + pf[j, 2]
        a11 = pf[j, 2]
        # P_p^-1 = [[P11, -P01], [-P01, P00]] / (P00 P11 - P01^2); Q > 0 keeps it invertible
        b00 = pp[j + 1, 0]
        b01 = pp[j + 1, 1]
        b11 = pp[j + 1, 2]
        det = b00 * b11 - b01 * b01
        d0 = s0 - xp[j + 1, 0]
        d1 = s1 - xp[j + 1, 1]
        # P_p^-1 d
        e0 = (b11 * d0 - b01 * d1) / det
        e1 = (b00 * d1 - b01 * d0) / det
        s0 = xf[j, 0] + a00 * e0 + a01 * e1
        s1 = xf[j, 1] + a10 * e0 + a11 * e1
        xs[j, c] = s0


@njit(cache=True)
def _smooth_run(xyxy: np.ndarray, mode: np.ndarray, lo: int, hi: int, inv_strength4: float,
                out_xyxy: np.ndarray) -> None:
    """Smooth the rows lo:hi of one run into out_xyxy[lo:hi]."""
    m = hi - lo
    z, side = _coordinates(xyxy, mode, lo, hi)
    xs = np.empty((m, 4))
    xf = np.empty((m, 2))
    pf = np.empty((m, 3))
    xp = np.empty((m, 2))
    pp = np.empty((m, 3))
    for c in range(4):
        _smooth_coordinate(z, side, mode, lo, c, inv_strength4, xs, xf, pf, xp, pp)
    for j in range(m):
        i = lo + j
        if mode[i] == PINNED:
            # a pinned row is a hard constraint: its box is returned as it came, bit for bit
            for c in range(4):
                out_xyxy[i, c] = xyxy[i, c]
            continue
        # back to corners; a smoothed size below zero (never seen, but a spline can undershoot)
        # is clamped so the box stays valid
        hw = 0.5 * max(xs[j, 2], 0.0)
        hh = 0.5 * max(xs[j, 3], 0.0)
        out_xyxy[i, 0] = np.float32(xs[j, 0] - hw)
        out_xyxy[i, 1] = np.float32(xs[j, 1] - hh)
        out_xyxy[i, 2] = np.float32(xs[j, 0] + hw)
        out_xyxy[i, 3] = np.float32(xs[j, 1] + hh)


@njit(cache=True, parallel=True)
def smooth_runs(xyxy: np.ndarray, mode: np.ndarray, run_start: np.ndarray, strength: float,
                out_xyxy: np.ndarray) -> None:
    """RTS-smoothed boxes of every run (constant-velocity model; see the module docstring).

    Args:
        xyxy: (n, 4) float32 boxes, pixels, rows of each run in frame order.
        mode: (n,) uint8 OBSERVED, PINNED or MISSING per row.
        run_start: (r + 1,) int64 CSR offsets: run k is rows run_start[k]:run_start[k + 1]
            (consecutive frames of one track).
        strength: smoothing bandwidth in frames, > 0 (q = r / strength^4).
        out_xyxy: (n, 4) float32 output, the smoothed boxes; PINNED rows equal their input,
            one-row runs too (unless the row is MISSING: then it also keeps its box).
    """
    inv_strength4 = 1.0 / strength**4
    # each run writes only its own rows run_start[k]:run_start[k + 1]: independent outputs
    for k in prange(run_start.shape[0] - 1):
        _smooth_one(xyxy, mode, run_start[k], run_start[k + 1], inv_strength4, out_xyxy)


@njit(cache=True)
def smooth_runs_serial(xyxy: np.ndarray, mode: np.ndarray, run_start: np.ndarray,
                       strength: float, out_xyxy: np.ndarray) -> None:
    """`smooth_runs` on one thread, for a few rows (`PARALLEL_MIN_ROWS`); same result."""
    inv_strength4 = 1.0 / strength**4
    for k in range(run_start.shape[0] - 1):
        _smooth_one(xyxy, mode, run_start[k], run_start[k + 1], inv_strength4, out_xyxy)


@njit(cache=True)
def _smooth_one(xyxy: np.ndarray, mode: np.ndarray, lo: int, hi: int, inv_strength4: float,
                out_xyxy: np.ndarray) -> None:
    """One run, rows lo:hi (a one-row run keeps its box)."""
    if hi - lo == 1:
        for c in range(4):
            out_xyxy[lo, c] = xyxy[lo, c]
    elif hi > lo:
        _smooth_run(xyxy, mode, lo, hi, inv_strength4, out_xyxy)


def smooth_runs_numpy(xyxy: npt.NDArray[np.float32], mode: npt.NDArray[np.uint8],
                      run_start: npt.NDArray[np.int64], strength: float,
                      out_xyxy: npt.NDArray[np.float32]) -> None:
    """Reference for `smooth_runs`: the 8-state filter and RTS smoother in matrix form (NumPy).

    Same contract as `smooth_runs`. State x = [cx, cy, w, h, vcx, vcy, vw, vh]; the textbook
    equations with full matrices, one step at a time (slow; for tests).
    """
    eye = np.eye(4)
    F = np.block([[eye, eye], [np.zeros((4, 4)), eye]])
    H = np.hstack([eye, np.zeros((4, 4))])
    for k in range(len(run_start) - 1):
        lo, hi = int(run_start[k]), int(run_start[k + 1])
        if hi - lo == 1:
            out_xyxy[lo] = xyxy[lo]
        if hi - lo <= 1:
            continue
        b = xyxy[lo:hi].astype(np.float64)
        wh = b[:, 2:] - b[:, :2]
        z = np.c_[b[:, :2] + 0.5 * wh, wh]
        side = np.maximum(np.c_[wh, wh], MIN_SIDE)
        for j in np.flatnonzero(mode[lo:hi] == MISSING):
            if j > 0:
                side[j] = side[j - 1]  # a missing row's box is not a measurement
        r = (MEASUREMENT_STD * side) ** 2
        xs = _rts_numpy(F, H, z, r, mode[lo:hi], side[0], strength)
        size = np.maximum(xs[:, 2:4], 0.0)
        smoothed = np.c_[xs[:, :2] - 0.5 * size, xs[:, :2] + 0.5 * size].astype(np.float32)
        pinned = mode[lo:hi] == PINNED
        smoothed[pinned] = xyxy[lo:hi][pinned]
        out_xyxy[lo:hi] = smoothed


def _rts_numpy(F: np.ndarray, H: np.ndarray, z: np.ndarray, r: np.ndarray, mode: np.ndarray,
               side0: np.ndarray, strength: float) -> np.ndarray:
    """(m, 8) smoothed states of one run, full-matrix Kalman filter + RTS backward pass."""
    m = len(z)
    x = np.r_[z[0], np.zeros(4)]
    P = np.diag(np.r_[(INIT_POSITION_STD * side0) ** 2, (INIT_VELOCITY_STD * side0) ** 2])
    block = np.array([[1 / 3, 1 / 2], [1 / 2, 1]])
    x_pred, P_pred, x_filt, P_filt = [], [], [], []
    for j in range(m):
        if j > 0:
            q = r[j - 1] / strength**4
            # Q: per coordinate i, q_i [[1/3, 1/2], [1/2, 1]] on entries (i, i + 4)
            Q = np.zeros((8, 8))
            for i in range(4):
                Q[np.ix_([i, i + 4], [i, i + 4])] = q[i] * block
            x = F @ x  # x = F x
            P = F @ P @ F.T + Q  # P = F P F' + Q
        x_pred.append(x)
        P_pred.append(P)
        if mode[j] != MISSING:
            R = np.zeros((4, 4)) if mode[j] == PINNED else np.diag(r[j])
            S = H @ P @ H.T + R  # S = H P H' + R
            K = np.linalg.solve(S, H @ P).T  # K = P H' S^-1 (S, P symmetric)
            x = x + K @ (z[j] - H @ x)  # x = x + K (z - H x)
            P = (np.eye(8) - K @ H) @ P  # P = (I - K H) P
        x_filt.append(x)
        P_filt.append(P)
    xs = np.empty((m, 8))
    xs[-1] = x_filt[-1]
    for j in range(m - 2, -1, -1):
        # C = P_f F' P_p^-1;  x_s = x_f + C (x_s(j+1) - x_p(j+1))
        C = np.linalg.solve(P_pred[j + 1], F @ P_filt[j]).T
        xs[j] = x_filt[j] + C @ (xs[j + 1] - x_pred[j + 1])
    return xs
