"""Track sources: where an annotation state gets the tracks it has not materialised yet.

A state (`trackannot.state.AnnotationState`) reads an original track's automatic boxes, the
detections of a frame range and the edits a persisted state holds for a track only when an edit
or a read first needs them. `MemorySource` serves boxes held in memory; `StoreSource` reads one
video of a store by track and frame range, so a batch reads the tracks it touches, not the video.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Protocol

import numpy as np

from trackannot.boxes import COLUMNS, Boxes

if TYPE_CHECKING:
    from trackannot.store import VideoGroup

__all__ = ["MemorySource", "StoreSource", "StoreTables", "TrackEdits", "TrackSource", "keys_in_edits",
           "track_extents"]

# A keyframe: (xyxy tuple, outside, class_id)
Key = tuple[tuple[float, float, float, float], bool, int]
# A piece of an automatic track given to a current track: (original id, first frame, last frame)
Piece = tuple[int, int, int]
# Persisted keyframes of a frame range: current track -> frame -> keyframe
WindowKeys = dict[int, dict[int, Key]]


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

    def auto_window(self, start: int, stop: int) -> Boxes:
        """The automatic boxes of every original track in frames start..stop-1, as tracked
        (not smoothed: the same whichever way the video is read), track_id the original id."""
        ...

    def keys_in(self, start: int, stop: int) -> WindowKeys:
        """The keyframes in frames start..stop-1 of the tracks a persisted state holds edits
        for (a state uses them for the tracks it has not loaded)."""
        ...

    def frames(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray | None]:
        """(index, time_s) of the processed frames in start..stop-1: (k,) int64 ascending and
        (k,) float64 seconds, or None where the times are not known."""
        ...


def keys_in_edits(edits: dict[int, TrackEdits], start: int, stop: int) -> WindowKeys:
    """`TrackSource.keys_in` over persisted edits held in memory."""
    out: WindowKeys = {}
    for track, edit in edits.items():
        inside = {f: k for f, k in edit.keys.items() if start <= f < stop}
        if inside:
            out[track] = inside
    return out


class MemorySource:
    """A `TrackSource` over boxes in memory, with the persisted edits given (default: none).

    Args:
        tracks: the automatic tracks (as the state shows them: smoothed or not).
        detections: every detection (None: no detections; interpolation is linear and nothing
            propagates).
        edits: persisted edits by current track.
        frames: (index, time_s) of every processed frame (None: every frame 0..n-1 of the
            tracks and detections, times unknown).
        raw: the automatic tracks as tracked, for `auto_window` (None: `tracks`).
    """

    def __init__(self, tracks: Boxes, detections: Boxes | None,
                 edits: dict[int, TrackEdits] | None = None,
                 frames: tuple[np.ndarray, np.ndarray | None] | None = None,
                 raw: Boxes | None = None) -> None:
        self._raw = tracks if raw is None else raw
        self._frames = frames
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

    def auto_window(self, start: int, stop: int) -> Boxes:
        return self._raw.frame_range(start, stop)

    def keys_in(self, start: int, stop: int) -> WindowKeys:
        return keys_in_edits(self._edits, start, stop)

    def frames(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray | None]:
        if self._frames is None:
            return np.arange(max(start, 0), max(stop, start, 0), dtype=np.int64), None
        index, time_s = self._frames
        lo, hi = np.searchsorted(index, [start, stop])
        return index[lo:hi], None if time_s is None else time_s[lo:hi]


class StoreSource:
    """A `TrackSource` reading one video of a store by track and frame range (module docstring).

    Nothing is read whole: a frame's rows are found from the row offsets of that frame alone
    (the frame index is read whole only for a video whose processed frames are not 0..n-1, one
    sampled at a lower rate), and table rows are read in blocks aligned to the store's chunks,
    the last few blocks of each table kept (`_Blocks`). A track's automatic boxes are its rows
    in the blocks of its frame extent; detections are the rows of the frames asked. Tracks that
    lie near each other (the tracks of a frame range, the detections of their keyframes) then
    decode each chunk once, and memory stays that of a few chunks whatever the video's length.

    Args:
        result: the video's group.
        extents: original track id -> (first frame, last frame).
        edits: the persisted edits of a current track (`StateCache.edits`); None: every
            track as it was tracked.
        strength: smoothing of the automatic boxes (0: none), as `load_state` applies it.
        keys_in: the persisted keyframes of a frame range (`StateCache.keys_in`); None: none.
        tables: the video's tracking tables as another source of the same session read them
            (`StoreTables`, shared: their blocks are read once); None, or the tables of another
            run: read anew.
    """

    def __init__(self, result: VideoGroup, extents: dict[int, tuple[int, int]],
                 edits: Callable[[int], TrackEdits | None] | None,
                 strength: float,
                 keys_in: Callable[[int, int], WindowKeys] | None = None,
                 tables: StoreTables | None = None) -> None:
        self._extents = extents
        self._edits = edits
        self._keys_in = keys_in
        self._strength = strength
        if tables is None or not tables.serves(result):
            tables = StoreTables(result)
        self.tables = tables

    def _rows(self, table: str, start: int, stop: int, track: int | None = None) -> Boxes:
        return self.tables.rows(table, start, stop, track)

    def auto_ids(self) -> set[int]:
        return set(self._extents)

    def extent(self, original: int) -> tuple[int, int] | None:
        return self._extents.get(original)

    def auto_boxes(self, original: int) -> Boxes:
        if original not in self._extents:
            return Boxes.empty()
        first, last = self._extents[original]
        rows = self._rows("tracks", first, last + 1, original)
        if self._strength > 0:
            from trackannot.smooth import smooth_tracks

            rows = smooth_tracks(rows, self._strength)
        return rows

    def detections(self, start: int, stop: int) -> Boxes | None:
        return self._rows("detections", start, stop)

    def edits(self, track: int) -> TrackEdits | None:
        return self._edits(track) if self._edits is not None else None

    def auto_window(self, start: int, stop: int) -> Boxes:
        return self._rows("tracks", start, stop)

    def keys_in(self, start: int, stop: int) -> WindowKeys:
        return self._keys_in(start, stop) if self._keys_in is not None else {}

    def frames(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray | None]:
        return self.tables.frames(start, stop)


class StoreTables:
    """What a `StoreSource` reads of a completed video's tracking tables (its tracks and
    detections, the frame index and times), which never change once the run completed: the
    blocks read are kept (`_Blocks`), so the sources of one session (the reader's state and
    each batch's writer state, `trackannot.session`) share them and decode each chunk once.

    Tied to one run of the video (its group's uid, given at completion): a source given the
    tables of another run, or of a video whose run has not completed, reads its own.
    """

    def __init__(self, result: VideoGroup) -> None:
        self._result = result
        self.uid = _run_uid(result)
        self._time_s: np.ndarray | None = None
        self._frames, _ = result.committed()
        # processed frames 0..n-1 (decoded frames are written once each, in order, so the
        # entries increase): frame f is entry f; otherwise look frames up in the index
        dense = self._frames == 0 or (result.frame_index(0, 1)[0] == 0 and result.frame_index(
            self._frames - 1, self._frames)[0] == self._frames - 1)
        self._index = None if dense else result.frame_index()
        self._blocks = {table: _Blocks(result, table) for table in ("tracks", "detections")}

    def serves(self, result: VideoGroup) -> bool:
        """Whether these are the tables of `result` as it is now (same completed run)."""
        return self.uid is not None and self.uid == _run_uid(result)

    def _entries(self, start: int, stop: int) -> tuple[int, int]:
        """Positions of decoded frames start and stop among the processed frames."""
        if self._index is None:
            return min(max(start, 0), self._frames), min(max(stop, 0), self._frames)
        lo, hi = np.searchsorted(self._index, [start, stop], side="left")
        return int(lo), int(hi)

    def rows(self, table: str, start: int, stop: int, track: int | None = None) -> Boxes:
        """Rows of decoded frames start..stop-1 of `table` (of one track only: `track`)."""
        lo, hi = self._entries(start, stop)
        return self._blocks[table].rows(lo, hi, track)

    def frames(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray | None]:
        lo, hi = self._entries(start, stop)
        if self._time_s is None:  # read once: 8 bytes a frame (0.6 MB for 2 hours at 10 fps)
            self._time_s = self._result.frames()[1]
        index = np.arange(lo, hi, dtype=np.int64) if self._index is None else self._index[lo:hi]
        return index, self._time_s[lo:hi]


def _run_uid(result: VideoGroup) -> str | None:
    """The uid of a video's completed run (None: not completed, or a group without a uid)."""
    uid = result.attrs.get("uid")
    return str(uid) if uid and result.complete else None


# a block holds at least this many rows (whole chunks); this many rows of blocks are kept per
# table: 2 chunks of the default 65,536 rows, about 7 MB of boxes
_BLOCK_ROWS = 16_384
_KEEP_ROWS = 2 * 65_536


class _Blocks:
    """Rows of one table of a stored video, read in blocks of whole chunks; the last few blocks
    are kept (least recently used first out), and so are blocks of the table's row offsets."""

    def __init__(self, result: VideoGroup, table: str) -> None:
        self._result = result
        self._table = table
        self._frames, rows = result.committed()
        self._rows = rows[table]
        chunk, starts_chunk = result.chunk_rows(table)
        self._size = chunk * -(-_BLOCK_ROWS // chunk)
        self._keep = max(2, _KEEP_ROWS // self._size)
        self._starts_size = starts_chunk * -(-_BLOCK_ROWS // starts_chunk)
        self._blocks: OrderedDict[int, Boxes] = OrderedDict()
        self._starts: OrderedDict[int, np.ndarray] = OrderedDict()

    def rows(self, lo: int, hi: int, track: int | None) -> Boxes:
        """Rows of processed frames lo..hi-1 (those of `track` only, unless None)."""
        r0, r1 = self._start(lo), self._start(hi)
        parts = []
        size = self._size
        for k in range(r0 // size, (r1 - 1) // size + 1) if r1 > r0 else ():
            block = self._block(k)
            a, b = max(r0 - k * size, 0), min(r1 - k * size, size)
            cols = {name: col[a:b] for name, col in block.columns().items()}
            if track is not None:
                keep = np.flatnonzero(cols["track_id"] == track)
                cols = {name: col[keep] for name, col in cols.items()}
            parts.append(cols)
        if not parts:
            return Boxes.empty()
        if len(parts) == 1:
            return Boxes._trusted(**{name: col.copy() if track is None else col
                                     for name, col in parts[0].items()})
        return Boxes._trusted(**{name: np.concatenate([p[name] for p in parts])
                                 for name in COLUMNS})

    def _start(self, entry: int) -> int:
        """The first row of processed frame `entry` (the committed rows for the last + 1)."""
        if entry >= self._frames:
            return self._rows
        k, size = entry // self._starts_size, self._starts_size
        if k in self._starts:
            self._starts.move_to_end(k)
        else:
            self._starts[k] = self._result.row_starts(self._table, k * size,
                                                      min((k + 1) * size, self._frames))
            if len(self._starts) > self._keep:
                self._starts.popitem(last=False)
        return int(self._starts[k][entry - k * size])

    def _block(self, k: int) -> Boxes:
        if k in self._blocks:
            self._blocks.move_to_end(k)
        else:
            size = self._size
            self._blocks[k] = self._result.read_rows(self._table, k * size,
                                                     min((k + 1) * size, self._rows))
            if len(self._blocks) > self._keep:
                self._blocks.popitem(last=False)
        return self._blocks[k]


def track_extents(result: VideoGroup) -> dict[int, tuple[int, int]]:
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
