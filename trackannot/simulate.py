"""Simulated reviewer: the corrections a careful person makes at one frame, from known truth.

Used by `trackannot demo` (a reviewer answering the demo clip's review queue from the clip's
truth) and by the effort benchmark (benchmarks/effort, which imports it from here). It decides
only from what it is shown (the boxes and queue items at a frame) and the truth at that frame.

Ground-truth association (issue 4): per frame, boxes are matched to gt boxes by the Hungarian
algorithm on IoU, pairs at IoU >= 0.5 only (TrackEval's rule); a track's gt object ("owner") is
the gt id it is matched to most often. The annotator knows the owner of every automatic track
from the start and remembers the owner of each track it creates or splits off.

At a reviewed frame, for each box of the current annotation (`AnnotationState`):

* matched to its owner: accept if IoU >= ACCEPT_IOU (0.7) with the owner's gt box, else adjust to it;
* unmatched, its owner present and not covered by another box: adjust to the owner's gt box;
* matched to another gt object h (identity error): split the track at this frame, merge the
  new piece into the track owned by h if there is one without a box here, then accept/adjust;
* on an ignore region of the truth (KITTI DontCare or Van, MOT15 flag 0; when given): left;
* otherwise (false positive, duplicate, owner absent): absent (outside from here on).

Then every gt object at the frame that no box covers gets a box: the propagating annotator
first moves a box of a track the object owns that was left unchecked and is off the object but
touches it (an adjust: the person sees that box beside the object); else adjust on a track it
owns that has no box here (the track is extended), else create a new track.

Two annotators, and a hybrid of both (issue 13):

* the keying annotator (`manual_k`, `reenter=True`, issue 4): a drawn missed object is keyframed
  over its visible run every manual_k frames as a manual annotator would, and after an absent mark
  the person scrubs on to where the track shows its object again;
* the propagating annotator (`manual_k=None`, `reenter=False`): one box per missed object (a
  create, or an adjust extending its track), which the engine's propagation carries; it looks at
  nothing but the frames (and queue items) it is given and the truth at those frames. With
  `carry_k` (the hybrid annotator), where the engine did not carry a box it drew, it keys the
  object along every carry_k frames as the keying annotator does (`key_uncarried`).

Queue items besides boxes (`review_frame`'s keyword arguments): an open track end (the track's
object is there and uncovered: its box is drawn on the track; gone: absent if the end follows the
track, nothing if it precedes it; covered: nothing), a missed-object candidate (its hint box
covers an uncovered gt object at IoU >= MATCH_IOU: accepted, a verification at IoU >= ACCEPT_IOU
else adjusted to the truth, a draw; otherwise rejected, a verification: a yes/no answer).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

from trackannot.boxes import Boxes, pair_iou
from trackannot.corrections import Corrections, Op
from trackannot.cost import ActionCounts
from trackannot.review import ItemKind, ReviewQueue
from trackannot.risk import Reason
from trackannot.state import AnnotationState

__all__ = [
    "ACCEPT_IOU", "IGNORE_IOA", "MATCH_IOU", "Look", "Oracle", "box_iou", "match_frame", "owners",
    "queue_looks",
]

MATCH_IOU = 0.5  # a box covers a gt object at IoU >= this (TrackEval's matching threshold)
ACCEPT_IOU = 0.7  # a careful person accepts a box at IoU >= this with the gt box
IGNORE_IOA = 0.5  # a box more inside an ignore region than this is left (KITTI's DontCare rule)
_NEW_ID_BASE = 1_000_000_000  # ids the oracle gives new tracks (never taken by automatic tracks)


def box_iou(a: npt.NDArray[np.floating], b: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
    """(n, m) IoU of xyxy boxes a (n, 4) and b (m, 4)."""
    a, b = np.asarray(a, np.float64)[:, None, :], np.asarray(b, np.float64)[None, :, :]
    iw = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    ih = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = iw * ih
    union = ((a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
             + (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1]) - inter)
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def match_frame(box_xyxy: npt.NDArray[np.floating], gt_xyxy: npt.NDArray[np.floating]
                ) -> npt.NDArray[np.intp]:
    """Per box, the row of its matched gt box (Hungarian on IoU, IoU >= MATCH_IOU), or -1."""
    out = np.full(len(box_xyxy), -1, np.intp)
    if not len(box_xyxy) or not len(gt_xyxy):
        return out
    iou = box_iou(box_xyxy, gt_xyxy)
    score = np.where(iou >= MATCH_IOU, iou, 0.0)
    rows, cols = linear_sum_assignment(-score)
    keep = score[rows, cols] > 0
    out[rows[keep]] = cols[keep]
    return out


def owners(tracks: Boxes, gt: Boxes) -> tuple[dict[int, int], npt.NDArray[np.int64]]:
    """Each track's gt object (the gt id it is matched to most often; ties: the smaller id).

    Args:
        tracks: boxes with track ids, sorted by frame.
        gt: gt boxes, identity in track_id, sorted by frame.

    Returns:
        {track id: gt id} for tracks matched at least once, and per row of `tracks` the gt id it
        is matched to at its frame (-1: unmatched).
    """
    matched = np.full(len(tracks), -1, np.int64)
    frames = np.union1d(np.unique(tracks.frame), np.unique(gt.frame))
    t_at = np.searchsorted(tracks.frame, np.r_[frames, frames[-1] + 1] if len(frames) else [0])
    g_at = np.searchsorted(gt.frame, np.r_[frames, frames[-1] + 1] if len(frames) else [0])
    for i in range(len(frames)):
        ta, tb, ga, gb = t_at[i], t_at[i + 1], g_at[i], g_at[i + 1]
        m = match_frame(tracks.xyxy[ta:tb], gt.xyxy[ga:gb])
        hit = m >= 0
        matched[ta:tb][hit] = gt.track_id[ga:gb][m[hit]]
    ok = matched >= 0
    owner: dict[int, int] = {}
    if ok.any():
        pairs, counts = np.unique(np.stack([tracks.track_id[ok], matched[ok]], 1), axis=0,
                                  return_counts=True)
        order = np.lexsort((pairs[:, 1], -counts, pairs[:, 0]))
        for t, g in pairs[order]:
            owner.setdefault(int(t), int(g))
    return owner, matched


@dataclass
class _Batch:
    """Correction rows of one frame being built, and their action counts."""

    rows: list[dict] = field(default_factory=list)
    counts: ActionCounts = field(default_factory=ActionCounts)
    edited: set[int] = field(default_factory=set)  # tracks with a keyframe at this frame
    cut: set[int] = field(default_factory=set)  # tracks split at this frame (no box here any more)

    def add(self, op: Op, track: int, frame: int = -1, xyxy=None, other: int = -1) -> None:
        self.rows.append({"op": int(op), "track_id": track, "frame": frame,
                          "xyxy": np.full(4, np.nan) if xyxy is None else xyxy, "other_id": other})
        if op in (Op.ACCEPT, Op.ADJUST, Op.ABSENT, Op.CREATE):
            self.edited.add(track)
        elif op == Op.SPLIT:
            self.cut.add(track)

    def corrections(self, author: str) -> Corrections:
        if not self.rows:
            return Corrections.empty()
        cols = {k: [r[k] for r in self.rows] for k in self.rows[0]}
        return Corrections.create(**cols, author=author)


class Oracle:
    """A careful annotator who knows the ground truth.

    Args:
        gt: gt boxes (identity in track_id), sorted by (frame, track_id).
        owner: {track id: gt id} of the automatic tracks (`owners`).
        author: the corrections' author.
        manual_k: a drawn missed object is keyframed over its visible run every manual_k frames
            (its truth at frames it was not shown: the keying annotator); None: one box.
        num_frames: frames of the video (the outside mark after a keyed run).
        reenter: after an absent mark, key the track where its later boxes show its object again
            (truth at frames not shown); False: only what the reviewed frame shows.
        ignore: regions the truth does not care about (KITTI DontCare and Van boxes, MOT15 rows
            flagged 0), sorted by frame: an unmatched box more than IGNORE_IOA inside one is
            looked at and left (None: such boxes are marked absent, as in issue 4).
        carry_k: the propagating annotator keys a box it put where there was none along its
            object's run every carry_k frames where the engine did not carry it
            (`key_uncarried`); None: it leaves that to later looks.
    """

    def __init__(self, gt: Boxes, owner: dict[int, int], author: str = "oracle",
                 manual_k: int | None = None, num_frames: int | None = None,
                 reenter: bool = True, ignore: Boxes | None = None,
                 carry_k: int | None = None) -> None:
        self.gt = gt
        self.ignore = ignore
        self.owner = dict(owner)
        self.author = author
        self.manual_k = manual_k
        self.num_frames = num_frames
        self.reenter = reenter
        self.carry_k = carry_k
        self.last_drawn: list[tuple[int, int, int]] = []  # (track, frame, gt id) put by the last look
        self.last_rejected: list[int] = []  # candidates the last `review_frame` rejected
        self.last_accepted: dict[int, int] = {}  # candidate -> the row of the batch it made
        self._next_id = _NEW_ID_BASE
        self._keys: dict[int, set[int]] = {}  # track -> frames of its keyframes (only we edit)
        self._current: dict[int, int] = {}  # gt id -> the track last kept for it

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def review_frame(self, state: AnnotationState, frame: int, boxes: Boxes | None = None,
                     only: set[int] | None = None, *, open_ends: Iterable[int] = (),
                     candidates: npt.NDArray[np.floating] | None = None,
                     continues: npt.NDArray[np.integer] | None = None,
                     draw_missed: bool = True) -> tuple[Corrections, ActionCounts]:
        """The corrections a careful person makes at `frame`, and their action counts.

        Args:
            state: the current annotation (not changed here).
            frame: the frame looked at.
            boxes: the state's boxes at `frame` (default: computed from the state).
            only: review only the boxes of these tracks (a queue's items); the other boxes are
                seen (they cover their objects, so nothing is drawn over them) but neither
                checked nor charged. None: every box.
            open_ends: tracks with an open-end item at this frame (no box here; the queue asks
                whether the track goes on).
            candidates: (k, 4) hint boxes of missed-object candidates shown at this frame.
            continues: (k,) the track each candidate continues (-1: a new object; None: all -1).
            draw_missed: draw every uncovered gt object of the frame (the person sees the whole
                frame); False: only what the items above lead to.

        Returns:
            One batch for `AnnotationState.apply`, and its action counts. The rows of
            `candidates` rejected are in `last_rejected`, and the batch row each accepted one
            made in `last_accepted` ({candidate row: batch row}), until the next call.
        """
        if boxes is None:
            boxes = state.boxes().for_frame(frame)
        gt = self.gt.for_frame(frame)
        m = match_frame(boxes.xyxy, gt.xyxy)
        gt_row = {int(g): i for i, g in enumerate(gt.track_id)}
        covered = {int(gt.track_id[j]) for j in m if j >= 0}
        batch = _Batch()
        self.last_drawn = []
        for i in range(len(boxes)):
            if only is not None and int(boxes.track_id[i]) not in only:
                continue
            self._review_box(state, frame, int(boxes.track_id[i]), boxes.xyxy[i],
                             int(gt.track_id[m[i]]) if m[i] >= 0 else -1, gt, gt_row, covered, batch)
        for track in open_ends:  # before candidates: extending a track keeps its identity
            self._answer_open_end(state, frame, int(track), gt, gt_row, covered, batch)
        self.last_rejected = []
        self.last_accepted = {}
        if candidates is not None and len(candidates):
            hints = np.asarray(candidates, np.float64).reshape(-1, 4)
            tracks = (np.full(len(hints), -1, np.int64) if continues is None
                      else np.asarray(continues, np.int64))
            self.last_rejected = self._answer_candidates(state, frame, hints, tracks, gt, covered, batch)
        if draw_missed:
            self._add_missed(state, frame, boxes, m, gt, covered, batch)
        self._track_keys(batch)
        return batch.corrections(self.author), batch.counts

    def _answer_candidates(self, state: AnnotationState, frame: int,
                           hints: npt.NDArray[np.float64], continues: npt.NDArray[np.int64],
                           gt: Boxes, covered: set[int], batch: _Batch) -> list[int]:
        """Accept the candidates whose hint covers an uncovered gt object, one each (Hungarian
        on IoU >= MATCH_IOU): an adjust of the track it continues when that track has no box
        here and is that object's (or nobody's), else a create; reject the others (a yes/no look
        each). Returns the rows of `hints` rejected."""
        free = np.array([int(g) not in covered for g in gt.track_id], bool)
        m = match_frame(hints, gt.xyxy[free]) if free.any() else np.full(len(hints), -1, np.intp)
        rows = np.flatnonzero(free)
        rejected = []
        for i, j in enumerate(m.tolist()):
            if j < 0:
                batch.counts.verify += 1
                rejected.append(i)
                continue
            h, truth = int(gt.track_id[rows[j]]), gt.xyxy[rows[j]]
            good = box_iou(hints[i:i + 1], truth[None])[0, 0] >= ACCEPT_IOU
            box = hints[i] if good else truth
            track = int(continues[i])
            self.last_accepted[i] = len(batch.rows)
            extend = (track >= 0 and track not in batch.edited and track not in batch.cut
                      and track in state.track_ids and self.owner.get(track, h) == h
                      and state.box_at(track, frame) is None)
            if extend:
                batch.add(Op.ADJUST, track, frame, box)
                self.owner.setdefault(track, h)
            else:
                track = self._new_id()
                self.owner[track] = h
                batch.add(Op.CREATE, track, frame, box)
            if good:
                batch.counts.verify += 1
            else:
                batch.counts.draw += 1
            self.last_drawn.append((track, frame, h))
            covered.add(h)
            self._current[h] = track
        return rejected

    def _answer_open_end(self, state: AnnotationState, frame: int, track: int, gt: Boxes,
                         gt_row: dict[int, int], covered: set[int], batch: _Batch) -> None:
        """An open end of `track` at `frame`: draw its object's box on it if the object is there
        and uncovered; mark it absent if the object is gone and the end follows the track;
        else only a look."""
        if track in batch.edited or track in batch.cut or track not in state.track_ids:
            return
        g = self.owner.get(track, -1)
        extent = state.track_extent(track)
        if g in gt_row and g not in covered:
            batch.add(Op.ADJUST, track, frame, gt.xyxy[gt_row[g]])
            batch.counts.draw += 1
            self.last_drawn.append((track, frame, g))
            covered.add(g)
            self._current[g] = track
        elif g not in gt_row and extent is not None and extent[1] < frame:
            batch.add(Op.ABSENT, track, frame)
            batch.counts.delete += 1
        else:
            batch.counts.verify += 1

    def _track_keys(self, batch: _Batch) -> None:
        """Follow the keyframes the batch makes, splits and merges (assumes it is applied)."""
        for r in batch.rows:
            op, track, frame, other = Op(r["op"]), r["track_id"], r["frame"], r["other_id"]
            if op in (Op.ACCEPT, Op.ADJUST, Op.ABSENT, Op.CREATE):
                self._keys.setdefault(track, set()).add(frame)
            elif op == Op.SPLIT:
                keys = self._keys.pop(track, set())
                self._keys[track] = {f for f in keys if f < frame}
                self._keys[other] = {f for f in keys if f >= frame}
            elif op == Op.MERGE:
                self._keys.setdefault(track, set()).update(self._keys.pop(other, set()))

    def _review_box(self, state, frame, track, xyxy, matched, gt, gt_row, covered, batch) -> None:
        g = self.owner.get(track, -1)
        if matched >= 0 and (matched == g or g < 0):
            self.owner.setdefault(track, matched)
            self._keep_own(state, batch, track, frame, xyxy, gt.xyxy[gt_row[matched]], matched)
        elif matched >= 0 and not self._can_split(state, track, frame):
            self._keep(batch, track, frame, xyxy, gt.xyxy[gt_row[matched]])
        elif matched >= 0:  # identity error: this box shows `matched`, the track is `g`'s
            self._fix_identity(state, frame, track, xyxy, matched, gt.xyxy[gt_row[matched]], batch)
        elif g in gt_row and g not in covered:  # a poor box of the track's own object
            covered.add(g)
            self._keep_own(state, batch, track, frame, xyxy, gt.xyxy[gt_row[g]], g)
        elif self._ignored(frame, xyxy):  # on a region the truth does not care about: left
            batch.counts.verify += 1
        else:  # false positive, duplicate, or its object is not there
            batch.add(Op.ABSENT, track, frame)
            batch.counts.delete += 1
            if g >= 0 and self.reenter:
                self._reenter(state, batch, track, frame, g)

    def _ignored(self, frame: int, xyxy: npt.NDArray[np.floating]) -> bool:
        """The box lies more than IGNORE_IOA inside an ignore region of `frame`."""
        if self.ignore is None:
            return False
        regions = self.ignore.for_frame(frame).xyxy.astype(np.float64)
        if not len(regions):
            return False
        box = np.asarray(xyxy, np.float64)
        iw = np.clip(np.minimum(box[2], regions[:, 2]) - np.maximum(box[0], regions[:, 0]), 0, None)
        ih = np.clip(np.minimum(box[3], regions[:, 3]) - np.maximum(box[1], regions[:, 1]), 0, None)
        area = max((box[2] - box[0]) * (box[3] - box[1]), 1e-9)
        return bool((iw * ih / area > IGNORE_IOA).any())

    def _reenter(self, state: AnnotationState, batch: _Batch, track: int, frame: int, g: int) -> None:
        """After an absent mark on a track of gt object g: where the track's later boxes show g
        again, keyframe it there so the rest of the track is kept (one more look: a verification,
        or an adjust if that box is poor)."""
        rows = state.track_boxes(track)
        rows = rows[rows.frame > frame]
        keys = self._keys.get(track, set())
        if not len(rows) or any(f > frame for f in keys):
            return  # nothing later, or a later keyframe already decides
        frames, xyxy = self._gt_of(g)
        common, ri, gi = np.intersect1d(rows.frame, frames, return_indices=True)
        if not len(common):
            return
        iou = pair_iou(rows.xyxy[ri], xyxy[gi])
        hit = np.flatnonzero(iou >= MATCH_IOU)
        if not len(hit):
            return
        i = hit[0]
        f = int(common[i])
        if iou[i] >= ACCEPT_IOU:
            batch.rows.append({"op": int(Op.ACCEPT), "track_id": track, "frame": f,
                               "xyxy": rows.xyxy[ri[i]], "other_id": -1})
            batch.counts.verify += 1
        else:
            batch.rows.append({"op": int(Op.ADJUST), "track_id": track, "frame": f,
                               "xyxy": xyxy[gi[i]], "other_id": -1})
            batch.counts.adjust += 1

    def _gt_of(self, g: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        """Frames and boxes of gt object g."""
        if not hasattr(self, "_gt_cache"):
            self._gt_cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
            order = np.lexsort((self.gt.frame, self.gt.track_id))
            tid = self.gt.track_id[order]
            bounds = np.flatnonzero(np.r_[True, tid[1:] != tid[:-1], True])
            for a, b in zip(bounds[:-1], bounds[1:]):
                rows = order[a:b]
                self._gt_cache[int(tid[a])] = (self.gt.frame[rows], self.gt.xyxy[rows])
        return self._gt_cache.get(g, (np.empty(0, np.int64), np.empty((0, 4), np.float32)))

    def _keep_own(self, state, batch, track, frame, xyxy, gt_xyxy, h) -> None:
        """Keep a box of gt object h; a track that takes over h after h's earlier track ended
        (fragmentation) is merged into that earlier track."""
        cur = self._current.get(h)
        if cur is not None and cur != track and self._is_fragment(state, cur, track, frame, batch):
            batch.add(Op.MERGE, cur, other=track)
            batch.counts.merge += 1
            self._pin(batch, cur, frame, xyxy, gt_xyxy)
        else:
            self._keep(batch, track, frame, xyxy, gt_xyxy)
            cur = track
        self._current[h] = cur

    def _is_fragment(self, state, cur: int, track: int, frame: int, batch: _Batch) -> bool:
        """`track` starts after `cur` ends (before `frame`) and their keyframes do not collide."""
        if cur in batch.edited or cur in batch.cut or track in batch.cut or cur not in state.track_ids:
            return False
        before, after = state.track_boxes(cur), state.track_boxes(track)
        if not len(before) or not len(after) or before.frame[-1] >= min(frame, after.frame[0]):
            return False
        return not self._keys.get(cur, set()) & self._keys.get(track, set())

    @staticmethod
    def _pin(batch: _Batch, track: int, frame: int, xyxy, gt_xyxy) -> None:
        """Keyframe a merged track at `frame`: the shown box if right (a verification), else gt."""
        good = box_iou(xyxy[None], gt_xyxy[None])[0, 0] >= ACCEPT_IOU
        batch.add(Op.ADJUST, track, frame, xyxy if good else gt_xyxy)
        if good:
            batch.counts.verify += 1
        else:
            batch.counts.adjust += 1

    @staticmethod
    def _keep(batch: _Batch, track: int, frame: int, xyxy, gt_xyxy) -> None:
        if box_iou(xyxy[None], gt_xyxy[None])[0, 0] >= ACCEPT_IOU:
            batch.add(Op.ACCEPT, track, frame, xyxy)  # the box seen (it may move within the batch)
            batch.counts.verify += 1
        else:
            batch.add(Op.ADJUST, track, frame, gt_xyxy)
            batch.counts.adjust += 1

    @staticmethod
    def _can_split(state: AnnotationState, track: int, frame: int) -> bool:
        rows = state.track_boxes(track)
        return bool((rows.frame < frame).any())

    def _fix_identity(self, state, frame, track, xyxy, h, gt_xyxy, batch) -> None:
        new = self._new_id()
        batch.add(Op.SPLIT, track, frame, other=new)
        batch.counts.split += 1
        self.owner[new] = h
        dst = new
        target = self._owned_track(state, h, frame, batch)
        if target is not None:
            later_frames = {f for f in self._keys.get(track, ()) if f >= frame}
            target_keys = self._keys.get(target, set())
            if not later_frames & target_keys and frame not in target_keys:
                batch.add(Op.MERGE, target, other=new)
                batch.counts.merge += 1
                dst = target
        if dst == new:
            self._keep(batch, dst, frame, xyxy, gt_xyxy)
            self._current[h] = dst
            return
        self._pin(batch, dst, frame, xyxy, gt_xyxy)
        self._current[h] = dst

    def _owned_track(self, state: AnnotationState, h: int, frame: int, batch: _Batch) -> int | None:
        """A track owned by gt object h with no box at `frame` (nearest boxes in time), or None."""
        best, best_gap = None, None
        for t, g in self.owner.items():
            if g != h or t in batch.edited or t not in state.track_ids:
                continue
            rows = state.track_boxes(t)
            if t in batch.cut:
                rows = rows[rows.frame < frame]
            if not len(rows) or (rows.frame == frame).any():
                continue
            gap = int(np.abs(rows.frame - frame).min())
            if best_gap is None or gap < best_gap:
                best, best_gap = t, gap
        return best

    def _add_missed(self, state, frame, boxes, matched, gt, covered, batch) -> None:
        for j in range(len(gt)):
            h = int(gt.track_id[j])
            if h in covered:
                continue
            stray = None if self.manual_k else self._stray_box(boxes, matched, h, gt.xyxy[j], batch)
            if stray is not None:  # its own track's box is off it: moved onto it
                batch.add(Op.ADJUST, stray, frame, gt.xyxy[j])
                batch.counts.adjust += 1
                self._current[h] = stray
                continue
            target = self._owned_track(state, h, frame, batch)
            if target is not None:
                batch.add(Op.ADJUST, target, frame, gt.xyxy[j])
            else:
                target = self._new_id()
                self.owner[target] = h
                batch.add(Op.CREATE, target, frame, gt.xyxy[j])
                if self.manual_k:
                    self._key_run(batch, target, frame, h)
            self._current[h] = target
            self.last_drawn.append((target, frame, h))
            batch.counts.draw += 1

    def _stray_box(self, boxes: Boxes, matched: npt.NDArray[np.intp], h: int,
                   gt_xyxy: npt.NDArray[np.floating], batch: _Batch) -> int | None:
        """The track of gt object h whose box at this frame (left unchecked) covers no object
        but touches h's box, or None: the box a person drawing h sees is off it."""
        for i in np.flatnonzero(matched < 0).tolist():
            track = int(boxes.track_id[i])
            if (self.owner.get(track) == h and track not in batch.edited and track not in batch.cut
                    and box_iou(boxes.xyxy[i:i + 1], gt_xyxy[None])[0, 0] > 0):
                return track
        return None

    def key_uncarried(self, state: AnnotationState) -> tuple[Corrections, ActionCounts]:
        """After the last look's answers are applied: each box it put where there was none
        that the engine did not carry to the next (previous) frame while the object is there
        and no box of its tracks covers it is keyed that way along the object's run every
        carry_k frames up to the last frame so left (adjusts; an outside mark after the run
        when the object leaves first and the track has nothing later, a delete), as a person
        keys what the tool does not follow (the truth at frames not shown, as the keying
        annotator). Returns the batch to apply (empty without `carry_k`)."""
        batch = _Batch()
        if not self.carry_k:
            return Corrections.empty(), batch.counts
        for track, frame, h in self.last_drawn:
            if track not in state.track_ids or track in batch.edited:
                continue
            frames, xyxy = self._gt_of(h)
            i = int(np.searchsorted(frames, frame))
            if i >= len(frames) or frames[i] != frame:
                continue
            for step in (1, -1):
                if state.box_at(track, frame + step) is None:
                    self._key_stretch(state, batch, track, h, frames, xyxy, i, step)
        self._track_keys(batch)
        return batch.corrections(self.author), batch.counts

    def _key_stretch(self, state, batch, track, h, frames, xyxy, i, step) -> None:
        """Keys on `track` from row i of gt object h's frames in direction `step` while the
        object stays in view and uncovered by its tracks (`key_uncarried`)."""
        mine = [t for t, g in self.owner.items() if g == h and t in state.track_ids]
        last = i
        j = i + step
        while 0 <= j < len(frames) and frames[j] == frames[last] + step:
            f = int(frames[j])
            if any((b := state.box_at(t, f)) is not None
                   and box_iou(b[0][None], xyxy[j][None])[0, 0] >= MATCH_IOU for t in mine):
                break
            last = j
            j += step
        if last == i:
            return
        for r in range(i + step, last + step, step):
            if abs(r - i) % self.carry_k == 0 or r == last:
                batch.add(Op.ADJUST, track, int(frames[r]), xyxy[r])
                batch.counts.adjust += 1
        after = int(frames[last]) + 1
        gone = not (0 <= j < len(frames) and frames[j] == frames[last] + step)
        if (step == 1 and gone and self.num_frames is not None and after < self.num_frames
                and not (state.track_boxes(track).frame >= after).any()):  # nothing later to cut
            batch.add(Op.ABSENT, track, after, xyxy[last])
            batch.counts.delete += 1

    def _key_run(self, batch: _Batch, track: int, frame: int, h: int) -> None:
        """A missed object drawn at `frame` is annotated like manual keyframing (`manual`): its
        visible run around `frame` gets keyframes at its first frame, every manual_k frames and
        its last frame (adjusts), and an outside mark after it (a delete)."""
        frames, xyxy = self._gt_of(h)
        i = int(np.searchsorted(frames, frame))
        brk = np.flatnonzero(np.diff(frames) != 1)
        lo = int(brk[brk < i][-1]) + 1 if (brk < i).any() else 0
        hi = int(brk[brk >= i][0]) if (brk >= i).any() else len(frames) - 1
        run = np.arange(lo, hi + 1)
        key = run[((frames[run] - frames[lo]) % self.manual_k == 0) | (run == hi)]
        for r in key.tolist():
            if int(frames[r]) != frame:
                batch.add(Op.ADJUST, track, int(frames[r]), xyxy[r])
                batch.counts.adjust += 1
        after = int(frames[hi]) + 1
        if self.num_frames is not None and after < self.num_frames:
            batch.add(Op.ABSENT, track, after, xyxy[hi])
            batch.counts.delete += 1


