"""Error hierarchy: every error the library raises derives from `TrackannotError`.

Messages say what went wrong, where (file, line, key), what was expected, what was found, and the
fix. Only `trackannot.cli` turns these into exit codes.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "ConflictError",
    "CorruptStoreError",
    "InputFormatError",
    "LockedError",
    "NotAVideoError",
    "StoreError",
    "TrackannotError",
    "VideoDecodeError",
    "WeightsNotFoundError",
]


class TrackannotError(Exception):
    """Base class of all trackannot errors."""


class InputFormatError(TrackannotError, ValueError):
    """An input file or array does not have the expected format."""


class ConfigError(TrackannotError, ValueError):
    """A configuration file, key or value is invalid."""


class WeightsNotFoundError(TrackannotError, FileNotFoundError):
    """Detector weights are neither a local file nor downloadable."""


class VideoDecodeError(TrackannotError):
    """A video is missing, empty, not a video, or damaged beyond its valid frames."""


class NotAVideoError(VideoDecodeError):
    """A file holds no video at all (text, an image, audio only, unknown bytes), as opposed to a
    damaged video; run inputs skip these files instead of failing them."""


class StoreError(TrackannotError):
    """A result store is missing, incomplete, or would be overwritten."""


class ConflictError(StoreError):
    """Another writer holds or changed what this call wanted to write (retry later or re-read)."""


class LockedError(ConflictError):
    """A video group (or the store) is being written by another process; the message names it."""


class CorruptStoreError(StoreError):
    """Stored data is damaged: a chunk is missing or fails its checksum, metadata does not load,
    or the corrections log does not replay. The message names the array, chunk and rows, and
    what to run (`trackannot check STORE`)."""
