"""Frame batches: the decoded-pixels type, and copying decoded frames into one.

A `FrameBatch` holds its frames either as RGB (`rgb24`, (b, h, w, 3)) or as the decoder's own
YUV 4:2:0 planes (`yuv420p`, (b, h * 3 // 2, w)): half the bytes, and no colour conversion on
the CPU, which costs about as much as decoding itself. A detector that prepares its input on the
GPU converts YUV there (`trackannot.detect.pixels`); `DecodeConfig.pixel_format` picks the form.

YUV layout. Each frame is one (h * 3 // 2, w) uint8 block: the Y plane (h rows of w), then the U
plane and then the V plane ((h / 2) x (w / 2) each), packed row-major into the last h / 2 rows,
as PyAV's `VideoFrame.to_ndarray()` gives it for yuv420p. Width and height must be even (4:2:0
chroma covers 2 x 2 pixels); a video with an odd size is batched as RGB instead.

Colour. `colorspace` and `full_range` record how the YUV values map to RGB, read from the
stream's tags as FFmpeg's converter reads them: BT.709 when tagged so, BT.2020, SMPTE 240M and
FCC likewise, BT.601 otherwise (untagged streams included); limited range (16-235) unless tagged
full (JPEG) range.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import av
import numpy as np
import numpy.typing as npt

from trackannot.errors import InputFormatError

__all__ = ["COLORSPACES", "PIXEL_FORMATS", "Allocator", "BatchBuilder", "FrameBatch"]

PIXEL_FORMATS = ("rgb24", "yuv420p")
# YUV -> RGB matrices by name; the values are (Kr, Kb) of each standard (Kg = 1 - Kr - Kb)
COLORSPACES: dict[str, tuple[float, float]] = {
    "bt601": (0.299, 0.114),
    "bt709": (0.2126, 0.0722),
    "bt2020": (0.2627, 0.0593),
    "smpte240m": (0.212, 0.087),
    "fcc": (0.30, 0.11),
}
# FFmpeg's AVColorSpace codes -> our names, as swscale picks its coefficients (anything else,
# unspecified included, is BT.601)
_AVCOL_SPC = {1: "bt709", 4: "fcc", 7: "smpte240m", 9: "bt2020", 10: "bt2020"}
_AVCOL_RANGE_JPEG = 2

# Makes the array a batch is decoded into, given its shape (always uint8). The default is
# `np.empty`; a detector that copies batches to a GPU can hand out pinned memory instead.
Allocator = Callable[[tuple[int, ...]], npt.NDArray[np.uint8]]


@dataclass(frozen=True, slots=True, eq=False)  # a generated __eq__ breaks on arrays
class FrameBatch:
    """Consecutive decoded (and possibly sampled) frames of one video.

    Attributes:
        frames: (b, h, w, 3) uint8 RGB when `pixel_format` is "rgb24"; (b, h * 3 // 2, w) uint8
            Y, U, V planes when it is "yuv420p" (module docstring).
        index: (b,) int64, 0-based index of each frame among ALL decoded frames of the source, so
            sampled frames keep their source index (strictly increasing).
        time_s: (b,) float64, presentation time in seconds from the stream start (non-decreasing).
        pixel_format: "rgb24" or "yuv420p".
        colorspace: the YUV -> RGB matrix, a key of `COLORSPACES` (unused for rgb24).
        full_range: YUV values span 0-255 (JPEG range) rather than 16-235 (unused for rgb24).
    """

    frames: npt.NDArray[np.uint8]
    index: npt.NDArray[np.int64]
    time_s: npt.NDArray[np.float64]
    pixel_format: str = "rgb24"
    colorspace: str = "bt601"
    full_range: bool = False

    def __post_init__(self) -> None:
        f, i, t = self.frames, self.index, self.time_s
        if self.pixel_format not in PIXEL_FORMATS:
            raise InputFormatError(
                f"pixel_format must be one of {PIXEL_FORMATS}, got {self.pixel_format!r}")
        if self.colorspace not in COLORSPACES:
            raise InputFormatError(
                f"colorspace must be one of {tuple(COLORSPACES)}, got {self.colorspace!r}")
        if self.pixel_format == "rgb24":
            if f.ndim != 4 or f.shape[3] != 3 or f.dtype != np.uint8:
                raise InputFormatError(f"frames must be (b, h, w, 3) uint8 for rgb24, got "
                                       f"{f.shape} {f.dtype}")
        elif f.ndim != 3 or f.dtype != np.uint8 or f.shape[1] % 3 or f.shape[2] % 2:
            # (h * 3 // 2) rows with h even is any multiple of 3 rows
            raise InputFormatError(f"frames must be (b, h * 3 // 2, w) uint8 with h and w even "
                                   f"for yuv420p, got {f.shape} {f.dtype}")
        b = f.shape[0]
        if i.shape != (b,) or i.dtype != np.int64:
            raise InputFormatError(f"index must be ({b},) int64, got {i.shape} {i.dtype}")
        if t.shape != (b,) or t.dtype != np.float64:
            raise InputFormatError(f"time_s must be ({b},) float64, got {t.shape} {t.dtype}")

    def __len__(self) -> int:
        return int(self.index.shape[0])

    @property
    def height(self) -> int:
        """Frame height in pixels."""
        rows = int(self.frames.shape[1])
        return rows if self.pixel_format == "rgb24" else rows * 2 // 3

    @property
    def width(self) -> int:
        """Frame width in pixels."""
        return int(self.frames.shape[2])


def _empty(shape: tuple[int, ...]) -> npt.NDArray[np.uint8]:
    return np.empty(shape, np.uint8)


class BatchBuilder:
    """Copies kept frames into a batch array and hands out full batches.

    The first frame fixes the frame size (later frames of another size are scaled to it, so boxes
    stay comparable), the pixel format (yuv420p falls back to rgb24 for odd sizes) and the colour
    tags. Each frame is copied once, plane by plane, from the decoder's buffers into the batch.
    """

    def __init__(self, batch_size: int, pixel_format: str = "rgb24",
                 allocate: Allocator | None = None) -> None:
        if pixel_format not in PIXEL_FORMATS:
            raise ValueError(f"pixel_format must be one of {PIXEL_FORMATS}, got {pixel_format!r}")
        self._size = batch_size
        self._format = pixel_format
        self._allocate = allocate or _empty
        self._reformatter = av.video.reformatter.VideoReformatter()
        self._shape: tuple[int, int] | None = None  # (h, w) of the first frame
        self._colorspace, self._full_range = "bt601", False
        self._frames: npt.NDArray[np.uint8] | None = None
        self._index: list[int] = []
        self._time_s: list[float] = []

    def add(self, frame: av.VideoFrame, index: int, time_s: float) -> FrameBatch | None:
        """Copy `frame` into the batch; returns the batch when this frame filled it."""
        if self._shape is None:
            self._start(frame)
        h, w = self._shape  # type: ignore[misc]
        if self._frames is None:
            shape = (h, w, 3) if self._format == "rgb24" else (h * 3 // 2, w)
            self._frames = self._allocate((self._size, *shape))
        out = self._reformatter.reformat(frame, width=w, height=h, format=self._format)
        _copy_planes(out, self._frames[len(self._index)], h, w)
        self._index.append(index)
        self._time_s.append(time_s)
        return self.take() if len(self._index) == self._size else None

    def take(self) -> FrameBatch | None:
        """The frames added since the last batch (None when there are none)."""
        n = len(self._index)
        if n == 0 or self._frames is None:
            return None
        batch = FrameBatch(
            frames=self._frames if n == self._size else self._frames[:n].copy(),
            index=np.asarray(self._index, np.int64),
            time_s=np.asarray(self._time_s, np.float64),
            pixel_format=self._format, colorspace=self._colorspace, full_range=self._full_range,
        )
        self._frames, self._index, self._time_s = None, [], []
        return batch

    def _start(self, frame: av.VideoFrame) -> None:
        self._shape = (frame.height, frame.width)
        if frame.height % 2 or frame.width % 2:
            self._format = "rgb24"
        # the source's tags: conversion to yuv420p keeps them (a full-range yuvj420p source
        # stays full range)
        self._colorspace = _AVCOL_SPC.get(int(frame.colorspace), "bt601")
        self._full_range = int(frame.color_range) == _AVCOL_RANGE_JPEG or \
            frame.format.name.startswith("yuvj")


def _copy_planes(frame: av.VideoFrame, out: npt.NDArray[np.uint8], h: int, w: int) -> None:
    """Copy an rgb24 or yuv420p frame's planes (whose rows may be padded) into `out`."""
    if frame.format.name == "rgb24":
        _copy_plane(frame.planes[0], out.reshape(h, w * 3), h, w * 3)
        return
    flat = out.reshape(-1)
    quarter = (h // 2) * (w // 2)
    _copy_plane(frame.planes[0], flat[: h * w].reshape(h, w), h, w)
    for k, start in ((1, h * w), (2, h * w + quarter)):
        _copy_plane(frame.planes[k], flat[start:start + quarter].reshape(h // 2, w // 2),
                    h // 2, w // 2)


def _copy_plane(plane: av.video.plane.VideoPlane, out: npt.NDArray[np.uint8], rows: int,
                row_bytes: int) -> None:
    src = np.frombuffer(plane, np.uint8)
    out[...] = src[: rows * plane.line_size].reshape(rows, plane.line_size)[:, :row_bytes]
