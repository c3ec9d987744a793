"""Tracking evaluation: HOTA, CLEAR (MOTA) and Identity (IDF1) scores computed by TrackEval's code.

TrackEval's metrics take one "data" dict per sequence (ids relabelled 0..k-1 and IoU matrices per
timestep). TrackEval builds that dict from files in its dataset classes; here it is built from
`Boxes`, following the preprocessing of TrackEval 1.3.0's `MotChallenge2DBox` and `Kitti2DBox`
(`get_preprocessed_seq_data`), and then handed to `trackeval.metrics.HOTA/CLEAR/Identity`
unchanged. Several sequences combine into one dataset score with TrackEval's own
`combine_sequences` (detection-weighted, not an average of per-sequence scores).

Preprocessing per benchmark (`benchmark=`):

- "MOT15": gt rows whose flag (the MOT15 `conf` column) is 0 are dropped; nothing else. With no
  `gt_extra` every gt row is evaluated, which makes "MOT15" the plain, class-agnostic protocol.
- "MOT16"/"MOT17"/"MOT20": per frame, tracker boxes are matched (Hungarian, IoU >= 0.5) against
  all gt rows; those matched to a distractor (classes 2, 7, 8, 12; MOT20 also 6) are removed.
  Then only gt rows with class 1 (pedestrian) and flag != 0 are evaluated.
- "KITTI": gt of the evaluated class (default car) plus its distractor class (van; for
  pedestrian: person sitting) are matched (IoU >= 0.5) against the tracker boxes; tracker boxes
  matched to a distractor or to a gt box with occlusion > 2 or truncation > 0 are removed.
  Unmatched tracker boxes no taller than 25 px, or more than 50% inside a DontCare region
  (intersection over the tracker box's area), are removed. Only unoccluded-enough, untruncated
  gt of the class is evaluated.

Differences from running TrackEval on files (all deliberate, none changes a score on the
benchmark data used in `benchmarks/`):

- Tracker rows are evaluated whatever their `class_id` (TrackEval's MOT reader raises on class
  > 1; its KITTI reader keeps only the evaluated class): filter tracks before calling.
- Tracker rows with `track_id == -1` (untracked detections) are not tracks and are dropped.
- Boxes are float32 `xyxy`; TrackEval reads MOT `xywh` text as float64. IoUs therefore differ in
  about the 7th digit, which can only matter for a pair at exactly IoU 0.5.
- TrackEval's check that gt classes are all known MOT classes is not repeated.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Iterable, Literal, Mapping, Sequence

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment
from trackeval.datasets._base_dataset import _BaseDataset
from trackeval.metrics import CLEAR, HOTA, Identity

from trackannot.boxes import Boxes
from trackannot.errors import InputFormatError

__all__ = [
    "KITTI_CLASS_IDS",
    "MOT_CLASS_IDS",
    "Benchmark",
    "DatasetScores",
    "EvalSequence",
    "TrackingScores",
    "build_sequence_data",
    "combine_scores",
    "evaluate",
    "evaluate_dataset",
]

Benchmark = Literal["MOT15", "MOT16", "MOT17", "MOT20", "KITTI"]
_BENCHMARKS = ("MOT15", "MOT16", "MOT17", "MOT20", "KITTI")

# MOTChallenge gt `class` column (MOT16/17/20), as in TrackEval's MotChallenge2DBox
MOT_CLASS_IDS: dict[str, int] = {
    "pedestrian": 1, "person_on_vehicle": 2, "car": 3, "bicycle": 4, "motorbike": 5,
    "non_mot_vehicle": 6, "static_person": 7, "distractor": 8, "occluder": 9,
    "occluder_on_ground": 10, "occluder_full": 11, "reflection": 12, "crowd": 13,
}
_MOT_DISTRACTORS = (2, 7, 8, 12)  # person_on_vehicle, static_person, distractor, reflection
_MOT20_EXTRA_DISTRACTORS = (6,)  # non_mot_vehicle

# KITTI tracking `type` column as class ids, as in TrackEval's Kitti2DBox
KITTI_CLASS_IDS: dict[str, int] = {
    "car": 1, "van": 2, "truck": 3, "pedestrian": 4, "person": 5, "cyclist": 6, "tram": 7,
    "misc": 8, "dontcare": 9,
}
_KITTI_DISTRACTOR = {"car": KITTI_CLASS_IDS["van"], "pedestrian": KITTI_CLASS_IDS["person"]}
_KITTI_MAX_OCCLUSION = 2
_KITTI_MAX_TRUNCATION = 0
_KITTI_MIN_HEIGHT_PX = 25.0
_KITTI_MAX_IGNORE_IOA = 0.5  # unmatched tracker boxes more inside a DontCare region are removed

_MATCH_IOU = 0.5  # distractor matching and the CLEAR/Identity TP threshold, as in TrackEval
_EPS = np.finfo("float").eps


@dataclass(frozen=True, kw_only=True, eq=False)
class TrackingScores:
    """Scores of one sequence or of a combined dataset, all fractions in [0, 1] (MOTA <= 1).

    HOTA, DetA, AssA and LocA are averages over TrackEval's 19 IoU thresholds 0.05..0.95, as
    TrackEval reports them. Counts are integers stored as int.

    Attributes:
        hota, deta, assa, loca: Higher Order Tracking Accuracy and its detection, association
            and localisation parts.
        mota, motp, idf1, idp, idr: CLEAR MOTA/MOTP and identity F1/precision/recall at IoU 0.5.
        tp, fp, fn, idsw, frag: CLEAR counts (true/false positives, misses, id switches,
            fragmentations).
        mt, pt, ml: gt tracks mostly tracked (> 80%), partially tracked, mostly lost (< 20%).
        num_gt_dets, num_tracker_dets: boxes evaluated after preprocessing.
        trackeval: TrackEval's raw per-metric result dicts ("HOTA", "CLEAR", "Identity"), kept so
            that sequences can be combined with TrackEval's `combine_sequences`.
    """

    hota: float
    deta: float
    assa: float
    loca: float
    mota: float
    motp: float
    idf1: float
    idp: float
    idr: float
    tp: int
    fp: int
    fn: int
    idsw: int
    frag: int
    mt: int
    pt: int
    ml: int
    num_gt_dets: int
    num_tracker_dets: int
    trackeval: Mapping[str, Mapping[str, Any]] = field(repr=False)

    def as_dict(self) -> dict[str, float]:
        """The scores and counts by lower-case name (without the raw TrackEval results)."""
        return {
            name: getattr(self, name)
            for name in self.__dataclass_fields__
            if name != "trackeval"
        }


@dataclass(frozen=True, kw_only=True, eq=False)
class EvalSequence:
    """One sequence of a dataset for `evaluate_dataset`.

    Attributes:
        tracks: tracker output; rows with track_id -1 are ignored.
        gt: ground truth, `track_id` holding the gt identity.
        gt_extra: per-gt-row columns for preprocessing (see `evaluate`).
        num_frames: sequence length in frames; None: 1 + the largest frame of gt and tracks.
        name: a label for the per-sequence results.
    """

    tracks: Boxes
    gt: Boxes
    gt_extra: Mapping[str, npt.ArrayLike] | None = None
    num_frames: int | None = None
    name: str = ""


@dataclass(frozen=True, eq=False)
class DatasetScores:
    """Scores of a dataset: the TrackEval combination of all sequences, and each sequence's."""

    combined: TrackingScores
    per_sequence: dict[str, TrackingScores]


