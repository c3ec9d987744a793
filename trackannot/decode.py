"""Decoding: stream a video file into batches of frames, sampled by timestamp at a target fps.

`decode_frames` decodes with PyAV (FFmpeg) in a background thread and hands batches through a
bounded queue, so decoding overlaps the next stage. Batches hold RGB or the decoder's YUV planes
(`trackannot.frames`, `DecodeConfig.pixel_format`). Memory stays at about
`(prefetch_batches + 2) x batch_size` frames plus `_REORDER_WINDOW_FRAMES` decoded (YUV) frames,
whatever the video length.

Timestamps. `time_s` is the presentation time in seconds from the stream start. Decoders output
frames in display order, but some containers store decode-order timestamps (AVI with B-frames,
such as the PETS09 vtest clip), so `frame.pts` comes out permuted: 1, 4, 3, 5, 2, ... Each frame
therefore gets the smallest pts among itself and the next `_REORDER_WINDOW_FRAMES - 1` frames
(a sorting window); for well-formed streams the pts already increase and nothing changes.
`time_s` never decreases.

Sampling rule (`DecodeConfig.fps`). Output ticks are `t0 + k / fps` for k = 0, 1, 2, ..., with t0
the time of the first decoded frame. A frame is kept when it is the first frame whose timestamp
reaches a tick not reached before (to within `_TICK_TOLERANCE_S`, because containers such as
Matroska round timestamps to milliseconds). So a 30 fps source at 10 fps keeps frames 0, 3, 6, ...;
at 7.5 fps it keeps 0, 4, 8, ...; a 25 fps source at 10 fps keeps 0, 3, 5, 8, 10, ... (t = 0, 120,
200, 320, 400 ms); a variable-frame-rate source keeps the first frame at or after each tick; and a
source slower than the target keeps every frame once (frames are never duplicated).
"""

from __future__ import annotations

import hashlib
import heapq
import math
from collections import deque
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av

from trackannot.config import DecodeConfig
from trackannot.errors import VideoDecodeError
from trackannot.frames import Allocator, BatchBuilder, FrameBatch
from trackannot.overlap import in_background

__all__ = ["FrameBatch", "VideoInfo", "decode_frames", "probe_video"]

# Decoded frames whose pts are sorted together (see the module docstring). H.264 and HEVC keep at
# most 16 reference frames, so no valid stream reorders further; costs up to 16 YUV frames of RAM.
_REORDER_WINDOW_FRAMES = 16
# A frame this much before a tick still reaches it (Matroska stores milliseconds). Capped below at
# a quarter of the source or target frame interval, whichever is shorter.
_TICK_TOLERANCE_S = 1e-3
# Bytes hashed for `VideoInfo.first_mib_sha256`.
_IDENTITY_BYTES = 1 << 20
_THREAD_NAME = "trackannot-decode"


@dataclass(frozen=True)
class VideoInfo:
    """What the container header says about a video, read without decoding it.

    Attributes:
        path: the file.
        width, height: frame size in pixels.
        fps: average frame rate in frames per second (0.0 when the container gives none).
        frame_count: frames in the stream as the header states, else estimated from duration x
            fps, else None. An estimate: decoding may give a few more or fewer.
        duration_s: stream (else container) duration in seconds, None when unknown.
        codec: FFmpeg decoder name, e.g. "h264", "hevc", "mpeg4".
        size_bytes: file size.
        first_mib_sha256: hex SHA-256 of the first MiB of the file, the input's identity.
    """

    path: Path
    width: int
    height: int
    fps: float
    frame_count: int | None
    duration_s: float | None
    codec: str
    size_bytes: int
    first_mib_sha256: str


