"""Annotation state: the current tracks of one video, derived from its automatic tracks and corrections.

The state is never stored as boxes; it is the automatic tracks with the corrections log replayed
over them:

* split and merge re-assign pieces of automatic tracks (original id, frame range) to track ids;
* human keyframes (accept, adjust, absent, create) pin tracks at frames; between a track's first and
  last keyframe its boxes are interpolated (`trackannot.interpolate`, guided by the video's detections
  by default), except that the automatic boxes are kept wherever the keyframes do not say they are
  wrong: between keyframes that agree with them, and, next to a keyframe that disagrees, everywhere
  but where a run carried from that keyframe goes (until it rejoins the automatic path) or near it
  (`follow_track`, `InterpolateConfig.disagree_frames`), so fixing one box does not move right
  boxes far from it; before the first keyframe, and after the last one unless it is "absent", the
  track keeps its automatic boxes;
* a class correction relabels a whole track;
* an edit the tracker did not have is carried along the object (`trackannot.propagate`, origin
  PROPAGATED): backward from a track's first keyframe and forward from its last present one when
  that keyframe differs from the track's automatic box there (a created box, a box moved off the
  track), from the ends a split cut, and across the gap between the pieces a merge joined
  (guided interpolation between the two ends: both are the object). A run replaces the
  automatic boxes of the frames it covers; keyframes are never moved. Like interpolation it is
  derived when read, never stored, so a replayed log gives the same boxes; `propagation_stops`
  says where each run stopped and why.

`apply` validates a batch of corrections against the state as it goes (each edit sees the ones
before it), and either applies the whole batch or raises and leaves the state as it was. After each
edit only the interpolation segments it touches are recomputed: from the keyframe before the edited
frame to the keyframe after it; a track's propagated runs only when what seeds them changed (its
first or last keyframe, its pieces), and another track's when a keyframe lands in the frames its
runs read (`take_invalidated` names those tracks for a reader that keeps boxes). `replay` applies a batch that was checked when it was logged,
without checks and without interpolating: a track's boxes are computed when they are read.

Tracks are materialised one at a time, when an edit or a read first needs them, from a
`TrackSource`: the automatic boxes of one original track, the detections (and the automatic boxes
of every track, and the persisted keyframes) of a frame range, and the edits a persisted state
holds for a track (`trackannot.statecache`). So a state opened over a
store's video to apply a batch reads only the tracks the batch touches, however long the video and
its log. `AnnotationState(tracks, ...)` builds one over boxes in memory.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from trackannot.boxes import COLUMNS, Boxes, Origin, pair_iou
from trackannot.config import InterpolateConfig
from trackannot.corrections import OP_NAMES, Corrections, Op
from trackannot.errors import InputFormatError
from trackannot.keyframes import Keyframes
from trackannot.propagate import Evidence, Stop, StopReason, bridge, propagate, video_gaps
from trackannot.sources import Key, MemorySource, Piece, TrackEdits, TrackSource

__all__ = ["AnnotationState", "NO_BOX", "PreviousValues"]

NO_BOX = 255  # `PreviousValues.origin` of a (track, frame) that had no box

_Key = Key
_Piece = Piece
_AUTO_ORIGINS = (int(Origin.DETECTED), int(Origin.PREDICTED))
_FIRST_WINDOW = 125  # frames a run reads first (`AnnotationState._run`)


@dataclass(frozen=True, slots=True, eq=False)
class _Runs:
    """A track's propagated boxes and what they were computed from.

    Attributes:
        seeds: what seeds them (pieces, first and last keyframes): recomputed when it changes.
        boxes: the runs' and the merge fills' boxes, origin PROPAGATED, sorted by frame.
        covered: (first, last) frames of each run: the automatic boxes there are replaced.
        stops: where each run stopped.
    """

    seeds: tuple[Any, ...]
    boxes: Boxes
    covered: list[tuple[int, int]]
    stops: list[Stop]


@dataclass(frozen=True, slots=True, eq=False)
class PreviousValues:
    """What each corrected (track, frame) held before its correction, for the audit log.

    Attributes:
        xyxy: (n, 4) float32, pixels; NaN where there was no box (or the edit has no frame).
        origin: (n,) uint8 `Origin` of that box, or `NO_BOX`.
        class_id: (n,) int32, the track's class before the edit (-1 for a new track).
        track_id: (n,) int64, the id the edit gave a new track (CREATE, SPLIT), else the track acted on.
        pinned: (n, 4) float32, the box each keyframe edit pinned (ACCEPT and ABSENT without a box
            pin the track's box there); NaN for edits that pin none.
    """

    xyxy: npt.NDArray[np.float32]
    origin: npt.NDArray[np.uint8]
    class_id: npt.NDArray[np.int32]
    track_id: npt.NDArray[np.int64]
    pinned: npt.NDArray[np.float32]


def _concat_by_frame(parts: list[Boxes]) -> Boxes:
    """Rows of one track's parts, ordered by frame (frames do not repeat across parts)."""
    cols = {name: np.concatenate([getattr(p, name) for p in parts]) for name in COLUMNS}
    order = np.argsort(cols["frame"], kind="stable")
    return Boxes._trusted(**{name: col[order] for name, col in cols.items()})


class AnnotationState:
    """Current tracks of one video: automatic tracks + replayed corrections.

    Args:
        tracks: the automatic tracks (any order).
        num_frames: frames in the video; corrections must name frames in [0, num_frames).
        detections: every detector box of the video, guiding interpolation and carrying edits
            along their objects (None: linear interpolation only, nothing propagates).
        cfg: interpolation settings.

    Example:
        >>> state = AnnotationState(tracks, num_frames=600, detections=dets)    # doctest: +SKIP
        >>> previous = state.apply(read_corrections_file("fix.jsonl", "ana"))    # doctest: +SKIP
        >>> state.boxes()                                                       # doctest: +SKIP
    """

    def __init__(
        self,
        tracks: Boxes,
        *,
        num_frames: int,
        detections: Boxes | None = None,
        cfg: InterpolateConfig | None = None,
    ) -> None:
        source = MemorySource(tracks, detections)
        ids = source.auto_ids()
        self._setup(source, num_frames, cfg, ids=ids, merged_into={},
                    next_id=max(ids) + 1 if ids else 0)

    @classmethod
    def over(cls, source: TrackSource, *, num_frames: int, ids: set[int],
             merged_into: dict[int, int], next_id: int,
             cfg: InterpolateConfig | None = None) -> AnnotationState:
        """A state whose tracks come from `source` when first needed.

        Args:
            source: the automatic tracks, detections and persisted edits.
            num_frames: frames in the video.
            ids: every current track id.
            merged_into: track merged away -> the track it lives on in.
            next_id: the id a new track gets when it names none.
            cfg: interpolation settings.
        """
        state = cls.__new__(cls)
        state._setup(source, num_frames, cfg, ids=ids, merged_into=merged_into, next_id=next_id)
        return state

    def _setup(self, source: TrackSource, num_frames: int, cfg: InterpolateConfig | None, *,
               ids: set[int], merged_into: dict[int, int], next_id: int) -> None:
        self.num_frames = int(num_frames)
        self.cfg = cfg or InterpolateConfig()
        self._source = source
        self._auto_ids = source.auto_ids()
        self._auto: dict[int, Boxes] = {}  # original id -> its automatic boxes (read once)
        self._unloaded = set(ids)  # current ids whose edits are still in the source
        # current id -> pieces (original id, first frame, last frame) of automatic tracks
        self._pieces: dict[int, list[_Piece]] = {}
        self._keys: dict[int, dict[int, _Key]] = {}
        self._classes: dict[int, int] = {}
        self._merged_into = dict(merged_into)
        self._interp: dict[int, Boxes] = {}
        self._stale: set[int] = set()  # tracks whose interpolated boxes are recomputed on read
        self._changed: set[int] = set()  # tracks edited since `saved()`
        self._next_id = int(next_id)
        self._deferred = False  # replay: interpolate on read, not on each edit
        self._undo: dict[str, Any] | None = None
        self.recomputed_rows = 0  # interpolated rows computed so far (incremental work done)
        self._runs: dict[int, _Runs] = {}  # propagated boxes of tracks read (dropped on release)
        # frames each track's runs read (kept on release): a keyframe landing there invalidates
        self._run_windows: dict[int, list[tuple[int, int]]] = {}
        # (first, last) frames of each segment of a track whose boxes a run from its disagreeing
        # keyframe gave (`follow_track`), by the segment's first frame (kept on release)
        self._seg_windows: dict[int, dict[int, tuple[int, int]]] = {}
        self._invalidated: set[int] = set()  # tracks whose boxes changed by another's edit
        self.propagated_rows = 0  # propagated rows computed so far

    # ----------------------------------------------------------------------------- materialising

    def _load(self, track: int) -> None:
        """Bring a current track's edits from the source (before anything reads or edits it)."""
        if track not in self._unloaded:
            return
        self._unloaded.discard(track)
        edits = self._source.edits(track)
        if edits is None:
            if track in self._auto_ids:
                self._pieces[track] = [(track, 0, self.num_frames)]
            return
        self._pieces[track] = list(edits.pieces)
        if edits.keys:
            self._keys[track] = dict(edits.keys)
            self._stale.add(track)
        if edits.class_id is not None:
            self._classes[track] = edits.class_id

    def _original(self, original: int) -> Boxes:
        if original not in self._auto:
            self._auto[original] = self._source.auto_boxes(original)
        return self._auto[original]

    def _exists(self, track: int) -> bool:
        self._load(track)
        return track in self._pieces or track in self._keys

    # ----------------------------------------------------------------------------------- reading

    @property
    def track_ids(self) -> list[int]:
        return sorted(self._unloaded | set(self._pieces) | set(self._keys))

    def keyframes(self) -> Keyframes:
        """Every human keyframe of the current state."""
        for track in list(self._unloaded):
            self._load(track)
        rows = [
            (t, f, key[0], key[1], key[2]) for t in sorted(self._keys) for f, key in sorted(self._keys[t].items())
        ]
        if not rows:
            return Keyframes.empty()
        t, f, xyxy, outside, cls = zip(*rows)
        return Keyframes.create(track_id=t, frame=f, xyxy=xyxy, outside=outside, class_id=cls, sort=False)

    def track_boxes(self, track_id: int) -> Boxes:
        """Current boxes of one track, in frame order."""
        self._load(track_id)
        auto = self._base_boxes(track_id)
        runs = self._propagated(track_id, auto)
        if runs is not None and len(runs.boxes):
            drop = np.zeros(len(auto), bool)
            for lo, hi in runs.covered:
                drop |= (auto.frame >= lo) & (auto.frame <= hi)
            drop &= np.isin(auto.origin, _AUTO_ORIGINS)  # never a keyframe's rows
            fills = runs.boxes
            if len(auto) and len(fills):  # a merge fill never lands on a row (first wins)
                fills = fills[~np.isin(fills.frame, auto.frame[~drop])]
            auto = _concat_by_frame([auto[~drop], fills])
        if track_id in self._classes:
            auto = auto.replace(class_id=np.full(len(auto), self._classes[track_id], np.int32))
        return auto

    def _base_boxes(self, track_id: int) -> Boxes:
        """A track's boxes before propagation: automatic boxes outside its keyframes,
        interpolation between them (its class not yet applied)."""
        auto = self._auto_boxes(track_id)
        keys = self._keys.get(track_id)
        if keys:
            first, last = min(keys), max(keys)
            keep = auto.frame < first
            if not keys[last][1]:
                keep |= auto.frame > last
            auto = _concat_by_frame([auto[keep], self._interpolated(track_id)])
        return auto

    def track_extent(self, track_id: int) -> tuple[int, int] | None:
        """(first, last) frame a track can have boxes in, without reading its boxes (a bound:
        its automatic pieces and keyframes); None when it has none."""
        self._load(track_id)
        lo, hi = [], []
        for orig, a, b in self._pieces.get(track_id, ()):
            extent = self._source.extent(orig)
            if extent is not None and max(a, extent[0]) <= min(b, extent[1]):
                lo.append(max(a, extent[0]))
                hi.append(min(b, extent[1]))
        keys = self._keys.get(track_id)
        if keys:
            lo.append(min(keys))
            hi.append(max(keys))
        if not lo:
            return None
        if self._may_propagate(track_id):  # runs reach at most max_frames past what seeds them
            reach = self.cfg.propagate.max_frames
            return max(min(lo) - reach, 0), min(max(hi) + reach, self.num_frames - 1)
        return min(lo), max(hi)

    def boxes(self) -> Boxes:
        """Current boxes of every track, sorted by (frame, track_id)."""
        parts = [self.track_boxes(t) for t in self.track_ids]
        if not parts:
            return Boxes.empty()
        cols = {name: np.concatenate([getattr(p, name) for p in parts]) for name in COLUMNS}
        order = np.lexsort((cols["track_id"], cols["frame"]))
        return Boxes._trusted(**{k: v[order] for k, v in cols.items()})

    def box_at(self, track_id: int, frame: int) -> tuple[npt.NDArray[np.float32], int] | None:
        """(xyxy, origin) of a track at a frame, or None if it has no box there."""
        rows = self.track_boxes(track_id)
        i = int(np.searchsorted(rows.frame, frame))
        if i < len(rows) and rows.frame[i] == frame:
            return rows.xyxy[i], int(rows.origin[i])
        return None

    def track_class(self, track_id: int) -> int:
        self._load(track_id)
        if track_id in self._classes:
            return self._classes[track_id]
        keys = self._keys.get(track_id)
        if keys:
            return keys[min(keys)][2]
        auto = self._auto_boxes(track_id)
        return int(auto.class_id[0]) if len(auto) else 0

    def _auto_boxes(self, track_id: int) -> Boxes:
        """Automatic boxes currently assigned to a track (first piece wins where pieces overlap)."""
        parts = []
        for orig, lo, hi in self._pieces.get(track_id, ()):
            rows = self._original(orig)
            i, j = np.searchsorted(rows.frame, [lo, hi + 1])
            parts.append(rows[slice(int(i), int(j))])
        if not parts:
            return Boxes.empty()
        if len(parts) == 1:
            cols = parts[0].columns()
        else:  # pieces of several tracks: first piece wins where frames repeat
            cols = {name: np.concatenate([getattr(p, name) for p in parts]) for name in COLUMNS}
            _, first = np.unique(cols["frame"], return_index=True)  # sorted by frame
            cols = {name: col[first] for name, col in cols.items()}
        cols["track_id"] = np.full(len(cols["frame"]), track_id, np.int64)
        return Boxes._trusted(**cols)

    # ------------------------------------------------------------------------ what was edited

    @property
    def next_id(self) -> int:
        """The id a new track gets when it names none."""
        return self._next_id

    @property
    def merged_into(self) -> dict[int, int]:
        """Track merged away -> the track it lives on in."""
        return dict(self._merged_into)

    def changed(self) -> set[int]:
        """Tracks whose edits changed since the state was made (or since `saved()`)."""
        return set(self._changed)

    def edits(self, track: int) -> TrackEdits | None:
        """What the corrections made of `track` (None: it no longer exists)."""
        if not self._exists(track):
            return None
        return TrackEdits(list(self._pieces.get(track, [])), dict(self._keys.get(track, {})),
                          self._classes.get(track))

    def saved(self) -> None:
        """The edits so far are persisted: `changed()` starts afresh."""
        self._changed.clear()

    def release(self, tracks: list[int]) -> None:
        """Forget the boxes read or computed for `tracks`: the automatic boxes of their pieces
        and their interpolated boxes, read or computed again when next needed (a reader that
        moves along a long video keeps the memory of the tracks near it). Edits are kept."""
        for track in tracks:
            if self._interp.pop(track, None) is not None:
                self._stale.add(track)  # an edit's segment recompute needs the rest first
            self._runs.pop(track, None)  # its windows stay: an edit there still invalidates it
            for original, _, _ in self._pieces.get(track, ()):
                self._auto.pop(original, None)

    def take_invalidated(self) -> set[int]:
        """Tracks whose boxes changed since the last call because another track's edit landed
        in the frames their propagated runs read (a reader that keeps boxes drops these too)."""
        out, self._invalidated = self._invalidated, set()
        return out

    # ----------------------------------------------------------------------------------- editing

    def apply(self, corrections: Corrections, source: str = "") -> PreviousValues:
        """Apply a batch in order, all or nothing.

        Args:
            corrections: the batch.
            source: file name for messages.

        Returns:
            What each edited (track, frame) held before, for the audit log.

        Raises:
            InputFormatError: an edit names an unknown track or a frame outside the video, needs a
                box where the track has none, or contradicts an earlier edit of the batch. The
                state is unchanged.
        """
        from trackannot.validate import check_corrections  # values first: ids, boxes, classes

        check_corrections(corrections, source)
        self._undo = self._globals()
        try:
            return self._apply(corrections, source)
        except Exception:
            self._rollback()
            raise
        finally:
            self._undo = None

    def replay(self, corrections: Corrections) -> None:
        """Apply a batch that was checked when it was logged: no checks, no previous values,
        interpolation left until the tracks are read. Ends in the state `apply` ends in."""
        self._deferred = True
        try:
            for i in range(len(corrections)):
                op = Op(int(corrections.op[i]))
                track = int(corrections.track_id[i])
                if op != Op.CREATE:
                    self._load(track)
                if op == Op.MERGE:
                    self._load(int(corrections.other_id[i]))
                getattr(self, f"_op_{OP_NAMES[op]}")(corrections, i, "")
        finally:
            self._deferred = False

    def _globals(self) -> dict[str, Any]:
        """What `apply` restores on failure, besides the tracks it touched (`_touch`). Tracks
        materialised meanwhile stay: loading is not a change."""
        return {
            "_tracks": {}, "_merged_into": dict(self._merged_into), "_next_id": self._next_id,
            "_interp": dict(self._interp), "_stale": set(self._stale),
            "_changed": set(self._changed), "recomputed_rows": self.recomputed_rows,
            "_runs": dict(self._runs), "_run_windows": dict(self._run_windows),
            "_seg_windows": dict(self._seg_windows),
            "_invalidated": set(self._invalidated), "propagated_rows": self.propagated_rows,
        }

    def _touch(self, track: int) -> None:
        """Note a track about to change: its undo copy (in `apply`), and that it changed."""
        self._changed.add(track)
        if self._undo is None or track in self._undo["_tracks"]:
            return
        self._undo["_tracks"][track] = (copy.deepcopy(self._pieces.get(track)),
                                        dict(self._keys[track]) if track in self._keys else None,
                                        self._classes.get(track))

    def _rollback(self) -> None:
        undo = self._undo or self._globals()
        for track, (pieces, keys, cls) in undo["_tracks"].items():
            for table, value in ((self._pieces, pieces), (self._keys, keys), (self._classes, cls)):
                if value is None:
                    table.pop(track, None)
                else:
                    table[track] = value
        for name in ("_merged_into", "_next_id", "_interp", "_stale", "_changed",
                     "recomputed_rows", "_runs", "_run_windows", "_seg_windows", "_invalidated",
                     "propagated_rows"):
            setattr(self, name, undo[name])

    def _apply(self, c: Corrections, source: str) -> PreviousValues:
        n = len(c)
        prev_xyxy = np.full((n, 4), np.nan, np.float32)
        prev_origin = np.full(n, NO_BOX, np.uint8)
        prev_class = np.full(n, -1, np.int32)
        pinned = np.full((n, 4), np.nan, np.float32)
        new_ids = c.track_id.copy()
        seen: dict[tuple[int, int], int] = {}  # (track, frame) -> row of the batch that edited it
        for i in range(n):
            op = Op(int(c.op[i]))
            where = c.where(i, source)
            track, frame = int(c.track_id[i]), int(c.frame[i])
            if op != Op.CREATE:
                self._check_track(track, where)
                prev_class[i] = self.track_class(track)
            if frame >= 0:
                self._check_frame(frame, where)
                if op in (Op.ACCEPT, Op.ADJUST, Op.ABSENT):
                    self._check_repeat(seen, c, i, track, frame, source)
                current = self.box_at(track, frame) if op != Op.CREATE else None
                if current is not None:
                    prev_xyxy[i], prev_origin[i] = current
            handler = getattr(self, f"_op_{OP_NAMES[op]}")
            new_ids[i] = handler(c, i, where)
            if op in (Op.ACCEPT, Op.ADJUST, Op.ABSENT, Op.CREATE):
                pinned[i] = self._keys[int(new_ids[i])][frame][0]
        return PreviousValues(prev_xyxy, prev_origin, prev_class, new_ids, pinned)

    def _check_track(self, track: int, where: str) -> None:
        if self._exists(track):
            return
        if track in self._merged_into:
            raise InputFormatError(
                f"{where}: track {track} no longer exists: it was merged into track {self._merged_into[track]}"
            )
        ids = self.track_ids
        known = f"{len(ids)} tracks, ids {ids[0]}..{ids[-1]}" if ids else "no tracks"
        raise InputFormatError(f"{where}: unknown track {track} (the video has {known})")

    def _taken(self, track: int) -> str:
        if track in self._merged_into:
            return (f"that id is taken (track {track} was merged into track "
                    f"{self._merged_into[track]}; was the file made before that merge?)")
        return "that id is taken"

    def _is_taken(self, track: int) -> bool:
        return self._exists(track) or track in self._merged_into

    def _check_frame(self, frame: int, where: str) -> None:
        if not 0 <= frame < self.num_frames:
            raise InputFormatError(
                f"{where}: frame {frame} is outside the video (frames 0..{self.num_frames - 1})"
            )

    @staticmethod
    def _check_repeat(seen: dict[tuple[int, int], int], c: Corrections, i: int, track: int, frame: int,
                      source: str) -> None:
        j = seen.get((track, frame))
        if j is not None:
            same = c.op[j] == c.op[i] and np.array_equal(c.xyxy[j], c.xyxy[i], equal_nan=True)
            if not same:
                raise InputFormatError(
                    f"{c.where(i, source)}: contradicts {c.where(j, source)}: both edit track {track} "
                    f"at frame {frame} ({OP_NAMES[Op(int(c.op[j]))]} vs {OP_NAMES[Op(int(c.op[i]))]})"
                )
        seen[(track, frame)] = i

    def _set_key(self, track: int, frame: int, key: _Key) -> None:
        self._touch(track)
        self._keys.setdefault(track, {})[frame] = key
        self._recompute(track, frame)
        self._invalidate_runs_at(frame, track)

    def _op_accept(self, c: Corrections, i: int, where: str) -> int:
        track, frame = int(c.track_id[i]), int(c.frame[i])
        if np.isfinite(c.xyxy[i]).all():  # the box the person saw
            box = c.xyxy[i]
        else:
            current = self.box_at(track, frame)
            if current is None:
                raise InputFormatError(f"{where}: track {track} has no box at frame {frame} to accept")
            box = current[0]
        self._set_key(track, frame, (tuple(map(float, box)), False, self.track_class(track)))
        return track

    def _op_adjust(self, c: Corrections, i: int, where: str) -> int:
        track, frame = int(c.track_id[i]), int(c.frame[i])
        cls = int(c.class_id[i]) if c.class_id[i] >= 0 else self.track_class(track)
        self._set_key(track, frame, (tuple(map(float, c.xyxy[i])), False, cls))
        return track

    def _op_absent(self, c: Corrections, i: int, where: str) -> int:
        track, frame = int(c.track_id[i]), int(c.frame[i])
        if np.isfinite(c.xyxy[i]).all():
            box = c.xyxy[i]
        else:
            rows = self.track_boxes(track)
            if not len(rows):
                raise InputFormatError(f"{where}: track {track} has no boxes to mark absent")
            # the outside keyframe keeps a box, as CVAT's do: the one given, else the track's box
            # there (or its last box before)
            j = max(int(np.searchsorted(rows.frame, frame, side="right")) - 1, 0)
            box = rows.xyxy[j]
        if not self._deferred and not len(self.track_boxes(track)):
            raise InputFormatError(f"{where}: track {track} has no boxes to mark absent")
        self._set_key(track, frame, (tuple(map(float, box)), True, self.track_class(track)))
        return track

    def _op_create(self, c: Corrections, i: int, where: str) -> int:
        track = int(c.track_id[i])
        if track < 0:
            track = self._next_id
        elif self._is_taken(track):
            raise InputFormatError(f"{where}: cannot create track {track}: {self._taken(track)}")
        self._next_id = max(self._next_id, track + 1)
        cls = max(int(c.class_id[i]), 0)
        self._set_key(track, int(c.frame[i]), (tuple(map(float, c.xyxy[i])), False, cls))
        return track

    def _op_class(self, c: Corrections, i: int, where: str) -> int:
        track = int(c.track_id[i])
        self._touch(track)
        self._classes[track] = int(c.class_id[i])
        return track

    def _op_split(self, c: Corrections, i: int, where: str) -> int:
        track, frame, new = int(c.track_id[i]), int(c.frame[i]), int(c.other_id[i])
        if not self._deferred:
            rows = self.track_boxes(track)
            if not (rows.frame >= frame).any() or not (rows.frame < frame).any():
                raise InputFormatError(
                    f"{where}: cannot split track {track} at frame {frame}: it has boxes only "
                    f"{'before' if len(rows) and rows.frame[-1] < frame else 'from'} that frame on"
                    if len(rows) else f"{where}: track {track} has no boxes to split"
                )
        if new < 0:
            new = self._next_id
        elif self._is_taken(new):
            raise InputFormatError(f"{where}: cannot split into track {new}: {self._taken(new)}")
        self._next_id = max(self._next_id, new + 1)
        self._touch(track)
        self._touch(new)
        head, tail = [], []
        for orig, lo, hi in self._pieces.get(track, []):
            if lo < frame:
                head.append((orig, lo, min(hi, frame - 1)))
            if hi >= frame:
                tail.append((orig, max(lo, frame), hi))
        self._pieces[track], self._pieces[new] = head, tail
        keys = self._keys.pop(track, {})
        for dst, part in ((track, {f: k for f, k in keys.items() if f < frame}),
                          (new, {f: k for f, k in keys.items() if f >= frame})):
            if part:
                self._keys[dst] = part
        if track in self._classes:
            self._classes[new] = self._classes[track]
        self._recompute_track(track)
        self._recompute_track(new)
        return new

    def _op_merge(self, c: Corrections, i: int, where: str) -> int:
        track, other = int(c.track_id[i]), int(c.other_id[i])
        self._check_track(other, where)
        keys, other_keys = self._keys.get(track, {}), self._keys.get(other, {})
        both = sorted(set(keys) & set(other_keys))
        if both:
            raise InputFormatError(
                f"{where}: cannot merge track {other} into {track}: both have keyframes at frame(s) "
                f"{', '.join(map(str, both[:5]))}; remove one first"
            )
        self._touch(track)
        self._touch(other)
        self._pieces[track] = self._pieces.get(track, []) + self._pieces.pop(other, [])
        if keys or other_keys:
            self._keys[track] = {**keys, **other_keys}
        self._keys.pop(other, None)
        self._interp.pop(other, None)
        self._seg_windows.pop(other, None)
        self._stale.discard(other)
        self._classes.pop(other, None)
        self._merged_into[other] = track
        for t, dst in self._merged_into.items():
            if dst == other:
                self._merged_into[t] = track
        self._recompute_track(track)
        return track

    # ------------------------------------------------------------------------ interpolation cache

    def _track_keyframes(self, track: int, lo: int | None = None, hi: int | None = None) -> Keyframes:
        items = sorted(self._keys.get(track, {}).items())
        if lo is not None:
            items = [(f, k) for f, k in items if lo <= f <= hi]
        if not items:
            return Keyframes.empty()
        frames, keys = zip(*items)
        return Keyframes.create(
            track_id=np.full(len(frames), track), frame=frames, xyxy=[k[0] for k in keys],
            outside=[k[1] for k in keys], class_id=[k[2] for k in keys], sort=False,
        )

    def _interpolate(self, keyframes: Keyframes, count: bool = True,
                     segments: bool = True) -> Boxes:
        """Interpolate one track's keyframes (consecutive ones: the whole track, or a window
        around an edit); the track's automatic boxes are kept wherever the keyframes do not say
        they are wrong, and a keyframe that disagrees with them next to one that agrees changes
        them only near itself (`follow_track`, `InterpolateConfig.follow_iou`,
        `_segment_runs`). `count`: add the rows to `recomputed_rows` (work an edit caused, not a
        track read for the first time). `segments`: the keyframes are the track's own (not a
        merge fill's ends): runs of its segments are computed and their windows noted."""
        from trackannot.interpolate import follow_track, interpolate  # a later stage; on use

        detections = None
        if len(keyframes):
            detections = self._source.detections(int(keyframes.frame.min()),
                                                 int(keyframes.frame.max()) + 1)
        out = interpolate(keyframes, detections, self.cfg)
        if len(keyframes):
            track = int(keyframes.track_id[0])
            auto = self._auto_boxes(track)
            runs = self._segment_runs(track, keyframes, auto) if segments else None
            out = follow_track(out, keyframes, auto, self.cfg.follow_iou, runs,
                               self.cfg.disagree_frames)
        if count:
            self.recomputed_rows += len(out)
        return out

    def _segment_runs(self, track: int, keyframes: Keyframes, auto: Boxes
                      ) -> dict[tuple[int, int], tuple[Boxes, bool]]:
        """Runs from each disagreeing end of the segments of `keyframes` (`disagreeing_ends`),
        into the segment and never onto its other keyframe: (segment index, keyframe index) ->
        (boxes, whether it rejoined the track's automatic path). Each such segment's frames are
        noted (`_seg_windows`): another track's keyframe landing there recomputes this track.
        No run without detections or with propagation off (`follow_track` then keeps the
        automatic boxes but near the keyframe)."""
        from trackannot.interpolate import disagreeing_ends

        frames = keyframes.frame
        first, last = int(frames[0]), int(frames[-1])
        windows = {k: w for k, w in self._seg_windows.get(track, {}).items()
                   if not first <= k < last}
        runs: dict[tuple[int, int], tuple[Boxes, bool]] = {}
        if self.cfg.propagate.enabled:
            for i, d, direction in disagreeing_ends(keyframes, auto, self.cfg.follow_iou,
                                                    2 * self.cfg.disagree_frames):
                other = int(frames[i + 1] if d == i else frames[i])
                seed = Boxes.create(xyxy=keyframes.xyxy[d:d + 1], frame=int(frames[d]),
                                    class_id=int(keyframes.class_id[d]), track_id=track)
                found = self._run(track, seed, direction, until=other - direction)
                if found is None:  # the video has no detections
                    break
                boxes, stop, _ = found
                runs[(i, d)] = (boxes, stop.reason == StopReason.REJOINED)
                windows[int(frames[i])] = (int(frames[i]), int(frames[i + 1]))
        if windows:
            self._seg_windows[track] = windows
        else:
            self._seg_windows.pop(track, None)
        return runs

    def _interpolated(self, track: int) -> Boxes:
        """The interpolated boxes of a track with keyframes (computed now if stale)."""
        if track in self._stale or track not in self._interp:
            self._stale.discard(track)
            self._interp[track] = self._interpolate(self._track_keyframes(track), count=False)
        return self._interp[track]

    def _recompute_track(self, track: int) -> None:
        """Recompute every interpolated box of a track (after split or merge)."""
        if self._keys.get(track):
            if self._deferred:
                self._stale.add(track)
            else:
                self._stale.discard(track)
                self._interp[track] = self._interpolate(self._track_keyframes(track))
        else:
            self._interp.pop(track, None)
            self._stale.discard(track)
            self._keys.pop(track, None)

    def _recompute(self, track: int, frame: int) -> None:
        """Recompute only the segments around an edited keyframe: previous keyframe to next one."""
        if self._deferred:
            self._stale.add(track)  # whole track on its next read
            return
        if track in self._stale:  # the rest of the track, as it was: not the edit's work
            self._interpolated(track)
        frames = sorted(self._keys[track])
        k = frames.index(frame)
        lo, hi = frames[max(k - 1, 0)], frames[min(k + 1, len(frames) - 1)]
        fresh = self._interpolate(self._track_keyframes(track, lo, hi))
        old = self._interp.get(track, Boxes.empty())
        keep = (old.frame < lo) | (old.frame > hi)
        self._interp[track] = _concat_by_frame([old[keep], fresh])

    # ------------------------------------------------------------------------------ propagation

    def propagation_stops(self, tracks: list[int] | None = None) -> list[Stop]:
        """Where each propagated run of `tracks` (default: every track) stopped and why, by
        track then direction (backward first). A stop whose `reason.open_end` is true is an
        open end the review queue should ask about (`trackannot.risk.open_ends`)."""
        out: list[Stop] = []
        for track in self.track_ids if tracks is None else tracks:
            self._load(track)
            if not self._may_propagate(track):
                continue
            runs = self._propagated(track, self._base_boxes(track))
            if runs is not None:
                out += sorted(runs.stops, key=lambda s: s.direction)
        return out

    def _may_propagate(self, track: int) -> bool:
        """Whether anything can seed a run of `track` (a keyframe, or pieces an edit cut)."""
        if not self.cfg.propagate.enabled:
            return False
        return bool(self._keys.get(track)) or self._pieces.get(track) not in (
            None, [(track, 0, self.num_frames)])

    def _invalidate_runs_at(self, frame: int, track: int) -> None:
        """A keyframe of `track` at `frame`: other tracks whose runs read that frame are
        recomputed on their next read (the keyframe may stop them)."""
        self._invalidated.add(track)
        for other, windows in self._run_windows.items():
            if other != track and any(lo <= frame <= hi for lo, hi in windows):
                self._runs.pop(other, None)
                self._invalidated.add(other)
        for other, spans in self._seg_windows.items():  # runs between two keyframes
            if other != track and any(lo <= frame <= hi for lo, hi in spans.values()):
                self._stale.add(other)  # its interpolation, whole, on its next read
                self._invalidated.add(other)

    def _seed_key(self, track: int) -> tuple[Any, ...]:
        """What a track's runs are computed from, besides the video and other tracks'
        keyframes: its pieces and its first and last keyframes."""
        keys = self._keys.get(track) or {}
        ends = (min(keys), keys[min(keys)], max(keys), keys[max(keys)]) if keys else ()
        return (tuple(self._pieces.get(track, ())), ends)

    def _propagated(self, track: int, base: Boxes) -> _Runs | None:
        """The propagated boxes of a track (computed now unless what seeds them is unchanged
        and no other track's keyframe landed in their frames since)."""
        if not self._may_propagate(track):
            return None
        seeds = self._seed_key(track)
        runs = self._runs.get(track)
        if runs is not None and runs.seeds == seeds:
            return runs
        parts, covered, stops, windows = [], [], [], []
        auto = self._auto_boxes(track)
        for seed, direction in self._seeds(track, base, auto):
            found = self._run(track, seed, direction)
            if found is None:
                continue
            boxes, stop, window = found
            windows.append(window)
            joined = self._bridge(track, seed, boxes, stop, auto)
            if joined is not None:
                boxes, stop, window = joined
                windows.append(window)
            stops.append(stop)
            if len(boxes):
                parts.append(boxes)
                covered.append((int(boxes.frame[0]), int(boxes.frame[-1])))
        for fill in self._merge_fills(track, base):  # where no run went
            inside = np.zeros(len(fill), bool)
            for lo, hi in covered:
                inside |= (fill.frame >= lo) & (fill.frame <= hi)
            parts.append(fill[~inside])
        boxes = _concat_by_frame(parts) if parts else Boxes.empty()
        self.propagated_rows += len(boxes)
        runs = self._runs[track] = _Runs(seeds, boxes, covered, stops)
        self._run_windows[track] = windows
        return runs

    def _bridge(self, track: int, seed: Boxes, boxes: Boxes, stop: Stop, auto: Boxes
                ) -> tuple[Boxes, Stop, tuple[int, int]] | None:
        """A run that ended for lack of evidence joined to the track's own automatic boxes
        (`auto`) further on (`PropagateConfig.bridge_frames`, `trackannot.propagate.bridge`):
        the run's boxes with the line added, a REJOINED stop at the automatic box, and the
        frames read; None when there is nothing to join or the line may not go there."""
        reach = self.cfg.propagate.bridge_frames
        if reach <= 0 or stop.reason != StopReason.EVIDENCE_END:
            return None
        direction = stop.direction
        start = (boxes[-1:] if direction > 0 else boxes[:1]) if len(boxes) else seed
        a = int(start.frame[0])
        i = int(np.searchsorted(auto.frame, a, side="right" if direction > 0 else "left"))
        j = i if direction > 0 else i - 1
        # a hole of 1..reach frames (next to an automatic box there is nothing to join)
        if not 0 <= j < len(auto) or not 1 <= abs(int(auto.frame[j]) - a) - 1 <= reach:
            return None
        target = auto[j:j + 1]
        b = int(target.frame[0])
        lo, hi = min(a, b), max(a, b)
        evidence = self._evidence(track, lo, hi)
        line = None if evidence is None else bridge(start, target, evidence, self.cfg.propagate)
        if line is None:
            return None
        return (_concat_by_frame([boxes, line]),
                Stop(track, b, b - direction, direction, StopReason.REJOINED), (lo, hi))

    def _seeds(self, track: int, base: Boxes, auto: Boxes) -> list[tuple[Boxes, int]]:
        """(seed box, direction) of each run of a track (module docstring): its first / last
        keyframe when it differs from the track's automatic box there, else the first / last
        automatic box of a piece an edit cut there (a split); `auto`: its automatic boxes."""
        keys = self._keys.get(track) or {}
        follow = self.cfg.follow_iou
        out = []
        for direction, frame in ((-1, min(keys, default=None)), (1, max(keys, default=None))):
            if frame is not None and not keys[frame][1]:
                xyxy, _, cls = keys[frame]
                i = int(np.searchsorted(auto.frame, frame))
                has = i < len(auto) and auto.frame[i] == frame
                if not has or pair_iou([xyxy], auto.xyxy[i:i + 1])[0] < follow:
                    out.append((Boxes.create(xyxy=[xyxy], frame=frame, class_id=cls,
                                             track_id=track), direction))
                    continue
            if not len(base):
                continue
            row = 0 if direction < 0 else len(base) - 1
            if int(base.origin[row]) in _AUTO_ORIGINS and self._cut(track, int(base.frame[row]),
                                                                    direction):
                out.append((base[row:row + 1], direction))
        return out

    def _cut(self, track: int, frame: int, direction: int) -> bool:
        """Whether the piece giving a track its automatic box at `frame` was cut by an edit on
        that side (its original track goes on past the piece: a split)."""
        for orig, lo, hi in self._pieces.get(track, ()):
            extent = self._source.extent(orig)
            if extent is not None and lo <= frame <= hi and extent[0] <= frame <= extent[1]:
                return lo > extent[0] if direction < 0 else hi < extent[1]
        return False

    def _run(self, track: int, seed: Boxes, direction: int, until: int | None = None
             ) -> tuple[Boxes, Stop, tuple[int, int]] | None:
        """One run from `seed` (None: the video has no detections), with the frames it read.

        Most runs stop within a few hundred frames, so the evidence is read in a window of
        `_FIRST_WINDOW` frames, then 4 times more while the run reaches its end, up to
        max_frames: the same run as one read of max_frames frames, at a fraction of the reads.
        `until`: the last frame the run may take (the frame before another keyframe of the
        track: it stops there, reason KEYFRAME); default the video's end.
        """
        reach = self.cfg.propagate.max_frames
        frame = int(seed.frame[0])
        first, last = 0, self.num_frames - 1
        if until is not None:
            first, last = (first, until) if direction > 0 else (until, last)
        end = StopReason.VIDEO_END if until is None else StopReason.KEYFRAME
        size = min(_FIRST_WINDOW, reach)
        while True:
            lo, hi = (frame, min(frame + size, last)) if direction > 0 else \
                (max(frame - size, first), frame)
            evidence = self._evidence(track, lo, hi)
            if evidence is None:
                return None
            at_end = hi == last if direction > 0 else lo == first
            boxes, stop = propagate(seed, evidence, self.cfg.propagate, direction,
                                    end if at_end else StopReason.LIMIT)
            if stop.reason != StopReason.LIMIT or size >= reach:
                return boxes, stop, (lo, hi)
            size = min(4 * size, reach)

    def _evidence(self, track: int, lo: int, hi: int) -> Evidence | None:
        """What a run of `track` may step through in frames lo..hi (`Evidence`)."""
        detections = self._source.detections(lo, hi + 1)
        if detections is None:
            return None
        frame, time_s = self._source.frames(lo, hi + 1)
        auto = self._source.auto_window(lo, hi + 1)
        mine = np.zeros(len(auto), bool)
        for orig, a, b in self._pieces.get(track, ()):
            mine |= (auto.track_id == orig) & (auto.frame >= a) & (auto.frame <= b)
        other = auto[~mine & (auto.origin == Origin.DETECTED)]
        rows = [(f, key[0]) for t, keys in self._keys.items() if t != track
                for f, key in keys.items() if lo <= f <= hi and not key[1]]
        rows += [(f, key[0]) for t, keys in self._source.keys_in(lo, hi + 1).items()
                 if t != track and t in self._unloaded for f, key in keys.items() if not key[1]]
        if rows:
            frames, xyxy = zip(*rows)
            keyed = Boxes.create(xyxy=list(xyxy), frame=list(frames), origin=int(Origin.KEYFRAME),
                                 sort=True)
            other = _concat_by_frame([other, keyed])
        own = self._auto_boxes(track).frame_range(lo, hi + 1)
        return Evidence(frame, video_gaps(frame, time_s), detections, own, other)

    def _merge_fills(self, track: int, base: Boxes) -> list[Boxes]:
        """Boxes across each gap between two automatic boxes of a track that come from
        different original tracks (a merge joined them), at most max_frames long: guided
        interpolation between the two boxes, origin PROPAGATED (both ends are the object, so
        the gap is filled from both ends, not walked from one)."""
        pieces = self._pieces.get(track, ())
        if len(pieces) < 2 or len(base) < 2:
            return []
        orig = np.full(len(base), -1, np.int64)
        auto = np.isin(base.origin, _AUTO_ORIGINS)
        for o, a, b in reversed(pieces):  # the first piece wins where pieces overlap
            frames = self._original(o).frame
            orig[auto & (base.frame >= a) & (base.frame <= b) & np.isin(base.frame, frames)] = o
        step = np.diff(base.frame)
        gap = np.flatnonzero((step > 1) & (step <= self.cfg.propagate.max_frames + 1)
                             & (orig[:-1] >= 0) & (orig[1:] >= 0) & (orig[:-1] != orig[1:]))
        out = []
        for i in gap.tolist():
            ends = base[i:i + 2]
            keys = Keyframes.create(track_id=[track, track], frame=ends.frame, xyxy=ends.xyxy,
                                    class_id=[ends.class_id[0]] * 2)
            rows = self._interpolate(keys, count=False, segments=False)
            rows = rows[(rows.frame > ends.frame[0]) & (rows.frame < ends.frame[1])]
            out.append(rows.replace(origin=int(Origin.PROPAGATED)))
        return out