def evaluate(
    tracks: Boxes,
    gt: Boxes,
    *,
    gt_extra: Mapping[str, npt.ArrayLike] | None = None,
    benchmark: Benchmark = "MOT15",
    num_frames: int | None = None,
    kitti_class: Literal["car", "pedestrian"] = "car",
) -> TrackingScores:
    """HOTA, MOTA, IDF1 and friends of one sequence, computed by TrackEval's metric code.

    Args:
        tracks: tracker output, frames 0-based; rows with track_id -1 are ignored.
        gt: ground truth on the same frames; `track_id` is the gt identity (>= 0, unique per
            frame). For KITTI, DontCare rows (class 9) may carry -1.
        gt_extra: optional per-gt-row (n,) arrays: "flag" (MOT `conf`/flag column; rows with 0
            are not evaluated; default 1), "class" (MOT class or `KITTI_CLASS_IDS` id; default
            `gt.class_id`), "truncation" and "occlusion" (KITTI; default 0). Other keys (such
            as "visibility" from `read_mot_file(..., with_extra=True)`) are ignored.
        benchmark: preprocessing protocol, see the module docstring. "MOT15" with no gt_extra
            evaluates every gt row.
        num_frames: sequence length; None: 1 + the largest frame in gt and tracks. Only
            CLEAR's per-frame FP rate depends on it.
        kitti_class: the class evaluated when benchmark is "KITTI".

    Returns:
        The scores; `TrackingScores.as_dict()` gives them as a dict.

    Raises:
        InputFormatError: unknown benchmark, a gt_extra column of the wrong length, frames
            outside [0, num_frames), a gt row with a negative id, or an id twice in one frame.

    Example:
        >>> gt = Boxes.create(xyxy=[[0, 0, 10, 10]] * 3, frame=[0, 1, 2], track_id=[7, 7, 7])
        >>> evaluate(gt, gt).hota
        1.0
    """
    data = build_sequence_data(
        tracks, gt, gt_extra=gt_extra, benchmark=benchmark, num_frames=num_frames,
        kitti_class=kitti_class,
    )
    raw = {
        "HOTA": _metrics()["HOTA"].eval_sequence(data),
        "CLEAR": _metrics()["CLEAR"].eval_sequence(data),
        "Identity": _metrics()["Identity"].eval_sequence(data),
    }
    return _summarise(raw, data["num_gt_dets"], data["num_tracker_dets"])


