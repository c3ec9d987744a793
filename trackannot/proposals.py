"""Keyframe proposals: the (track, frame) pairs a person should key next, by expected change.

VATIC's active-learning criterion (Vondrick and Ramanan, "Video annotation and tracking with
active learning", NIPS 2011) asks a person for the frame whose label would change the track most.
Here, for every track and frame:

* p: the probability that the track's box there is wrong, from the risk model
  (`trackannot.risk.score_risk`: detection support, Kalman `pos_std`, confidence, ...) and the
  disagreement of the current box with the straight line between the neighbouring keyframes
  (1 - IoU; 0 outside keyframes): p = 1 - (1 - risk) (1 - disagreement). Frames where the track
  probably has a box missing count too: inside a gap of at most `MAX_GAP_FRAMES` frames (p =
  `GAP_RISK`), the `edge_frames` frames before an automatic start and after an automatic end
  (`START_RISK`, `END_RISK`, by distance), and the open ends of `trackannot.risk.open_ends`.
* E, the expected change of keying frame f: p_f times the sum over the frames g of the same
  run (the track between two keyframes, which a key cannot reach past) of p_g * DECAY **
  |g - f|. A key changes the track only where its box is wrong (a right box is accepted as it
  is), and then fixes the run of errors around it: errors come in runs (`RUN_FRAMES` long on
  average), DECAY = exp(-1 / RUN_FRAMES). E is largest in the middle of a long wrong run and
  small next to a keyframe (a keyframe's neighbours are near certain, and half the window lies
  past it).
* gain = E / expected seconds (`CostModel`: a look, verify_s, plus a redraw, adjust_s - verify_s,
  when the box is wrong).

`propose_keyframes` picks greedily by gain: after each pick the p of its neighbours is scaled by
(1 - DECAY ** d) (the key fixed them), so the next pick goes elsewhere (`trackannot.kernels.
proposals.pick_keyframes`). The constants were measured by `python -m benchmarks.bench_queue
--fit` on the fit half of MOT15 and KITTI Car (see benchmarks/RESULTS.md, "Issue 13: candidates
and keyframe proposals").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np
import numpy.typing as npt

from trackannot.boxes import Boxes, Origin, pair_iou
from trackannot.config import ReviewConfig
from trackannot.cost import DEFAULT_COST, CostModel
from trackannot.kernels.proposals import pick_keyframes
from trackannot.keyframes import Keyframes
from trackannot.risk import Reason, Risk, open_end_items

if TYPE_CHECKING:
    from trackannot.propagate import Stop

__all__ = [
    "DECAY",
    "END_RISK",
    "GAP_RISK",
    "MAX_GAP_FRAMES",
    "RUN_FRAMES",
    "START_RISK",
    "WINDOW_FRAMES",
    "MissingBoxes",
    "Proposals",
    "missing_boxes",
    "propose_keyframes",
]

# measured by `python -m benchmarks.bench_queue --fit` on the fit half (module docstring)
RUN_FRAMES = 7.15  # mean wrong boxes per error run of the automatic tracks
GAP_RISK = 0.411  # a frame inside a track's gap: its object is there without a box
START_RISK = (0.447, 0.384, 0.342)  # 1, 2, 3 frames before an automatic start
END_RISK = (0.2, 0.173, 0.148)  # 1, 2, 3 frames after an automatic end
MAX_GAP_FRAMES = 30  # longer gaps are not asked about frame by frame

DECAY = math.exp(-1.0 / RUN_FRAMES)
_HUMAN = (Origin.KEYFRAME, Origin.PROPAGATED)  # a track end at these is a person's (open end)
WINDOW_FRAMES = int(math.ceil(RUN_FRAMES * math.log(1000.0)))  # DECAY ** WINDOW < 0.001


@dataclass(frozen=True, slots=True, eq=False)  # a generated __eq__ breaks on arrays
class Proposals:
    """Keyframes to ask a person for, best first.

    Attributes:
        track_id: (n,) int64.
        frame: (n,) int64.
        xyxy: (n, 4) float32, the track's box there (a gap or an end: the box the track would
            have, linear across the gap or its nearest box), pixels.
        p_wrong: (n,) float64, probability that the box is wrong (or missing).
        expected_change: (n,) float64, E: wrong boxes the key is expected to fix.
        gain: (n,) float64, E per expected second of human time, when picked.
        reason: (n,) uint8 `trackannot.risk.Reason`: the box's main risk signal; GAP for a
            missing box inside a gap, OPEN_END before a start or after an end.
        first_frame, last_frame: (n,) int64, the run the key lies in (the track's frames between
            its neighbouring keyframes).
    """

    track_id: npt.NDArray[np.int64]
    frame: npt.NDArray[np.int64]
    xyxy: npt.NDArray[np.float32]
    p_wrong: npt.NDArray[np.float64]
    expected_change: npt.NDArray[np.float64]
    gain: npt.NDArray[np.float64]
    reason: npt.NDArray[np.uint8]
    first_frame: npt.NDArray[np.int64]
    last_frame: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.frame)


@dataclass(frozen=True, slots=True, eq=False)
class MissingBoxes:
    """(track, frame) cells where a track probably lacks a box, or (`Rows` of the annotation)
    has one, with the probability that it is wrong.

    Attributes:
        track_id: (n,) int64.
        frame: (n,) int64.
        xyxy: (n, 4) float32, the box the track would have there, pixels.
        p: (n,) float64, probability that the object is there without a (right) box.
        reason: (n,) uint8 `trackannot.risk.Reason`: GAP or OPEN_END (boxes: their reason).
    """

    track_id: npt.NDArray[np.int64]
    frame: npt.NDArray[np.int64]
    xyxy: npt.NDArray[np.float32]
    p: npt.NDArray[np.float64]
    reason: npt.NDArray[np.uint8]

    def __len__(self) -> int:
        return len(self.frame)

    def take(self, index: npt.NDArray[np.bool_] | npt.NDArray[np.integer]) -> MissingBoxes:
        """The rows selected by a mask or an index."""
        return MissingBoxes(self.track_id[index], self.frame[index], self.xyxy[index],
                            self.p[index], self.reason[index])

    @classmethod
    def empty(cls) -> MissingBoxes:
        return cls(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 4), np.float32),
                   np.zeros(0), np.zeros(0, np.uint8))

    @classmethod
    def concat(cls, parts: list[MissingBoxes]) -> MissingBoxes:
        """Rows of all parts, in order."""
        parts = [cls.empty(), *parts]
        return cls(*(np.concatenate([getattr(p, name) for p in parts])
                     for name in ("track_id", "frame", "xyxy", "p", "reason")))


def missing_boxes(boxes: Boxes, keyframes: Keyframes | None, num_frames: int,
                  cfg: ReviewConfig | None = None, stops: Sequence[Stop] | None = None
                  ) -> MissingBoxes:
    """Where the annotation's tracks probably lack a box: inside gaps of at most
    `MAX_GAP_FRAMES` frames (not after an outside keyframe; p = `GAP_RISK`, the box linear
    across the gap), the `cfg.edge_frames` frames before automatic starts and after automatic
    ends (`START_RISK`, `END_RISK` by distance; the track's first or last box) and the open ends
    of `trackannot.risk.open_end_items` (human and propagated track ends, and where propagated
    runs stopped, `stops`: their risk and reason; the track's nearest box). One row per cell (the
    highest p), inside the video, never where the track has a box.
    """
    cfg = cfg or ReviewConfig()
    keyframes = keyframes if keyframes is not None else Keyframes.empty()
    if not len(boxes):
        return MissingBoxes.empty()
    rows = MissingBoxes.concat([_gap_rows(boxes, keyframes),
                                _edge_rows(boxes, keyframes, num_frames, cfg, stops)])
    order = np.lexsort((-rows.p, rows.frame, rows.track_id))
    t, f = rows.track_id[order], rows.frame[order]
    once = order[np.r_[True, (t[1:] != t[:-1]) | (f[1:] != f[:-1])]] if len(order) else order
    span = num_frames + 1
    has_box = np.isin(rows.track_id[once] * span + rows.frame[once],
                      boxes.track_id * span + boxes.frame)
    keep = np.sort(once[~has_box])
    return MissingBoxes(rows.track_id[keep], rows.frame[keep], rows.xyxy[keep], rows.p[keep],
                        rows.reason[keep])


def _disagreement(boxes: Boxes, keyframes: Keyframes) -> npt.NDArray[np.float64]:
    """1 - IoU of each box with the straight line between its track's neighbouring keyframes
    (0 where the track has no line there)."""
    from trackannot.interpolate import interpolate_linear  # an earlier stage's function

    out = np.zeros(len(boxes), np.float64)
    if not len(keyframes) or not len(boxes):
        return out
    line = interpolate_linear(keyframes)
    if not len(line):  # every keyframe is an outside mark: no line anywhere
        return out
    span = int(max(boxes.frame.max(), line.frame.max())) + 1
    key_b = boxes.track_id * span + boxes.frame
    key_l = line.track_id * span + line.frame
    order = np.argsort(key_l, kind="stable")
    pos = np.searchsorted(key_l[order], key_b)
    found = pos < len(order)
    found[found] &= key_l[order][pos[found]] == key_b[found]
    rows = order[pos[found]]
    out[found] = 1.0 - pair_iou(boxes.xyxy[found], line.xyxy[rows])
    return out


def _gap_rows(boxes: Boxes, keyframes: Keyframes) -> MissingBoxes:
    """Frames inside a track's gaps of at most MAX_GAP_FRAMES frames (not after an outside
    keyframe), the box linear between the gap's ends."""
    order = np.lexsort((boxes.frame, boxes.track_id))
    t, f, xyxy = boxes.track_id[order], boxes.frame[order], boxes.xyxy[order].astype(np.float64)
    step = np.diff(f)
    gap = np.flatnonzero((t[1:] == t[:-1]) & (step > 1) & (step <= MAX_GAP_FRAMES + 1))
    if len(keyframes) and keyframes.outside.any():
        out = set(zip(keyframes.track_id[keyframes.outside].tolist(),
                      keyframes.frame[keyframes.outside].tolist()))
        gap = np.array([g for g in gap.tolist()
                        if not any((int(t[g]), int(k)) in out for k in range(f[g] + 1, f[g + 1]))],
                       np.int64)
    size = step[gap] - 1 if len(gap) else np.zeros(0, np.int64)
    at = np.repeat(gap, size)
    offset = np.arange(len(at)) - np.repeat(np.cumsum(size) - size, size) + 1
    w = (offset / np.repeat(step[gap], size))[:, None]
    box = (1 - w) * xyxy[at] + w * xyxy[at + 1]
    return MissingBoxes(t[at], f[at] + offset, box.astype(np.float32), np.full(len(at), GAP_RISK),
                 np.full(len(at), Reason.GAP, np.uint8))


