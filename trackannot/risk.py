"""Risk: how likely each box of the current annotation (or its identity) is wrong, and why.

`score_risk` gives every (track, frame) row of an annotation a probability that a careful person
would change it (the box misses its object at IoU 0.5, or belongs to another object than the rest
of its track), the signal that contributes most to it (`Reason`), and per-frame totals;
`rank_frames` orders the frames for review (most expected wrong boxes first, moving on from a
track once it has been looked at nearby: `ReviewConfig.spread_frames`).

Model: a logistic regression on per-row signals (`FEATURES`), each 0 where the row looks safe:

* no_detection: 1 - the best IoU of the box with a detection at its frame (no detections given:
  0 for rows the tracker took from a detection, 1 otherwise);
* since_detection: log(1 + frames to the nearest row of the track supported by a detection);
* uncertainty: Kalman `pos_std` / sqrt(box area), clipped to 1;
* low_confidence: 1 - the supporting detection's score;
* overlap: the best IoU with another track's box at the frame (identity-switch risk);
* track_edge: exp(-frames to the track's first or last frame / EDGE_FRAMES);
* short_track: 1 / sqrt(boxes in the track);
* size_jump: |log w ratio| + |log h ratio| to the neighbouring frames of the track, clipped to 1;
* gap: log(1 + the longest run of missing frames next to the row inside its track);
* small_box: max(0, log(SMALL_BOX_PX / box height));
* track_confidence: the mean of low_confidence over the row's track (false tracks are weak
  throughout).

The coefficients (`COEFFICIENTS`, `INTERCEPT`) were fit by `python -m benchmarks.bench_risk --fit`
on automatic tracks (default `TrackConfig`, smoothed 0.1 s) of MOT15 train sequences 0, 2, 4, 6, 8
and KITTI Car 0000, 0002, ..., 0012, labelled against ground truth; the other half is held out
for the reliability table and error recall in benchmarks/results/risk.json.

Human keyframes are not in that data; their effect is a stated prior (`ReviewConfig`): the model's
probability is pulled toward `keyframe_risk` by exp(-d / keyframe_decay_frames), d the frames to
the nearest keyframe of the same track (0 at keyframes and for origin KEYFRAME rows).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, Sequence

import numpy as np
import numpy.typing as npt

from trackannot.boxes import Boxes, Origin
from trackannot.config import ReviewConfig
from trackannot.errors import InputFormatError
from trackannot.keyframes import Keyframes
from trackannot.kernels.risk import max_iou_same_frame, spread_rank

if TYPE_CHECKING:
    from trackannot.propagate import Stop

__all__ = ["COEFFICIENTS", "FEATURES", "INTERCEPT", "OpenEnds", "Reason", "Risk", "open_end_items",
           "open_ends", "rank_frames", "risk_features", "score_risk"]

EDGE_FRAMES = 5.0  # track_edge decays over this many frames from a track's first/last frame
SMALL_BOX_PX = 50.0  # boxes shorter than this (pixels) get a small_box signal
SUPPORT_IOU = 0.5  # a detection at IoU >= this with a box supports it (since_detection)

FEATURES = ("no_detection", "since_detection", "uncertainty", "low_confidence", "overlap",
            "track_edge", "short_track", "size_jump", "gap", "small_box", "track_confidence")

# fit by `python -m benchmarks.bench_risk --fit` (see the module docstring)
INTERCEPT = -1.756
COEFFICIENTS = {
    "no_detection": 2.087, "since_detection": 0.0, "uncertainty": 0.558, "low_confidence": 4.78,
    "overlap": 0.846, "track_edge": 1.128, "short_track": -3.235, "size_jump": 0.602,
    "gap": 0.563, "small_box": -0.662, "track_confidence": 10.531,
}


class Reason(IntEnum):
    """Why a row is at risk: the signal contributing most to its score."""

    NONE = 0  # no signal above the baseline
    NO_DETECTION = 1
    SINCE_DETECTION = 2
    UNCERTAINTY = 3
    LOW_CONFIDENCE = 4
    OVERLAP = 5
    TRACK_EDGE = 6
    SHORT_TRACK = 7
    SIZE_JUMP = 8
    GAP = 9
    SMALL_BOX = 10
    TRACK_CONFIDENCE = 11
    KEYFRAME = 12  # at or next to a human keyframe: near certain
    OPEN_END = 13  # no box, but the track probably goes on here (`open_ends`)
    CONFLICT = 14  # a person's edit, carried along the object, met another track's evidence
    #                (its automatic boxes or a keyframe) here: the same object, or another?
    CUT = 15  # ... stopped at a video gap or a scene cut: does the object go on after it?

    @property
    def label(self) -> str:
        """Human-readable name, e.g. "no detection"."""
        return self.name.lower().replace("_", " ")


@dataclass(frozen=True, slots=True, eq=False)
class Risk:
    """Risk of each row of an annotation, and per frame.

    Attributes:
        score: (n,) float64 in [0, 1], per row of the scored `Boxes`: probability that the box or
            its identity is wrong.
        reason: (n,) uint8 `Reason` of each row.
        frame: (k,) int64, the frames that have boxes, ascending.
        frame_expected: (k,) float64, expected number of wrong boxes at each frame (sum of score).
        frame_any: (k,) float64, probability that at least one box of the frame is wrong
            (1 - prod(1 - score), boxes taken as independent).
    """

    score: npt.NDArray[np.float64]
    reason: npt.NDArray[np.uint8]
    frame: npt.NDArray[np.int64]
    frame_expected: npt.NDArray[np.float64]
    frame_any: npt.NDArray[np.float64]

    def per_frame(self, num_frames: int) -> npt.NDArray[np.float64]:
        """(num_frames,) float64 expected wrong boxes of every frame (0 for frames with none)."""
        out = np.zeros(num_frames, np.float64)
        keep = self.frame < num_frames
        out[self.frame[keep]] = self.frame_expected[keep]
        return out


def _by_track(boxes: Boxes) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.int64]]:
    """Row order sorted by (track_id, frame), and each sorted row's track segment number."""
    order = np.lexsort((boxes.frame, boxes.track_id))
    tid = boxes.track_id[order]
    seg = np.cumsum(np.r_[True, tid[1:] != tid[:-1]]) - 1 if len(tid) else np.empty(0, np.int64)
    return order, seg.astype(np.int64)