def evaluate_dataset(
    sequences: Iterable[EvalSequence | tuple[Any, ...]],
    *,
    benchmark: Benchmark = "MOT15",
    kitti_class: Literal["car", "pedestrian"] = "car",
) -> DatasetScores:
    """Evaluate several sequences and combine them as TrackEval does for a benchmark split.

    Args:
        sequences: `EvalSequence`s, or (tracks, gt) / (tracks, gt, gt_extra) tuples.
        benchmark: see `evaluate`.
        kitti_class: see `evaluate`.

    Returns:
        `DatasetScores` with the combined score (TrackEval's `combine_sequences`: counts summed,
        AssA and LocA weighted by true positives) and the per-sequence scores, keyed by
        `EvalSequence.name` or "seq{i}".
    """
    per_sequence: dict[str, TrackingScores] = {}
    for i, item in enumerate(sequences):
        seq = item if isinstance(item, EvalSequence) else EvalSequence(
            tracks=item[0], gt=item[1], gt_extra=item[2] if len(item) > 2 else None
        )
        name = seq.name or f"seq{i}"
        if name in per_sequence:
            raise InputFormatError(f"evaluate_dataset: sequence name {name!r} appears twice")
        per_sequence[name] = evaluate(
            seq.tracks, seq.gt, gt_extra=seq.gt_extra, benchmark=benchmark,
            num_frames=seq.num_frames, kitti_class=kitti_class,
        )
    return DatasetScores(combined=combine_scores(list(per_sequence.values())),
                         per_sequence=per_sequence)


def combine_scores(scores: Sequence[TrackingScores]) -> TrackingScores:
    """Combine per-sequence scores into one with TrackEval's `combine_sequences`.

    Raises:
        InputFormatError: `scores` is empty.
    """
    if not scores:
        raise InputFormatError("combine_scores needs at least one TrackingScores, got none")
    metrics = _metrics()
    raw = {
        name: metrics[name].combine_sequences(
            {str(i): copy.deepcopy(s.trackeval[name]) for i, s in enumerate(scores)}
        )
        for name in ("HOTA", "CLEAR", "Identity")
    }
    return _summarise(
        raw,
        sum(s.num_gt_dets for s in scores),
        sum(s.num_tracker_dets for s in scores),
    )


