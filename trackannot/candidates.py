"""Missed-object candidates: stored detections no track explains, grouped into candidate objects.

The risk score (`trackannot.risk`) ranks boxes that exist; most remaining errors are boxes that do
not (benchmarks/RESULTS.md, "Annotation effort"). The store keeps every detection, including weak
ones the tracker never used and tentative tracks that never confirmed. `find_candidates` turns
them into review items:

1. A detection is explained when a box of the current annotation at its frame overlaps it at
   IoU >= `ReviewConfig.candidate_gate_iou`; the others are unexplained.
2. Unexplained detections are linked over frames by the tracker itself (`track_detections`) with
   permissive settings (`chain_config`: every detection may start or continue a chain, confirmed
   at once, `candidate_max_gap` frames without a detection end it). A chain is one candidate
   object; chains with fewer than `candidate_min_detections` detections are dropped. Tentative
   tracks that never confirmed are such chains.
3. Each candidate has a hint frame (its best-supported frame: the highest detection score, the
   frame nearest the chain's middle on ties), the hint box (that detection), its evidence (first
   and last frame, detections, mean and max score), the track it continues if a box of one lies
   within `ATTACH_FRAMES` frames before its first or after its last detection at IoU >=
   `ATTACH_IOU` and the track has no box at the chain's frames (a late start, an early end or a
   gap of that track; -1: a new object), the
   probability that it is a real missed object (`p_real`, a logistic model over `FEATURES`) and
   the boxes a person fixes by accepting it: `expected_boxes = p_real * (last - first + 1)`, the
   boxes a create carried along the chain would add.

`p_real` was fit by `python -m benchmarks.bench_queue --fit` on chains of MOT15 train sequences
0, 2, 4, 6, 8 and KITTI Car 0000, 0002, ..., 0012 (pre-labels: `track_detections` with the default
`TrackConfig`, smoothed 0.1 s), labelled real when the hint box overlaps at IoU >= 0.5 a gt object
that has no correct box at that frame; benchmarks/RESULTS.md ("Issue 13: candidates and keyframe
proposals") has its reliability on the other half.

Candidates a reviewer rejected are not found again: `rejected` drops every chain with a detection
at a rejected hint frame at IoU >= `REJECT_IOU` with the rejected hint box.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import numpy.typing as npt

from trackannot.boxes import Boxes
from trackannot.config import ReviewConfig, TrackConfig
from trackannot.kernels.candidates import nearest_overlap
from trackannot.kernels.risk import max_iou_same_frame

__all__ = [
    "ATTACH_FRAMES",
    "ATTACH_IOU",
    "COEFFICIENTS",
    "FEATURES",
    "INTERCEPT",
    "REJECT_IOU",
    "Candidates",
    "candidate_features",
    "chain_config",
    "find_candidates",
]

CHAIN_MIN_IOU = 0.3  # consecutive detections of one chain overlap at least this much
ATTACH_FRAMES = 10  # a chain continues a track that has a box this many frames from its end
ATTACH_IOU = 0.3  # ... overlapping the chain's end detection at least this much
REJECT_IOU = 0.5  # a chain through a rejected hint box (at its frame) is the rejected candidate
SMALL_BOX_PX = 50.0  # boxes shorter than this (pixels) get a small_box signal

FEATURES = ("detections", "mean_score", "max_score", "density", "near_box", "small_box",
            "continues_track")
"""Signals of `p_real`, each per chain: log(1 + detections); mean and max detection score;
detections / frames spanned; mean best IoU of its detections with a box of the annotation (below
the gate: a near miss of a tracked object); max(0, log(SMALL_BOX_PX / median box height));
1 if it continues a track (`track_id` >= 0)."""

# fit by `python -m benchmarks.bench_queue --fit` (see the module docstring)
INTERCEPT = -5.295
COEFFICIENTS = {
    "detections": -0.095, "mean_score": 2.794, "max_score": 0.945, "density": 0.792,
    "near_box": 1.041, "small_box": -0.092, "continues_track": 1.241,
}


@dataclass(frozen=True, slots=True, eq=False)  # a generated __eq__ breaks on arrays
class Candidates:
    """Candidate missed objects, one row per chain of unexplained detections.

    Attributes:
        frame: (n,) int64, the hint frame.
        xyxy: (n, 4) float32, the hint box (the chain's detection at the hint frame), pixels.
        class_id: (n,) int32, the hint detection's class.
        track_id: (n,) int64, the track the chain continues; -1 for a new object.
        first_frame, last_frame: (n,) int64, the chain's first and last detection frames.
        detections: (n,) int32, detections in the chain (frames with evidence).
        mean_score, max_score: (n,) float32, of the chain's detections.
        p_real: (n,) float64, probability that the chain is a real object the annotation misses.
        expected_boxes: (n,) float64, p_real * (last_frame - first_frame + 1).
        det_row: (m,) int64, the chains' detections as rows of the `detections` given, chain by
            chain, each in frame order.
        chain_start: (n + 1,) int64, candidate i's rows are det_row[chain_start[i]:chain_start[i+1]].
    """

    frame: npt.NDArray[np.int64]
    xyxy: npt.NDArray[np.float32]
    class_id: npt.NDArray[np.int32]
    track_id: npt.NDArray[np.int64]
    first_frame: npt.NDArray[np.int64]
    last_frame: npt.NDArray[np.int64]
    detections: npt.NDArray[np.int32]
    mean_score: npt.NDArray[np.float32]
    max_score: npt.NDArray[np.float32]
    p_real: npt.NDArray[np.float64]
    expected_boxes: npt.NDArray[np.float64]
    det_row: npt.NDArray[np.int64]
    chain_start: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.frame)

    @classmethod
    def empty(cls) -> Candidates:
        """No candidates."""
        return _build({}, np.zeros(0, np.int64), np.zeros(1, np.int64))

    def chain(self, i: int) -> npt.NDArray[np.int64]:
        """Rows of the detections of candidate i, in frame order."""
        return self.det_row[self.chain_start[i]:self.chain_start[i + 1]]

    def take(self, index: npt.NDArray[np.integer] | npt.NDArray[np.bool_]) -> Candidates:
        """The candidates selected by an index or mask, in that order, chains kept."""
        index = np.arange(len(self))[index]
        rows = [self.chain(int(i)) for i in index]
        sizes = np.array([len(r) for r in rows], np.int64)
        columns = {f.name: getattr(self, f.name)[index] for f in fields(self)
                   if f.name not in ("det_row", "chain_start")}
        det_row = np.concatenate(rows) if rows else np.zeros(0, np.int64)
        return _build(columns, det_row, np.r_[0, np.cumsum(sizes)].astype(np.int64))


_DTYPES = {"frame": np.int64, "class_id": np.int32, "track_id": np.int64,
           "first_frame": np.int64, "last_frame": np.int64, "detections": np.int32,
           "mean_score": np.float32, "max_score": np.float32, "p_real": np.float64,
           "expected_boxes": np.float64}


def _build(columns: dict[str, np.ndarray], det_row: np.ndarray,
           chain_start: np.ndarray) -> Candidates:
    n = len(chain_start) - 1
    cols = {name: np.asarray(columns.get(name, np.zeros(n)), dtype) for name, dtype in _DTYPES.items()}
    xyxy = np.asarray(columns.get("xyxy", np.zeros((n, 4))), np.float32).reshape(n, 4)
    return Candidates(xyxy=xyxy, det_row=det_row.astype(np.int64),
                      chain_start=chain_start.astype(np.int64), **cols)


def chain_config(cfg: ReviewConfig) -> TrackConfig:
    """Tracker settings that link unexplained detections into chains: every detection may start
    or continue one, a chain is confirmed at once and ends after `cfg.candidate_max_gap` frames
    without a detection."""
    return TrackConfig(high_score=0.0, low_score=0.0, new_track_score=0.0, min_iou=CHAIN_MIN_IOU,
                       min_iou_low=CHAIN_MIN_IOU, min_iou_tentative=CHAIN_MIN_IOU,
                       fuse_score=False, min_hits=1, max_lost_frames=cfg.candidate_max_gap)


def _chains(unexplained: Boxes, cfg: ReviewConfig) -> tuple[np.ndarray, np.ndarray]:
    """(rows of `unexplained` chain by chain in frame order, offsets of each chain)."""
    from trackannot.track import track_detections  # an earlier stage, only needed here

    linked = track_detections(unexplained, chain_config(cfg))
    linked = linked[linked.det_index >= 0]
    order = np.lexsort((linked.frame, linked.track_id))
    rows, chain = linked.det_index[order], linked.track_id[order]
    starts = np.flatnonzero(np.r_[True, chain[1:] != chain[:-1]]) if len(chain) else np.zeros(0, int)
    return rows.astype(np.int64), np.r_[starts, len(rows)].astype(np.int64)


def _hint_rows(frame: np.ndarray, score: np.ndarray, chain_start: np.ndarray) -> np.ndarray:
    """Each chain's hint row: its highest score, on ties the frame nearest its middle."""
    out = np.empty(len(chain_start) - 1, np.int64)
    for i, (a, b) in enumerate(zip(chain_start[:-1].tolist(), chain_start[1:].tolist())):
        f, s = frame[a:b], score[a:b]
        middle = 0.5 * (f[0] + f[-1])
        out[i] = a + int(np.lexsort((np.abs(f - middle), -s))[0])
    return out


def _continued_track(boxes: Boxes, frame: np.ndarray, xyxy: np.ndarray, chain_start: np.ndarray,
                     num_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """(track each chain continues or -1, the IoU it was found at): the best box of the
    annotation within ATTACH_FRAMES before the chain's first detection or after its last."""
    start = np.searchsorted(boxes.frame, np.arange(num_frames + 1)).astype(np.int64)
    first, last = chain_start[:-1], chain_start[1:] - 1
    before = nearest_overlap(frame[first], xyxy[first], -1, ATTACH_FRAMES, start, boxes.xyxy,
                             boxes.track_id, ATTACH_IOU)
    after = nearest_overlap(frame[last], xyxy[last], 1, ATTACH_FRAMES, start, boxes.xyxy,
                            boxes.track_id, ATTACH_IOU)
    # both ends found: the better overlap (equal: the nearer, then the earlier track end)
    pick_after = (after[1] > before[1]) | ((after[1] == before[1]) & (after[2] < before[2])
                                           & (after[0] >= 0))
    track = np.where(pick_after, after[0], before[0]).astype(np.int64)
    iou = np.where(pick_after, after[1], before[1]).astype(np.float64)
    # a track with a box at a frame of the chain is another object (next to it), not this one
    span = num_frames + 1
    chain = np.repeat(np.arange(len(track)), np.diff(chain_start))
    busy = np.isin(track[chain] * span + frame, boxes.track_id * span + boxes.frame)
    busy_chain = np.unique(chain[busy & (track[chain] >= 0)])
    track[busy_chain], iou[busy_chain] = -1, 0.0
    return track, iou


def candidate_features(detections: Boxes, det_rows: np.ndarray, chain_start: np.ndarray,
                       near_box: np.ndarray, track_id: np.ndarray) -> npt.NDArray[np.float64]:
    """(n, len(FEATURES)) float64 signals of each chain, columns in `FEATURES` order.

    Args:
        detections: every detection of the video.
        det_rows: the chains' rows of `detections`, chain by chain.
        chain_start: (n + 1,) offsets of each chain in `det_rows`.
        near_box: (len(det_rows),) best IoU of each chain detection with a box of the annotation.
        track_id: (n,) the track each chain continues, -1: none.
    """
    n = len(chain_start) - 1
    size = np.diff(chain_start).astype(np.float64)
    chain = np.repeat(np.arange(n), np.diff(chain_start))
    score = detections.score[det_rows].astype(np.float64)
    frame = detections.frame[det_rows]
    height = detections.xyxy[det_rows, 3].astype(np.float64) - detections.xyxy[det_rows, 1]
    span = (frame[chain_start[1:] - 1] - frame[chain_start[:-1]] + 1).astype(np.float64) if n \
        else np.zeros(0)
    max_score = np.full(n, -np.inf)
    np.maximum.at(max_score, chain, score)
    med_height = np.array([np.median(height[a:b]) for a, b in
                           zip(chain_start[:-1].tolist(), chain_start[1:].tolist())], np.float64)
    cols = {
        "detections": np.log1p(size),
        "mean_score": np.bincount(chain, score, n) / np.maximum(size, 1),
        "max_score": max_score,
        "density": size / np.maximum(span, 1),
        "near_box": np.bincount(chain, near_box.astype(np.float64), n) / np.maximum(size, 1),
        "small_box": np.maximum(0.0, np.log(SMALL_BOX_PX / np.maximum(med_height, 1e-3))),
        "continues_track": (track_id >= 0).astype(np.float64),
    }
    return np.stack([cols[name] for name in FEATURES], axis=1).reshape(n, len(FEATURES))


def _not_rejected(detections: Boxes, det_rows: np.ndarray, chain_start: np.ndarray,
                  rejected: Boxes | None) -> np.ndarray:
    """(n,) bool chains with no detection on a rejected hint box."""
    keep = np.ones(len(chain_start) - 1, bool)
    if rejected is None or not len(rejected) or not len(det_rows):
        return keep
    rows = np.sort(det_rows)  # detections are sorted by frame, so are their sorted rows
    hit, _ = max_iou_same_frame(detections.frame[rows], detections.xyxy[rows],
                                np.full(len(rows), -1, np.int64), rejected.frame, rejected.xyxy,
                                np.full(len(rejected), -2, np.int64), False)
    bad_rows = rows[hit >= REJECT_IOU]
    chain = np.repeat(np.arange(len(keep)), np.diff(chain_start))
    keep[np.unique(chain[np.isin(det_rows, bad_rows)])] = False
    return keep


def find_candidates(boxes: Boxes, detections: Boxes | None, num_frames: int,
                    cfg: ReviewConfig | None = None, *, rejected: Boxes | None = None
                    ) -> Candidates:
    """Candidate missed objects: chains of detections the annotation does not explain.

    Args:
        boxes: the current annotation (`AnnotationState.boxes()`), sorted by (frame, track_id).
        detections: every stored detection of the video (any score, any track_id), sorted by
            frame; None or empty: no candidates.
        num_frames: frames of the video.
        cfg: candidate_gate_iou, candidate_min_detections, candidate_max_gap; None uses
            `ReviewConfig()`.
        rejected: hint boxes (frame, xyxy) of candidates reviewers rejected; chains through
            them are not returned.

    Returns:
        The candidates in hint-frame order (module docstring).

    Example:
        >>> dets = Boxes.create(xyxy=[[10, 10, 50, 90]] * 3, frame=[0, 1, 2], score=0.7)
        >>> c = find_candidates(Boxes.empty(), dets, 3)
        >>> c.frame.tolist(), c.first_frame.tolist(), c.last_frame.tolist(), len(c.chain(0))
        ([1], [0], [2], 3)
    """
    cfg = cfg or ReviewConfig()
    if detections is None or not len(detections):
        return Candidates.empty()
    near, _ = max_iou_same_frame(detections.frame, detections.xyxy,
                                 np.full(len(detections), -1, np.int64), boxes.frame, boxes.xyxy,
                                 boxes.track_id, False)
    loose = np.flatnonzero(near < cfg.candidate_gate_iou)
    if not len(loose):
        return Candidates.empty()
    rows, chain_start = _chains(detections[loose], cfg)
    det_rows = loose[rows]
    size = np.diff(chain_start)
    keep = (size >= cfg.candidate_min_detections)
    keep &= _not_rejected(detections, det_rows, chain_start, rejected)
    det_rows, chain_start = _select(det_rows, chain_start, keep)
    if len(chain_start) == 1:
        return Candidates.empty()
    frame, xyxy = detections.frame[det_rows], detections.xyxy[det_rows]
    hint = _hint_rows(frame, detections.score[det_rows], chain_start)
    track, _ = _continued_track(boxes, frame, xyxy, chain_start, num_frames)
    x = candidate_features(detections, det_rows, chain_start, near[det_rows], track)
    coef = np.array([COEFFICIENTS[name] for name in FEATURES], np.float64)
    p_real = 1.0 / (1.0 + np.exp(-(INTERCEPT + x @ coef)))
    first, last = frame[chain_start[:-1]], frame[chain_start[1:] - 1]
    score = detections.score[det_rows].astype(np.float64)
    chain = np.repeat(np.arange(len(hint)), np.diff(chain_start))
    max_score = np.full(len(hint), -np.inf)
    np.maximum.at(max_score, chain, score)
    found = _build({
        "frame": frame[hint], "xyxy": xyxy[hint], "class_id": detections.class_id[det_rows][hint],
        "track_id": track, "first_frame": first, "last_frame": last,
        "detections": np.diff(chain_start),
        "mean_score": np.bincount(chain, score, len(hint)) / np.diff(chain_start),
        "max_score": max_score, "p_real": p_real,
        "expected_boxes": p_real * (last - first + 1),
    }, det_rows, chain_start)
    return found.take(np.lexsort((found.first_frame, found.frame)))


def _select(det_rows: np.ndarray, chain_start: np.ndarray, keep: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray]:
    """The kept chains' rows and offsets."""
    size = np.diff(chain_start)
    row_keep = np.repeat(keep, size)
    return det_rows[row_keep], np.r_[0, np.cumsum(size[keep])].astype(np.int64)