def _nearest_distance(frame: npt.NDArray[np.int64], seg: npt.NDArray[np.int64],
                      hit: npt.NDArray[np.bool_]) -> npt.NDArray[np.float64]:
    """Frames to the nearest `hit` row of the same segment; inf if none.

    Rows are sorted by (seg, frame).
    """
    if not len(frame):
        return np.empty(0, np.float64)
    span = int(frame.max() - frame.min()) + 2
    rel = frame - frame.min()
    base = seg * span
    before = np.maximum.accumulate(np.where(hit, base + rel, base - 1)) - base
    after = (np.minimum.accumulate(np.where(hit, base + rel, base + span)[::-1])[::-1]) - base
    d_before = np.where(before >= 0, rel - before, np.inf)
    d_after = np.where(after < span, after - rel, np.inf)
    return np.minimum(d_before, d_after).astype(np.float64)


def _track_signals(boxes: Boxes, supported: npt.NDArray[np.bool_]) -> dict[str, np.ndarray]:
    """Signals that need each track's rows in frame order (see the module docstring)."""
    order, seg = _by_track(boxes)
    fr = boxes.frame[order]
    n = len(fr)
    new = np.r_[True, seg[1:] != seg[:-1]] if n else np.empty(0, bool)
    last = np.r_[seg[1:] != seg[:-1], True] if n else np.empty(0, bool)
    starts = np.flatnonzero(new)
    lengths = np.diff(np.r_[starts, n])
    first_f, last_f = fr[starts][seg], fr[np.flatnonzero(last)][seg]
    edge = np.minimum(fr - first_f, last_f - fr).astype(np.float64)
    step = np.diff(fr) if n else np.empty(0, np.int64)
    gap_prev = np.r_[0, np.where(new[1:], 0, step - 1)] if n else np.empty(0)
    gap_next = np.r_[np.where(new[1:], 0, step - 1), 0] if n else np.empty(0)
    xyxy = boxes.xyxy[order].astype(np.float64)
    w = np.maximum(xyxy[:, 2] - xyxy[:, 0], 1e-3)
    h = np.maximum(xyxy[:, 3] - xyxy[:, 1], 1e-3)
    change = np.abs(np.diff(np.log(w))) + np.abs(np.diff(np.log(h))) if n else np.empty(0)
    change = np.where((step == 1) & ~new[1:], change, 0.0) if n else change
    jump = np.maximum(np.r_[0.0, change], np.r_[change, 0.0]) if n else np.empty(0)
    since = _nearest_distance(fr, seg, supported[order])
    since = np.minimum(since, lengths[seg])  # a track with no support: its whole length
    sorted_signals = {
        "since_detection": np.log1p(since),
        "track_edge": np.exp(-edge / EDGE_FRAMES),
        "short_track": 1.0 / np.sqrt(lengths[seg]),
        "size_jump": np.minimum(jump, 1.0),
        "gap": np.log1p(np.maximum(gap_prev, gap_next)),
    }
    out = {}
    for name, values in sorted_signals.items():
        col = np.empty(n, np.float64)
        col[order] = values
        out[name] = col
    return out