# -- TrackEval glue -------------------------------------------------------------------------------


def _metrics() -> dict[str, Any]:
    """Fresh TrackEval metric objects (cheap), quiet and at TrackEval's default 0.5 threshold."""
    return {
        "HOTA": HOTA(),
        "CLEAR": CLEAR({"THRESHOLD": _MATCH_IOU, "PRINT_CONFIG": False}),
        "Identity": Identity({"THRESHOLD": _MATCH_IOU, "PRINT_CONFIG": False}),
    }


def _summarise(raw: dict[str, dict[str, Any]], num_gt: int, num_trk: int) -> TrackingScores:
    hota, clear, ident = raw["HOTA"], raw["CLEAR"], raw["Identity"]
    return TrackingScores(
        hota=float(np.mean(hota["HOTA"])),
        deta=float(np.mean(hota["DetA"])),
        assa=float(np.mean(hota["AssA"])),
        loca=float(np.mean(hota["LocA"])),
        mota=float(clear["MOTA"]),
        motp=float(clear["MOTP"]),
        idf1=float(ident["IDF1"]),
        idp=float(ident["IDP"]),
        idr=float(ident["IDR"]),
        tp=int(clear["CLR_TP"]),
        fp=int(clear["CLR_FP"]),
        fn=int(clear["CLR_FN"]),
        idsw=int(clear["IDSW"]),
        frag=int(clear["Frag"]),
        mt=int(clear["MT"]),
        pt=int(clear["PT"]),
        ml=int(clear["ML"]),
        num_gt_dets=int(num_gt),
        num_tracker_dets=int(num_trk),
        trackeval=raw,
    )


def _box_iou(a_xyxy: np.ndarray, b_xyxy: np.ndarray, *, do_ioa: bool = False) -> np.ndarray:
    """TrackEval's own IoU (or intersection over the area of `a`) on float64 xyxy boxes."""
    return _BaseDataset._calculate_box_ious(
        a_xyxy.astype(np.float64), b_xyxy.astype(np.float64), box_format="x0y0x1y1",
        do_ioa=do_ioa,
    )


