"""Box Kalman filter orchestration: noise from box sizes, format conversions, kernel calls.

The tracker runs these steps inside its frame kernel (`trackannot.kernels.track_step`); the
functions here are the same steps callable on NumPy arrays (and what the filterpy tests check).

The state and its equations are documented in `trackannot.kernels.kalman`:
x = [cx, cy, w, h, vcx, vcy, vw, vh] (pixels, pixels per frame), float64.

Noise scales with object size, as in DeepSORT and BoT-SORT: standard deviations are fractions of
the box width (for cx, w and their velocities) or height (for cy, h and their velocities). A box
twice as large is allowed to move twice as many pixels per frame for the same likelihood.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from trackannot.kernels.kalman import (
    initial_state,
    kalman_predict,
    kalman_update,
    measurement_noise,
    process_noise,
)

__all__ = [
    "cxcywh_to_xyxy",
    "initiate_state",
    "measurement_noise",
    "position_std",
    "process_noise",
    "predict_state",
    "update_state",
    "xyxy_to_cxcywh",
]


def xyxy_to_cxcywh(xyxy: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
    """(n, 4) (x1, y1, x2, y2) boxes -> (n, 4) float64 (centre x, centre y, width, height)."""
    xyxy = np.asarray(xyxy, dtype=np.float64)
    out = np.empty_like(xyxy)
    out[:, 2:] = xyxy[:, 2:] - xyxy[:, :2]
    out[:, :2] = xyxy[:, :2] + 0.5 * out[:, 2:]
    return out


def cxcywh_to_xyxy(cxcywh: npt.NDArray[np.floating]) -> npt.NDArray[np.float32]:
    """(n, 4) (centre x, centre y, width, height) -> (n, 4) float32 (x1, y1, x2, y2).

    Only the first four columns are read, so a (t, 8) Kalman state can be passed directly.
    """
    half = 0.5 * cxcywh[:, 2:4]
    out = np.empty((cxcywh.shape[0], 4), dtype=np.float32)
    out[:, :2] = cxcywh[:, :2] - half
    out[:, 2:] = cxcywh[:, :2] + half
    return out


def initiate_state(
    xyxy: npt.NDArray[np.floating], std_position: float, std_velocity: float
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """New tracks from their first boxes: zero velocity, size-scaled diagonal covariance.

    Args:
        xyxy: (t, 4) first detections, pixels.
        std_position: position noise as a fraction of the box side.
        std_velocity: velocity noise as a fraction of the box side, per frame.

    Returns:
        (x, P): (t, 8) and (t, 8, 8) float64.
    """
    return initial_state(xyxy_to_cxcywh(xyxy), std_position, std_velocity)


def predict_state(
    x: npt.NDArray[np.float64],
    P: npt.NDArray[np.float64],
    std_position: float,
    std_velocity: float,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """One frame of constant-velocity prediction for all tracks (`kalman_predict`)."""
    return kalman_predict(x, P, process_noise(x, std_position, std_velocity))


def update_state(
    x: npt.NDArray[np.float64],
    P: npt.NDArray[np.float64],
    xyxy: npt.NDArray[np.floating],
    std_measurement: float,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Correct tracks with their matched boxes (`kalman_update`).

    Args:
        x: (t, 8) predicted states.
        P: (t, 8, 8) predicted covariances.
        xyxy: (t, 4) matched detections, pixels; row i belongs to track i.
        std_measurement: measurement noise as a fraction of the predicted box side.
    """
    return kalman_update(x, P, xyxy_to_cxcywh(xyxy), measurement_noise(x, std_measurement))


def position_std(P: npt.NDArray[np.float64]) -> npt.NDArray[np.float32]:
    """(t,) float32 pixels: sqrt of the mean of the centre-x and centre-y variances."""
    return np.sqrt(0.5 * (P[:, 0, 0] + P[:, 1, 1])).astype(np.float32)
