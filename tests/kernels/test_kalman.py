"""Batched Kalman kernels vs a plain-NumPy reference and vs filterpy's KalmanFilter."""

from __future__ import annotations

import numpy as np
import pytest
from filterpy.kalman import KalmanFilter

from trackannot.kernels.kalman import (
    initial_state,
    kalman_predict,
    kalman_update,
    measurement_noise,
    process_noise,
)
from trackannot.track.kalman import (
    cxcywh_to_xyxy,
    initiate_state,
    predict_state,
    update_state,
    xyxy_to_cxcywh,
)

# F: constant velocity over one frame; H: the first four state entries are measured
F = np.block([[np.eye(4), np.eye(4)], [np.zeros((4, 4)), np.eye(4)]])
H = np.hstack([np.eye(4), np.zeros((4, 4))])


def predict_reference(x: np.ndarray, P: np.ndarray, q_diag: np.ndarray):
    """x = F x; P = F P F' + Q, one track at a time with full matrices."""
    if not len(x):
        return x.copy(), P.copy()
    x_out = np.stack([F @ xi for xi in x])
    P_out = np.stack([F @ Pi @ F.T + np.diag(qi) for Pi, qi in zip(P, q_diag)])
    return x_out, P_out


def update_reference(x: np.ndarray, P: np.ndarray, z: np.ndarray, r_diag: np.ndarray):
    """Textbook update with an explicit inverse and the Joseph-form covariance."""
    xs, Ps = [], []
    for xi, Pi, zi, ri in zip(x, P, z, r_diag):
        R = np.diag(ri)
        S = H @ Pi @ H.T + R
        K = Pi @ H.T @ np.linalg.inv(S)
        xs.append(xi + K @ (zi - H @ xi))
        A = np.eye(8) - K @ H
        Ps.append(A @ Pi @ A.T + K @ R @ K.T)
    if not xs:
        return x.copy(), P.copy()
    return np.stack(xs), np.stack(Ps)


def random_tracks(t: int, seed: int):
    """t random states with random symmetric positive definite covariances."""
    rng = np.random.default_rng(seed)
    x = np.c_[rng.uniform(0, 500, (t, 2)), rng.uniform(10, 200, (t, 2)), rng.normal(0, 3, (t, 4))]
    A = rng.normal(0, 1, (t, 8, 8))
    P = A @ A.transpose(0, 2, 1) + 0.5 * np.eye(8)
    return x, P, rng


