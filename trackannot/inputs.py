"""Inputs: the videos of a run, from files, directories and a manifest, told apart by probing.

- Every file, named directly (on the command line or in a manifest) or found in a directory, is
  probed (`trackannot.probe.probe_video`), so its content decides, never its suffix:
  - a video is tracked;
  - a file that holds no video (`NotAVideoError`: text, a still image, audio only, bytes in
    which FFmpeg finds no container and that start with no video container signature) is
    skipped and listed with the reason, whatever its suffix (random bytes named `.mp4` too);
  - a damaged video (it starts with a video container's signature, e.g. an MP4 cut before its
    index, a cut MKV, but cannot be opened or decoded to its end) is tracked, and the run
    reports it failed, keeping the frames decoded before the damage.
- A 0-byte file has no content to probe, so its name decides: with a video suffix
  (`VIDEO_SUFFIXES`) it is a video whose recording or copy failed (tracked, reported failed),
  otherwise it is skipped.
- A directory contributes the files in it (not in its subdirectories unless `recursive`), in name
  order; hidden files are left out.
- A manifest is a text file with one path per line; blank lines and lines starting with `#` are
  ignored; relative paths are relative to the manifest's folder; a path may name a directory.

A file reached twice (named, in a directory, in the manifest) is tracked once, at its first place.
Probing reads each file's header and decodes its first frame (a few milliseconds a file).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from trackannot.probe import probe_video
from trackannot.errors import InputFormatError, NotAVideoError, VideoDecodeError

__all__ = ["VIDEO_SUFFIXES", "Skipped", "VideoInputs", "collect_videos", "read_manifest"]

# Suffixes of video files: a 0-byte file with one of these is a video whose recording or copy
# failed (reported failed), any other 0-byte file is skipped.
VIDEO_SUFFIXES = frozenset({
    ".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".ts", ".mts", ".m2ts",
    ".wmv", ".flv", ".3gp", ".ogv", ".h264", ".h265", ".hevc",
})
_COMMENT = "#"
_REASONS_SHOWN = 3  # skipped files whose reason the "no video" error quotes


@dataclass(frozen=True)
class Skipped:
    """An input file that is not a video, and why (module docstring)."""

    path: Path
    reason: str


@dataclass(frozen=True)
class VideoInputs:
    """What a run tracks and what it left out.

    Attributes:
        videos: the videos to track, in order (absolute paths, each once).
        skipped: input files that are not videos (named or found in directories).
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
        The videos in order (damaged ones included: the run reports them) and the skipped
        non-video files.

    Raises:
        InputFormatError: a path that does not exist (for a manifest entry: the manifest's file
            and line), an unreadable manifest, or no video at all.
    """
    named: list[tuple[Path, str]] = [(Path(p), f"{p}") for p in paths]
    if manifest is not None:
        named += [(p, f"{manifest} line {line}") for p, line in read_manifest(manifest)]
    videos: dict[Path, None] = {}
    skipped: list[Skipped] = []
    seen: set[Path] = set()
    for path, where in named:
        if not path.exists():
            raise InputFormatError(f"{where}: {path}: video file not found; check the path")
        for entry in _directory_files(path, recursive) if path.is_dir() else [path]:
            if entry.resolve() in seen:
                continue
            seen.add(entry.resolve())
            reason = _not_a_video(entry)
            if reason is None:
                videos[entry.resolve()] = None
            else:
                skipped.append(Skipped(entry, reason))
    if not videos:
        raise InputFormatError(_nothing_to_track(named, skipped))
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


def _nothing_to_track(named: list[tuple[Path, str]], skipped: list[Skipped]) -> str:
    """The message for inputs that hold no video: what was looked at and why each was skipped."""
    why = "; ".join(f"{s.path.name}: {s.reason}" for s in skipped[:_REASONS_SHOWN])
    more = f"; and {len(skipped) - _REASONS_SHOWN} more" if len(skipped) > _REASONS_SHOWN else ""
    found = f" ({len(skipped)} non-video files skipped: {why}{more})" if skipped else ""
    suffixes = ", ".join(sorted(VIDEO_SUFFIXES)[:6])
    return (f"no video to track in {', '.join(w for _, w in named)}{found}; expected video files "
            f"({suffixes}, ...)")


def _directory_files(directory: Path, recursive: bool) -> list[Path]:
    """Files in `directory` (and below it if `recursive`), sorted by path; hidden ones left out."""
    pattern = "**/*" if recursive else "*"
    return sorted(p for p in directory.glob(pattern)
                  if p.is_file() and not any(part.startswith(".") for part in
                                             p.relative_to(directory).parts))


def _not_a_video(path: Path) -> str | None:
    """None for a video, damaged or not; else why the file is skipped (module docstring)."""
    if not path.is_file():
        return None  # a named device or pipe: the run reports it cannot be read as a file
    if path.stat().st_size == 0:
        return None if path.suffix.lower() in VIDEO_SUFFIXES else "empty file (0 bytes)"
    try:
        probe_video(path)
    except NotAVideoError as err:
        message = str(err)
        prefix = f"{path}: "
        return message[len(prefix):] if message.startswith(prefix) else message
    except VideoDecodeError:
        return None  # a damaged video: tracked, and the run reports it failed
    return None
