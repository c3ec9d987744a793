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

Damage. A decode that ends before the end the header states is damage, reported like a decoder
error: `VideoDecodeError` after every valid frame has been yielded. The rule compares time, not
frame counts, because counts legitimately differ from the header (an MP4 edit list hides frames
the sample count includes; AVI counts the empty chunks of variable frame rate; many counts are
only duration x fps): the stream is cut short when the end of its last decoded frame (its
timestamp plus its duration, or one nominal frame interval when it has none) lies more than
`max(_END_SLACK_S, _END_SLACK_FRAMES x the longer of the nominal frame interval and the longest
gap between decoded frames)` before the stated duration. All decoded frames count, also those
`DecodeConfig.fps` drops. The slack absorbs Matroska's millisecond rounding and the unknown
length of a variable-frame-rate stream's last frame; a cut that loses a few frames of a 30 fps
clip (more than 0.1 s) is still caught. Only durations the container's header states are
trusted: MP4/MOV (the track duration), AVI (the frame count of its header), Matroska/WebM (the
track's DURATION tag, else the segment duration when the video is the file's only stream).
Other containers (MPEG-TS, raw streams, live-written WebM without a duration) state none, so a
cut there ends without a trace. Damage in the middle is FFmpeg's to find: MP4/MOV decoders fail
on it (an error); a Matroska demuxer stops at it (the rule above) unless it finds the next
cluster; H.264 in AVI is concealed. Where FFmpeg recovers, the frames it could not decode are
missing and the video completes (the times of the kept frames show the gap).

Not a video. `probe_video` raises `NotAVideoError` for a file that holds no video: no container
FFmpeg recognises and no known container signature, a still image or text art (FFmpeg
opens those as one-frame "videos": image2, png_pipe, tty, bin, ...), only audio or data streams,
an absurd frame size, or a format FFmpeg only guessed in which no frame decodes. A file that
starts with a video container's signature (`_CONTAINER_MAGIC`: MP4/MOV, AVI, Matroska/WebM,
MPEG-TS/PS, FLV, ASF, Ogg, ...) but cannot be opened or decoded is a damaged video:
`VideoDecodeError`, not `NotAVideoError`.
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
from trackannot.errors import NotAVideoError, VideoDecodeError
from trackannot.frames import Allocator, BatchBuilder, FrameBatch
from trackannot.overlap import in_background

__all__ = ["FrameBatch", "VideoInfo", "container_signature", "decode_frames", "probe_video"]

# Decoded frames whose pts are sorted together (see the module docstring). H.264 and HEVC keep at
# most 16 reference frames, so no valid stream reorders further; costs up to 16 YUV frames of RAM.
_REORDER_WINDOW_FRAMES = 16
# A frame this much before a tick still reaches it (Matroska stores milliseconds). Capped below at
# a quarter of the source or target frame interval, whichever is shorter.
_TICK_TOLERANCE_S = 1e-3
# Bytes hashed for `VideoInfo.first_mib_sha256`.
_IDENTITY_BYTES = 1 << 20
_THREAD_NAME = "trackannot-decode"
# A stream ending this much before its stated duration is cut short (module docstring, Damage):
# at least _END_SLACK_S, and _END_SLACK_FRAMES frame intervals.
_END_SLACK_S = 0.1
_END_SLACK_FRAMES = 2
# Demuxers whose header states the duration (FFmpeg format names); others are not checked.
_STATED_DURATION_FORMATS = frozenset({"mov,mp4,m4a,3gp,3g2,mj2", "avi", "matroska,webm"})
# Demuxers that open still images or text art as a one-frame "video" (plus every "*_pipe").
_STILL_FORMATS = frozenset({"image2", "gif", "apng", "ico", "tty", "bin", "adf", "idf", "xbin",
                            "webp", "jpegxl_anim"})