def _edge_rows(boxes: Boxes, keyframes: Keyframes, num_frames: int, cfg: ReviewConfig,
               stops: Sequence[Stop] | None) -> MissingBoxes:
    """Frames before automatic starts and after automatic ends (`START_RISK`, `END_RISK`), and
    the open ends of `trackannot.risk.open_end_items`; the box: the track's nearest box."""
    order = np.lexsort((boxes.frame, boxes.track_id))
    t, f, origin = boxes.track_id[order], boxes.frame[order], boxes.origin[order]
    xyxy = boxes.xyxy[order]
    first = np.flatnonzero(np.r_[True, t[1:] != t[:-1]])
    last = np.r_[first[1:] - 1, len(t) - 1]
    parts = []
    for rows, sign, risks in ((first, -1, START_RISK), (last, 1, END_RISK)):
        # ends at a person's box or carried from one: `open_end_items` below
        rows = rows[~np.isin(origin[rows], _HUMAN)]
        for d, p in enumerate(risks[: cfg.edge_frames], start=1):
            at = f[rows] + sign * d
            ok = (at >= 0) & (at < num_frames)
            parts.append(MissingBoxes(t[rows][ok], at[ok], xyxy[rows][ok], np.full(ok.sum(), p),
                               np.full(ok.sum(), Reason.OPEN_END, np.uint8)))
    ends = open_end_items(boxes, keyframes, num_frames, cfg, stops)
    if len(ends.frame):
        nearest = [int(order[np.flatnonzero(t == tr)][np.argmin(np.abs(f[t == tr] - fr))])
                   for fr, tr in zip(ends.frame.tolist(), ends.track_id.tolist())]
        parts.append(MissingBoxes(ends.track_id, ends.frame, boxes.xyxy[nearest], ends.risk,
                                  ends.reason))
    return MissingBoxes.concat(parts)


