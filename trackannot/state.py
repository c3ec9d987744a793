"""Annotation state: the current tracks of one video, derived from its automatic tracks and corrections.

The state is never stored; it is the automatic tracks with the corrections log replayed over them:

* split and merge re-assign pieces of automatic tracks (original id, frame range) to track ids;
* human keyframes (accept, adjust, absent, create) pin tracks at frames; between a track's first and
  last keyframe its boxes are interpolated (`trackannot.interpolate`, guided by the video's detections
  by default); before the first keyframe, and after the last one unless it is "absent", the track
  keeps its automatic boxes;
* a class correction relabels a whole track.

`apply` validates a batch of corrections against the state as it goes (each edit sees the ones
before it), and either applies the whole batch or raises and leaves the state as it was. After each
edit only the interpolation segments it touches are recomputed: from the keyframe before the edited
frame to the keyframe after it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from trackannot.boxes import COLUMNS, Boxes
from trackannot.config import InterpolateConfig
from trackannot.corrections import OP_NAMES, Corrections, Op
from trackannot.errors import InputFormatError
from trackannot.keyframes import Keyframes

__all__ = ["AnnotationState", "PreviousValues", "NO_BOX"]

NO_BOX = 255  # `PreviousValues.origin` of a (track, frame) that had no box


@dataclass(frozen=True, slots=True, eq=False)
class PreviousValues:
    """What each corrected (track, frame) held before its correction, for the audit log.

    Attributes:
        xyxy: (n, 4) float32, pixels; NaN where there was no box (or the edit has no frame).
        origin: (n,) uint8 `Origin` of that box, or `NO_BOX`.
        class_id: (n,) int32, the track's class before the edit (-1 for a new track).
        track_id: (n,) int64, the id the edit gave a new track (CREATE, SPLIT), else the track acted on.
    """

    xyxy: npt.NDArray[np.float32]
    origin: npt.NDArray[np.uint8]
    class_id: npt.NDArray[np.int32]
    track_id: npt.NDArray[np.int64]


def _concat_by_frame(parts: list[Boxes]) -> Boxes:
    """Rows of one track's parts, ordered by frame (frames do not repeat across parts)."""
    cols = {name: np.concatenate([getattr(p, name) for p in parts]) for name in COLUMNS}
    order = np.argsort(cols["frame"], kind="stable")
    return Boxes._trusted(**{name: col[order] for name, col in cols.items()})


# A keyframe inside the state: (xyxy tuple, outside, class_id)
_Key = tuple[tuple[float, float, float, float], bool, int]


