"""Annotation strategies under a budget, each returning the final boxes and the human actions.

* `manual`: a person draws keyframes from scratch every k frames (ground truth boxes), linear
  interpolation in between (`trackannot.interpolate.interpolate_linear`).
* `review`: pre-labels (automatic tracks) corrected by the simulated annotator (`Oracle`) at a
  set of frames, corrections applied through `AnnotationState.apply`, interpolation (guided by
  default) in between. Which frames: `uniform_frames` (every k-th) or the top of a ranking
  (`ranked_frames` with a `RankFn`, e.g. `placeholder_rank`).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import numpy.typing as npt

from benchmarks.effort.cost import ActionCounts
from benchmarks.effort.oracle import Oracle, match_frame, owners
from trackannot.boxes import Boxes, Origin
from trackannot.config import InterpolateConfig
from trackannot.interpolate import interpolate_linear
from trackannot.keyframes import Keyframes
from trackannot.state import AnnotationState

__all__ = [
    "RankFn", "box_accuracy", "manual", "placeholder_rank", "ranked_frames", "review",
    "uniform_frames",
]

# (tracks, detections, num_frames) -> frame indices, most in need of a person first
RankFn = Callable[[Boxes, Boxes, int], npt.NDArray[np.int64]]
PLACEHOLDER_RANK_NAME = "placeholder: most PREDICTED boxes + track starts/ends per frame"


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


def placeholder_rank(tracks: Boxes, detections: Boxes, num_frames: int) -> npt.NDArray[np.int64]:
    """PLACEHOLDER ranking until `trackannot.risk.score_risk` lands: frames by the number of
    boxes the detector did not support (origin PREDICTED) plus track starts and ends there;
    ties: earlier frame first."""
    score = np.bincount(tracks.frame[tracks.origin == Origin.PREDICTED], minlength=num_frames)
    order = np.lexsort((tracks.frame, tracks.track_id))
    tid, frame = tracks.track_id[order], tracks.frame[order]
    first = np.r_[True, tid[1:] != tid[:-1]]
    last = np.r_[tid[1:] != tid[:-1], True]
    score = score + np.bincount(frame[first | last], minlength=num_frames)
    return np.lexsort((np.arange(num_frames), -score[:num_frames])).astype(np.int64)


def ranked_frames(rank: RankFn, tracks: Boxes, detections: Boxes, num_frames: int,
                  budget: int) -> npt.NDArray[np.int64]:
    """The `budget` highest-ranked frames, in frame order."""
    ranked = np.asarray(rank(tracks, detections, num_frames), np.int64)
    return np.sort(ranked[:budget])


def review(tracks: Boxes, detections: Boxes, gt: Boxes, num_frames: int,
           frames: npt.NDArray[np.int64], cfg: InterpolateConfig | None = None
           ) -> tuple[Boxes, ActionCounts]:
    """Pre-labels reviewed by the simulated annotator at `frames` (in frame order).

    Args:
        tracks: the automatic tracks (the pre-labels).
        detections: every detector box (guides interpolation).
        gt: gt boxes the annotator knows, identity in track_id, sorted by frame.
        num_frames: frames in the video.
        frames: the frames the person looks at.
        cfg: interpolation settings (default `InterpolateConfig()`).

    Returns:
        The final annotation's boxes and the action counts.
    """
    state = AnnotationState(tracks, num_frames=num_frames, detections=detections,
                            cfg=cfg or InterpolateConfig())
    oracle = Oracle(gt, owners(tracks, gt)[0])
    view = _FrameView(state)
    counts = ActionCounts()
    for f in np.sort(np.asarray(frames)):
        batch, c = oracle.review_frame(state, int(f), view.at(int(f)))
        if len(batch):
            previous = state.apply(batch, source=f"oracle frame {int(f)}")
            view.update(state, {*batch.track_id.tolist(), *batch.other_id.tolist(),
                                *previous.track_id.tolist()})
        counts.add(c)
    return state.boxes(), counts


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