_IMAGE_PIPE = "_pipe"
# Packets read by `probe_video` to get a first frame (its rotation; for a format FFmpeg only
# guessed, the proof that it is a video). A healthy stream gives one within a few packets.
_PROBE_PACKETS = 256
# Frame sides beyond this are not a video (text art opens as 1280 x 10000); H.264 and HEVC stop
# at 8192 and 16888 pixels.
_MAX_SIDE_PX = 16384
# Leading bytes of video containers: (offset, bytes, name). A file starting with one of these is
# a video container, damaged if FFmpeg cannot read it (module docstring, Not a video).
_CONTAINER_MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (4, b"ftyp", "MP4/MOV"), (4, b"moov", "MP4/MOV"), (4, b"mdat", "MP4/MOV"),
    (4, b"wide", "MP4/MOV"),
    (0, b"\x1a\x45\xdf\xa3", "Matroska/WebM"),
    (0, b"FLV\x01", "FLV"),
    (0, b"\x30\x26\xb2\x75\x8e\x66\xcf\x11", "ASF/WMV"),
    (0, b"\x00\x00\x01\xba", "MPEG-PS"),
    (0, b"\x00\x00\x01\xb3", "MPEG video"),
    (0, b"\x00\x00\x00\x01", "H.264/HEVC stream"),
    (0, b"OggS", "Ogg"),
    (0, b"DKIF", "IVF"),
    (0, b"YUV4MPEG2", "Y4M"),
    (0, b"\x06\x0e\x2b\x34\x02\x05\x01\x01", "MXF"),
    (0, b".RMF", "RealMedia"),
)
_TS_PACKET_BYTES = 188  # MPEG-TS; M2TS packets carry 4 more bytes before each
_SIGNATURE_BYTES = 4 * _TS_PACKET_BYTES


@dataclass(frozen=True)
class VideoInfo:
    """What the container header says about a video (and its first frame, for the orientation).

    Attributes:
        path: the file.
        width, height: size in pixels of the frames as decoded: the display orientation, so a
            rotated phone clip stored as 1920 x 1080 with rotation 90 is 1080 x 1920.
        fps: average frame rate in frames per second (0.0 when the container gives none); for a
            variable frame rate, the average (each frame's own time is in `FrameBatch.time_s`).
        frame_count: frames in the stream as the header states, else estimated from duration x
            fps, else None. An estimate: decoding may give a few more or fewer.
        duration_s: stream (else container) duration in seconds, None when unknown.
        codec: FFmpeg decoder name, e.g. "h264", "hevc", "mpeg4".
        size_bytes: file size.
        first_mib_sha256: hex SHA-256 of the first MiB of the file, the input's identity.
        rotation: degrees counter-clockwise the stored frames are turned to display them (0, 90,
            180 or 270); decoded frames are already turned.
        container: FFmpeg's name for the container format, e.g. "mov,mp4,m4a,3gp,3g2,mj2".
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
    rotation: int = 0
    container: str = ""


def probe_video(path: str | Path) -> VideoInfo:
    """Read a video's header and its first frame (for the orientation), and hash its first MiB.

    Raises:
        NotAVideoError: the file holds no video (module docstring, Not a video): no container
            and no container signature, a still image or text, no video stream, an
            absurd frame size, or no decodable frame in a format FFmpeg only guessed.
        VideoDecodeError: a missing or empty (0 bytes) file, or a video container that cannot
            be read (damaged).
    """
    p, size = _check_file(path)
    signature = container_signature(p)
    with _open_container(p, signature=signature) as container:
        stream = _video_stream(container, p, signature)
        first = _first_frame(container, stream)
        if first is None and signature is None:
            raise NotAVideoError(
                f"{p}: not a video: FFmpeg guesses the format {container.format.name!r} but no "
                f"frame decodes in its first {_PROBE_PACKETS} packets, and the file starts with "
                "no video container signature; expected a video file (mp4, mkv, avi, mov, ...)"
            )
        rotation = _quarter_turns(first.rotation) * 90 if first is not None else 0
        width, height = int(stream.width), int(stream.height)
        _check_size(p, width, height, signature)
        if rotation in (90, 270):
            width, height = height, width
        fps_q = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(fps_q) if fps_q else 0.0
        duration_s = _duration_s(container, stream)
        frame_count: int | None = int(stream.frames) if stream.frames else None
        if frame_count is None and duration_s is not None and fps > 0:
            frame_count = int(round(duration_s * fps))
        info = VideoInfo(
            path=p, width=width, height=height, fps=fps, frame_count=frame_count,
            duration_s=duration_s, codec=stream.codec_context.name, size_bytes=size,
            first_mib_sha256=_first_mib_sha256(p), rotation=rotation,
            container=container.format.name,
        )
    return info


def container_signature(path: str | Path) -> str | None:
    """The video container whose signature the file starts with ("MP4/MOV", "Matroska/WebM",
    "AVI", "MPEG-TS", ...), None when it starts with none. Tells a damaged video (a signature
    FFmpeg cannot read past) from a file that is not a video; reads at most 752 bytes.

    Raises:
        VideoDecodeError: the file cannot be read (permissions, I/O error).
    """
    try:
        with Path(path).open("rb") as fh:
            head = fh.read(_SIGNATURE_BYTES)
    except OSError as err:
        raise VideoDecodeError(f"{path}: cannot read the file ({err.strerror or err}); check "
                               "that it exists and that you may read it") from err
    if head[:4] == b"RIFF" and head[8:12] in (b"AVI ", b"AVIX"):
        return "AVI"
    for offset, magic, name in _CONTAINER_MAGIC:
        if head[offset:offset + len(magic)] == magic:
            return name
    for start, step, name in ((0, _TS_PACKET_BYTES, "MPEG-TS"), (4, _TS_PACKET_BYTES + 4, "M2TS")):
        syncs = head[start::step][:3]
        if len(syncs) == 3 and syncs == b"\x47\x47\x47":
            return name
    return None


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
        VideoDecodeError: at call time for a missing or unreadable file (`NotAVideoError` for
            one that holds no video); during iteration when the decoder fails or the stream ends
            before the duration its header states (a damaged or truncated file, module
            docstring). In that case every frame decoded before has been yielded first, and the
            message says how many frames were decoded and kept.

    Example:
        >>> for batch in decode_frames("clip.mp4", DecodeConfig(fps=10, batch_size=8)):
        ...     detector.detect(batch)  # doctest: +SKIP
    """
    return _prefetched(_check_video(path), cfg, allocate)


