"""Propagation: carry one person's box along its object through the stored detections.

`propagate(seed, evidence, cfg, direction)` walks the processed frames of a window away from a
person's box (`trackannot.kernels.propagate`: a Kalman filter seeded from the box, detections
gated by IoU and motion) and returns the boxes it found (origin PROPAGATED) and where it stopped
and why (`Stop`, `StopReason`). The annotation state (`trackannot.state`) decides which boxes
seed a run (a track's first and last keyframes when they differ from its automatic boxes, the
ends a split cut) and gathers the evidence of the window: the detections (all scores), the
track's own automatic boxes (it hands over to them when it rejoins them), and the other tracks'
automatic boxes and human keyframes (evidence of another track: the run stops there).

Video gaps (`video_gaps`): a step between two processed frames more than `GAP_FACTOR` times the
window's median step (in time where the frame times are known, else in frames) is a gap, e.g.
frames a damaged file lost; the run stops before it. Scene cuts are found from the detections
alone (the kernel's module docstring): the tracker's tracks lag a cut by their confirmation
frames, the detections do not.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import numpy.typing as npt

from trackannot.boxes import Boxes, Origin, pair_iou
from trackannot.config import PropagateConfig
from trackannot.errors import InputFormatError
from trackannot.kernels.propagate import (
    OTHER_KEYFRAME, OTHER_TRACK, first_cut, propagate_params, propagate_run,
)

__all__ = ["GAP_FACTOR", "Evidence", "Stop", "StopReason", "bridge", "propagate", "video_gaps"]

GAP_FACTOR = 2.5  # a step this many times the window's median step is a video gap
# the detection a seed box overlaps this much at its frame measures how the person's boxes
# differ from the detector's (`_in_seed_style`); guided interpolation's anchor_iou is 0.8, but a
# drawn box of a missed object is rarely that close to a weak detection
BIAS_IOU = 0.5


class StopReason(IntEnum):
    """Why a propagated run stopped."""

    EVIDENCE_END = 1  # no detection for max_gap frames: the object left, or was lost (open end)
    CONFLICT_TRACK = 2  # the next detection belongs to another track's automatic boxes
    CONFLICT_KEYFRAME = 3  # ... to another track's human keyframe
    GAP = 4  # a video gap (frames missing)
    SCENE_CUT = 5  # every object changed at once
    REJOINED = 6  # it met the track's own automatic boxes again and handed over to them
    VIDEO_END = 7  # the first or last frame of the video
    LIMIT = 8  # max_frames frames (an open end)
    KEYFRAME = 9  # another keyframe of the same track (a hard constraint)

    @property
    def label(self) -> str:
        """Human-readable name, e.g. "conflict track"."""
        return self.name.lower().replace("_", " ")

    @property
    def open_end(self) -> bool:
        """The track probably goes on past this stop and nobody has said so: a person should
        look (every reason but a rejoin, the video's end and the track's own keyframe)."""
        return self not in (StopReason.REJOINED, StopReason.VIDEO_END, StopReason.KEYFRAME)

    @property
    def conflict(self) -> bool:
        return self in (StopReason.CONFLICT_TRACK, StopReason.CONFLICT_KEYFRAME)


@dataclass(frozen=True, slots=True)
class Stop:
    """Where one propagated run stopped.

    Attributes:
        track_id: the track.
        frame: the first frame the run did not take (the conflict's, the gap's, the first after
            its last detection, the first handed over to the automatic boxes); one past the
            video (-1 or num_frames) at its ends.
        last: the run's last frame (its seed's frame when it took none).
        direction: +1 forward, -1 backward.
        reason: why.
    """

    track_id: int
    frame: int
    last: int
    direction: int
    reason: StopReason


@dataclass(frozen=True, slots=True, eq=False)
class Evidence:
    """What a run may step through: a window of processed frames of one video.

    Attributes:
        frame: (k,) int64 processed frames of the window, ascending (the seed's may be among
            them).
        gap_before: (k,) bool, a video gap between frame[i - 1] and frame[i] (`video_gaps`).
        detections: the detector boxes of the window (any track, all scores).
        own: the track's own automatic boxes in the window, one per frame.
        other: other tracks' boxes in the window: automatic boxes taken from a detection
            (origin DETECTED) and present human keyframes (origin KEYFRAME).
    """

    frame: npt.NDArray[np.int64]
    gap_before: npt.NDArray[np.bool_]
    detections: Boxes
    own: Boxes
    other: Boxes


def video_gaps(frame: npt.NDArray[np.int64],
               time_s: npt.NDArray[np.float64] | None) -> npt.NDArray[np.bool_]:
    """(k,) bool: a video gap between processed frame i - 1 and i (module docstring).

    Args:
        frame: processed frames, ascending.
        time_s: their presentation times (None: judged by frame numbers).
    """
    out = np.zeros(len(frame), bool)
    if len(frame) < 3:
        return out
    step = np.diff(np.asarray(time_s if time_s is not None else frame, np.float64))
    positive = step[step > 0]
    if not len(positive):
        return out
    out[1:] = step > GAP_FACTOR * float(np.median(positive))
    return out


def _entries(seed_frame: int, frame: npt.NDArray[np.int64], gap_before: npt.NDArray[np.bool_],
             direction: int, max_frames: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """Entry frames (the seed's first, then the window's frames away from it in walk order),
    their gap flags, and whether max_frames cut them."""
    if direction > 0:
        i = int(np.searchsorted(frame, seed_frame, side="right"))
        steps = frame[i:]
        # the step into frame[j] follows frame[j - 1]: the seed when j == i
        gaps = gap_before[i:].copy()
    else:
        i = int(np.searchsorted(frame, seed_frame, side="left"))
        steps = frame[:i][::-1]
        # the step into frame[j] (backward) comes from frame[j + 1]: its gap_before
        gaps = gap_before[1:i + 1][::-1].copy() if i else np.zeros(0, bool)
    cut = len(steps) > max_frames
    steps, gaps = steps[:max_frames], gaps[:max_frames]
    return (np.r_[np.int64(seed_frame), steps].astype(np.int64), np.r_[False, gaps].astype(bool),
            cut)


def _by_entry(boxes: Boxes, entries: npt.NDArray[np.int64]) -> tuple[np.ndarray, np.ndarray]:
    """(offsets (len(entries) + 1,), row indices into `boxes`) of each entry's rows, in entry
    order (boxes sorted by frame)."""
    lo = np.searchsorted(boxes.frame, entries, side="left")
    hi = np.searchsorted(boxes.frame, entries, side="right")
    counts = hi - lo
    start = np.zeros(len(entries) + 1, np.int64)
    np.cumsum(counts, out=start[1:])
    rows = np.repeat(lo - start[:-1], counts) + np.arange(int(start[-1]))
    return start, rows.astype(np.int64)


def _own_by_entry(own: Boxes, entries: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
    out = np.full((len(entries), 4), np.nan, np.float32)
    if len(own):
        at = np.clip(np.searchsorted(own.frame, entries), 0, len(own) - 1)
        has = own.frame[at] == entries
        out[has] = own.xyxy[at[has]]
    return out


def propagate(seed: Boxes, evidence: Evidence, cfg: PropagateConfig, direction: int,
              end: StopReason = StopReason.VIDEO_END) -> tuple[Boxes, Stop]:
    """Carry a person's box along its object, one direction (module docstring).

    Args:
        seed: one row: the box (frame, xyxy, class_id, track_id) the run starts from.
        evidence: the window it may step through (from the seed's frame on, in `direction`).
        cfg: gates, gaps and limits.
        direction: +1 forward, -1 backward.
        end: the reason when the window's frames run out: VIDEO_END (the window reaches the
            video's first or last frame: a run still coasting there ends as EVIDENCE_END), or
            LIMIT (frames beyond the window may continue the run).

    Returns:
        (boxes, stop): the run's boxes, origin PROPAGATED, sorted by frame (none before the
        seed's frame for a forward run, none after it for a backward one; never the seed's
        frame itself), and where and why it stopped.

    Example:
        >>> boxes, stop = propagate(created_box, evidence, PropagateConfig(), +1)  # doctest: +SKIP
        >>> stop.reason.label, stop.frame                                         # doctest: +SKIP
        ('evidence end', 412)
    """
    if len(seed) != 1 or direction not in (1, -1):
        raise InputFormatError(f"propagate needs one seed box and a direction of +1 or -1, got "
                               f"{len(seed)} boxes and direction {direction}")
    seed_frame, track = int(seed.frame[0]), int(seed.track_id[0])
    entries, gaps, cut = _entries(seed_frame, evidence.frame, evidence.gap_before, direction,
                                  cfg.max_frames)
    m = len(entries) - 1
    dets, others = evidence.detections, evidence.other
    det_start, det_rows = _by_entry(dets, entries)
    other_start, other_rows = _by_entry(others, entries)
    kind = np.where(others.origin[other_rows] == Origin.KEYFRAME, OTHER_KEYFRAME,
                    OTHER_TRACK).astype(np.uint8)
    out_xyxy = np.zeros((m, 4), np.float32)
    out_det = np.full(m, -1, np.int64)
    out_score = np.zeros(m, np.float32)
    out_std = np.zeros(m, np.float32)
    raw = np.ascontiguousarray(dets.xyxy[det_rows])
    n, stop_entry, code = propagate_run(
        seed.xyxy[0].astype(np.float64), entries, gaps, det_start,
        _in_seed_style(raw, seed.xyxy[0], dets.for_frame(seed_frame).xyxy, cfg), raw,
        np.ascontiguousarray(dets.score[det_rows]),
        other_start, np.ascontiguousarray(others.xyxy[other_rows]), kind,
        _own_by_entry(evidence.own, entries), _params(cfg), out_xyxy, out_det, out_score,
        out_std)
    if code:
        reason = StopReason(code)
    elif cut:
        reason = StopReason.LIMIT
    elif n < m and end == StopReason.VIDEO_END:  # coasting when the video ended
        reason, stop_entry = StopReason.EVIDENCE_END, n + 1
    else:
        reason = end
    stop_frame = int(entries[stop_entry]) if stop_entry <= m else \
        int(entries[-1]) + direction
    stop = Stop(track, stop_frame, int(entries[n]), direction, reason)
    frames = entries[1:n + 1]
    score = _coasted_scores(out_score[:n], out_det[:n] >= 0)
    order = slice(None) if direction > 0 else slice(None, None, -1)
    boxes = Boxes._trusted(
        frame=np.ascontiguousarray(frames[order]), xyxy=np.ascontiguousarray(out_xyxy[:n][order]),
        score=np.ascontiguousarray(score[order]),
        class_id=np.full(n, seed.class_id[0], np.int32), track_id=np.full(n, track, np.int64),
        origin=np.full(n, Origin.PROPAGATED, np.uint8), det_index=np.full(n, -1, np.int64),
        pos_std=np.ascontiguousarray(out_std[:n][order]))
    return boxes, stop


def bridge(start: Boxes, target: Boxes, evidence: Evidence, cfg: PropagateConfig
           ) -> Boxes | None:
    """The straight line from a run's last box to its track's own automatic box further on,
    when no detection carried the run there: both ends are the object (the person's box, the
    tracker's path), so the frames between are filled from both ends, as a merge's gap is.

    Args:
        start: one row, the run's last box (the person's box when it took none).
        target: one row, the track's nearest automatic box past it, at most
            `cfg.bridge_frames` frames further.
        evidence: the processed frames from `start` to `target` (both included).
        cfg: `claim_iou` (another track's box there stops it).

    Returns:
        The boxes at the processed frames strictly between the two (origin PROPAGATED, score
        0), or None where the line may not go: a video gap or a scene cut between the two
        ends, or another track's automatic box or human keyframe overlapping it at IoU >=
        `claim_iou` (the run's stop stays where it was).
    """
    a, b = int(start.frame[0]), int(target.frame[0])
    lo, hi = min(a, b), max(a, b)
    inside = (evidence.frame > lo) & (evidence.frame <= hi)
    if evidence.gap_before[inside].any():
        return None
    entries = np.r_[np.int64(lo), evidence.frame[inside]].astype(np.int64)
    det_start, det_rows = _by_entry(evidence.detections, entries)
    if first_cut(det_start, np.ascontiguousarray(evidence.detections.xyxy[det_rows]),
                 np.ascontiguousarray(evidence.detections.score[det_rows])) >= 0:
        return None
    frames = entries[1:-1] if len(entries) and entries[-1] == hi else entries[1:]
    w = ((frames - a) / (b - a))[:, None]
    xyxy = ((1 - w) * start.xyxy[0].astype(np.float64)
            + w * target.xyxy[0].astype(np.float64)).astype(np.float32)
    others = evidence.other
    for f, box in zip(frames.tolist(), xyxy):
        there = others.for_frame(f)
        if len(there) and (pair_iou(np.repeat(box[None], len(there), 0), there.xyxy)
                           >= cfg.claim_iou).any():
            return None
    n = len(frames)
    return Boxes._trusted(
        frame=np.ascontiguousarray(frames), xyxy=np.ascontiguousarray(xyxy),
        score=np.zeros(n, np.float32), class_id=np.full(n, start.class_id[0], np.int32),
        track_id=np.full(n, start.track_id[0], np.int64),
        origin=np.full(n, Origin.PROPAGATED, np.uint8), det_index=np.full(n, -1, np.int64),
        pos_std=np.zeros(n, np.float32))


def _in_seed_style(xyxy: npt.NDArray[np.float32], seed: npt.NDArray[np.float32],
                   at_seed: npt.NDArray[np.float32], cfg: PropagateConfig
                   ) -> npt.NDArray[np.float32]:
    """Detections moved into the person's box style: people and detectors draw boxes
    differently (wider, taller, shifted), so the offset of the seed box from the detection that
    overlaps it most at its frame (IoU >= `BIAS_IOU`) is added to every detection of the run,
    relative to each one's size (centre by width/height, size by its log ratio), as guided
    interpolation does (`InterpolateConfig.bias`). No such detection: unchanged."""
    if not len(at_seed) or not len(xyxy):
        return xyxy
    iou = pair_iou(np.repeat(seed[None], len(at_seed), 0), at_seed)
    best = int(np.argmax(iou))
    if iou[best] < BIAS_IOU:
        return xyxy
    s, d = _cxcywh(seed[None])[0], _cxcywh(at_seed[best:best + 1])[0]
    shift = ((s[0] - d[0]) / d[2], (s[1] - d[1]) / d[3])
    scale = (s[2] / d[2], s[3] / d[3])
    c = _cxcywh(xyxy)
    cx, cy = c[:, 0] + shift[0] * c[:, 2], c[:, 1] + shift[1] * c[:, 3]
    w, h = c[:, 2] * scale[0], c[:, 3] * scale[1]
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1).astype(np.float32)


def _cxcywh(xyxy: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
    """(n, 4) centre x, centre y, width, height (sides at least 1 px) of xyxy boxes."""
    b = np.asarray(xyxy, np.float64)
    return np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2,
                     np.maximum(b[:, 2] - b[:, 0], 1.0), np.maximum(b[:, 3] - b[:, 1], 1.0)], 1)


def _coasted_scores(score: npt.NDArray[np.float32],
                    supported: npt.NDArray[np.bool_]) -> npt.NDArray[np.float32]:
    """Scores of a run's boxes: its detection's, and for a coasted box the lower of the
    supported boxes around it (a run's emitted boxes end on a supported one)."""
    if not len(score) or supported.all():
        return score
    idx = np.arange(len(score))
    before = np.maximum.accumulate(np.where(supported, idx, -1))
    after = np.minimum.accumulate(np.where(supported, idx, len(score))[::-1])[::-1]
    low = np.minimum(np.where(before >= 0, score[np.maximum(before, 0)], np.inf),
                     np.where(after < len(score), score[np.minimum(after, len(score) - 1)],
                              np.inf))
    return np.where(supported, score, np.where(np.isfinite(low), low, 0.0)).astype(np.float32)


def _params(cfg: PropagateConfig) -> npt.NDArray[np.float64]:
    return propagate_params(gate_iou=cfg.gate_iou, motion_gate=cfg.motion_gate,
                            max_gap=cfg.max_gap, rejoin_frames=cfg.rejoin_frames,
                            rejoin_iou=cfg.rejoin_iou, claim_iou=cfg.claim_iou,
                            min_score=cfg.min_score)
