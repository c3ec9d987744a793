"""Probing: what a file is (a video, a damaged video, or not a video) and what its header says.

`probe_video` reads a file's header and decodes its first frame; `open_video` opens a file for
decoding (`trackannot.decode`) with the same checks, so a file is told apart the same way
everywhere.

Not a video. `probe_video` raises `NotAVideoError` for a file that holds no video: no container
FFmpeg recognises and no known container signature, a still image or text art (FFmpeg
opens those as one-frame "videos": image2, png_pipe, tty, bin, ...), only audio or data streams,
an absurd frame size, or a format FFmpeg only guessed in which no frame decodes. A file that
starts with a video container's signature (`_CONTAINER_MAGIC`: MP4/MOV, AVI, Matroska/WebM,
MPEG-TS/PS, FLV, ASF, Ogg, ...) but cannot be opened or decoded is a damaged video:
`VideoDecodeError`, not `NotAVideoError`.

Orientation. `VideoInfo.rotation` is the display rotation of the stream (read from the first
frame's display matrix, degrees counter-clockwise: 0, 90, 180, 270) and `VideoInfo.width` /
`height` the size after that turn, which is how `trackannot.decode` hands frames on.

Stated duration (`stated_duration_s`): the duration a header states, which decoding must reach
(`trackannot.decode`, Damage). Only durations the container's header states are trusted:
MP4/MOV (the track duration), AVI (the frame count of its header), Matroska/WebM (the track's
DURATION tag, else the segment duration when the video is the file's only stream, since audio may
run longer). Other containers (MPEG-TS, raw streams, live-written WebM without a duration) state
none.
"""

from __future__ import annotations

import hashlib
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import av

from trackannot.errors import NotAVideoError, VideoDecodeError

__all__ = ["VideoInfo", "container_signature", "open_video", "probe_video", "quarter_turns",
           "stated_duration_s"]

# Bytes hashed for `VideoInfo.first_mib_sha256`.
_IDENTITY_BYTES = 1 << 20
# Demuxers whose header states the duration (FFmpeg format names); others are not checked.
_STATED_DURATION_FORMATS = frozenset({"mov,mp4,m4a,3gp,3g2,mj2", "avi", "matroska,webm"})
# Demuxers that open still images or text art as a one-frame "video" (plus every "*_pipe").
_STILL_FORMATS = frozenset({"image2", "gif", "apng", "ico", "tty", "bin", "adf", "idf", "xbin",
                            "webp", "jpegxl_anim"})
_IMAGE_PIPE = "_pipe"
# Packets read by `probe_video` to get a first frame (its rotation; for a format FFmpeg only
# guessed, the proof that it is a video). A healthy stream gives one within a few packets.
_PROBE_PACKETS = 256
# Frame sides beyond this are not a video's (H.264 and HEVC levels stop at 8192 and 16888).
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
        duration_s: the video stream's duration in seconds (MP4/MOV/AVI track, Matroska
            DURATION tag), else the file's, None when unknown.
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
    with _open_container(p, "none", signature) as container:
        stream = _video_stream(container, p, signature)
        first = _first_frame(container, stream)
        if first is None and signature is None:
            raise NotAVideoError(
                f"{p}: not a video: FFmpeg guesses the format {container.format.name!r} but no "
                f"frame decodes in its first {_PROBE_PACKETS} packets, and the file starts with "
                "no video container signature; expected a video file (mp4, mkv, avi, mov, ...)"
            )
        rotation = quarter_turns(first.rotation) * 90 if first is not None else 0
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


@contextmanager
def open_video(path: str | Path, hwaccel: str = "none"
               ) -> Iterator[tuple[av.container.InputContainer, av.VideoStream]]:
    """Open a file for decoding, with the checks of `probe_video` (but no frame decoded).

    Args:
        path: the video file.
        hwaccel: `DecodeConfig.hwaccel` ("none", "auto", "cuda").

    Yields:
        The open container and its video stream; the container is closed afterwards.

    Raises:
        NotAVideoError, VideoDecodeError: as `probe_video`; VideoDecodeError also when
            hwaccel is "cuda" and the CUDA decoder cannot start.
    """
    p, _ = _check_file(path)
    signature = container_signature(p)
    with _open_container(p, hwaccel, signature) as container:
        yield container, _video_stream(container, p, signature)


def quarter_turns(degrees: float) -> int:
    """Counter-clockwise display rotation in quarter turns, 0..3 (nearest), e.g. -90 -> 3."""
    return int(round(degrees / 90.0)) % 4


def stated_duration_s(container: av.container.InputContainer,
                      stream: av.VideoStream) -> float | None:
    """The video's duration where the header states it (module docstring), else None."""
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


def _open_container(p: Path, hwaccel: str,
                    signature: str | None) -> av.container.InputContainer:
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
            hint = (" An MP4/MOV cut short before its index (moov atom) cannot be opened."
                    if signature == "MP4/MOV" else "")
            raise VideoDecodeError(
                f"{p}: a damaged {signature} file: FFmpeg cannot read it as a video container "
                f"({reason}).{hint} Check the file is complete (re-copy or re-export it)"
            ) from err
    name = container.format.name
    if name in _STILL_FORMATS or name.endswith(_IMAGE_PIPE):
        container.close()
        raise NotAVideoError(f"{p}: not a video: FFmpeg reads it as {name} (a still image or "
                             "text); expected a video file (mp4, mkv, avi, mov, webm, ...)")
    return container


def _video_stream(container: av.container.InputContainer, p: Path,
                  signature: str | None) -> av.VideoStream:
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