@dataclass(frozen=True)
class Look:
    """The queue items a person answers in one look: a frame (frames order) or one item."""

    frame: int
    boxes: dict[int, float]  # track -> risk of the box items
    open_ends: list[int]
    candidates: npt.NDArray[np.float32]  # (k, 4) hint boxes
    continues: npt.NDArray[np.int64]  # (k,) the track each candidate continues, or -1
    proposals: list[int]  # tracks to key at this frame
    per_item: bool  # keyframes order: a look of its own items, not of the whole frame
    honeypots: list[int] = field(default_factory=list)  # tracks shown as a honeypot here

    @property
    def key(self) -> tuple:
        """What makes two looks the same (a look is not repeated)."""
        if not self.per_item:
            return ("frame", self.frame)
        return ("items", self.frame, *sorted(self.proposals),
                *np.round(self.candidates, 1).ravel().tolist())


def _kind(name: str) -> int | None:
    kind = getattr(ItemKind, name, None)
    return None if kind is None else int(kind)


def queue_looks(queue: ReviewQueue, order: str) -> list[Look]:
    """The queue's items grouped into looks, in review order (frames order: all items of a
    frame, one look; keyframes order: each item a look)."""
    candidate, proposal = _kind("CANDIDATE"), _kind("PROPOSAL")
    kind = queue.kind.astype(np.int64)
    per_item = order == "keyframes"
    groups: dict[tuple, list[int]] = {}
    for i in np.argsort(queue.rank, kind="stable").tolist():
        key = ("i", i) if per_item else ("f", int(queue.frame[i]))
        groups.setdefault(key, []).append(i)
    looks = []
    for rows in groups.values():
        boxes, ends, hints, cont, props, pots = {}, [], [], [], [], []
        for i in rows:
            track = int(queue.track_id[i])
            if kind[i] == ItemKind.HONEYPOT:
                pots.append(track)
            elif candidate is not None and kind[i] == candidate:
                hints.append(queue.xyxy[i])
                cont.append(track)
            elif proposal is not None and kind[i] == proposal:
                props.append(track)
            elif queue.reason[i] == Reason.OPEN_END:
                ends.append(track)
            else:
                boxes[track] = float(queue.score[i])
        if per_item and boxes:  # a box item of the keyframes order (a spot check): key it
            props.extend(boxes)
            boxes = {}
        looks.append(Look(int(queue.frame[rows[0]]), boxes, ends,
                           np.asarray(hints, np.float32).reshape(-1, 4),
                           np.asarray(cont, np.int64), props, per_item, pots))
    return looks
