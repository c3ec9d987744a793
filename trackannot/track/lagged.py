"""Fixed-lag tracking: each frame's tracks, tentative frames included, once no later frame can
change them.

`Tracker.update` reports a track from the frame that confirms it (after `min_hits` matches in a
row); the `min_hits - 1` frames it was matched in before are reported by `Tracker.backfill` right
after that update. A tentative track that misses a processed frame ends (`track_step._retire`),
so those frames are always the `min_hits - 1` frames processed just before the confirming one:
once `min_hits - 1` further frames have been processed, nothing can add a row to a frame.
`LaggedTracker` holds each frame back exactly that long and then releases it whole, so the
frames it releases, concatenated, equal `track_detections` over the same detections and frames,
column for column (see `LaggedTracker.update` for `det_index`).

Resume. A run that continues from a commit replays the committed frames through a fresh
`LaggedTracker` made with `written_through` = the last committed frame: the tracker state is
rebuilt, nothing of those frames is released again, and backfill rows the rebuilt tracker emits
for them later (they were written with their frame) are dropped.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from trackannot.boxes import COLUMNS, Boxes, Origin
from trackannot.config import TrackConfig
from trackannot.track.tracker import Backfill, Tracker

__all__ = ["FinalFrame", "LaggedTracker"]


class FinalFrame(NamedTuple):
    """One frame released by `LaggedTracker`: nothing later can change it.

    Attributes:
        frame: the frame index.
        detections: the `frame_boxes` it was given for this frame.
        tracks: every tracked box of the frame, sorted by track_id.
    """

    frame: int
    detections: Boxes
    tracks: Boxes


@dataclass
class _Held:
    """A processed frame that a later frame may still add backfill rows to."""

    frame: int
    detections: Boxes
    parts: list[Boxes] = field(default_factory=list)

    def release(self) -> FinalFrame:
        tracks = self.parts[0] if len(self.parts) == 1 else _by_track(self.parts)
        return FinalFrame(self.frame, self.detections, tracks)


def _by_track(parts: list[Boxes]) -> Boxes:
    """Rows of one frame from several parts, sorted by track_id (a track has one row a frame)."""
    parts = [p for p in parts if len(p)]
    if not parts:
        return Boxes.empty()
    cols = {name: np.concatenate([getattr(p, name) for p in parts]) for name in COLUMNS}
    order = np.argsort(cols["track_id"], kind="stable")
    return Boxes(**{k: v[order] for k, v in cols.items()})


class LaggedTracker:
    """A `Tracker` whose frames come out `min_hits - 1` processed frames late, complete.

    Args:
        cfg: tracker settings (`min_hits` sets the lag).
        written_through: frames at or before this index were written by an earlier run (a
            resume): they go through the tracker but are never released again, nor are rows
            added to them later. -1: nothing written yet.

    Example:
        >>> lagged = LaggedTracker(TrackConfig(min_hits=2))
        >>> box = Boxes.create(xyxy=[[10, 10, 50, 90]], score=[0.9])
        >>> [f.frame for f in lagged.update(box.replace(frame=[0]))]  # frame 0 held back
        []
        >>> [(f.frame, f.tracks.track_id.tolist()) for f in lagged.update(box.replace(frame=[1]))]
        [(0, [1])]
        >>> [(f.frame, f.tracks.track_id.tolist()) for f in lagged.finish()]
        [(1, [1])]
    """

    def __init__(self, cfg: TrackConfig, written_through: int = -1) -> None:
        self._tracker = Tracker(cfg)
        self._lag = cfg.min_hits - 1
        self._written_through = int(written_through)
        self._held: deque[_Held] = deque()

    def update(self, frame_boxes: Boxes, frame: int | None = None) -> list[FinalFrame]:
        """Track one frame; release the frames that are now final (oldest first).

        Args:
            frame_boxes, frame: as `Tracker.update` (frames must increase).

        Returns:
            The frames no later frame can change any more: all but the last `min_hits - 1`
            processed, and none at or before `written_through`. Their tracks are
            `Tracker.update`'s rows plus the tentative frames of tracks confirmed since (origin
            DETECTED, the detection's box, score and class, `pos_std` of the confirming frame).
            `det_index` is the row in that frame's `frame_boxes` for every row, so it equals
            `track_detections`' `det_index` (a row of the whole detections table) minus the
            number of detections of the frames before.

        Raises:
            InputFormatError: as `Tracker.update`.
        """
        online = self._tracker.update(frame_boxes, frame)
        index = int(frame) if frame is not None else int(frame_boxes.frame[0])
        self._add_backfill(self._tracker.backfill())
        if index > self._written_through:
            self._held.append(_Held(index, frame_boxes, [online]))
        out = []
        while len(self._held) > self._lag:
            out.append(self._held.popleft().release())
        return out

    def finish(self) -> list[FinalFrame]:
        """Release every frame still held (the input ended: nothing can change them now)."""
        out = [held.release() for held in self._held]
        self._held.clear()
        return out

    def _add_backfill(self, rows: Backfill) -> None:
        """Add the tentative frames of newly confirmed tracks to the frames still held."""
        if not rows.frame.size:
            return
        held = {h.frame: h for h in self._held}
        for frame in np.unique(rows.frame).tolist():
            if frame <= self._written_through:
                continue  # written with its frame by the run this one continues
            target = held.get(frame)
            if target is None:  # the lag is the kernel's backfill window: cannot happen
                raise RuntimeError(f"LaggedTracker: backfill for frame {frame}, which is no "
                                   f"longer held (lag {self._lag} frames)")
            pick = rows.frame == frame
            det = rows.det_index[pick]
            dets = target.detections
            target.parts.append(Boxes(
                frame=rows.frame[pick], xyxy=dets.xyxy[det], score=dets.score[det],
                class_id=dets.class_id[det], track_id=rows.track_id[pick],
                origin=np.full(det.size, Origin.DETECTED, np.uint8), det_index=det,
                pos_std=rows.pos_std[pick]))
