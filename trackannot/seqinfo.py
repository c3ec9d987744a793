"""MOTChallenge seqinfo.ini: reading it, and the footage-free input it stands for.

A seqinfo.ini describes a sequence: `seqLength` frames at `frameRate`, `imWidth` x `imHeight`
pixels. Benchmarks such as MOT15 (as kept in ../shared/data) ship detections and ground truth
with it but no images. Given as a pipeline input in place of a video (any file named `*.ini`),
it is footage without pixels: frames 0..seqLength - 1 at times k / frameRate, of that size, and
`trackannot.decode.decode_frames` yields batches with those indices and times whose pixels are
one shared black value (no memory). Only a detector that never looks at pixels makes sense on it:
`trackannot.detect.FileDetector` (`trackannot track --seqinfo`). Everything else is the same as
for a video: the store group (named after the file's folder), its provenance (the file's size
and hash stand for the video's), commits and resume.
"""

from __future__ import annotations

import configparser
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from trackannot.errors import InputFormatError

if TYPE_CHECKING:
    from trackannot.probe import VideoInfo

__all__ = ["SEQINFO_CODEC", "is_seqinfo", "probe_seqinfo", "read_seqinfo", "seqinfo_key"]

SEQINFO_CODEC = "none (seqinfo.ini: no footage)"  # VideoInfo.codec of a footage-free input
_SEQINFO_NUMBERS = ("frameRate", "seqLength", "imWidth", "imHeight")


def read_seqinfo(path: str | Path) -> dict[str, str | int | float]:
    """The [Sequence] section of a MOTChallenge seqinfo.ini, keys as written (imWidth, ...).

    frameRate, seqLength, imWidth and imHeight are returned as numbers (int when integral);
    other keys (name, imDir, imExt) as strings.

    Raises:
        InputFormatError: the file is missing, has no [Sequence] section, or a numeric key is
            not a number.

    Example:
        >>> read_seqinfo("MOT15/PETS09-S2L1/seqinfo.ini")["imWidth"]  # doctest: +SKIP
        768
    """
    path = Path(path)
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keep imWidth's case
    try:
        found = parser.read(path, encoding="utf-8")
    except configparser.Error as err:
        raise InputFormatError(f"{path}: not a valid seqinfo.ini: {err}") from err
    if not found:
        raise InputFormatError(f"seqinfo.ini not found: {path}")
    if "Sequence" not in parser:
        raise InputFormatError(
            f"{path}: expected a [Sequence] section, got sections {parser.sections()}"
        )
    info: dict[str, str | int | float] = dict(parser["Sequence"])
    for key in _SEQINFO_NUMBERS:
        if key in info:
            try:
                value = float(info[key])
            except ValueError as err:
                raise InputFormatError(
                    f"{path}: {key} should be a number, got {info[key]!r}"
                ) from err
            info[key] = int(value) if value.is_integer() else value
    return info


def is_seqinfo(path: str | Path) -> bool:
    """Whether a pipeline input is a seqinfo.ini (footage-free) rather than a video."""
    return Path(path).suffix.lower() == ".ini"


def seqinfo_key(path: str | Path) -> str:
    """The name a footage-free input's group gets: its folder's (`MOT15/KITTI-13/seqinfo.ini`
    is "KITTI-13"), as `trackannot.store.video_key` makes it safe (pass this, not the path)."""
    return Path(path).resolve().parent.name + ".ini"


def probe_seqinfo(path: str | Path) -> VideoInfo:
    """The footage a seqinfo.ini stands for, as `trackannot.probe.probe_video` describes a video.

    width, height = imWidth, imHeight; fps = frameRate; frame_count = seqLength; duration_s =
    seqLength / frameRate; codec `SEQINFO_CODEC`; container "seqinfo"; size_bytes and
    first_mib_sha256 of the file (its identity for resume checks).

    Raises:
        InputFormatError: the file is missing or unreadable, or seqLength, frameRate, imWidth or
            imHeight is missing or out of range (seqLength >= 1, frameRate > 0, sizes >= 1).
    """
    from trackannot.probe import VideoInfo  # imports av: only where footage is probed

    path = Path(path)
    info = read_seqinfo(path)
    values = {}
    for key, low, kind in (("seqLength", 1, int), ("frameRate", 0, float), ("imWidth", 1, int),
                           ("imHeight", 1, int)):
        value = info.get(key)
        ok = isinstance(value, (int, float)) and (value > low if kind is float else
                                                  float(value).is_integer() and value >= low)
        if not ok:
            expected = "a number > 0" if kind is float else f"an integer >= {low}"
            raise InputFormatError(f"{path}: {key} should be {expected}, got {value!r} (in place "
                                   "of a video, a seqinfo.ini needs seqLength, frameRate, "
                                   "imWidth and imHeight)")
        values[key] = kind(value)  # type: ignore[operator]
    data = path.read_bytes()
    return VideoInfo(
        path=path, width=values["imWidth"], height=values["imHeight"], fps=values["frameRate"],
        frame_count=values["seqLength"], duration_s=values["seqLength"] / values["frameRate"],
        codec=SEQINFO_CODEC, size_bytes=len(data),
        first_mib_sha256=hashlib.sha256(data[: 1 << 20]).hexdigest(), container="seqinfo",
    )
