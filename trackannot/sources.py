"""Track sources: where an annotation state gets the tracks it has not materialised yet.

A state (`trackannot.state.AnnotationState`) reads an original track's automatic boxes, the
detections of a frame range and the edits a persisted state holds for a track only when an edit
or a read first needs them. `MemorySource` serves boxes held in memory; `StoreSource` reads one
video of a store by track and frame range, so a batch reads the tracks it touches, not the video.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Protocol

import numpy as np

from trackannot.boxes import Boxes

if TYPE_CHECKING:
    from trackannot.store import VideoResult

__all__ = ["MemorySource", "StoreSource", "TrackEdits", "TrackSource", "track_extents"]

# A keyframe: (xyxy tuple, outside, class_id)
Key = tuple[tuple[float, float, float, float], bool, int]
# A piece of an automatic track given to a current track: (original id, first frame, last frame)
Piece = tuple[int, int, int]


@dataclass(frozen=True)
class TrackEdits:
    """What the corrections made of one current track (what a persisted state stores).

    Attributes:
        pieces: pieces of automatic tracks it is made of: (original id, first frame, last frame).
        keys: its human keyframes, frame -> ((x1, y1, x2, y2), outside, class_id).
        class_id: its class set by a class edit, or None.
    """

    pieces: list[Piece]
    keys: dict[int, Key]
    class_id: int | None


class TrackSource(Protocol):
    """Where a state gets the tracks it has not materialised yet."""

    def auto_ids(self) -> set[int]:
        """Ids of the automatic tracks (before any correction)."""
        ...

    def auto_boxes(self, original: int) -> Boxes:
        """The automatic boxes of one original track, in frame order."""
        ...

    def extent(self, original: int) -> tuple[int, int] | None:
        """(first frame, last frame) of one original track's automatic boxes; None: none."""
        ...

    def detections(self, start: int, stop: int) -> Boxes | None:
        """Detector boxes of frames start..stop-1 (None: interpolate linearly)."""
        ...

    def edits(self, track: int) -> TrackEdits | None:
        """The edits of current track `track` held by a persisted state; None: unedited (an
        automatic track as it was, or no such track)."""
        ...


class MemorySource:
    """A `TrackSource` over boxes in memory, with the persisted edits given (default: none)."""

    def __init__(self, tracks: Boxes, detections: Boxes | None,
                 edits: dict[int, TrackEdits] | None = None) -> None:
        order = np.lexsort((tracks.frame, tracks.track_id))
        self._cols = {name: col[order] for name, col in tracks.columns().items()}
        ids, first = np.unique(self._cols["track_id"], return_index=True)
        self._rows = {int(t): (int(a), int(b))
                      for t, a, b in zip(ids, first, [*first[1:], len(order)])}
        self._detections = detections
        self._edits = edits or {}

    def auto_ids(self) -> set[int]:
        return set(self._rows)

    def extent(self, original: int) -> tuple[int, int] | None:
        if original not in self._rows:
            return None
        a, b = self._rows[original]
        frames = self._cols["frame"]
        return int(frames[a]), int(frames[b - 1])

    def auto_boxes(self, original: int) -> Boxes:
        if original not in self._rows:
            return Boxes.empty()
        a, b = self._rows[original]
        return Boxes._trusted(**{name: col[a:b] for name, col in self._cols.items()})

    def detections(self, start: int, stop: int) -> Boxes | None:
        if self._detections is None:
            return None
        return self._detections.frame_range(start, stop)

    def edits(self, track: int) -> TrackEdits | None:
        return self._edits.get(track)


class StoreSource:
    """A `TrackSource` reading one video of a store by track and frame range (module docstring).

    The video's frame index and row offsets are read once; a track's automatic boxes are the
    rows of its frame extent, filtered; detections are read for the frame window asked and kept,
    so the segments of an edit, which lie inside the window of its track, read nothing more.

    Args:
        result: the video's group.
        extents: original track id -> (first frame, last frame).
        edits: the persisted edits of a current track (`StateCache.edits`); None: every
            track as it was tracked.
        strength: smoothing of the automatic boxes (0: none), as `load_state` applies it.
    """

    def __init__(self, result: VideoResult, extents: dict[int, tuple[int, int]],
                 edits: Callable[[int], TrackEdits | None] | None,
                 strength: float) -> None:
        self._result = result
        self._extents = extents
        self._edits = edits
        self._strength = strength
        self._index, _ = result.frames()
        self._starts = {table: result.row_starts(table) for table in ("tracks", "detections")}
        self._window: tuple[int, int, Boxes] | None = None

    def _rows(self, table: str, start: int, stop: int) -> Boxes:
        """Rows of decoded frames start..stop-1 of `table`."""
        lo, hi = np.searchsorted(self._index, [start, stop], side="left")
        starts = self._starts[table]
        return self._result.read_rows(table, int(starts[lo]), int(starts[hi]))

    def auto_ids(self) -> set[int]:
        return set(self._extents)

    def extent(self, original: int) -> tuple[int, int] | None:
        return self._extents.get(original)

    def auto_boxes(self, original: int) -> Boxes:
        if original not in self._extents:
            return Boxes.empty()
        first, last = self._extents[original]
        rows = self._rows("tracks", first, last + 1)
        rows = rows[rows.track_id == original]
        if self._strength > 0:
            from trackannot.smooth import smooth_tracks

            rows = smooth_tracks(rows, self._strength)
        return rows

    def detections(self, start: int, stop: int) -> Boxes | None:
        window = self._window
        if window is None or not window[0] <= start <= stop <= window[1]:
            self._window = window = (start, stop, self._rows("detections", start, stop))
        return window[2].frame_range(start, stop)

    def edits(self, track: int) -> TrackEdits | None:
        return self._edits(track) if self._edits is not None else None


def track_extents(result: VideoResult) -> dict[int, tuple[int, int]]:
    """Original track id -> (first frame, last frame), from the tracks table (read once)."""
    track_id = result.column("tracks", "track_id")
    frame = result.column("tracks", "frame")
    if not len(track_id):
        return {}
    ids, inverse = np.unique(track_id, return_inverse=True)
    first = np.full(len(ids), np.iinfo(np.int64).max)
    last = np.full(len(ids), -1)
    np.minimum.at(first, inverse, frame)
    np.maximum.at(last, inverse, frame)
    return {int(t): (int(a), int(b)) for t, a, b in zip(ids, first, last)}