def _segments(track: np.ndarray, frame: np.ndarray, keyframes: Keyframes
              ) -> tuple[np.ndarray, np.ndarray]:
    """Segment number of each row (rows sorted by (track, frame)): a new segment at each track
    and after each keyframe of the track; and each segment's first row."""
    n = len(track)
    if not n:
        return np.zeros(0, np.int64), np.zeros(1, np.int64)
    span = int(max(frame.max(), keyframes.frame.max() if len(keyframes) else 0)) + 2
    ids = np.unique(np.r_[track, keyframes.track_id])
    key_r = np.searchsorted(ids, track) * span + frame
    key_k = np.searchsorted(ids, keyframes.track_id) * span + keyframes.frame  # sorted
    keys_before = np.searchsorted(key_k, key_r)  # keyframes before each row, over all tracks
    new = np.r_[True, (track[1:] != track[:-1]) | (keys_before[1:] != keys_before[:-1])]
    seg = np.cumsum(new) - 1
    return seg.astype(np.int64), np.r_[np.flatnonzero(new), n].astype(np.int64)


def propose_keyframes(boxes: Boxes, risk: Risk, keyframes: Keyframes | None, num_frames: int,
                      limit: int, cfg: ReviewConfig | None = None,
                      cost: CostModel = DEFAULT_COST, stops: Sequence[Stop] | None = None
                      ) -> Proposals:
    """The `limit` best (track, frame) keyframes to ask for, by expected change per second.

    Args:
        boxes: the current annotation, sorted by (frame, track_id).
        risk: `trackannot.risk.score_risk(boxes, ...)`.
        keyframes: its human keyframes (None: none); keyed frames are never proposed.
        num_frames: frames of the video.
        limit: most proposals to return.
        cfg: edge_frames and the open-end settings; None uses `ReviewConfig()`.
        cost: seconds of a look (verify_s) and of a redraw (adjust_s).
        stops: where the annotation's propagated runs stopped
            (`AnnotationState.propagation_stops`), asked about as open ends; None: not known.

    Returns:
        Proposals in pick order (module docstring).

    Example:
        >>> from trackannot.risk import score_risk
        >>> b = Boxes.create(xyxy=[[0, 0, 10, 10]] * 5, frame=range(5), track_id=1)
        >>> p = propose_keyframes(b, score_risk(b, None, None), None, 5, limit=1)
        >>> p.track_id.tolist(), p.frame.tolist()
        ([1], [2])
    """
    cfg = cfg or ReviewConfig()
    keyframes = keyframes if keyframes is not None else Keyframes.empty()
    if not len(boxes) or limit < 1:
        return _empty()
    p_box = 1.0 - (1.0 - risk.score) * (1.0 - _disagreement(boxes, keyframes))
    auto = boxes.origin != Origin.KEYFRAME
    rows = MissingBoxes.concat([
        MissingBoxes(boxes.track_id[auto], boxes.frame[auto], boxes.xyxy[auto], p_box[auto],
                     risk.reason[auto].astype(np.uint8)),
        missing_boxes(boxes, keyframes, num_frames, cfg, stops),
    ])
    order = np.lexsort((rows.frame, rows.track_id))
    if len(keyframes):  # keyed frames are not asked again
        span = int(max(rows.frame.max(), keyframes.frame.max())) + 1
        keyed = keyframes.track_id * span + keyframes.frame
        order = order[~np.isin(rows.track_id[order] * span + rows.frame[order], keyed)]
    track, frame = rows.track_id[order], rows.frame[order]
    seg, seg_start = _segments(track, frame, keyframes)
    p = np.clip(rows.p[order], 0.0, 1.0)
    picked, change, gain = pick_keyframes(
        frame, p, seg, seg_start, np.ones(len(frame), bool), DECAY, WINDOW_FRAMES,
        float(cost.verify_s), float(cost.adjust_s), int(limit))
    src = order[picked]
    return Proposals(
        track_id=rows.track_id[src].astype(np.int64), frame=rows.frame[src].astype(np.int64),
        xyxy=rows.xyxy[src].astype(np.float32), p_wrong=p[picked], expected_change=change,
        gain=gain, reason=rows.reason[src], first_frame=frame[seg_start[seg[picked]]],
        last_frame=frame[seg_start[seg[picked] + 1] - 1],
    )


def _empty() -> Proposals:
    return Proposals(track_id=np.zeros(0, np.int64), frame=np.zeros(0, np.int64),
                     xyxy=np.zeros((0, 4), np.float32), p_wrong=np.zeros(0),
                     expected_change=np.zeros(0), gain=np.zeros(0), reason=np.zeros(0, np.uint8),
                     first_frame=np.zeros(0, np.int64), last_frame=np.zeros(0, np.int64))