@pytest.mark.parametrize("t", [0, 1, 7], ids=["empty", "one-track", "seven-tracks"])
def test_predict_matches_reference(t: int) -> None:
    x, P, rng = random_tracks(t, seed=10 + t)
    q = rng.uniform(0.01, 4.0, (t, 8))
    x_k, P_k = kalman_predict(x, P, q)
    x_r, P_r = predict_reference(x, P, q)
    assert x_k.shape == (t, 8) and P_k.shape == (t, 8, 8)
    np.testing.assert_allclose(x_k, x_r, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(P_k, P_r, rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("t", [0, 1, 7], ids=["empty", "one-track", "seven-tracks"])
def test_update_matches_reference(t: int) -> None:
    x, P, rng = random_tracks(t, seed=20 + t)
    z = x[:, :4] + rng.normal(0, 5, (t, 4))
    r = rng.uniform(0.5, 9.0, (t, 4))
    x_k, P_k = kalman_update(x, P, z, r)
    x_r, P_r = update_reference(x, P, z, r)
    np.testing.assert_allclose(x_k, x_r, rtol=1e-9, atol=1e-8)
    np.testing.assert_allclose(P_k, P_r, rtol=1e-9, atol=1e-8)


def test_kernels_do_not_write_into_inputs() -> None:
    x, P, rng = random_tracks(3, seed=1)
    x0, P0 = x.copy(), P.copy()
    kalman_predict(x, P, np.ones((3, 8)))
    kalman_update(x, P, x[:, :4] + 1.0, np.ones((3, 4)))
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(P, P0)


def _filterpy_tracks(xyxy0: np.ndarray, sp: float, sv: float) -> list[KalmanFilter]:
    """One filterpy filter per track, initialised like `initiate_state`."""
    filters = []
    for z in xyxy_to_cxcywh(xyxy0):
        kf = KalmanFilter(dim_x=8, dim_z=4)
        kf.F, kf.H = F.copy(), H.copy()
        kf.x = np.r_[z, np.zeros(4)].reshape(8, 1)
        s = np.r_[z[2], z[3], z[2], z[3]]
        kf.P = np.diag(np.r_[2 * sp * s, 10 * sv * s] ** 2)
        filters.append(kf)
    return filters


@pytest.mark.parametrize(
    ("tracks", "frames", "miss_rate", "seed"),
    [(1, 20, 0.0, 1), (4, 40, 0.25, 2), (9, 60, 0.5, 3)],
    ids=["one-track-always-seen", "four-tracks-some-missed", "nine-tracks-half-missed"],
)
def test_batched_filter_agrees_with_filterpy(tracks: int, frames: int, miss_rate: float,
                                             seed: int) -> None:
    """predict/update sequences with missed updates: every track's state within 1e-5."""
    sp, sv = 1 / 20, 1 / 160
    rng = np.random.default_rng(seed)
    start = np.c_[rng.uniform(0, 800, (tracks, 2)), np.zeros((tracks, 2))]
    start[:, 2:] = start[:, :2] + rng.uniform(20, 200, (tracks, 2))
    # boxes drift and grow slowly, so every size stays positive
    move = rng.normal(0, 4, (tracks, 2))
    velocity = np.c_[move, move] + rng.uniform(-0.2, 0.2, (tracks, 4))
    x, P = initiate_state(start, sp, sv)
    filters = _filterpy_tracks(start, sp, sv)
    for f in range(1, frames):
        x, P = predict_state(x, P, sp, sv)
        for i, kf in enumerate(filters):
            w, h = kf.x[2, 0], kf.x[3, 0]
            kf.predict(Q=np.diag(np.r_[sp * w, sp * h, sp * w, sp * h,
                                       sv * w, sv * h, sv * w, sv * h] ** 2))
        seen = np.flatnonzero(rng.random(tracks) >= miss_rate)
        boxes = start + f * velocity + rng.normal(0, 2, (tracks, 4))
        if seen.size:
            x[seen], P[seen] = update_state(x[seen], P[seen], boxes[seen], sp)
        for i in seen:
            kf = filters[i]
            w, h = kf.x[2, 0], kf.x[3, 0]
            kf.update(xyxy_to_cxcywh(boxes[i:i + 1])[0],
                      R=np.diag(np.r_[sp * w, sp * h, sp * w, sp * h] ** 2))
        for i, kf in enumerate(filters):
            np.testing.assert_allclose(x[i], kf.x[:, 0], rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(P[i], kf.P, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "xyxy",
    [np.zeros((0, 4)), [[0.0, 0.0, 10.0, 20.0]], [[5.5, 1.0, 7.5, 100.0], [-3.0, -4.0, 3.0, 4.0]]],
    ids=["empty", "one-box", "two-boxes"],
)
def test_box_conversions_round_trip(xyxy: list[list[float]]) -> None:
    xyxy = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4)
    cxcywh = xyxy_to_cxcywh(xyxy)
    assert cxcywh.dtype == np.float64
    np.testing.assert_allclose(cxcywh[:, 2:], xyxy[:, 2:] - xyxy[:, :2])
    back = cxcywh_to_xyxy(cxcywh)
    assert back.dtype == np.float32
    np.testing.assert_allclose(back, xyxy, atol=1e-5)


@pytest.mark.parametrize("t", [0, 1, 5], ids=["empty", "one-track", "five-tracks"])
def test_noise_and_initial_state_match_reference(t: int) -> None:
    x, _, rng = random_tracks(t, seed=30 + t)
    x[:1, 2] = 0.2  # a degenerate width is clamped to MIN_SIDE = 1 pixel
    side = np.maximum(np.c_[x[:, 2], x[:, 3], x[:, 2], x[:, 3]], 1.0)
    np.testing.assert_allclose(process_noise(x, 0.05, 0.01),
                               np.c_[(0.05 * side) ** 2, (0.01 * side) ** 2], rtol=1e-12)
    np.testing.assert_allclose(measurement_noise(x, 0.03), (0.03 * side) ** 2, rtol=1e-12)
    x0, P0 = initial_state(x[:, :4], 0.05, 0.01)
    np.testing.assert_allclose(x0, np.c_[x[:, :4], np.zeros((t, 4))])
    expected_P = np.zeros((t, 8, 8))
    for k in range(t):
        expected_P[k] = np.diag(np.r_[2 * 0.05 * side[k], 10 * 0.01 * side[k]] ** 2)
    np.testing.assert_allclose(P0, expected_P, rtol=1e-12)
