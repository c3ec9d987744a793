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

Orientation. Phones store portrait video as landscape frames plus a display rotation (a display
matrix in MP4/MOV/MKV/WebM). Players, browsers (Label Studio) and CVAT show the rotated picture,
so frames are turned upright before anything sees them (FFmpeg's transpose/flip filters, as the
`ffmpeg` command's autorotate does; only rotated videos pay for it), and boxes are in display
pixels. `VideoInfo.width`/`height` are the display size and `VideoInfo.rotation` the turn that
was applied (degrees counter-clockwise: 0, 90, 180, 270); mirroring in a display matrix is
ignored. AVI has no rotation field.

Damage. A decode that ends before the end its header states is damage, reported like a decoder
error: `VideoDecodeError` after every valid frame has been yielded (the pipeline marks the video
failed and keeps those frames). The rule compares time, not frame counts, because counts differ
from the header in healthy files (an MP4 edit list hides frames its sample count includes; AVI
counts the empty chunks of a variable frame rate; many counts are only duration x fps). The
stream is cut short when its decoded frames end (the last one's timestamp plus its duration, or
plus one nominal frame interval when it has none) more than
`max(_END_SLACK_S, _END_SLACK_FRAMES x max(nominal frame interval, longest gap between decoded
frames))` before the stated duration (`trackannot.probe.stated_duration_s`: MP4/MOV, AVI,
Matroska/WebM; other containers state none, and a cut there ends without a trace). Every
decoded frame counts, also those `DecodeConfig.fps` drops. The slack absorbs Matroska's
millisecond timestamps and the unknown length of a variable-frame-rate stream's last frame; a
cut losing more than 0.1 s of a 30 fps clip is still caught. Damage in the middle is FFmpeg's
to find: MP4/MOV decoders fail on it (an error); a Matroska demuxer stops at it (the rule above)
unless it finds the next cluster; H.264 in AVI is concealed. Where FFmpeg recovers, the frames
it could not decode are missing and the video completes (the kept frames' times show the gap).

No footage. A MOTChallenge seqinfo.ini in place of a video (`trackannot.seqinfo`) gives frames
0..seqLength - 1 at k / frameRate seconds, sampled by the same rule, in batches whose pixels are
one black value broadcast to the batch's shape (no memory; read-only): the indices, times and
size a detections file needs, and nothing to detect on.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av
import numpy as np

from trackannot.config import DecodeConfig
from trackannot.errors import VideoDecodeError
from trackannot.frames import Allocator, BatchBuilder, FrameBatch
from trackannot.overlap import in_background
from trackannot.probe import (
    VideoInfo, container_signature, open_video, probe_video, quarter_turns, stated_duration_s,
)
from trackannot.seqinfo import is_seqinfo, probe_seqinfo

# VideoInfo, probe_video and container_signature live in trackannot.probe; kept here too
__all__ = ["FrameBatch", "VideoInfo", "container_signature", "decode_frames", "probe_input",
           "probe_video"]

# Decoded frames whose pts are sorted together (see the module docstring). H.264 and HEVC keep at
# most 16 reference frames, so no valid stream reorders further; costs up to 16 YUV frames of RAM.
_REORDER_WINDOW_FRAMES = 16
# A frame this much before a tick still reaches it (Matroska stores milliseconds). Capped below at
# a quarter of the source or target frame interval, whichever is shorter.
_TICK_TOLERANCE_S = 1e-3
_THREAD_NAME = "trackannot-decode"
# A stream ending more than this before its stated duration is cut short (module docstring,
# Damage): _END_SLACK_S, or _END_SLACK_FRAMES x the longer of the nominal frame interval and the
# longest gap between decoded frames when that is more. 0.1 s absorbs Matroska's millisecond
# timestamps and the rounding of muxers that state the duration from another clock.
_END_SLACK_S = 0.1
_END_SLACK_FRAMES = 2
# FFmpeg filters turning a frame counter-clockwise by 1, 2 or 3 quarter turns (as the `ffmpeg`
# command's autorotate does).
_TURN_FILTERS = {1: (("transpose", "cclock"),), 2: (("hflip", ""), ("vflip", "")),
                 3: (("transpose", "clock"),)}


def decode_frames(path: str | Path, cfg: DecodeConfig,
                  allocate: Allocator | None = None) -> Iterator[FrameBatch]:
    """Stream a video as `FrameBatch`es of `cfg.batch_size` frames (the last may be shorter).

    The file is checked when this is called; decoding starts on the first `next()` in a
    background thread that stays at most `cfg.prefetch_batches` batches ahead. Closing the
    iterator early (`break`, `.close()`, an exception in the loop) stops and joins the thread.

    Args:
        path: video file (mp4, avi, mkv, mov, ... with any codec FFmpeg decodes), or a
            MOTChallenge seqinfo.ini standing for footage without pixels (module docstring).
        cfg: sampling rate, batch size, pixel format ("auto" gives rgb24 here; the pipeline
            resolves it for its detector), decoder threads, prefetch depth.
        allocate: makes each batch's frames array from its shape (default `np.empty`); a
            detector that copies batches to a GPU passes one giving pinned memory.

    Returns:
        An iterator of batches in display order; see the module docstring for timestamps and the
        sampling rule.

    Raises:
        VideoDecodeError: at call time for a missing, empty or unreadable file
            (`NotAVideoError` for one that holds no video); during iteration when the decoder fails or the stream ends
            before the duration its header states (a damaged or truncated file, module
            docstring). In that case every frame decoded before has been yielded first, and the
            message says how many frames were decoded and kept.

    Example:
        >>> for batch in decode_frames("clip.mp4", DecodeConfig(fps=10, batch_size=8)):
        ...     detector.detect(batch)  # doctest: +SKIP
    """
    if is_seqinfo(path):
        return _blank_batches(probe_seqinfo(path), cfg)
    return _prefetched(_check_video(path), cfg, allocate)


def probe_input(path: str | Path) -> VideoInfo:
    """What a pipeline input holds: a video's header (`probe_video`), or the footage a
    MOTChallenge seqinfo.ini stands for (`trackannot.seqinfo.probe_seqinfo`).

    Raises:
        As `probe_video`; for a seqinfo.ini, InputFormatError.
    """
    return probe_seqinfo(path) if is_seqinfo(path) else probe_video(path)


# -- opening -----------------------------------------------------------------------------------


def _check_video(path: str | Path) -> Path:
    """The file as a Path, once it is known to open as a video (raises as `decode_frames`)."""
    with open_video(path):
        pass
    return Path(path)


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
        self._end_pts: int | None = None  # largest pts + duration so far
        self._heap: list[int] = []
        self._pending: deque[av.VideoFrame] = deque()
        self._last_s = -math.inf
        self.longest_gap_s = 0.0  # between consecutive display times

    def push(self, frame: av.VideoFrame) -> Iterator[tuple[av.VideoFrame, float]]:
        pts = frame.pts
        if pts is None:
            pts = 0 if self._max_pts is None else self._max_pts + self._step
        self._max_pts = pts if self._max_pts is None else max(self._max_pts, pts)
        end = pts + (frame.duration if frame.duration and frame.duration > 0 else self._step)
        self._end_pts = end if self._end_pts is None else max(self._end_pts, end)
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
        time_s = max(self._last_s, float((pts - self._start) * self._time_base))
        if self._last_s > -math.inf:
            self.longest_gap_s = max(self.longest_gap_s, time_s - self._last_s)
        self._last_s = time_s
        return self._pending.popleft(), time_s

    def end_s(self) -> float:
        """Where the decoded frames end: the last one's time plus its duration, in seconds from
        the stream start, or from zero when that is later (a header may count either way)."""
        if self._end_pts is None:
            return 0.0
        start = self._start or 0
        return float(max(self._end_pts, self._end_pts - start) * self._time_base)


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


class _CutShort(Exception):
    """The stream ended cleanly, but clearly before the duration its header states."""


class _Upright:
    """Turns decoded frames to their display orientation (module docstring, Orientation).

    Uses FFmpeg's transpose / hflip+vflip filters, the ones the `ffmpeg` command's autorotate
    inserts; the filter graph is built for the first rotated frame and again if the frame size
    or pixel format changes. Frames without a rotation pass through untouched.
    """

    def __init__(self) -> None:
        self._graph: av.filter.Graph | None = None
        self._key: tuple[int, int, int, str] | None = None

    def __call__(self, frame: av.VideoFrame) -> av.VideoFrame:
        turns = quarter_turns(frame.rotation)
        if turns == 0:
            return frame
        key = (turns, frame.width, frame.height, frame.format.name)
        graph = self._graph
        if graph is None or key != self._key:
            graph = av.filter.Graph()
            source = graph.add_buffer(width=frame.width, height=frame.height,
                                      format=frame.format,
                                      time_base=frame.time_base or Fraction(1, 1))
            steps = [graph.add(name, args) for name, args in _TURN_FILTERS[turns]]
            graph.link_nodes(source, *steps, graph.add("buffersink")).configure()
            self._graph, self._key = graph, key
        graph.vpush(frame)
        return graph.vpull()


def _cut_short(container: av.container.InputContainer, stream: av.VideoStream,
               clock: _DisplayClock) -> _CutShort | None:
    """`_CutShort` when the decoded frames end clearly before the header's stated duration."""
    stated_s = stated_duration_s(container, stream)
    if stated_s is None:
        return None
    rate = stream.average_rate or stream.guessed_rate
    interval_s = float(1 / rate) if rate else 0.0
    slack_s = max(_END_SLACK_S, _END_SLACK_FRAMES * max(interval_s, clock.longest_gap_s))
    end_s = clock.end_s()
    if stated_s - end_s <= slack_s:
        return None
    expected = f", about {round(stated_s / interval_s)} frames" if interval_s else ""
    return _CutShort(f"the stream ends at {end_s:.3f} s but its header states {stated_s:.3f} s"
                     f"{expected} (the file is cut short or damaged after that point)")


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
    with open_video(path, cfg.hwaccel) as (container, stream):
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = cfg.threads
        rate = stream.average_rate or stream.guessed_rate
        clock = _DisplayClock(stream)
        sampler = _TickSampler(cfg.fps, float(rate) if rate else 0.0)
        pixel_format = "rgb24" if cfg.pixel_format == "auto" else cfg.pixel_format
        builder = BatchBuilder(cfg.batch_size, pixel_format, allocate)
        upright = _Upright()
        decoded = kept = 0
        error: Exception | None = None
        try:
            for frame, time_s in clock.stamp(_decoded_frames(container, stream)):
                if sampler.keep(time_s):
                    kept += 1
                    batch = builder.add(upright(frame), decoded, time_s)
                    if batch is not None:
                        yield batch
                decoded += 1
        except (av.FFmpegError, _IncompletePacket) as err:
            error = err  # raised below, after the valid frames already decoded
        if error is None and decoded > 0:
            error = _cut_short(container, stream, clock)
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


# -- no footage --------------------------------------------------------------------------------


def _blank_batches(info: VideoInfo, cfg: DecodeConfig) -> Iterator[FrameBatch]:
    """Frames 0..frame_count - 1 of a footage-free input at k / fps seconds, sampled at
    `cfg.fps`, batched, with black pixels broadcast (module docstring, No footage)."""
    count = info.frame_count or 0
    sampler = _TickSampler(cfg.fps, info.fps)
    kept = [k for k in range(count) if sampler.keep(k / info.fps)]
    w, h = info.width, info.height
    rgb = cfg.pixel_format in ("auto", "rgb24") or h % 2 or w % 2  # as BatchBuilder falls back
    shape = (h, w, 3) if rgb else (h * 3 // 2, w)
    black = np.zeros((1,) * (len(shape) + 1), np.uint8)
    for lo in range(0, len(kept), cfg.batch_size):
        index = np.asarray(kept[lo:lo + cfg.batch_size], np.int64)
        yield FrameBatch(np.broadcast_to(black, (len(index), *shape)), index, index / info.fps,
                         pixel_format="rgb24" if rgb else "yuv420p")


# -- background prefetch -----------------------------------------------------------------------


def _prefetched(path: Path, cfg: DecodeConfig,
                allocate: Allocator | None) -> Iterator[FrameBatch]:
    """Run `_decode_batches` in a thread (`trackannot.overlap.in_background`)."""
    return in_background(lambda: _decode_batches(path, cfg, allocate), cfg.prefetch_batches,
                         _THREAD_NAME)
