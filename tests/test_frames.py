"""Frame batches: RGB and YUV 4:2:0 forms, colour tags, and the decoder's copies into them."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from trackannot.config import DecodeConfig
from trackannot.decode import decode_frames
from trackannot.errors import InputFormatError
from trackannot.frames import BatchBuilder, FrameBatch
from tests._video import patch_frames, write_clip


def _index(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.arange(n, dtype=np.int64), np.zeros(n, np.float64)


@pytest.mark.parametrize(
    ("frames", "kwargs", "match"),
    [
        (np.zeros((2, 6, 4), np.uint8), {"pixel_format": "yuv420p"}, None),
        (np.zeros((2, 6, 4, 3), np.uint8), {}, None),
        (np.zeros((2, 6, 4, 3), np.uint8), {"pixel_format": "yuv420p"}, "yuv420p, got"),
        (np.zeros((2, 7, 4), np.uint8), {"pixel_format": "yuv420p"}, r"\(2, 7, 4\)"),
        (np.zeros((2, 9, 4), np.uint8), {"pixel_format": "yuv420p"}, None),  # h = 6
        (np.zeros((2, 6, 5), np.uint8), {"pixel_format": "yuv420p"}, "h and w even"),
        (np.zeros((2, 6, 4), np.float32), {"pixel_format": "yuv420p"}, "float32"),
        (np.zeros((2, 6, 4), np.uint8), {"pixel_format": "nv12"}, "pixel_format must be"),
        (np.zeros((2, 6, 4, 3), np.uint8), {"colorspace": "srgb"}, "colorspace must be"),
    ],
    ids=["yuv-ok", "rgb-ok", "rgb-shape-as-yuv", "yuv-rows-not-3/2", "yuv-h6",
         "yuv-odd-width", "yuv-float", "unknown-format", "unknown-colorspace"],
)
def test_frame_batch_checks_its_form(frames: np.ndarray, kwargs: dict, match: str | None) -> None:
    index, time_s = _index(2)
    if match is None:
        batch = FrameBatch(frames, index, time_s, **kwargs)
        assert batch.height == (frames.shape[1] * 2 // 3 if frames.ndim == 3 else 6)
        assert batch.width == 4
    else:
        with pytest.raises(InputFormatError, match=match):
            FrameBatch(frames, index, time_s, **kwargs)


def test_yuv_batches_hold_the_decoders_planes(tmp_path: Path) -> None:
    path = write_clip(tmp_path / "clip.mp4", patch_frames(10, height=48, width=64), fps=25)
    with av.open(str(path)) as container:
        want = np.stack([f.to_ndarray() for f in container.decode(video=0)])  # yuv420p planes
    batches = list(decode_frames(path, DecodeConfig(pixel_format="yuv420p", batch_size=4)))
    assert [len(b) for b in batches] == [4, 4, 2]
    assert {b.pixel_format for b in batches} == {"yuv420p"}
    got = np.concatenate([b.frames for b in batches])
    assert got.shape == (10, 72, 64)
    np.testing.assert_array_equal(got, want)


def test_yuv_and_rgb_batches_index_the_same_frames(tmp_path: Path) -> None:
    path = write_clip(tmp_path / "clip.mp4", patch_frames(30), fps=30)
    cfg = DecodeConfig(fps=10, batch_size=4)
    rgb = list(decode_frames(path, cfg))  # "auto" is RGB outside the pipeline
    yuv = list(decode_frames(path, DecodeConfig(fps=10, batch_size=4, pixel_format="yuv420p")))
    assert {b.pixel_format for b in rgb} == {"rgb24"}
    np.testing.assert_array_equal(np.concatenate([b.index for b in rgb]),
                                  np.concatenate([b.index for b in yuv]))
    np.testing.assert_array_equal(np.concatenate([b.time_s for b in rgb]),
                                  np.concatenate([b.time_s for b in yuv]))


def _encode(path: Path, frames: np.ndarray, codec: str, pix_fmt: str,
            tags: dict[str, int] | None = None) -> Path:
    """Frames encoded with one codec and pixel format; `tags` sets colorspace/color_range."""
    with av.open(str(path), mode="w") as out:
        stream = out.add_stream(codec, rate=Fraction(10))
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = pix_fmt
        for key, value in (tags or {}).items():
            setattr(stream.codec_context, key, value)
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format=pix_fmt)
            for key, value in (tags or {}).items():
                setattr(frame, key, value)
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


@pytest.mark.parametrize(
    ("name", "codec", "pix_fmt", "tags", "colorspace", "full_range"),
    [
        ("untagged.mp4", "libx264", "yuv420p", None, "bt601", False),
        ("hd.mp4", "libx264", "yuv420p", {"colorspace": 1, "color_range": 1}, "bt709", False),
        ("jpeg.avi", "mjpeg", "yuvj420p", None, "bt601", True),
        ("jpeg422.avi", "mjpeg", "yuvj422p", None, "bt601", True),
    ],
    ids=["h264-untagged", "h264-bt709", "mjpeg-full-range", "mjpeg-422"],
)
def test_yuv_batches_record_the_streams_colour_tags(
        tmp_path: Path, name: str, codec: str, pix_fmt: str, tags: dict | None,
        colorspace: str, full_range: bool) -> None:
    path = _encode(tmp_path / name, patch_frames(3, height=32, width=48), codec, pix_fmt, tags)
    batch = next(decode_frames(path, DecodeConfig(pixel_format="yuv420p")))
    assert (batch.pixel_format, batch.colorspace, batch.full_range) == (
        "yuv420p", colorspace, full_range)


def test_odd_sized_videos_are_batched_as_rgb(tmp_path: Path) -> None:
    frames = np.random.default_rng(5).integers(0, 256, (3, 33, 47, 3), dtype=np.uint8)
    path = _encode(tmp_path / "odd.mkv", frames, "ffv1", "bgr0")
    batch = next(decode_frames(path, DecodeConfig(pixel_format="yuv420p")))
    assert batch.pixel_format == "rgb24"
    np.testing.assert_array_equal(batch.frames, frames)  # ffv1 is lossless


def test_batches_go_into_the_memory_the_allocator_gives(tmp_path: Path) -> None:
    path = write_clip(tmp_path / "clip.mp4", patch_frames(5, height=48, width=64), fps=25)
    given: list[np.ndarray] = []

    def allocate(shape: tuple[int, ...]) -> np.ndarray:
        given.append(np.full(shape, 7, np.uint8))
        return given[-1]

    batches = list(decode_frames(path, DecodeConfig(pixel_format="yuv420p", batch_size=2),
                                 allocate))
    assert [a.shape for a in given] == [(2, 72, 64)] * 3
    assert batches[0].frames is given[0] and batches[1].frames is given[1]
    assert not np.shares_memory(batches[2].frames, given[2])  # the short tail is a copy
    assert batches[2].frames.shape == (1, 72, 64)


def test_builder_rejects_an_unknown_format() -> None:
    with pytest.raises(ValueError, match="pixel_format must be one of"):
        BatchBuilder(4, "nv12")
