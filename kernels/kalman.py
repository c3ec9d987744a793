"""Constant-velocity Kalman filter steps, batched over tracks (numba kernels).

State of one track (8 numbers, float64, pixels and pixels per frame):

    x = [cx, cy, w, h, vcx, vcy, vw, vh]

the box centre, width and height and their velocities. The width and height are filtered
directly (as in BoT-SORT) rather than the aspect ratio of DeepSORT/ByteTrack, so that a box's
width noise scales with its width and its height noise with its height.

Symbols (as in filterpy):

    F (8, 8)  transition, constant velocity over one frame: position += velocity
    H (4, 8)  measurement, the first four state entries: z = [cx, cy, w, h]
    Q (8, 8)  process noise, diagonal, passed as its diagonal `q_diag` (t, 8)
    R (4, 4)  measurement noise, diagonal, passed as its diagonal `r_diag` (t, 4)
    P (8, 8)  state covariance

Every function is a pure `(x, P, ...) -> (x, P)` step over `t` tracks at once: it returns new
arrays and never writes into its inputs. Rows are independent; the loops are serial because
the number of live tracks is small (tens) and a parallel launch costs more than the work.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = [
    "MEASUREMENT_DIM",
    "STATE_DIM",
    "initial_state",
    "kalman_predict",
    "kalman_update",
    "measurement_noise",
    "process_noise",
]

STATE_DIM = 8
MEASUREMENT_DIM = 4

# Initial standard deviations, as multiples of the position/velocity noise (BoT-SORT's values):
# a new track's size is known to about 2 measurement sigmas, its velocity not at all.
INIT_POSITION_FACTOR = 2.0
INIT_VELOCITY_FACTOR = 10.0
# smallest box side used to scale noise, pixels: keeps Q and R positive for degenerate boxes
MIN_SIDE = 1.0


@njit(cache=True)
def _side(x: np.ndarray, k: int, i: int) -> float:
    """Scale of state entry i of track k: the width for x-like entries, else the height."""
    return max(x[k, 2 + (i % 2)], MIN_SIDE)


@njit(cache=True)
def process_noise(x: np.ndarray, std_position: float, std_velocity: float) -> np.ndarray:
    """(t, 8) diagonal of Q (variances) from the current box sizes.

    std(cx, w) = std_position * w and std(cy, h) = std_position * h; velocities likewise with
    std_velocity (DeepSORT/BoT-SORT: noise proportional to the object's size).
    """
    t = x.shape[0]
    q = np.empty((t, 8))
    for k in range(t):
        for i in range(4):
            s = _side(x, k, i)
            q[k, i] = (std_position * s) ** 2
            q[k, i + 4] = (std_velocity * s) ** 2
    return q


@njit(cache=True)
def measurement_noise(x: np.ndarray, std_measurement: float) -> np.ndarray:
    """(t, 4) diagonal of R (variances) from the predicted box sizes."""
    t = x.shape[0]
    r = np.empty((t, 4))
    for k in range(t):
        for i in range(4):
            r[k, i] = (std_measurement * _side(x, k, i)) ** 2
    return r


@njit(cache=True)
def initial_state(
    z: np.ndarray, std_position: float, std_velocity: float
) -> tuple[np.ndarray, np.ndarray]:
    """New tracks from first measurements z (t, 4) [cx, cy, w, h]: zero velocity, diagonal P."""
    t = z.shape[0]
    x = np.zeros((t, 8))
    P = np.zeros((t, 8, 8))
    for k in range(t):
        for i in range(4):
            x[k, i] = z[k, i]
        for i in range(4):
            s = _side(x, k, i)
            P[k, i, i] = (INIT_POSITION_FACTOR * std_position * s) ** 2
            P[k, i + 4, i + 4] = (INIT_VELOCITY_FACTOR * std_velocity * s) ** 2
    return x, P


@njit(cache=True)
def kalman_predict(
    x: np.ndarray, P: np.ndarray, q_diag: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Predict every track one frame ahead.

    Args:
        x: (t, 8) float64 state means.
        P: (t, 8, 8) float64 state covariances.
        q_diag: (t, 8) float64 diagonal of each track's process noise Q (variances).

    Returns:
        (x, P): new (t, 8) and (t, 8, 8) float64 arrays.
    """
    t = x.shape[0]
    x_out = np.empty_like(x)
    P_out = np.empty_like(P)
    for k in range(t):
        # x = F x: position += velocity
        for i in range(4):
            x_out[k, i] = x[k, i] + x[k, i + 4]
            x_out[k, i + 4] = x[k, i + 4]
        # P = F P F' + Q. With F = [[I, I], [0, I]] and P = [[A, B], [B', D]] (4x4 blocks):
        # F P F' = [[A + B + B' + D, B + D], [B' + D, D]]. Written out instead of two 8x8
        # products: a quarter of the arithmetic and the same result.
        for i in range(4):
            for j in range(4):
                a = P[k, i, j]
                b = P[k, i, j + 4]
                bt = P[k, i + 4, j]
                d = P[k, i + 4, j + 4]
                P_out[k, i, j] = a + b + bt + d
                P_out[k, i, j + 4] = b + d
                P_out[k, i + 4, j] = bt + d
                P_out[k, i + 4, j + 4] = d
        for i in range(8):
            P_out[k, i, i] += q_diag[k, i]
    return x_out, P_out


@njit(cache=True)
def _cholesky_solve4(S: np.ndarray, B: np.ndarray) -> np.ndarray:
    """X = S^-1 B for a symmetric positive definite (4, 4) S and a (4, m) B (Cholesky).

    Written out because a LAPACK call per track costs more than the 4x4 arithmetic.
    """
    L = np.zeros((4, 4))
    # S = L L'
    for i in range(4):
        for j in range(i + 1):
            s = S[i, j]
            for k in range(j):
                s -= L[i, k] * L[j, k]
            if i == j:
                L[i, i] = np.sqrt(s)
            else:
                L[i, j] = s / L[j, j]
    m = B.shape[1]
    X = np.empty((4, m))
    for c in range(m):
        # L y = b (forward substitution), then L' x = y (back substitution)
        y = np.empty(4)
        for i in range(4):
            s = B[i, c]
            for k in range(i):
                s -= L[i, k] * y[k]
            y[i] = s / L[i, i]
        for i in range(3, -1, -1):
            s = y[i]
            for k in range(i + 1, 4):
                s -= L[k, i] * X[k, c]
            X[i, c] = s / L[i, i]
    return X


@njit(cache=True)
def kalman_update(
    x: np.ndarray, P: np.ndarray, z: np.ndarray, r_diag: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Correct every track with one measurement each (Joseph-form covariance update).

    The Joseph form P = (I - K H) P (I - K H)' + K R K' is used instead of the shorter
    P = (I - K H) P, as filterpy does: it stays symmetric and positive semi-definite under
    rounding, which matters for tracks updated thousands of times. It costs two 8x8 products
    per track, negligible next to the rest of a frame.

    Args:
        x: (t, 8) float64 predicted state means.
        P: (t, 8, 8) float64 predicted covariances.
        z: (t, 4) float64 measurements [cx, cy, w, h], pixels.
        r_diag: (t, 4) float64 diagonal of each measurement's noise R (variances).

    Returns:
        (x, P): new (t, 8) and (t, 8, 8) float64 arrays, the posterior.
    """
    t = x.shape[0]
    x_out = np.empty_like(x)
    P_out = np.empty_like(P)
    S = np.empty((4, 4))
    A = np.empty((8, 8))  # I - K H
    AP = np.empty((8, 8))
    for k in range(t):
        Pk = P[k]
        # S = H P H' + R: the top-left 4x4 block of P plus R
        for i in range(4):
            for j in range(4):
                S[i, j] = Pk[i, j]
            S[i, i] += r_diag[k, i]
        # K = P H' S^-1, computed as K' = S^-1 (H P) since P and S are symmetric
        Kt = _cholesky_solve4(S, np.ascontiguousarray(Pk[:4, :]))  # (4, 8) = K'
        # y = z - H x;  x = x + K y
        for i in range(8):
            s = x[k, i]
            for j in range(4):
                s += Kt[j, i] * (z[k, j] - x[k, j])
            x_out[k, i] = s
        # A = I - K H: only the first four columns of K H are non-zero
        for i in range(8):
            for j in range(8):
                A[i, j] = 1.0 if i == j else 0.0
            for j in range(4):
                A[i, j] -= Kt[j, i]
        # P = A P A' + K R K'
        for i in range(8):
            for j in range(8):
                s = 0.0
                for m in range(8):
                    s += A[i, m] * Pk[m, j]
                AP[i, j] = s
        for i in range(8):
            for j in range(8):
                s = 0.0
                for m in range(8):
                    s += AP[i, m] * A[j, m]
                for m in range(4):
                    s += Kt[m, i] * r_diag[k, m] * Kt[m, j]
                P_out[k, i, j] = s
    return x_out, P_out
