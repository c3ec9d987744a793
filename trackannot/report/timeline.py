"""The track timeline's data: per-track runs by origin, the risk strip and the marks.

Frames are grouped into bins of `bin_frames` frames so a 2-hour video draws a few thousand
columns, not 72,000: within a bin a track takes the origin most of its boxes have, except that a
human keyframe or a box propagated from one wins (a person's edit never disappears). The risk
strip keeps each bin's highest risk. Marks (queued frames, honeypots, identity edits, open ends)
are never binned or dropped: each keeps its own frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from trackannot.boxes import Origin

if TYPE_CHECKING:
    from trackannot.report.gather import VideoData

__all__ = ["MAX_BINS", "Mark", "Timeline", "build_timeline"]

MAX_BINS = 3000
"""Most columns a timeline draws; longer videos are binned to this many."""

_HUMAN = (int(Origin.KEYFRAME), int(Origin.PROPAGATED))


@dataclass(frozen=True)
class Mark:
    """Marks of one kind: frame, timeline row and hover text of each."""

    name: str
    frame: np.ndarray
    row: np.ndarray
    text: list[str]


@dataclass
class Timeline:
    """What the timeline figure draws.

    Attributes:
        track_ids: one row per track, row i = track_ids[i].
        bin_frames: frames per drawn column (1: every frame drawn).
        runs: {origin: (row, first frame, last frame + 1) arrays} of consecutive bins.
        risk_x, risk_y: risk strip: first frame of each bin, highest expected wrong boxes in it.
        marks: queued frames, honeypots (lead's view only), identity edits, open ends.
    """

    track_ids: np.ndarray
    num_frames: int
    bin_frames: int
    runs: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]
    risk_x: np.ndarray
    risk_y: np.ndarray
    marks: list[Mark] = field(default_factory=list)


def build_timeline(video: VideoData, *, lead: bool, max_bins: int = MAX_BINS) -> Timeline:
    """The timeline of `video`; honeypots only in the lead's view (`lead`)."""
    from trackannot.corrections import Op
    from trackannot.review import ItemKind
    from trackannot.risk import Reason

    boxes = video.boxes[video.boxes.track_id >= 0]
    ids = video.track_ids
    n = max(video.num_frames, 1)
    size = max(1, -(-n // max_bins))
    row = np.searchsorted(ids, boxes.track_id)
    runs = _runs(row, boxes.frame // size, boxes.origin.astype(np.int64), len(ids), size)
    per_frame = video.risk.per_frame(n) if len(video.risk.frame) else np.zeros(n)
    bins = -(-n // size)
    padded = np.zeros(bins * size)
    padded[:n] = per_frame
    risk_y = padded.reshape(bins, size).max(axis=1)
    risk_x = np.arange(bins, dtype=np.int64) * size

    def rows_of(tracks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        at = np.searchsorted(ids, tracks)
        ok = (at < len(ids)) & (ids[np.minimum(at, len(ids) - 1)] == tracks) if len(ids) else \
            np.zeros(len(tracks), bool)
        return at, ok

    marks = []
    for queue in video.queues:
        shown = queue.kind != ItemKind.HONEYPOT
        at, ok = rows_of(queue.track_id)
        keep = shown & ok
        reasons = [Reason(int(r)).label for r in queue.reason[keep]]
        marks.append(Mark(f"queued ({queue.queue_id})", queue.frame[keep], at[keep],
                          [f"queue {queue.queue_id}, track {t}: {r}" for t, r in
                           zip(queue.track_id[keep].tolist(), reasons)]))
        if lead:
            pots = (queue.kind == ItemKind.HONEYPOT) & ok
            if pots.any():
                marks.append(Mark("honeypots", queue.frame[pots], at[pots],
                                  [f"honeypot in {queue.queue_id}, track {t}"
                                   for t in queue.track_id[pots].tolist()]))
    log = video.log
    if log is not None and len(log):
        ident = np.isin(log.op, [int(Op.SPLIT), int(Op.MERGE)])
        at, ok = rows_of(log.track_id[ident])
        frames = log.frame[ident][ok]
        ops = [Op(int(o)).name.lower() for o in log.op[ident][ok]]
        marks.append(Mark("identity edits", frames, at[ok],
                          [f"{o} of track {t}" for o, t in zip(ops, log.track_id[ident][ok].tolist())]))
    ends = video.open_ends
    if ends is not None and len(ends.frame):
        at, ok = rows_of(ends.track_id)
        marks.append(Mark("open ends", ends.frame[ok], at[ok],
                          [f"track {t}: {Reason(int(r)).label} (risk {k:.2f})" for t, r, k in
                           zip(ends.track_id[ok].tolist(), ends.reason[ok].tolist(),
                               ends.risk[ok].tolist())]))
    return Timeline(ids, n, size, runs, risk_x, risk_y, [m for m in marks if len(m.frame)])


def _runs(row: np.ndarray, bin_: np.ndarray, origin: np.ndarray, rows: int,
          size: int) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Runs of consecutive bins of one track with the same (binned) origin."""
    if not len(row):
        return {}
    kinds = int(max(Origin)) + 1
    cell = row * (bin_.max() + 1) + bin_
    uniq, inverse = np.unique(cell, return_inverse=True)
    counts = np.zeros((len(uniq), kinds), np.int64)
    np.add.at(counts, (inverse, origin), 1)
    chosen = counts.argmax(axis=1)
    for human in _HUMAN:  # a person's edit in a bin colours it
        chosen = np.where(counts[:, human] > 0, human, chosen)
    width = bin_.max() + 1
    r, b = uniq // width, uniq % width
    # a run breaks where the row changes, a bin is skipped, or the origin changes
    brk = np.ones(len(uniq), bool)
    brk[1:] = (r[1:] != r[:-1]) | (b[1:] != b[:-1] + 1) | (chosen[1:] != chosen[:-1])
    start = np.flatnonzero(brk)
    stop = np.append(start[1:], len(uniq))
    out = {}
    for o in np.unique(chosen[start]).tolist():
        sel = chosen[start] == o
        out[int(o)] = (r[start[sel]], b[start[sel]] * size, (b[stop[sel] - 1] + 1) * size)
    return out