class AnnotationState:
    """Current tracks of one video: automatic tracks + replayed corrections.

    Args:
        tracks: the automatic tracks (any order).
        num_frames: frames in the video; corrections must name frames in [0, num_frames).
        detections: every detector box of the video, guiding interpolation (None: linear only).
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
        self.num_frames = int(num_frames)
        self.cfg = cfg or InterpolateConfig()
        self._detections = detections
        order = np.lexsort((tracks.frame, tracks.track_id))
        # columns sorted by (track_id, frame): each original track is one contiguous slice
        self._auto = {name: col[order] for name, col in tracks.columns().items()}
        ids, first = np.unique(self._auto["track_id"], return_index=True)
        self._auto_rows = {int(t): (int(a), int(b)) for t, a, b in zip(ids, first, [*first[1:], len(order)])}
        # current id -> pieces (original id, first frame, last frame) of automatic tracks
        self._pieces: dict[int, list[tuple[int, int, int]]] = {
            t: [(t, 0, self.num_frames)] for t in self._auto_rows
        }
        self._keys: dict[int, dict[int, _Key]] = {}
        self._classes: dict[int, int] = {}
        self._merged_into: dict[int, int] = {}
        self._interp: dict[int, Boxes] = {}
        self._next_id = int(ids.max()) + 1 if len(ids) else 0
        self.recomputed_rows = 0  # interpolated rows computed so far (incremental work done)

    # ----------------------------------------------------------------------------------- reading

    @property
    def track_ids(self) -> list[int]:
        return sorted(set(self._pieces) | set(self._keys))

    def keyframes(self) -> Keyframes:
        """Every human keyframe of the current state."""
        rows = [
            (t, f, key[0], key[1], key[2]) for t in sorted(self._keys) for f, key in sorted(self._keys[t].items())
        ]
        if not rows:
            return Keyframes.empty()
        t, f, xyxy, outside, cls = zip(*rows)
        return Keyframes.create(track_id=t, frame=f, xyxy=xyxy, outside=outside, class_id=cls, sort=False)

    def track_boxes(self, track_id: int) -> Boxes:
        """Current boxes of one track, in frame order."""
        auto = self._auto_boxes(track_id)
        keys = self._keys.get(track_id)
        if keys:
            first, last = min(keys), max(keys)
            keep = auto.frame < first
            if not keys[last][1]:
                keep |= auto.frame > last
            auto = _concat_by_frame([auto[keep], self._interp[track_id]])
        if track_id in self._classes:
            auto = auto.replace(class_id=np.full(len(auto), self._classes[track_id], np.int32))
        return auto

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
        if track_id in self._classes:
            return self._classes[track_id]
        keys = self._keys.get(track_id)
        if keys:
            return keys[min(keys)][2]
        auto = self._auto_boxes(track_id)
        return int(auto.class_id[0]) if len(auto) else 0

    def _auto_boxes(self, track_id: int) -> Boxes:
        """Automatic boxes currently assigned to a track (first piece wins where pieces overlap)."""
        slices = []
        for orig, lo, hi in self._pieces.get(track_id, ()):
            a, b = self._auto_rows[orig]
            i, j = np.searchsorted(self._auto["frame"][a:b], [lo, hi + 1])
            slices.append(np.arange(a + i, a + j))
        if not slices:
            return Boxes.empty()
        rows = np.concatenate(slices)
        if len(slices) > 1:  # pieces of several tracks: first piece wins where frames repeat
            _, first = np.unique(self._auto["frame"][rows], return_index=True)
            rows = rows[first]  # np.unique sorts by frame
        cols = {name: col[rows] for name, col in self._auto.items()}
        cols["track_id"] = np.full(len(rows), track_id, np.int64)
        return Boxes._trusted(**cols)

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
        snapshot = self._snapshot()
        try:
            return self._apply(corrections, source)
        except Exception:
            self._restore(snapshot)
            raise

    def _snapshot(self) -> dict[str, Any]:
        return {
            "_pieces": copy.deepcopy(self._pieces),
            "_keys": copy.deepcopy(self._keys),
            "_classes": dict(self._classes),
            "_merged_into": dict(self._merged_into),
            "_interp": dict(self._interp),
            "_next_id": self._next_id,
            "recomputed_rows": self.recomputed_rows,
        }

    def _restore(self, snapshot: dict[str, Any]) -> None:
        for name, value in snapshot.items():
            setattr(self, name, value)

    def _apply(self, c: Corrections, source: str) -> PreviousValues:
        n = len(c)
        prev_xyxy = np.full((n, 4), np.nan, np.float32)
        prev_origin = np.full(n, NO_BOX, np.uint8)
        prev_class = np.full(n, -1, np.int32)
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
        return PreviousValues(prev_xyxy, prev_origin, prev_class, new_ids)

    def _check_track(self, track: int, where: str) -> None:
        if track in self._pieces or track in self._keys:
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
        self._keys.setdefault(track, {})[frame] = key
        self._recompute(track, frame)

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
        rows = self.track_boxes(track)
        if not len(rows):
            raise InputFormatError(f"{where}: track {track} has no boxes to mark absent")
        # the outside keyframe keeps a box, as CVAT's do: the one given, else the track's box there
        # (or its last box before)
        j = max(int(np.searchsorted(rows.frame, frame, side="right")) - 1, 0)
        box = c.xyxy[i] if np.isfinite(c.xyxy[i]).all() else rows.xyxy[j]
        self._set_key(track, frame, (tuple(map(float, box)), True, self.track_class(track)))
        return track

    def _op_create(self, c: Corrections, i: int, where: str) -> int:
        track = int(c.track_id[i])
        if track < 0:
            track = self._next_id
        elif track in self._pieces or track in self._keys or track in self._merged_into:
            raise InputFormatError(f"{where}: cannot create track {track}: {self._taken(track)}")
        self._next_id = max(self._next_id, track + 1)
        cls = max(int(c.class_id[i]), 0)
        self._set_key(track, int(c.frame[i]), (tuple(map(float, c.xyxy[i])), False, cls))
        return track

    def _op_class(self, c: Corrections, i: int, where: str) -> int:
        track = int(c.track_id[i])
        self._classes[track] = int(c.class_id[i])
        return track

    def _op_split(self, c: Corrections, i: int, where: str) -> int:
        track, frame, new = int(c.track_id[i]), int(c.frame[i]), int(c.other_id[i])
        rows = self.track_boxes(track)
        if not (rows.frame >= frame).any() or not (rows.frame < frame).any():
            raise InputFormatError(
                f"{where}: cannot split track {track} at frame {frame}: it has boxes only "
                f"{'before' if len(rows) and rows.frame[-1] < frame else 'from'} that frame on"
                if len(rows) else f"{where}: track {track} has no boxes to split"
            )
        if new < 0:
            new = self._next_id
        elif new in self._pieces or new in self._keys or new in self._merged_into:
            raise InputFormatError(f"{where}: cannot split into track {new}: {self._taken(new)}")
        self._next_id = max(self._next_id, new + 1)
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
        self._pieces[track] = self._pieces.get(track, []) + self._pieces.pop(other, [])
        if keys or other_keys:
            self._keys[track] = {**keys, **other_keys}
        self._keys.pop(other, None)
        self._interp.pop(other, None)
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

    def _interpolate(self, keyframes: Keyframes) -> Boxes:
        """Interpolate one track's keyframes; segments that agree with the track's automatic
        boxes follow them (`follow_track`, `InterpolateConfig.follow_iou`)."""
        from trackannot.interpolate import follow_track, interpolate  # a later stage; on use

        out = interpolate(keyframes, self._detections, self.cfg)
        if len(keyframes):
            auto = self._auto_boxes(int(keyframes.track_id[0]))
            out = follow_track(out, keyframes, auto, self.cfg.follow_iou)
        self.recomputed_rows += len(out)
        return out

    def _recompute_track(self, track: int) -> None:
        """Recompute every interpolated box of a track (after split or merge)."""
        if self._keys.get(track):
            self._interp[track] = self._interpolate(self._track_keyframes(track))
        else:
            self._interp.pop(track, None)
            self._keys.pop(track, None)

    def _recompute(self, track: int, frame: int) -> None:
        """Recompute only the segments around an edited keyframe: previous keyframe to next one."""
        frames = sorted(self._keys[track])
        k = frames.index(frame)
        lo, hi = frames[max(k - 1, 0)], frames[min(k + 1, len(frames) - 1)]
        fresh = self._interpolate(self._track_keyframes(track, lo, hi))
        old = self._interp.get(track, Boxes.empty())
        keep = (old.frame < lo) | (old.frame > hi)
        self._interp[track] = _concat_by_frame([old[keep], fresh])
