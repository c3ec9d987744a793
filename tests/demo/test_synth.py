"""The synthetic scene generator: deterministic, truth inside the image, the events it promises."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from trackannot.boxes import Origin
from trackannot.config import DecodeConfig
from trackannot.decode import decode_frames
from trackannot.demo import make_scene, write_demo_clip
from trackannot.errors import InputFormatError

SEEDS = [7, 11, 123]


def test_same_seed_same_scene() -> None:
    frame_a, truth_a = make_scene(3, 20, 320, 180, 5)
    frame_b, truth_b = make_scene(3, 20, 320, 180, 5)
    for t in (0, 7, 19):
        np.testing.assert_array_equal(frame_a(t), frame_b(t))
    for name, column in truth_a.columns().items():
        np.testing.assert_array_equal(column, getattr(truth_b, name))
    frame_c, _ = make_scene(4, 20, 320, 180, 5)
    assert np.abs(frame_a(0).astype(int) - frame_c(0).astype(int)).mean() > 10


@pytest.mark.parametrize("seed", SEEDS, ids=[f"seed{s}" for s in SEEDS])
def test_truth_lies_inside_the_image(seed: int) -> None:
    width, height, n = 640, 360, 6
    frame, truth = make_scene(seed, 90, width, height, n)
    image = frame(0)
    assert image.shape == (height, width, 3) and image.dtype == np.uint8
    x1, y1, x2, y2 = truth.xyxy.T
    assert np.all((0 <= x1) & (x1 < x2) & (x2 <= width))
    assert np.all((0 <= y1) & (y1 < y2) & (y2 <= height))
    np.testing.assert_array_equal(truth.xyxy, np.round(truth.xyxy))  # whole pixels
    assert set(truth.track_id.tolist()) <= set(range(1, n + 1))
    assert set(truth.class_id.tolist()) <= {0, 1}
    assert np.all(truth.score == 1.0) and np.all(truth.origin == Origin.KEYFRAME)
    for t, rows in truth.split_frames():  # one row per object per frame at most
        assert len(set(rows.track_id.tolist())) == len(rows)


@pytest.mark.parametrize("seed", SEEDS, ids=[f"seed{s}" for s in SEEDS])
def test_scene_has_occlusion_crossing_and_entries(seed: int) -> None:
    n_frames = 90
    _, truth = make_scene(seed, n_frames, 640, 360, 6)
    one = truth[truth.track_id == 1]
    # object 1 disappears behind the occluder bar and comes back
    present = set(one.frame.tolist())
    hidden = set(range(min(present), max(present) + 1)) - present
    assert 1 <= len(hidden) <= 15
    widths = one.xyxy[:, 2] - one.xyxy[:, 0]
    assert widths.min() < 0.6 * widths.max()  # visible extent shrinks at the bar's edges
    # objects 1 and 2 swap sides: they cross
    two = truth[truth.track_id == 2]
    both = np.intersect1d(one.frame, two.frame)
    cx1 = one.xyxy[np.isin(one.frame, both)][:, [0, 2]].mean(axis=1)
    cx2 = two.xyxy[np.isin(two.frame, both)][:, [0, 2]].mean(axis=1)
    assert np.any(cx1 < cx2) and np.any(cx1 > cx2)
    # object 1 enters after the first frame and leaves before the last
    assert one.frame.min() > 0 and one.frame.max() < n_frames - 1


def test_argument_errors() -> None:
    with pytest.raises(InputFormatError, match=r"n_objects should be in \[1, 16\], got 0"):
        make_scene(1, 10, n_objects=0)
    frame, _ = make_scene(1, 10)
    with pytest.raises(IndexError, match="frame 10 outside"):
        frame(10)


def test_write_demo_clip_matches_the_scene(tmp_path: Path) -> None:
    path = tmp_path / "demo.mp4"
    truth = write_demo_clip(path, seed=5, seconds=1.0, fps=12, width=320, height=180,
                            n_objects=4)
    assert path.is_file() and not list(tmp_path.glob("*.partial"))
    frame, expected = make_scene(5, 12, 320, 180, 4)
    for name, column in expected.columns().items():
        np.testing.assert_array_equal(getattr(truth, name), column)
    batches = list(decode_frames(path, DecodeConfig(batch_size=5)))
    index = np.concatenate([b.index for b in batches])
    assert index.tolist() == list(range(12))
    decoded = np.concatenate([b.frames for b in batches])
    rendered = np.stack([frame(t) for t in range(12)]).astype(int)
    for t in (0, 6, 11):  # H.264 + yuv420p: close to the rendered frame t, not equal
        diff = np.abs(rendered - decoded[t].astype(int)).mean(axis=(1, 2, 3))
        assert diff[t] < 8.0
        assert int(np.argmin(diff)) == t


def test_write_demo_clip_rejects_odd_sizes(tmp_path: Path) -> None:
    with pytest.raises(InputFormatError, match="must be even, got 321x180"):
        write_demo_clip(tmp_path / "x.mp4", width=321, height=180)
    assert not list(tmp_path.iterdir())
