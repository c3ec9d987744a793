"""YUV 4:2:0 and RGB batches to network input: the conversion equations and FFmpeg agreement."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from trackannot.config import DecodeConfig
from trackannot.decode import decode_frames
from trackannot.detect.pixels import batch_rgb, batch_to_device, yuv_to_rgb_affine
from trackannot.frames import COLORSPACES, FrameBatch
from tests._devices import DEVICES
from tests._video import patch_frames, write_clip

# RGB (0..1) -> YUV by each standard's forward equations, the inverse of what is tested
def _rgb_to_yuv(rgb: np.ndarray, colorspace: str, full_range: bool) -> np.ndarray:
    kr, kb = COLORSPACES[colorspace]
    r, g, b = rgb
    y = kr * r + (1 - kr - kb) * g + kb * b
    cb, cr = (b - y) / (2 * (1 - kb)), (r - y) / (2 * (1 - kr))
    if full_range:
        return np.array([255 * y, 128 + 255 * cb, 128 + 255 * cr])
    return np.array([16 + 219 * y, 128 + 224 * cb, 128 + 224 * cr])


@pytest.mark.parametrize("full_range", [False, True], ids=["limited", "full"])
@pytest.mark.parametrize("colorspace", sorted(COLORSPACES))
def test_affine_inverts_each_standards_forward_equations(colorspace: str, full_range: bool) -> None:
    a, c = yuv_to_rgb_affine(colorspace, full_range)
    colours = np.random.default_rng(3).random((50, 3))
    colours[:3] = [[0, 0, 0], [1, 1, 1], [1, 0, 0]]
    for rgb in colours:
        np.testing.assert_allclose(a @ _rgb_to_yuv(rgb, colorspace, full_range) + c, rgb,
                                   atol=1e-12)


def test_limited_range_black_and_white_points() -> None:
    a, c = yuv_to_rgb_affine("bt601", False)
    np.testing.assert_allclose(a @ [16, 128, 128] + c, [0, 0, 0], atol=1e-12)
    np.testing.assert_allclose(a @ [235, 128, 128] + c, [1, 1, 1], atol=1e-12)


def _decoded(path: Path, pixel_format: str) -> FrameBatch:
    return next(decode_frames(path, DecodeConfig(pixel_format=pixel_format, batch_size=8)))


def _real_clips(data_dir: Path, tmp_path: Path) -> list[Path]:
    synthetic = write_clip(tmp_path / "patches.mp4", patch_frames(8, 72, 128), fps=10)
    return sorted((data_dir / "video").iterdir()) + [synthetic]


def test_yuv_frames_convert_like_ffmpeg(data_dir: Path, tmp_path: Path) -> None:
    # the real footage: MPEG-4 1080p (untagged: BT.601) and H.264 480x360 (tagged BT.709)
    seen = set()
    for path in _real_clips(data_dir, tmp_path):
        rgb, yuv = _decoded(path, "rgb24"), _decoded(path, "yuv420p")
        seen.add(yuv.colorspace)
        diff = np.abs(batch_rgb(yuv).astype(np.int16) - rgb.frames.astype(np.int16))
        assert diff.max() <= 3, path.name  # FFmpeg's fixed-point tables round differently
        assert diff.mean() < 1.5, path.name
    assert seen == {"bt601", "bt709"}


def test_resizing_the_planes_first_equals_converting_first(data_dir: Path) -> None:
    path = data_dir / "video" / "vtest_PETS09-S2L1_480x360_h264.avi"
    rgb, yuv = _decoded(path, "rgb24"), _decoded(path, "yuv420p")
    size = (rgb.height * 2 // 3, rgb.width * 2 // 3)
    want = F.interpolate(torch.from_numpy(rgb.frames).permute(0, 3, 1, 2).float() / 255,
                         size=size, mode="bilinear", align_corners=False)
    got = batch_to_device(yuv, "cpu", torch.float32, size)
    assert got.shape == want.shape == (len(yuv), 3, *size)
    diff = (got - want).abs() * 255
    assert diff.mean() < 1.5  # chroma resampled from its own grid differs only at colour edges
    assert np.percentile(diff.numpy(), 99) < 12


def test_rgb_batches_are_only_scaled_and_resized() -> None:
    frames = np.random.default_rng(0).integers(0, 256, (2, 6, 8, 3), dtype=np.uint8)
    batch = FrameBatch(frames, np.arange(2, dtype=np.int64), np.zeros(2))
    same = batch_to_device(batch, "cpu", torch.float32)
    np.testing.assert_allclose(same.numpy(), frames.transpose(0, 3, 1, 2) / 255.0, rtol=1e-6)
    assert batch_rgb(batch) is frames
    small = batch_to_device(batch, "cpu", torch.float32, (3, 4))
    assert small.shape == (2, 3, 3, 4) and small.is_contiguous()


def test_flat_yuv_values_give_the_expected_colour() -> None:
    # one 4x4 frame of Y=81, U=90, V=240: BT.601 limited-range pure red
    y, u, v = np.rint(_rgb_to_yuv(np.array([1.0, 0.0, 0.0]), "bt601", False)).astype(np.uint8)
    frame = np.concatenate([np.full(16, y), np.full(4, u), np.full(4, v)]).reshape(1, 6, 4)
    batch = FrameBatch(frame.astype(np.uint8), np.zeros(1, np.int64), np.zeros(1),
                       pixel_format="yuv420p")
    rgb = batch_rgb(batch)
    assert rgb.shape == (1, 4, 4, 3)
    assert np.abs(rgb.reshape(-1, 3).astype(int) - [255, 0, 0]).max() <= 2
    half = batch_to_device(batch, "cpu", torch.float16, (2, 2))
    assert half.dtype == torch.float16
    np.testing.assert_allclose(half.float().numpy()[0, :, 0, 0], [1, 0, 0], atol=0.01)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("pixel_format", ["rgb24", "yuv420p"])
def test_every_device_gives_the_cpu_float32_result(data_dir: Path, device: str,
                                                   pixel_format: str) -> None:
    batch = _decoded(data_dir / "video" / "vtest_PETS09-S2L1_480x360_h264.avi", pixel_format)
    want = batch_to_device(batch, "cpu", torch.float32, (240, 320))
    for dtype, atol in ((torch.float32, 1e-5), (torch.float16, 4e-3)):
        got = batch_to_device(batch, device, dtype, (240, 320))
        assert got.device.type == torch.device(device).type and got.dtype == dtype
        np.testing.assert_allclose(got.float().cpu().numpy(), want.numpy(), atol=atol)
