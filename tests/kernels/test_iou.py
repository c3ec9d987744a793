"""IoU kernels vs a plain-NumPy reference."""

from __future__ import annotations

import numpy as np
import pytest

from trackannot.kernels.iou import iou_matrix, iou_matrix_parallel


def iou_reference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Broadcast IoU in float64; 0 where the union is empty."""
    a = a.astype(np.float64)[:, None, :]
    b = b.astype(np.float64)[None, :, :]
    iw = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    ih = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = iw * ih

    def area(x: np.ndarray) -> np.ndarray:
        return np.clip(x[..., 2] - x[..., 0], 0, None) * np.clip(x[..., 3] - x[..., 1], 0, None)

    union = area(a) + area(b) - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def random_boxes(n: int, rng: np.random.Generator) -> np.ndarray:
    xy = rng.uniform(0, 100, (n, 2))
    return np.c_[xy, xy + rng.uniform(1, 40, (n, 2))].astype(np.float32)


@pytest.mark.parametrize("kernel", [iou_matrix, iou_matrix_parallel], ids=["serial", "parallel"])
@pytest.mark.parametrize(
    ("n", "m"),
    [(0, 0), (0, 5), (5, 0), (1, 1), (1, 9), (9, 1), (37, 23)],
    ids=["empty-empty", "empty-rows", "empty-cols", "one-one", "one-row", "one-col", "many"],
)
def test_iou_matches_reference(kernel, n: int, m: int) -> None:
    rng = np.random.default_rng(n * 100 + m)
    a, b = random_boxes(n, rng), random_boxes(m, rng)
    got = kernel(a, b)
    assert got.shape == (n, m) and got.dtype == np.float32
    np.testing.assert_allclose(got, iou_reference(a, b), atol=1e-6)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ([0, 0, 10, 10], [0, 0, 10, 10], 1.0),
        ([0, 0, 10, 10], [5, 0, 15, 10], 50 / 150),
        ([0, 0, 10, 10], [10, 0, 20, 10], 0.0),  # touching edges
        ([0, 0, 10, 10], [20, 20, 30, 30], 0.0),
        ([0, 0, 0, 0], [0, 0, 0, 0], 0.0),  # degenerate: empty union
        ([5, 5, 5, 15], [0, 0, 10, 10], 0.0),  # zero-width box
    ],
    ids=["identical", "half-overlap", "touching", "apart", "both-degenerate", "zero-width"],
)
def test_iou_known_values(a: list[float], b: list[float], expected: float) -> None:
    got = iou_matrix(np.array([a], np.float32), np.array([b], np.float32))
    np.testing.assert_allclose(got, [[expected]], atol=1e-7)


def test_iou_is_symmetric() -> None:
    rng = np.random.default_rng(7)
    a, b = random_boxes(12, rng), random_boxes(8, rng)
    np.testing.assert_array_equal(iou_matrix(a, b), iou_matrix(b, a).T)