def probe_video(path: str | Path) -> VideoInfo:
    """Read a video's header (no frames are decoded) and hash its first MiB.

    Raises:
        VideoDecodeError: missing or empty file, not a container FFmpeg can read, or no video
            stream.
    """
    p, size = _check_file(path)
    with _open_container(p) as container:
        stream = _video_stream(container, p)
        fps_q = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(fps_q) if fps_q else 0.0
        duration_s = _duration_s(container, stream)
        frame_count: int | None = int(stream.frames) if stream.frames else None
        if frame_count is None and duration_s is not None and fps > 0:
            frame_count = int(round(duration_s * fps))
        info = VideoInfo(
            path=p, width=int(stream.width), height=int(stream.height), fps=fps,
            frame_count=frame_count, duration_s=duration_s, codec=stream.codec_context.name,
            size_bytes=size, first_mib_sha256=_first_mib_sha256(p),
        )
    return info


def decode_frames(path: str | Path, cfg: DecodeConfig,
                  allocate: Allocator | None = None) -> Iterator[FrameBatch]:
    """Stream a video as `FrameBatch`es of `cfg.batch_size` frames (the last may be shorter).

    The file is checked when this is called; decoding starts on the first `next()` in a
    background thread that stays at most `cfg.prefetch_batches` batches ahead. Closing the
    iterator early (`break`, `.close()`, an exception in the loop) stops and joins the thread.

    Args:
        path: video file (mp4, avi, mkv, mov, ... with any codec FFmpeg decodes).
        cfg: sampling rate, batch size, pixel format ("auto" gives rgb24 here; the pipeline
            resolves it for its detector), decoder threads, prefetch depth.
        allocate: makes each batch's frames array from its shape (default `np.empty`); a
            detector that copies batches to a GPU passes one giving pinned memory.

    Returns:
        An iterator of batches in display order; see the module docstring for timestamps and the
        sampling rule.

    Raises:
        VideoDecodeError: at call time for a missing, empty or unreadable file or one without a
            video stream; during iteration when the decoder fails (a damaged or truncated file).
            In that case every frame decoded before the failure has been yielded first, and the
            message says how many frames were decoded and kept.

    Example:
        >>> for batch in decode_frames("clip.mp4", DecodeConfig(fps=10, batch_size=8)):
        ...     detector.detect(batch)  # doctest: +SKIP
    """
    p, _ = _check_file(path)
    with _open_container(p) as container:
        _video_stream(container, p)
    return _prefetched(p, cfg, allocate)


# -- opening -----------------------------------------------------------------------------------


def _check_file(path: str | Path) -> tuple[Path, int]:
    p = Path(path)
    if not p.exists():
        raise VideoDecodeError(f"{p}: video file not found; check the path")
    if not p.is_file():
        raise VideoDecodeError(f"{p}: expected a video file, got a directory or special file")
    size = p.stat().st_size
    if size == 0:
        raise VideoDecodeError(f"{p}: video file is empty (0 bytes); re-copy or re-export it")
    return p, size


def _hwaccel(mode: str) -> av.codec.hwaccel.HWAccel | None:
    """The PyAV hardware decoder for `DecodeConfig.hwaccel` (None: decode on the CPU)."""
    if mode == "none":
        return None
    if mode == "auto":
        import torch  # a dependency of the detector anyway

        if not torch.cuda.is_available() or "cuda" not in av.codec.hwaccel.hwdevices_available():
            return None
    from av.codec.hwaccel import HWAccel

    return HWAccel(device_type="cuda", allow_software_fallback=True)


def _open_container(p: Path, hwaccel: str = "none") -> av.container.InputContainer:
    """Open `p`; with hwaccel "auto"/"cuda" on the GPU decoder (see `DecodeConfig.hwaccel`)."""
    accel = _hwaccel(hwaccel)
    if accel is not None:
        try:
            return av.open(str(p), mode="r", hwaccel=accel)
        except (av.FFmpegError, OSError) as err:
            if hwaccel == "cuda":
                raise VideoDecodeError(
                    f"{p}: the CUDA hardware decoder could not start ({type(err).__name__}: "
                    f"{err}); set decode.hwaccel to auto or none to decode on the CPU"
                ) from err
    try:
        return av.open(str(p), mode="r")
    except (av.FFmpegError, OSError) as err:
        raise VideoDecodeError(
            f"{p}: FFmpeg cannot read this file as a video container ({err.strerror or err}); "
            "expected mp4, avi, mkv, mov, ... An MP4 cut short before its index (moov atom) "
            "cannot be opened: check the file is complete and really a video"
        ) from err


