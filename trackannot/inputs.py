"""Inputs: the videos of a run, from files, directories and a manifest, told apart by probing.

- A file named directly (on the command line or in a manifest) is a video to track, whatever it
  holds: if it cannot be decoded, the run reports it as a failure.
- A directory contributes the files in it (not in its subdirectories unless `recursive`), in name
  order. Each is opened with FFmpeg: a file with a video stream (not a still image) is a video; a
  file that cannot be opened is a damaged video if its suffix is a video suffix (`VIDEO_SUFFIXES`),
  so the run reports it, and otherwise a non-video file, skipped with the reason.
- A manifest is a text file with one path per line; blank lines and lines starting with `#` are
  ignored; relative paths are relative to the manifest's folder; a path may name a directory.

A file reached twice (named, in a directory, in the manifest) is tracked once, at its first place.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import av

from trackannot.errors import InputFormatError

__all__ = ["VIDEO_SUFFIXES", "Skipped", "VideoInputs", "collect_videos", "read_manifest"]

# Suffixes of video files: a file in a directory with one of these that FFmpeg cannot open is
# reported as a damaged video rather than skipped as a non-video file.
VIDEO_SUFFIXES = frozenset({
    ".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".ts", ".mts", ".m2ts",
    ".wmv", ".flv", ".3gp", ".ogv", ".h264", ".h265", ".hevc",
})
# FFmpeg demuxers that open still images (or text art) as a one-frame "video".
_NOT_VIDEO_FORMATS = frozenset({"image2", "tty", "gif"})
_IMAGE_PIPE = "_pipe"  # png_pipe, jpeg_pipe, ...: an image without its usual suffix
_COMMENT = "#"


@dataclass(frozen=True)
class Skipped:
    """A file in an input directory that is not a video, and why."""

    path: Path
    reason: str


@dataclass(frozen=True)
class VideoInputs:
    """What a run tracks and what it left out.

    Attributes:
        videos: the videos to track, in order (absolute paths, each once).
        skipped: files found in input directories that are not videos.
    """

    videos: tuple[Path, ...]
    skipped: tuple[Skipped, ...]


def collect_videos(
    paths: Sequence[str | Path],
    manifest: str | Path | None = None,
    *,
    recursive: bool = False,
) -> VideoInputs:
    """The videos named by `paths` (files or directories) and then by `manifest`.

    Args:
        paths: video files and directories of videos.
        manifest: a text file listing more paths (see the module docstring).
        recursive: also look into subdirectories of the directories.

    Returns:
        The videos in order and the skipped non-video files.

    Raises:
        InputFormatError: a path that does not exist (for a manifest entry: the manifest's file
            and line), an unreadable manifest, or no video at all.
    """
    named: list[tuple[Path, str]] = [(Path(p), f"{p}") for p in paths]
    if manifest is not None:
        named += [(p, f"{manifest} line {line}") for p, line in read_manifest(manifest)]
    videos: dict[Path, None] = {}
    skipped: list[Skipped] = []
    for path, where in named:
        if not path.exists():
            raise InputFormatError(f"{where}: {path}: video file not found; check the path")
        if not path.is_dir():
            videos.setdefault(path.resolve(), None)
            continue
        for entry in _directory_files(path, recursive):
            reason = _not_a_video(entry)
            if reason is None:
                videos.setdefault(entry.resolve(), None)
            else:
                skipped.append(Skipped(entry, reason))
    if not videos:
        found = f" ({len(skipped)} non-video files skipped)" if skipped else ""
        suffixes = ", ".join(sorted(VIDEO_SUFFIXES)[:6])
        raise InputFormatError(f"no video to track in {', '.join(w for _, w in named)}{found}; "
                               f"expected video files ({suffixes}, ...)")
    return VideoInputs(tuple(videos), tuple(skipped))


def read_manifest(path: str | Path) -> list[tuple[Path, int]]:
    """The paths listed in a manifest, each with its 1-based line number.

    Raises:
        InputFormatError: the manifest is missing, not UTF-8 text, lists nothing, or lists a
            path that does not exist (naming the line).
    """
    manifest = Path(path)
    try:
        text = manifest.read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise InputFormatError(f"{manifest}: manifest not found; check the path") from err
    except (UnicodeDecodeError, IsADirectoryError) as err:
        raise InputFormatError(f"{manifest}: expected a UTF-8 text file with one video path per "
                               f"line ({err})") from err
    base = manifest.resolve().parent
    entries: list[tuple[Path, int]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(_COMMENT):
            continue
        entry = Path(line).expanduser()
        entry = entry if entry.is_absolute() else base / entry
        if not entry.exists():
            raise InputFormatError(
                f"{manifest} line {number}: {line!r} does not exist (looked for {entry}); "
                "expected a video file or a directory, relative paths from the manifest's folder"
            )
        entries.append((entry, number))
    if not entries:
        raise InputFormatError(f"{manifest}: lists no video; expected one path per line "
                               f"(lines starting with {_COMMENT!r} are comments)")
    return entries


def _directory_files(directory: Path, recursive: bool) -> list[Path]:
    """Files in `directory` (and below it if `recursive`), sorted by path; hidden ones left out."""
    pattern = "**/*" if recursive else "*"
    return sorted(p for p in directory.glob(pattern)
                  if p.is_file() and not any(part.startswith(".") for part in
                                             p.relative_to(directory).parts))


def _not_a_video(path: Path) -> str | None:
    """None for a video (or a damaged one with a video suffix), else why the file is skipped."""
    if path.suffix.lower() in VIDEO_SUFFIXES:
        return None  # tracked; if it cannot be decoded, the run says why
    if path.stat().st_size == 0:
        return "empty file"
    try:
        with av.open(str(path), mode="r") as container:
            name = container.format.name
            if name in _NOT_VIDEO_FORMATS or name.endswith(_IMAGE_PIPE):
                return f"not a video (FFmpeg reads it as {name})"
            if not container.streams.video:
                return "no video stream"
    except (av.FFmpegError, OSError) as err:
        return f"not a video (FFmpeg cannot open it: {getattr(err, 'strerror', None) or err})"
    return None
