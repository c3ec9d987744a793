"""Test helper: write small synthetic video clips with PyAV (any codec, container, frame rate).

Test modules import it as `from tests._video import write_clip` (pytest's importlib mode registers
the `tests` package). Nothing here is part of the library.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Sequence

import av
import numpy as np
import numpy.typing as npt

__all__ = ["CODEC_OPTIONS", "patch_frames", "write_clip"]

# Near-lossless, quiet encoder settings so decoded pixels can be compared with written ones.
CODEC_OPTIONS: dict[str, dict[str, str]] = {
    "libx264": {"crf": "4", "preset": "medium"},  # medium keeps B-frames (reordered output)
    "libx265": {"crf": "4", "preset": "fast", "x265-params": "log-level=error"},
    "mpeg4": {"qscale": "2"},
}


def write_clip(
    path: str | Path,
    frames_rgb: npt.NDArray[np.uint8] | Sequence[npt.NDArray[np.uint8]],
    fps: float,
    codec: str = "libx264",
    container: str | None = None,
    pts: Sequence[int] | None = None,
    time_base: Fraction | None = None,
    options: dict[str, str] | None = None,
) -> Path:
    """Encode RGB frames into a video file.

    Args:
        path: output file; its suffix picks the container unless `container` is given.
        frames_rgb: (n, h, w, 3) uint8 RGB frames (h and w even for 4:2:0 codecs).
        fps: nominal frame rate written to the stream (frames per second).
        codec: PyAV encoder name: "libx264", "libx265", "mpeg4", ...
        container: FFmpeg format name ("mp4", "avi", "matroska", "mov"); None guesses from path.
        pts: (n,) strictly increasing presentation timestamps in units of `time_base`, for
            variable frame rate; None writes frame i at i / fps.
        time_base: unit of `pts` in seconds; None uses 1 / fps.
        options: muxer options, e.g. {"movflags": "+faststart"} to put an MP4's index first.

    Returns:
        The path written.
    """
    path = Path(path)
    rate = Fraction(fps).limit_denominator(100_000)
    time_base = time_base if time_base is not None else 1 / rate
    with av.open(str(path), mode="w", format=container, options=options or {}) as out:
        stream = out.add_stream(codec, rate=rate, options=CODEC_OPTIONS.get(codec, {}))
        first = np.asarray(frames_rgb[0])
        stream.width, stream.height = int(first.shape[1]), int(first.shape[0])
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = time_base
        for i, rgb in enumerate(frames_rgb):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            frame.pts = int(pts[i]) if pts is not None else int(round(i / rate / time_base))
            frame.time_base = time_base
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def patch_frames(n: int, height: int = 64, width: int = 96) -> npt.NDArray[np.uint8]:
    """Frames of four flat colour quadrants whose brightness depends on the frame index.

    Red, green, blue and grey quadrants tell a channel swap apart; the level (40 + 6 * i) % 200
    tells frames apart, so a test can check order as well as colour.

    Returns:
        (n, height, width, 3) uint8 RGB.
    """
    frames = np.zeros((n, height, width, 3), np.uint8)
    h2, w2 = height // 2, width // 2
    for i in range(n):
        level = 40 + (6 * i) % 200
        frames[i, :h2, :w2] = (level, 0, 0)
        frames[i, :h2, w2:] = (0, level, 0)
        frames[i, h2:, :w2] = (0, 0, level)
        frames[i, h2:, w2:] = (level, level, level)
    return frames