def _video_stream(container: av.container.InputContainer, p: Path) -> av.VideoStream:
    if not container.streams.video:
        kinds = ", ".join(s.type for s in container.streams) or "no streams at all"
        raise VideoDecodeError(
            f"{p}: no video stream (found: {kinds}); expected a file with a video track"
        )
    return container.streams.video[0]


def _duration_s(container: av.container.InputContainer, stream: av.VideoStream) -> float | None:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    return None


def _first_mib_sha256(p: Path) -> str:
    with p.open("rb") as fh:
        return hashlib.sha256(fh.read(_IDENTITY_BYTES)).hexdigest()


# -- timestamps and sampling -------------------------------------------------------------------


class _DisplayClock:
    """Gives frames, in decoder output order, non-decreasing display times (module docstring)."""

    def __init__(self, stream: av.VideoStream) -> None:
        self._time_base = stream.time_base or Fraction(1, 1)
        self._start = stream.start_time  # None: the first frame's pts
        rate = stream.average_rate or stream.guessed_rate
        # pts given to a frame without one: the largest pts so far plus one nominal frame
        self._step = max(1, round(1 / (rate * self._time_base))) if rate else 1
        self._max_pts: int | None = None
        self._heap: list[int] = []
        self._pending: deque[av.VideoFrame] = deque()
        self._last_s = -math.inf

    def push(self, frame: av.VideoFrame) -> Iterator[tuple[av.VideoFrame, float]]:
        pts = frame.pts
        if pts is None:
            pts = 0 if self._max_pts is None else self._max_pts + self._step
        self._max_pts = pts if self._max_pts is None else max(self._max_pts, pts)
        heapq.heappush(self._heap, pts)
        self._pending.append(frame)
        if len(self._pending) >= _REORDER_WINDOW_FRAMES:
            yield self._pop()

    def stamp(self, frames: Iterator[av.VideoFrame]) -> Iterator[tuple[av.VideoFrame, float]]:
        """All of `frames` with their times; when `frames` fails, flushes the window, re-raises."""
        try:
            for frame in frames:
                yield from self.push(frame)
        except (av.FFmpegError, _IncompletePacket):
            yield from self.flush()
            raise
        yield from self.flush()

    def flush(self) -> Iterator[tuple[av.VideoFrame, float]]:
        while self._pending:
            yield self._pop()

    def _pop(self) -> tuple[av.VideoFrame, float]:
        pts = heapq.heappop(self._heap)
        if self._start is None:
            self._start = pts
        self._last_s = max(self._last_s, float((pts - self._start) * self._time_base))
        return self._pending.popleft(), self._last_s


class _TickSampler:
    """Keeps the first frame reaching each tick t0 + k / fps (module docstring); None keeps all."""

    def __init__(self, fps: float | None, source_fps: float) -> None:
        self._fps = fps
        fastest = max(fps or 0.0, source_fps)
        self._tol_s = min(_TICK_TOLERANCE_S, 0.25 / fastest) if fastest > 0 else _TICK_TOLERANCE_S
        self._t0: float | None = None
        self._next_tick = 0  # k of the first tick no kept frame has reached

    def keep(self, time_s: float) -> bool:
        if self._fps is None:
            return True
        if self._t0 is None:
            self._t0 = time_s
        since_t0 = time_s - self._t0 + self._tol_s
        if since_t0 * self._fps < self._next_tick:
            return False
        # every tick up to this frame's time is now reached; the next one is still open
        self._next_tick = math.floor(since_t0 * self._fps) + 1
        return True