# -- opening -----------------------------------------------------------------------------------


def _check_video(path: str | Path) -> Path:
    """The file as a Path, once it is known to open as a video (raises as `decode_frames`)."""
    p, _ = _check_file(path)
    signature = container_signature(p)
    with _open_container(p, signature=signature) as container:
        _video_stream(container, p, signature)
    return p


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


def _open_container(p: Path, hwaccel: str = "none",
                    signature: str | None = None) -> av.container.InputContainer:
    """Open `p`; with hwaccel "auto"/"cuda" on the GPU decoder (see `DecodeConfig.hwaccel`).

    A file FFmpeg cannot open is a damaged video when it starts with a container `signature`,
    else not a video (`NotAVideoError`); a still image or text art is not a video either.
    """
    accel = _hwaccel(hwaccel)
    container: av.container.InputContainer | None = None
    if accel is not None:
        try:
            container = av.open(str(p), mode="r", hwaccel=accel)
        except (av.FFmpegError, OSError) as err:
            if hwaccel == "cuda":
                raise VideoDecodeError(
                    f"{p}: the CUDA hardware decoder could not start ({type(err).__name__}: "
                    f"{err}); set decode.hwaccel to auto or none to decode on the CPU"
                ) from err
    if container is None:
        try:
            container = av.open(str(p), mode="r")
        except (av.FFmpegError, OSError) as err:
            reason = getattr(err, "strerror", None) or str(err)
            if signature is None:
                raise NotAVideoError(
                    f"{p}: not a video: FFmpeg finds no container in it ({reason}) and it starts "
                    "with no video container's signature; expected a video file (mp4, mkv, "
                    "avi, mov, webm, ...)"
                ) from err
            raise VideoDecodeError(
                f"{p}: a damaged {signature} file: FFmpeg cannot read it as a video container "
                f"({reason}). An MP4/MOV cut short before its index (moov atom) cannot be "
                "opened: check the file is complete (re-copy or re-export it)"
            ) from err
    name = container.format.name
    if name in _STILL_FORMATS or name.endswith(_IMAGE_PIPE):
        container.close()
        raise NotAVideoError(f"{p}: not a video: FFmpeg reads it as {name} (a still image or "
                             "text); expected a video file (mp4, mkv, avi, mov, webm, ...)")
    return container


def _video_stream(container: av.container.InputContainer, p: Path,
                  signature: str | None = None) -> av.VideoStream:
    """The first video stream that is not a cover picture (`NotAVideoError` when none)."""
    videos = [s for s in container.streams.video
              if not s.disposition & av.stream.Disposition.attached_pic]
    if videos:
        return videos[0]
    if not container.streams and signature is not None:
        raise VideoDecodeError(f"{p}: a damaged {signature} file: it lists no stream at all "
                               "(its header is cut or broken); check the file is complete")
    kinds = ", ".join(sorted({"cover picture" if s.type == "video" else s.type
                              for s in container.streams})) or "no streams at all"
    raise NotAVideoError(
        f"{p}: no video stream (found: {kinds}); expected a file with a video track"
    )


