"""Annotation strategies under a budget, each returning the final boxes and the human actions.

* `manual`: a person draws keyframes from scratch every k frames (ground truth boxes), linear
  interpolation in between (`trackannot.interpolate.interpolate_linear`).
* `review`: pre-labels (automatic tracks) corrected by the simulated annotator (`Oracle`) at a
  set of frames, corrections applied through `AnnotationState.apply`, interpolation (guided by
  default) in between, at `uniform_frames` (every k-th). With `min_risk`, the person checks
  only the boxes whose current risk (`trackannot.risk.score_risk`, re-scored as corrections
  land) is at least `min_risk`, and draws what is missing: the risk-ranked review.
* `active_review`: the active loop: rank frames by risk (`trackannot.risk.rank_frames`, with
  open track ends), review a batch of the top frames, apply, re-interpolate, re-rank, repeat;
  returns checkpoints along the way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from benchmarks.effort.cost import ActionCounts
from benchmarks.effort.oracle import Oracle, owners
from trackannot.boxes import Boxes
from trackannot.config import InterpolateConfig, ReviewConfig
from trackannot.interpolate import interpolate_linear
from trackannot.keyframes import Keyframes
from trackannot.risk import rank_frames, score_risk
from trackannot.state import AnnotationState

__all__ = [
    "Checkpoint", "active_review", "box_accuracy", "manual", "review", "uniform_frames",
]

RESCORE_FRAMES = 20  # review: risk is re-scored after this many reviewed frames

def manual(gt: Boxes, num_frames: int, k: int) -> tuple[Boxes, ActionCounts]:
    """Keyframes from scratch every k frames of each gt object's visible runs, linear in between.

    Each run of consecutive frames of a gt object gets keyframes at its first frame, every k-th
    frame after it and its last frame, and an outside keyframe at last + 1 (none at the video end).
    Cost: the run's first keyframe of the object is drawn, later ones adjusted, outside marks
    deleted.

    Args:
        gt: gt boxes, identity in track_id.
        num_frames: frames in the video.
        k: keyframe spacing in frames, >= 1.

    Returns:
        The interpolated boxes (track ids = gt ids) and the action counts.
    """
    counts = ActionCounts()
    order = np.lexsort((gt.frame, gt.track_id))
    tid, frame, xyxy = gt.track_id[order], gt.frame[order], gt.xyxy[order]
    new_run = np.r_[True, (tid[1:] != tid[:-1]) | (frame[1:] != frame[:-1] + 1)]
    run_id = np.cumsum(new_run) - 1
    run_start = np.flatnonzero(new_run)
    run_end = np.r_[run_start[1:], len(tid)] - 1
    pos = np.arange(len(tid)) - run_start[run_id]
    key = (pos % k == 0)
    key[run_end] = True
    closing = run_end[frame[run_end] + 1 < num_frames]
    counts.draw = int(len(np.unique(tid)))
    counts.adjust = int(key.sum()) - counts.draw
    counts.delete = int(len(closing))
    kf = Keyframes.create(
        track_id=np.r_[tid[key], tid[closing]], frame=np.r_[frame[key], frame[closing] + 1],
        xyxy=np.r_[xyxy[key], xyxy[closing]], outside=np.r_[np.zeros(key.sum(), bool),
                                                             np.ones(len(closing), bool)],
        class_id=np.zeros(int(key.sum()) + len(closing), np.int32),
    )
    return interpolate_linear(kf), counts


def uniform_frames(num_frames: int, k: int) -> npt.NDArray[np.int64]:
    """Every k-th frame, starting at frame 0."""
    return np.arange(0, num_frames, k, dtype=np.int64)


def review(tracks: Boxes, detections: Boxes, gt: Boxes, num_frames: int,
           frames: npt.NDArray[np.int64], cfg: InterpolateConfig | None = None,
           min_risk: float | None = None, review_cfg: ReviewConfig | None = None,
           manual_k: int | None = None) -> tuple[Boxes, ActionCounts]:
    """Pre-labels reviewed by the simulated annotator at `frames` (in frame order).

    Args:
        tracks: the automatic tracks (the pre-labels).
        detections: every detector box (guides interpolation).
        gt: gt boxes the annotator knows, identity in track_id, sorted by frame.
        num_frames: frames in the video.
        frames: the frames the person looks at.
        cfg: interpolation settings (default `InterpolateConfig()`).
        min_risk: None: every box at a reviewed frame is checked. Else only boxes with risk >=
            min_risk (scored every RESCORE_FRAMES reviewed frames on the current state); boxes
            missing at the frame are drawn either way.
        review_cfg: risk settings (default `ReviewConfig()`).
        manual_k: a missed object the person draws is keyframed over its visible run every
            manual_k frames, as in `manual` (None: only at the reviewed frames).

    Returns:
        The final annotation's boxes and the action counts.
    """
    state = AnnotationState(tracks, num_frames=num_frames, detections=detections,
                            cfg=cfg or InterpolateConfig())
    oracle = Oracle(gt, owners(tracks, gt)[0], manual_k=manual_k, num_frames=num_frames)
    view = _FrameView(state)
    counts = ActionCounts()
    scores: _Scores | None = None
    for i, f in enumerate(np.sort(np.asarray(frames))):
        f = int(f)
        at = view.at(f)
        only = None
        if min_risk is not None:
            if scores is None or i % RESCORE_FRAMES == 0:
                scores = _Scores(state, detections, review_cfg or ReviewConfig())
            only = scores.flagged(f, at, min_risk)
        batch, c = oracle.review_frame(state, f, at, only)
        if len(batch):
            previous = state.apply(batch, source=f"oracle frame {f}")
            view.update(state, {*batch.track_id.tolist(), *batch.other_id.tolist(),
                                *previous.track_id.tolist()})
        counts.add(c)
    return state.boxes(), counts


@dataclass(frozen=True)
class Checkpoint:
    """The annotation after `frames_reviewed` frames of an active review, and the cost so far."""

    frames_reviewed: int
    boxes: Boxes
    counts: ActionCounts


def active_review(tracks: Boxes, detections: Boxes, gt: Boxes, num_frames: int,
                  checkpoints: list[int], batch_frames: int, min_risk: float | None = None,
                  cfg: InterpolateConfig | None = None, review_cfg: ReviewConfig | None = None,
                  manual_k: int | None = None) -> list[Checkpoint]:
    """The active loop: rank frames by risk, review the top batch, apply, re-rank, repeat.

    Args:
        tracks, detections, gt, num_frames, cfg, manual_k: as `review`.
        checkpoints: numbers of reviewed frames at which to record the annotation (ascending);
            the loop stops after the last.
        batch_frames: frames reviewed between two rankings.
        min_risk: as `review` (None: every box of a reviewed frame is checked).
        review_cfg: risk and ranking settings (default `ReviewConfig()`).

    Returns:
        One `Checkpoint` per reached checkpoint.
    """
    review_cfg = review_cfg or ReviewConfig()
    state = AnnotationState(tracks, num_frames=num_frames, detections=detections,
                            cfg=cfg or InterpolateConfig())
    oracle = Oracle(gt, owners(tracks, gt)[0], manual_k=manual_k, num_frames=num_frames)
    view = _FrameView(state)
    counts = ActionCounts()
    done = np.zeros(num_frames, bool)
    todo = [int(c) for c in checkpoints]
    out: list[Checkpoint] = []
    reviewed = 0
    while todo and not done.all():
        scores = _Scores(state, detections, review_cfg)
        order = rank_frames(scores.boxes, scores.risk, num_frames, review_cfg, scores.keyframes)
        order = order[~done[order]][: max(1, min(batch_frames, todo[0] - reviewed))]
        for f in np.sort(order).tolist():
            done[f] = True
            at = view.at(f)
            only = scores.flagged(f, at, min_risk) if min_risk is not None else None
            batch, c = oracle.review_frame(state, f, at, only)
            if len(batch):
                previous = state.apply(batch, source=f"oracle frame {f}")
                view.update(state, {*batch.track_id.tolist(), *batch.other_id.tolist(),
                                    *previous.track_id.tolist()})
            counts.add(c)
        reviewed += len(order)
        while todo and reviewed >= todo[0]:
            todo.pop(0)
            out.append(Checkpoint(reviewed, state.boxes(), ActionCounts(**counts.as_dict())))
    return out


class _Scores:
    """Risk of every box of a state at one moment, looked up by frame."""

    def __init__(self, state: AnnotationState, detections: Boxes, cfg: ReviewConfig) -> None:
        self.boxes = state.boxes()
        self.keyframes = state.keyframes()
        self.risk = score_risk(self.boxes, detections, self.keyframes, cfg)
        self._at = np.searchsorted(self.boxes.frame, np.arange(state.num_frames + 1))

    def flagged(self, frame: int, shown: Boxes, min_risk: float) -> set[int]:
        """Tracks of `shown` (boxes at `frame` now) to check: risk >= min_risk when scored;
        boxes that appeared since (no score) are checked."""
        a, b = self._at[frame], self._at[frame + 1]
        score = dict(zip(self.boxes.track_id[a:b].tolist(), self.risk.score[a:b].tolist()))
        return {int(t) for t in shown.track_id.tolist() if score.get(int(t), 1.0) >= min_risk}


class _FrameView:
    """The boxes of an `AnnotationState` at one frame, from a per-track cache (fast lookups)."""

    def __init__(self, state: AnnotationState) -> None:
        self._tracks: dict[int, Boxes] = {}
        self.update(state, set(state.track_ids))

    def update(self, state: AnnotationState, touched: set[int]) -> None:
        """Refresh the tracks an applied batch touched (dropping those that no longer exist)."""
        alive = set(state.track_ids)
        for t in touched:
            if t in alive:
                self._tracks[t] = state.track_boxes(t)
            else:
                self._tracks.pop(t, None)
        self._ids = np.array(sorted(t for t, b in self._tracks.items() if len(b)), np.int64)
        self._lo = np.array([self._tracks[t].frame[0] for t in self._ids], np.int64)
        self._hi = np.array([self._tracks[t].frame[-1] for t in self._ids], np.int64)

    def at(self, frame: int) -> Boxes:
        rows = []
        for t in self._ids[(self._lo <= frame) & (frame <= self._hi)]:
            b = self._tracks[int(t)]
            i = int(np.searchsorted(b.frame, frame))
            if i < len(b) and b.frame[i] == frame:
                rows.append(b[i:i + 1])
        return Boxes.concat(rows) if rows else Boxes.empty()


def box_accuracy(boxes: Boxes, gt: Boxes) -> float:
    """Share of gt boxes covered by a box at IoU >= 0.5 whose track's gt object is that gt id."""
    if not len(gt):
        return 1.0
    owner, matched = owners(boxes, gt)
    right = matched >= 0
    right &= np.array([owner.get(int(t), -2) for t in boxes.track_id]) == matched
    return float(right.sum()) / len(gt)