# -- synchronous decoding ----------------------------------------------------------------------


class _IncompletePacket(Exception):
    """The last packet of the stream is flagged corrupt: the file ends inside it."""


def _decoded_frames(
    container: av.container.InputContainer, stream: av.VideoStream
) -> Iterator[av.VideoFrame]:
    """Frames in decoder output order.

    A packet the demuxer flags corrupt is held back one packet: if the stream ends right after
    it, the file was truncated inside it, so it is not decoded (a partial packet makes decoders
    fail, or, with frame threading, silently lose frames) and `_IncompletePacket` is raised.
    Corrupt packets mid-stream (e.g. an MPEG-TS continuity glitch) are decoded; FFmpeg conceals
    the damage. On any error the frames still inside the decoder are drained first.
    """
    error: Exception | None = None
    held: av.Packet | None = None
    try:
        for packet in container.demux(stream):
            if held is not None and packet.size == 0:  # the end-of-stream flush packet
                break
            if held is not None:
                yield from stream.decode(held)
                held = None
            if packet.is_corrupt:
                held = packet
                continue
            yield from stream.decode(packet)  # the empty last packet flushes the decoder
        if held is not None:  # the stream ended right after a corrupt packet
            error = _IncompletePacket(f"the file ends inside its last packet{_at(held)}")
    except av.FFmpegError as err:
        error = err
    if error is None:
        return
    try:
        drained = stream.codec_context.decode(None)
    except av.FFmpegError:
        drained = []  # nothing more to recover; report the first error
    yield from drained
    raise error


def _at(packet: av.Packet) -> str:
    if packet.pts is None or packet.time_base is None:
        return ""
    return f" (at {float(packet.pts * packet.time_base):.3f} s)"


def _decode_batches(path: Path, cfg: DecodeConfig,
                    allocate: Allocator | None) -> Iterator[FrameBatch]:
    """Decode, timestamp, sample and batch one file in the calling thread."""
    with _open_container(path, cfg.hwaccel) as container:
        stream = _video_stream(container, path)
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = cfg.threads
        rate = stream.average_rate or stream.guessed_rate
        clock = _DisplayClock(stream)
        sampler = _TickSampler(cfg.fps, float(rate) if rate else 0.0)
        pixel_format = "rgb24" if cfg.pixel_format == "auto" else cfg.pixel_format
        builder = BatchBuilder(cfg.batch_size, pixel_format, allocate)
        decoded = kept = 0
        error: Exception | None = None
        try:
            for frame, time_s in clock.stamp(_decoded_frames(container, stream)):
                if sampler.keep(time_s):
                    kept += 1
                    batch = builder.add(frame, decoded, time_s)
                    if batch is not None:
                        yield batch
                decoded += 1
        except (av.FFmpegError, _IncompletePacket) as err:
            error = err  # raised below, after the valid frames already decoded
        last = builder.take()
        if last is not None:
            yield last
    if error is not None:
        reason = getattr(error, "strerror", None) or str(error)
        raise VideoDecodeError(
            f"{path}: decoding failed after {decoded} frames ({kept} kept and yielded): {reason}. "
            "The file is damaged or truncated; the frames yielded before this error are valid"
        ) from error
    if decoded == 0:
        raise VideoDecodeError(
            f"{path}: the video stream holds no decodable frame; the file is damaged or truncated"
        )


# -- background prefetch -----------------------------------------------------------------------


def _prefetched(path: Path, cfg: DecodeConfig,
                allocate: Allocator | None) -> Iterator[FrameBatch]:
    """Run `_decode_batches` in a thread (`trackannot.overlap.in_background`)."""
    return in_background(lambda: _decode_batches(path, cfg, allocate), cfg.prefetch_batches,
                         _THREAD_NAME)