def risk_features(boxes: Boxes, detections: Boxes | None) -> npt.NDArray[np.float64]:
    """(n, len(FEATURES)) float64 signals of each row of `boxes`, columns in `FEATURES` order.

    Args:
        boxes: the annotation, sorted by (frame, track_id).
        detections: all detector boxes of the video (any track_id), or None.
    """
    n = len(boxes)
    xyxy = boxes.xyxy.astype(np.float64)
    w = np.maximum(xyxy[:, 2] - xyxy[:, 0], 1e-3)
    h = np.maximum(xyxy[:, 3] - xyxy[:, 1], 1e-3)
    from_det = (boxes.det_index >= 0) & (boxes.origin == Origin.DETECTED)
    if detections is not None and len(detections):
        support, arg = max_iou_same_frame(boxes.frame, boxes.xyxy, boxes.track_id,
                                          detections.frame, detections.xyxy,
                                          detections.track_id, False)
        support = support.astype(np.float64)
        det_score = np.where(arg >= 0, detections.score[np.maximum(arg, 0)], 0.0)
    else:
        support = from_det.astype(np.float64)
        det_score = np.where(from_det, boxes.score, 0.0)
    conf = np.where(from_det, boxes.score, det_score * (support >= SUPPORT_IOU))
    overlap, _ = max_iou_same_frame(boxes.frame, boxes.xyxy, boxes.track_id, boxes.frame,
                                    boxes.xyxy, boxes.track_id, True)
    supported = (support >= SUPPORT_IOU) | from_det | (boxes.origin == Origin.KEYFRAME)
    by_track = _track_signals(boxes, supported)
    low_conf = 1.0 - np.clip(conf, 0.0, 1.0)
    ids, inverse = np.unique(boxes.track_id, return_inverse=True)
    track_low = np.bincount(inverse, weights=low_conf, minlength=len(ids)).astype(np.float64)
    track_low /= np.maximum(np.bincount(inverse, minlength=len(ids)), 1)
    cols = {
        "no_detection": 1.0 - support,
        "uncertainty": np.minimum(boxes.pos_std / np.sqrt(w * h), 1.0),
        "low_confidence": low_conf,
        "track_confidence": track_low[inverse] if n else np.empty(0),
        "overlap": overlap.astype(np.float64),
        "small_box": np.maximum(0.0, np.log(SMALL_BOX_PX / h)),
        **by_track,
    }
    return np.stack([cols[name] for name in FEATURES], axis=1).reshape(n, len(FEATURES))


