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

__all__ = ["CODEC_OPTIONS", "garble", "noise_frames", "patch_frames", "truncate", "write_clip"]

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
    rotation: int = 0,
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
        rotation: display rotation written to the container (degrees counter-clockwise, as
            `VideoFrame.rotation` reads it back); players turn the frames by it. Not in AVI.

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
        if rotation:
            stream.set_display_rotation(rotation)
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


def noise_frames(n: int, height: int = 48, width: int = 64, seed: int = 0
                 ) -> npt.NDArray[np.uint8]:
    """Seeded random frames: every frame costs about the same bytes to encode, so cutting a file
    at a fraction of its bytes cuts about that fraction of its frames.

    Returns:
        (n, height, width, 3) uint8 RGB.
    """
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, height, width, 3), np.uint8)


def truncate(source: str | Path, target: str | Path, fraction: float) -> Path:
    """Write the first `fraction` of `source`'s bytes to `target` (a copy cut short)."""
    data = Path(source).read_bytes()
    target = Path(target)
    target.write_bytes(data[: int(len(data) * fraction)])
    return target


def garble(source: str | Path, target: str | Path, at: float, n_bytes: int,
           seed: int = 0) -> Path:
    """Copy `source` to `target` with `n_bytes` seeded random bytes written over it at fraction
    `at` of its length (damage in the middle; the length stays the same)."""
    data = bytearray(Path(source).read_bytes())
    start = int(len(data) * at)
    data[start:start + n_bytes] = np.random.default_rng(seed).integers(
        0, 256, min(n_bytes, len(data) - start), np.uint8).tobytes()
    target = Path(target)
    target.write_bytes(bytes(data))
    return target