def _first_frame(container: av.container.InputContainer,
                 stream: av.VideoStream) -> av.VideoFrame | None:
    """The first frame decoded within `_PROBE_PACKETS` packets, None when none decodes."""
    try:
        for n, packet in enumerate(container.demux(stream)):
            for frame in stream.decode(packet):
                return frame
            if n >= _PROBE_PACKETS:
                break
    except av.FFmpegError:
        pass  # a damaged stream: decoding reports it with the frames before the damage
    return None


def _check_size(p: Path, width: int, height: int, signature: str | None) -> None:
    if 1 <= width <= _MAX_SIDE_PX and 1 <= height <= _MAX_SIDE_PX:
        return
    what = f"frame size {width} x {height} is not a video's (expected 1 to {_MAX_SIDE_PX} pixels " \
           "a side)"
    if signature is None:
        raise NotAVideoError(f"{p}: not a video: {what}; expected a video file")
    raise VideoDecodeError(f"{p}: a damaged {signature} file: {what}; check the file")


def _quarter_turns(degrees: float) -> int:
    """Counter-clockwise display rotation in quarter turns, 0..3 (nearest)."""
    return int(round(degrees / 90.0)) % 4


def _duration_s(container: av.container.InputContainer, stream: av.VideoStream) -> float | None:
    """The video's duration: the stream's, else its Matroska DURATION tag, else the file's."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    tagged = _matroska_duration_s(stream)
    if tagged is not None:
        return tagged
    if container.duration:
        return container.duration / av.time_base
    return None


def _stated_duration_s(container: av.container.InputContainer,
                       stream: av.VideoStream) -> float | None:
    """The video's duration where the header states it (module docstring, Damage), else None.
    The file's duration counts only when the video is its only stream (audio may be longer)."""
    if container.format.name not in _STATED_DURATION_FORMATS:
        return None
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    tagged = _matroska_duration_s(stream)
    if tagged is not None:
        return tagged
    if container.duration and len(container.streams) == 1:
        return container.duration / av.time_base
    return None


def _matroska_duration_s(stream: av.VideoStream) -> float | None:
    """A Matroska track's DURATION tag ("HH:MM:SS.nnnnnnnnn"; mkvmerge writes DURATION-eng)."""
    for key, value in stream.metadata.items():
        if key.upper() == "DURATION" or key.upper().startswith("DURATION-"):
            try:
                hours, minutes, seconds = value.split(":")
                return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
            except ValueError:
                return None
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

    _FILTERS = {1: (("transpose", "cclock"),), 2: (("hflip", ""), ("vflip", "")),
                3: (("transpose", "clock"),)}

    def __init__(self) -> None:
        self._graph: av.filter.Graph | None = None
        self._key: tuple[int, int, int, str] | None = None

    def __call__(self, frame: av.VideoFrame) -> av.VideoFrame:
        turns = _quarter_turns(frame.rotation)
        if turns == 0:
            return frame
        key = (turns, frame.width, frame.height, frame.format.name)
        graph = self._graph
        if graph is None or key != self._key:
            graph = av.filter.Graph()
            source = graph.add_buffer(width=frame.width, height=frame.height,
                                      format=frame.format,
                                      time_base=frame.time_base or Fraction(1, 1))
            steps = [graph.add(name, args) for name, args in self._FILTERS[turns]]
            graph.link_nodes(source, *steps, graph.add("buffersink")).configure()
            self._graph, self._key = graph, key
        graph.vpush(frame)
        return graph.vpull()


def _cut_short(container: av.container.InputContainer, stream: av.VideoStream,
               clock: _DisplayClock) -> _CutShort | None:
    """`_CutShort` when the decoded frames end clearly before the header's stated duration."""
    stated_s = _stated_duration_s(container, stream)
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
    signature = container_signature(path)
    with _open_container(path, cfg.hwaccel, signature) as container:
        stream = _video_stream(container, path, signature)
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


# -- background prefetch -----------------------------------------------------------------------


def _prefetched(path: Path, cfg: DecodeConfig,
                allocate: Allocator | None) -> Iterator[FrameBatch]:
    """Run `_decode_batches` in a thread (`trackannot.overlap.in_background`)."""
    return in_background(lambda: _decode_batches(path, cfg, allocate), cfg.prefetch_batches,
                         _THREAD_NAME)
