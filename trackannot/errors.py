"""Error hierarchy: every error the library raises derives from `TrackannotError`.

Messages say what went wrong, where (file, line, key), what was expected, what was found, and the
fix. Every error is of exactly one *kind*, so a server maps it to a status without reading its
message (`http_status`):

============================  ======  ================================================
kind                          status  examples
============================  ======  ================================================
`NotFoundError`               404     no such store, video, review queue, task, weights
`ConflictError`               409     the video is locked by another writer, an edit made
                                      against an older revision, a run still in progress
`InvalidInputError`           422     a malformed corrections file (file, line, expected,
                                      got), a bad config value, a file that is no video
`CorruptStoreError`           500     a missing chunk, a failed checksum, a log that does
                                      not replay
============================  ======  ================================================

`StoreError` is kept as a base of the store's errors (`except StoreError` still catches a
missing video or a locked one); each store error is also of one of the kinds above. Only
`trackannot.cli` turns these into exit codes.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "ConflictError",
    "CorruptStoreError",
    "InputFormatError",
    "InvalidInputError",
    "LockedError",
    "NotAVideoError",
    "NotFoundError",
    "RunIncompleteError",
    "StaleRevisionError",
    "StoreConflictError",
    "StoreError",
    "StoreInputError",
    "StoreNotFoundError",
    "TrackannotError",
    "VideoDecodeError",
    "WeightsNotFoundError",
    "error_for_status",
    "http_status",
]


class TrackannotError(Exception):
    """Base class of all trackannot errors."""


# --- the four kinds ---------------------------------------------------------------------------

class NotFoundError(TrackannotError, LookupError):
    """What the call names does not exist: a store, a video, a review queue, a task, a file."""

    def __str__(self) -> str:  # LookupError's KeyError-style quoting is not wanted
        return str(self.args[0]) if self.args else ""


class ConflictError(TrackannotError):
    """The call clashes with what others did or are doing: another writer holds the video, the
    edits were made against an older revision whose cells changed since, the run is in progress.
    Retry later, or re-read and redo."""


class InvalidInputError(TrackannotError, ValueError):
    """An input is malformed or does not fit: the message names the file, the line, what was
    expected and what was found. Nothing was written."""


class StoreError(TrackannotError):
    """Base of the result store's errors; each is also of one kind (see the module docstring)."""


class CorruptStoreError(StoreError):
    """Stored data is damaged: a chunk is missing or fails its checksum, metadata does not load,
    or the corrections log does not replay. The message names the array, chunk and rows, and
    what to run (`trackannot check STORE`)."""


# --- particular errors --------------------------------------------------------------------------

class InputFormatError(InvalidInputError):
    """An input file or array does not have the expected format."""


class ConfigError(InvalidInputError):
    """A configuration file, key or value is invalid."""


class WeightsNotFoundError(NotFoundError, FileNotFoundError):
    """Detector weights are neither a local file nor downloadable."""


class VideoDecodeError(InvalidInputError):
    """A video is missing, empty, not a video, or damaged beyond its valid frames."""


class NotAVideoError(VideoDecodeError):
    """A file holds no video at all (text, an image, audio only, unknown bytes), as opposed to a
    damaged video; run inputs skip these files instead of failing them."""


class StoreNotFoundError(NotFoundError, StoreError):
    """No such store, video group, review queue or batch in the store."""


class StoreConflictError(ConflictError, StoreError):
    """The store's state clashes with the call (see `ConflictError`)."""


class LockedError(StoreConflictError):
    """A video group (or the store) is being written by another process; the message names it."""


class StaleRevisionError(StoreConflictError):
    """Edits made against an older revision touch cells that changed since.

    Attributes:
        cells: the (track, frame) cells that changed after `expected` (empty when unknown).
        expected: the revision the edits were made against.
        current: the video's revision now.
    """

    def __init__(self, message: str, *, cells: list[tuple[int, int]] | None = None,
                 expected: int | None = None, current: int | None = None) -> None:
        super().__init__(message)
        self.cells = list(cells or [])
        self.expected = expected
        self.current = current


class RunIncompleteError(StoreConflictError):
    """The video's tracking run has not completed (still running, or interrupted/failed)."""


class StoreInputError(InvalidInputError, StoreError):
    """A store call got arguments that do not fit the store (a frame past the end, two videos
    where one must be named, an existing group that would be overwritten)."""


_STATUS = ((NotFoundError, 404), (ConflictError, 409), (InvalidInputError, 422),
           (CorruptStoreError, 500))


def http_status(err: BaseException) -> int:
    """The HTTP status a server answers `err` with: 404 not found, 409 conflict, 422 invalid
    input, 500 corrupt store or anything else (an error of no kind is a bug)."""
    for kind, status in _STATUS:
        if isinstance(err, kind):
            return status
    return 500


def error_for_status(status: int, text: str, *, not_found: str,
                     refused: str) -> TrackannotError:
    """The error of the kind a remote service's HTTP `status` stands for (the other way round
    from `http_status`, for the clients of annotation tools): 404 `NotFoundError`, 401 and 403
    `InvalidInputError` (credentials refused), 409 and 5xx `ConflictError` (a 5xx: try again),
    other 4xx `InvalidInputError`.

    Args:
        status: the HTTP status the service answered.
        text: what was asked and what the service said (the message starts with it).
        not_found: what a 404 means there, e.g. "no such task".
        refused: what to do about refused credentials, e.g. "pass a valid --token".
    """
    if status == 404:
        return NotFoundError(f"{text} ({not_found})")
    if status in (401, 403):
        return InvalidInputError(f"{text}: {refused}")
    if status == 409:
        return ConflictError(text)
    if 400 <= status < 500:
        return InvalidInputError(text)
    return ConflictError(f"{text}; the server failed, try again")