def _matched_pairs(similarity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """TrackEval's preprocessing match: Hungarian on IoU, pairs with IoU >= 0.5 only."""
    if similarity.size == 0:
        return np.empty(0, dtype=np.intp), np.empty(0, dtype=np.intp)
    scores = similarity.copy()
    scores[scores < _MATCH_IOU - _EPS] = 0
    rows, cols = linear_sum_assignment(-scores)
    keep = scores[rows, cols] > 0 + _EPS
    return rows[keep], cols[keep]


# -- building TrackEval's per-sequence data dict ---------------------------------------------------


def build_sequence_data(
    tracks: Boxes,
    gt: Boxes,
    *,
    gt_extra: Mapping[str, npt.ArrayLike] | None = None,
    benchmark: Benchmark = "MOT15",
    num_frames: int | None = None,
    kitti_class: Literal["car", "pedestrian"] = "car",
) -> dict[str, Any]:
    """TrackEval's preprocessed per-sequence `data` dict, ready for `Metric.eval_sequence`.

    Arguments as for `evaluate`. The dict holds num_timesteps, num_gt_ids, num_tracker_ids,
    num_gt_dets, num_tracker_dets, and per timestep gt_ids, tracker_ids (int, relabelled
    0..k-1) and similarity_scores ((n_gt, n_tracker) float64 IoU).
    """
    if benchmark not in _BENCHMARKS:
        raise InputFormatError(f"benchmark must be one of {list(_BENCHMARKS)}, got {benchmark!r}")
    if benchmark == "KITTI" and kitti_class not in _KITTI_DISTRACTOR:
        raise InputFormatError(
            f"kitti_class must be one of {list(_KITTI_DISTRACTOR)}, got {kitti_class!r}"
        )
    cols = _gt_columns(gt, gt_extra, benchmark)
    tracks = tracks[tracks.track_id >= 0]
    n_t = _num_timesteps(tracks, gt, num_frames)
    gt_at = np.searchsorted(gt.frame, np.arange(n_t + 1))
    trk_at = np.searchsorted(tracks.frame, np.arange(n_t + 1))
    gt_ids: list[np.ndarray] = []
    trk_ids: list[np.ndarray] = []
    sims: list[np.ndarray] = []
    for t in range(n_t):
        g, k = slice(gt_at[t], gt_at[t + 1]), slice(trk_at[t], trk_at[t + 1])
        gt_keep, trk_keep, sim = _preprocess_frame(
            benchmark, kitti_class, gt.xyxy[g], {c: v[g] for c, v in cols.items()},
            tracks.xyxy[k],
        )
        gt_ids.append(gt.track_id[g][gt_keep])
        trk_ids.append(tracks.track_id[k][trk_keep])
        sims.append(sim[np.ix_(gt_keep, trk_keep)])
        _check_unique(gt_ids[-1], "gt", t)
        _check_unique(trk_ids[-1], "tracks", t)
    gt_rel, n_gt_ids = _relabel(gt_ids)
    trk_rel, n_trk_ids = _relabel(trk_ids)
    return {
        "num_timesteps": n_t,
        "gt_ids": gt_rel,
        "tracker_ids": trk_rel,
        "similarity_scores": sims,
        "num_gt_dets": int(sum(len(x) for x in gt_rel)),
        "num_tracker_dets": int(sum(len(x) for x in trk_rel)),
        "num_gt_ids": n_gt_ids,
        "num_tracker_ids": n_trk_ids,
        "seq": "",
    }


def _gt_columns(
    gt: Boxes, gt_extra: Mapping[str, npt.ArrayLike] | None, benchmark: str
) -> dict[str, np.ndarray]:
    """flag, class, truncation, occlusion per gt row, from gt_extra or defaults."""
    extra = dict(gt_extra or {})  # other keys (e.g. "visibility" from read_mot_file) are unused
    n = len(gt)
    defaults = {"flag": 1, "class": gt.class_id, "truncation": 0, "occlusion": 0}
    cols: dict[str, np.ndarray] = {}
    for name, default in defaults.items():
        value = np.asarray(extra.get(name, default))
        value = np.broadcast_to(value, (n,)) if value.ndim == 0 else value
        if value.shape != (n,):
            raise InputFormatError(
                f"gt_extra[{name!r}] must have one value per gt row ({n},), got {value.shape}"
            )
        cols[name] = value.astype(np.int64)
    ignore_region = (cols["class"] == KITTI_CLASS_IDS["dontcare"]) if benchmark == "KITTI" else (
        np.zeros(n, dtype=bool)
    )
    bad = (gt.track_id < 0) & ~ignore_region
    if np.any(bad):
        i = int(np.flatnonzero(bad)[0])
        raise InputFormatError(
            f"gt row {i} (frame {int(gt.frame[i])}) has track_id {int(gt.track_id[i])}; gt "
            "needs an identity >= 0 on every row (only KITTI DontCare rows may have -1)"
        )
    return cols


def _num_timesteps(tracks: Boxes, gt: Boxes, num_frames: int | None) -> int:
    last = max(int(gt.frame[-1]) if len(gt) else -1, int(tracks.frame[-1]) if len(tracks) else -1)
    first = min(int(gt.frame[0]) if len(gt) else 0, int(tracks.frame[0]) if len(tracks) else 0)
    if first < 0:
        raise InputFormatError(f"frames must be >= 0 (0-based), got frame {first}")
    if num_frames is None:
        return last + 1
    if last >= num_frames:
        raise InputFormatError(
            f"frame {last} is outside the sequence of num_frames={num_frames} (0-based frames); "
            "pass the right num_frames or fix the frame offset (MOT files are 1-based)"
        )
    return int(num_frames)


def _check_unique(ids: np.ndarray, what: str, t: int) -> None:
    if len(ids) > 1:
        uniq, counts = np.unique(ids, return_counts=True)
        if np.any(counts > 1):
            raise InputFormatError(
                f"{what}: track_id {int(uniq[counts > 1][0])} appears {int(counts.max())} times "
                f"in frame {t}; ids must be unique within a frame"
            )


def _relabel(ids_per_t: list[np.ndarray]) -> tuple[list[np.ndarray], int]:
    """Map ids to 0..k-1 in sorted order of the original ids, as TrackEval does."""
    if not ids_per_t:
        return [], 0
    flat = np.concatenate(ids_per_t)
    uniq, inverse = np.unique(flat, return_inverse=True)
    splits = np.cumsum([len(x) for x in ids_per_t])[:-1]
    return [x.astype(int) for x in np.split(inverse.reshape(-1), splits)], int(len(uniq))


def _preprocess_frame(
    benchmark: str, kitti_class: str, gt_xyxy: np.ndarray, cols: dict[str, np.ndarray],
    trk_xyxy: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(gt rows kept, tracker rows kept, IoU of all gt rows x all tracker rows) for one frame."""
    sim = _box_iou(gt_xyxy, trk_xyxy)
    if benchmark == "MOT15":
        return cols["flag"] != 0, np.ones(len(trk_xyxy), dtype=bool), sim
    if benchmark == "KITTI":
        return _preprocess_kitti(kitti_class, gt_xyxy, cols, trk_xyxy, sim)
    distractors = _MOT_DISTRACTORS + (_MOT20_EXTRA_DISTRACTORS if benchmark == "MOT20" else ())
    trk_keep = np.ones(len(trk_xyxy), dtype=bool)
    rows, cols_m = _matched_pairs(sim)
    trk_keep[cols_m[np.isin(cols["class"][rows], distractors)]] = False
    gt_keep = (cols["flag"] != 0) & (cols["class"] == MOT_CLASS_IDS["pedestrian"])
    return gt_keep, trk_keep, sim


def _preprocess_kitti(
    kitti_class: str, gt_xyxy: np.ndarray, cols: dict[str, np.ndarray], trk_xyxy: np.ndarray,
    sim: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TrackEval Kitti2DBox preprocessing of one frame (see the module docstring)."""
    cls_id, distractor = KITTI_CLASS_IDS[kitti_class], _KITTI_DISTRACTOR[kitti_class]
    relevant = np.flatnonzero(np.isin(cols["class"], (cls_id, distractor)))
    hidden = (cols["occlusion"] > _KITTI_MAX_OCCLUSION + _EPS) | (
        cols["truncation"] > _KITTI_MAX_TRUNCATION + _EPS
    )
    trk_keep = np.ones(len(trk_xyxy), dtype=bool)
    unmatched = np.ones(len(trk_xyxy), dtype=bool)
    rows, cols_m = _matched_pairs(sim[relevant])
    if len(rows):
        g = relevant[rows]
        trk_keep[cols_m[(cols["class"][g] == distractor) | hidden[g]]] = False
        unmatched[cols_m] = False
    heights = trk_xyxy[:, 3].astype(np.float64) - trk_xyxy[:, 1]
    too_small = heights <= _KITTI_MIN_HEIGHT_PX + _EPS
    regions = gt_xyxy[cols["class"] == KITTI_CLASS_IDS["dontcare"]]
    in_region = np.any(_box_iou(trk_xyxy, regions, do_ioa=True) > _KITTI_MAX_IGNORE_IOA + _EPS,
                       axis=1)
    trk_keep &= ~(unmatched & (too_small | in_region))
    gt_keep = (cols["class"] == cls_id) & ~hidden
    return gt_keep, trk_keep, sim