def _keyframe_distance(boxes: Boxes, keyframes: Keyframes | None) -> npt.NDArray[np.float64]:
    """Frames from each row to the nearest keyframe of its track (0: KEYFRAME rows; inf: none)."""
    dist = np.full(len(boxes), np.inf)
    if keyframes is not None and len(keyframes) and len(boxes):
        ids = np.unique(np.r_[boxes.track_id, keyframes.track_id])
        span = int(max(boxes.frame.max(), keyframes.frame.max())) + 1
        key_k = np.searchsorted(ids, keyframes.track_id) * span + keyframes.frame  # sorted
        rank = np.searchsorted(ids, boxes.track_id)
        key_b = rank * span + boxes.frame
        pos = np.searchsorted(key_k, key_b)
        for cand in (pos - 1, pos):
            ok = (cand >= 0) & (cand < len(key_k))
            c = np.clip(cand, 0, max(len(key_k) - 1, 0))
            same = ok & (key_k[c] // span == rank)
            dist = np.where(same, np.minimum(dist, np.abs(key_k[c] - key_b)), dist)
    return np.where(boxes.origin == Origin.KEYFRAME, 0.0, dist)


def score_risk(boxes: Boxes, detections: Boxes | None, keyframes: Keyframes | None,
               cfg: ReviewConfig | None = None) -> Risk:
    """Probability that each box (or its identity) is wrong, its main reason, and per-frame risk.

    Args:
        boxes: the current annotation (e.g. `AnnotationState.boxes()`), sorted by
            (frame, track_id), one row per (track, frame).
        detections: every detector box of the video (any track_id), or None (support is then
            read from `det_index` / origin).
        keyframes: the human keyframes, or None.
        cfg: keyframe prior; None uses `ReviewConfig()`.

    Returns:
        `Risk` with one score and reason per row of `boxes`, in their order.
    """
    cfg = cfg or ReviewConfig()
    x = risk_features(boxes, detections)
    coef = np.array([COEFFICIENTS[name] for name in FEATURES], np.float64)
    contrib = x * coef
    logit = INTERCEPT + contrib.sum(axis=1)
    p_model = 1.0 / (1.0 + np.exp(-logit))
    near = np.exp(-_keyframe_distance(boxes, keyframes) / cfg.keyframe_decay_frames)
    score = p_model + (cfg.keyframe_risk - p_model) * near
    top = np.argmax(contrib, axis=1) if len(boxes) else np.empty(0, np.intp)
    reason = np.where(contrib.max(axis=1, initial=0.0) > 0, top + 1, Reason.NONE)
    reason = np.where(near >= 0.5, Reason.KEYFRAME, reason).astype(np.uint8)
    frame, inverse = np.unique(boxes.frame, return_inverse=True)
    expected = np.bincount(inverse, weights=score, minlength=len(frame))
    log_keep = np.bincount(inverse, weights=np.log1p(-np.minimum(score, 1 - 1e-12)),
                           minlength=len(frame))
    return Risk(score=np.clip(score, 0.0, 1.0), reason=reason, frame=frame.astype(np.int64),
                frame_expected=expected, frame_any=1.0 - np.exp(log_keep))


@dataclass(frozen=True, slots=True, eq=False)
class OpenEnds:
    """Probably missing boxes (`open_end_items`), one row each.

    Attributes:
        frame: (k,) int64 where the box is probably missing.
        track_id: (k,) int64 the track that probably goes on there.
        risk: (k,) float64 expected error of the missing box.
        reason: (k,) uint8 `Reason`: OPEN_END, or CONFLICT / CUT where a propagated run stopped
            at another track's evidence / a video gap or scene cut.
    """

    frame: npt.NDArray[np.int64]
    track_id: npt.NDArray[np.int64]
    risk: npt.NDArray[np.float64]
    reason: npt.NDArray[np.uint8]


def open_ends(boxes: Boxes, keyframes: Keyframes | None, num_frames: int,
              cfg: ReviewConfig | None = None, stops: Sequence[Stop] | None = None
              ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Where a box is probably missing: just before a track starts and just after it ends.

    (frame, track_id, risk) of `open_end_items` (see there; its `reason` says why).
    """
    ends = open_end_items(boxes, keyframes, num_frames, cfg, stops)
    return ends.frame, ends.track_id, ends.risk


def open_end_items(boxes: Boxes, keyframes: Keyframes | None, num_frames: int,
                   cfg: ReviewConfig | None = None, stops: Sequence[Stop] | None = None
                   ) -> OpenEnds:
    """Where a box is probably missing, and why.

    * A track whose first or last box is a human keyframe not marked outside, or a box
      propagated from one (origin PROPAGATED), starts or ends there only because nobody has
      looked further (a missed object drawn once and carried as far as its detections go, a
      track's end confirmed without saying the object left): a missing box of risk
      `cfg.open_end_risk` `cfg.open_end_frames` before its start / after its end.
    * Where a propagated run stopped (`stops`, `AnnotationState.propagation_stops`) at another
      track's evidence (reason CONFLICT) or at a video gap or scene cut (CUT), the missing box
      is asked for at that very frame, at a track's end and inside it alike (where the track
      has no box there); a run that stopped where its detections ended inside a track (a gap
      between its runs) asks at the frame after its last box.
    * An automatic track starts late and stops early: trackers confirm a track after some hits
      and keep it a while after the last one. A missing box `cfg.edge_frames` before its start
      (risk `cfg.track_start_risk`) and after its end (`cfg.track_end_risk`).

    Only frames inside the video count; a track closed by an outside keyframe has no open end.

    Args:
        boxes: the current annotation.
        keyframes: its human keyframes (None: none).
        num_frames: frames of the video.
        cfg: None uses `ReviewConfig()`.
        stops: where the annotation's propagated runs stopped (None: not known; propagated
            track ends are open ends of reason OPEN_END).

    Returns:
        One row per probably missing box.
    """
    cfg = cfg or ReviewConfig()
    if not len(boxes):
        return OpenEnds(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float64),
                        np.empty(0, np.uint8))
    order = np.lexsort((boxes.frame, boxes.track_id))
    track, frame, origin = boxes.track_id[order], boxes.frame[order], boxes.origin[order]
    first = np.r_[True, track[1:] != track[:-1]]
    last = np.r_[track[1:] != track[:-1], True]
    outside_after: set[tuple[int, int]] = set()
    if keyframes is not None and len(keyframes):
        out = keyframes.outside
        outside_after = set(zip(keyframes.track_id[out].tolist(), keyframes.frame[out].tolist()))
    at_stop = _stops_by_end(stops)
    rows: list[tuple[int, int, float, int]] = []  # frame, track, risk, reason
    for ends, sign in ((first, -1), (last, 1)):
        t, f = track[ends].tolist(), frame[ends].tolist()
        human = np.isin(origin[ends], (Origin.KEYFRAME, Origin.PROPAGATED)).tolist()
        for tk, fk, hk in zip(t, f, human):
            if sign > 0 and (tk, fk + 1) in outside_after:
                continue
            stop = at_stop.pop((tk, sign, fk), None)
            if stop is not None and stop[1] != Reason.OPEN_END:
                rows.append((stop[0], tk, cfg.open_end_risk, stop[1]))
            elif hk:
                rows.append((fk + sign * cfg.open_end_frames, tk, cfg.open_end_risk,
                             Reason.OPEN_END))
            else:
                rows.append((fk + sign * cfg.edge_frames, tk,
                             cfg.track_start_risk if sign < 0 else cfg.track_end_risk,
                             Reason.OPEN_END))
    if at_stop:  # runs that stopped inside a track: ask where it has no box
        has = set(zip(track.tolist(), frame.tolist()))
        rows += [(at, t, cfg.open_end_risk, reason) for (t, _, _), (at, reason) in at_stop.items()
                 if (t, at) not in has]
    rows = [r for r in rows if 0 <= r[0] < num_frames and r[2] > 0]
    if not rows:
        return OpenEnds(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float64),
                        np.empty(0, np.uint8))
    f_col, t_col, r_col, why = zip(*rows)
    return OpenEnds(np.array(f_col, np.int64), np.array(t_col, np.int64),
                    np.array(r_col, np.float64), np.array(why, np.uint8))


def _stops_by_end(stops: Sequence[Stop] | None) -> dict[tuple[int, int, int], tuple[int, int]]:
    """(track, direction, the run's last frame) -> (frame to ask at, `Reason`) of each stop that
    leaves an open end."""
    from trackannot.propagate import StopReason

    out: dict[tuple[int, int, int], tuple[int, int]] = {}
    for stop in stops or ():
        if not stop.reason.open_end:
            continue
        if stop.reason.conflict:
            reason = Reason.CONFLICT
        elif stop.reason in (StopReason.GAP, StopReason.SCENE_CUT):
            reason = Reason.CUT
        else:
            reason = Reason.OPEN_END
        out[(stop.track_id, stop.direction, stop.last)] = (stop.frame, reason)
    return out


def rank_frames(boxes: Boxes, risk: Risk, num_frames: int, cfg: ReviewConfig | None = None,
                keyframes: Keyframes | None = None, stops: Sequence[Stop] | None = None
                ) -> npt.NDArray[np.int64]:
    """Every frame 0..num_frames-1 in review order: the most expected wrong boxes first.

    Once a frame is taken, the boxes of its tracks within `cfg.spread_frames` frames count less
    (`trackannot.kernels.risk.spread_rank`): a person who fixes a track at one frame fixes its
    neighbourhood, so the next frames go to other errors. spread_frames = 0 sorts frames by
    `Risk.frame_expected`. Ties: the earlier frame first. The probably missing boxes before track
    starts and after track ends (`open_ends`) count as wrong boxes too.

    Args:
        boxes: the rows `risk` was computed on.
        risk: `score_risk(boxes, ...)`.
        num_frames: frames of the video; frames with no box come last.
        cfg: None uses `ReviewConfig()`.
        keyframes: the human keyframes of `boxes` (tracks closed by an outside keyframe have no
            open end); None: none.
        stops: where propagated runs stopped (`open_end_items`); None: not known.

    Raises:
        InputFormatError: `risk` does not have one score per row of `boxes`, or a box lies at a
            frame >= num_frames.
    """
    cfg = cfg or ReviewConfig()
    if len(risk.score) != len(boxes):
        raise InputFormatError(
            f"rank_frames: risk has {len(risk.score)} scores but boxes has {len(boxes)} rows; "
            "pass the boxes the risk was computed on"
        )
    if len(boxes) and int(boxes.frame[-1]) >= num_frames:
        raise InputFormatError(
            f"rank_frames: a box lies at frame {int(boxes.frame[-1])}, expected frames below "
            f"num_frames = {num_frames}; pass the video's frame count"
        )
    frame, track, score = boxes.frame, boxes.track_id, risk.score.astype(np.float64)
    end_frame, end_track, end_risk = open_ends(boxes, keyframes, num_frames, cfg, stops)
    if len(end_frame):  # the probably missing boxes join the rows, in frame order
        by_frame = np.argsort(np.r_[frame, end_frame], kind="stable")
        frame = np.r_[frame, end_frame][by_frame]
        track = np.r_[track, end_track][by_frame]
        score = np.r_[score, end_risk][by_frame]
    order = np.lexsort((frame, track))
    tid = track[order]
    seg = np.cumsum(np.r_[True, tid[1:] != tid[:-1]]) - 1 if len(tid) else np.empty(0, np.int64)
    return spread_rank(frame, score, order.astype(np.int64), seg.astype(np.int64),
                       int(num_frames), int(cfg.spread_frames))
