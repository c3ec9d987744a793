"""How sparse automatic tracks are: keyframes `sparse_keyframes` keeps, as a share of the boxes.

Protocol (per dataset, pooled over its sequences):
- Tracks: `trackannot.track.track_detections` with `TrackConfig()` defaults over every frame of
  the sequence (as benchmarks/bench_tracking.py runs it), on the detections of
  `benchmarks.datasets`: MOT15's 10 train sequences with SORT's Faster R-CNN det_sort_frcnn.txt;
  KITTI tracking Car 0000-0013 with AB3DMOT's PointRCNN Car boxes. Every box of every track.
- `sparse_keyframes(tracks, tolerance, num_frames=seq.num_frames)` at IoU tolerances 0.8, 0.9
  and 0.95 (the exact fewest keyframes per run; see trackannot/kernels/sparse.py).
- Reported: boxes, tracks, runs (stretches of consecutive frames); present keyframes (boxes a
  person would review) as a share of boxes; outside keyframes (one per run, except runs ending on
  the last frame); mean frames per present keyframe; the per-track share (present keyframes /
  boxes of the track: mean and median over tracks); seconds spent in sparse_keyframes.
- For reference, the same on the ground-truth tracks people drew (MOT15: rows with conf != 0;
  KITTI: type Car with an id): how sparse smooth, human-made tracks are.
- Smoothed automatic tracks (`trackannot.smooth.smooth_tracks`): the same automatic tracks
  smoothed at the default strength (DEFAULT_SMOOTH_STRENGTH frames, rows "smoothed") and at
  `strength_for_fps(seq.fps)` (DEFAULT_SMOOTH_SECONDS of each sequence, rows "smooth 0.1 s"):
  the same keyframe figures, and their accuracy against the raw automatic tracks (second table):
  TrackEval HOTA/DetA/AssA/LocA/MOTA/IDF1 with the protocol of benchmarks/bench_tracking.py
  (`evaluate_dataset`, MOT15 / KITTI Car rules), and the mean IoU of tracked boxes with ground
  truth (the gt tracks above), matched per frame by Hungarian assignment at IoU >= 0.5: once on
  the pairs matched before smoothing ("same pairs": the same boxes, moved), once re-matched.
  `--sweep 0.5 1 2` adds the accuracy and the keyframe share at tolerance 0.9 per strength.
- Check: the keyframes are interpolated back with `trackannot.kernels.interp.linear_fill`; every
  (track, frame) must come back exactly once and none extra, at IoU >= tolerance (the minimum
  IoU is reported; the run fails otherwise).

Run (writes benchmarks/results/sparse.json and prints a table):
    python -m benchmarks.bench_sparse
    python -m benchmarks.bench_sparse --datasets MOT15 --tolerances 0.9     # one dataset
    python -m benchmarks.bench_sparse --sweep 0.5 1 1.5 2 3 4 6            # choose a strength
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._common import result_doc, write_json
from benchmarks.datasets import Sequence, load_kitti_car, load_mot15
from trackannot.boxes import Boxes
from scipy.optimize import linear_sum_assignment

from trackannot.config import TrackConfig, config_to_dict
from trackannot.evaluate import EvalSequence, evaluate_dataset
from trackannot.keyframes import Keyframes
from trackannot.kernels.interp import linear_counts, linear_fill
from trackannot.kernels.iou import iou_matrix
from trackannot.smooth import (
    DEFAULT_SMOOTH_SECONDS,
    DEFAULT_SMOOTH_STRENGTH,
    smooth_tracks,
    strength_for_fps,
)
from trackannot.sparse import sparse_keyframes
from trackannot.track import track_detections

DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"
OUT = Path(__file__).resolve().parent / "results" / "sparse.json"
LOADERS = {"MOT15": load_mot15, "KITTI-Car": load_kitti_car}
PROTOCOLS = {"MOT15": "MOT15", "KITTI-Car": "KITTI"}  # trackannot.evaluate benchmark
MATCH_IOU = 0.5  # box-to-gt matching for the mean IoU, as TrackEval's CLEAR/Identity
SOURCES = {  # result key -> "tracks from" label in the table
    "automatic": "automatic", "smoothed": "smoothed", "smoothed_fps": "smooth 0.1 s",
    "ground_truth": "ground_truth",
}
TOLERANCES = (0.8, 0.9, 0.95)


KITTI_CAR = 1  # trackannot.evaluate.KITTI_CLASS_IDS["car"]


def gt_tracks(seq: Sequence, dataset: str) -> Boxes:
    """The ground-truth tracks (evaluated MOT15 rows; KITTI Car rows with an id)."""
    if dataset == "MOT15":
        return seq.gt[seq.gt_extra["flag"] == 1]
    return seq.gt[(seq.gt.class_id == KITTI_CAR) & (seq.gt.track_id >= 0)]


def automatic_tracks(seq: Sequence) -> Boxes:
    """Every tracked box of the sequence (TrackConfig() defaults, every frame)."""
    tracks = track_detections(seq.detections, TrackConfig(), frames=range(seq.num_frames))
    return tracks[tracks.track_id >= 0]


def min_iou_back(tracks: Boxes, keyframes: Keyframes) -> float:
    """Interpolate `keyframes` linearly; the smallest IoU with `tracks` (1.0 for identical boxes).

    Raises:
        RuntimeError: the interpolated rows are not exactly the (track, frame) rows of `tracks`.
    """
    ids, seg_start = keyframes.track_bounds()
    counts = linear_counts(keyframes.frame, keyframes.outside, seg_start)
    out_start = np.r_[0, np.cumsum(counts)].astype(np.int64)
    m = int(out_start[-1])
    frame, xyxy, key = np.empty(m, np.int64), np.empty((m, 4), np.float32), np.empty(m, np.int64)
    linear_fill(keyframes.frame, keyframes.xyxy, keyframes.outside, seg_start, out_start,
                frame, xyxy, key)
    order = np.lexsort((tracks.frame, tracks.track_id))
    if not (np.array_equal(np.repeat(ids, counts), tracks.track_id[order])
            and np.array_equal(frame, tracks.frame[order])):
        raise RuntimeError("interpolated keyframes do not give back the (track, frame) rows")
    a, b = xyxy.astype(np.float64), tracks.xyxy[order].astype(np.float64)
    iw = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    union = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]) + (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union -= iw * ih
    iou = np.divide(iw * ih, union, out=np.zeros_like(union), where=union > 0)
    iou[(a == b).all(axis=1)] = 1.0
    return float(iou.min()) if len(iou) else 1.0


def runs_of(tracks: Boxes) -> int:
    """Stretches of consecutive frames, over all tracks."""
    order = np.lexsort((tracks.frame, tracks.track_id))
    tid, frame = tracks.track_id[order], tracks.frame[order]
    cont = (tid[1:] == tid[:-1]) & (frame[1:] == frame[:-1] + 1)
    return int(len(tid) - cont.sum()) if len(tid) else 0


def measure(per_seq: list[tuple[Sequence, Boxes]], tol: float) -> dict[str, Any]:
    """Pooled figures of one dataset at one tolerance."""
    boxes = present = outside = 0
    seconds, min_iou, track_share = 0.0, 1.0, []
    for seq, tracks in per_seq:
        t0 = time.perf_counter()
        keyframes = sparse_keyframes(tracks, tol, num_frames=seq.num_frames)
        seconds += time.perf_counter() - t0
        min_iou = min(min_iou, min_iou_back(tracks, keyframes))
        if min_iou < tol:
            raise RuntimeError(f"{seq.name}: a box comes back at IoU {min_iou:.4f} < {tol}")
        kept = ~keyframes.outside
        boxes += len(tracks)
        present += int(kept.sum())
        outside += int((~kept).sum())
        ids, n_boxes = np.unique(tracks.track_id, return_counts=True)
        n_kept = np.bincount(np.searchsorted(ids, keyframes.track_id[kept]), minlength=len(ids))
        track_share.extend((n_kept / n_boxes).tolist())
    return {
        "tolerance": tol,
        "boxes": boxes,
        "present_keyframes": present,
        "outside_keyframes": outside,
        "present_share_of_boxes": present / boxes,
        "all_keyframes_share_of_boxes": (present + outside) / boxes,
        "frames_per_present_keyframe": boxes / present,
        "per_track_share_mean": float(np.mean(track_share)),
        "per_track_share_median": float(np.median(track_share)),
        "min_iou_back": min_iou,
        "sparse_seconds": seconds,
    }


def summarise(per_seq: list[tuple[Sequence, Boxes]], tolerances: list[float]) -> dict[str, Any]:
    return {
        "tracks": sum(len(np.unique(t.track_id)) for _, t in per_seq),
        "runs": sum(runs_of(t) for _, t in per_seq),
        "boxes": sum(len(t) for _, t in per_seq),
        "by_tolerance": [measure(per_seq, tol) for tol in tolerances],
    }


def matched_pairs(tracks: Boxes, gt: Boxes) -> np.ndarray:
    """(k, 2) int64 rows (of tracks, of gt) matched per frame: Hungarian on IoU, pairs >= 0.5."""
    pairs = [np.empty((0, 2), np.int64)]
    for frame, boxes in tracks.split_frames():
        g0, g1 = np.searchsorted(gt.frame, [frame, frame + 1])
        if g1 == g0:
            continue
        iou = iou_matrix(boxes.xyxy, gt.xyxy[g0:g1]).astype(np.float64)
        r, c = linear_sum_assignment(iou, maximize=True)
        ok = iou[r, c] >= MATCH_IOU
        t0 = np.searchsorted(tracks.frame, frame)
        pairs.append(np.c_[t0 + r[ok], g0 + c[ok]].astype(np.int64))
    return np.concatenate(pairs)


def pair_iou(tracks: Boxes, gt: Boxes, pairs: np.ndarray) -> np.ndarray:
    """(k,) float64 IoU of each (tracks row, gt row) pair."""
    a = tracks.xyxy[pairs[:, 0]].astype(np.float64)
    b = gt.xyxy[pairs[:, 1]].astype(np.float64)
    iw = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = iw * ih
    union = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]) + (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(union - inter, np.finfo(np.float64).tiny)


def accuracy(name: str, per_seq: list[tuple[Sequence, Boxes]],
             raw_pairs: list[np.ndarray]) -> dict[str, Any]:
    """TrackEval scores and mean IoU with gt of one dataset's tracks (see the module docstring).

    raw_pairs: per sequence, the pairs `matched_pairs` found on the unsmoothed automatic tracks
    (rows are the same in smoothed tracks: smoothing moves boxes, never rows).
    """
    evals = [EvalSequence(tracks=t, gt=seq.gt, gt_extra=seq.gt_extra,
                          num_frames=seq.num_frames, name=seq.name) for seq, t in per_seq]
    scores = evaluate_dataset(evals, benchmark=PROTOCOLS[name]).combined  # type: ignore[arg-type]
    gts = [gt_tracks(seq, name) for seq, _ in per_seq]
    same = np.concatenate([pair_iou(t, g, p) for (_, t), g, p in zip(per_seq, gts, raw_pairs)])
    again = np.concatenate([pair_iou(t, g, matched_pairs(t, g)) for (_, t), g in zip(per_seq, gts)])
    return {
        **{k: getattr(scores, k) for k in ("hota", "deta", "assa", "loca", "mota", "idf1")},
        "mean_iou_same_pairs": float(same.mean()),
        "same_pairs": len(same),
        "mean_iou_rematched": float(again.mean()),
        "rematched_pairs": len(again),
    }


def smoothed(auto: list[tuple[Sequence, Boxes]], strength: float | None
             ) -> tuple[list[tuple[Sequence, Boxes]], float]:
    """The tracks smoothed at `strength` frames (None: strength_for_fps per sequence), seconds."""
    t0 = time.perf_counter()
    out = [(seq, smooth_tracks(t, strength_for_fps(seq.fps) if strength is None else strength))
           for seq, t in auto]
    return out, time.perf_counter() - t0


def sweep(name: str, auto: list[tuple[Sequence, Boxes]], raw_pairs: list[np.ndarray],
          strengths: list[float]) -> list[dict[str, Any]]:
    """Accuracy and keyframe share at tolerance 0.9 per smoothing strength (frames)."""
    rows = []
    for strength in strengths:
        per_seq, _ = smoothed(auto, strength)
        share = measure(per_seq, 0.9)["present_share_of_boxes"]
        rows.append({"strength": strength, "present_share_at_0.9": share,
                     **accuracy(name, per_seq, raw_pairs)})
    return rows


def run(datasets: list[str], tolerances: list[float], data_dir: Path, strength: float,
        strengths: list[float]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name in datasets:
        sequences = LOADERS[name](data_dir)
        t0 = time.perf_counter()
        auto = [(seq, automatic_tracks(seq)) for seq in sequences]
        track_seconds = time.perf_counter() - t0
        smooth, smooth_seconds = smoothed(auto, strength)
        smooth_fps, _ = smoothed(auto, None)
        raw_pairs = [matched_pairs(t, gt_tracks(seq, name)) for seq, t in auto]
        results[name] = {
            "sequences": [seq.name for seq in sequences],
            "frames": sum(seq.num_frames for seq in sequences),
            "tracking_seconds": track_seconds,
            "automatic": summarise(auto, tolerances),
            "ground_truth": summarise([(seq, gt_tracks(seq, name)) for seq in sequences],
                                      tolerances),
            "smoothed": {"strength": strength, "smoothing_seconds": smooth_seconds,
                         **summarise(smooth, tolerances)},
            "smoothed_fps": {"strength": {s.name: strength_for_fps(s.fps) for s in sequences},
                             "seconds": DEFAULT_SMOOTH_SECONDS,
                             **summarise(smooth_fps, tolerances)},
            "accuracy": {key: accuracy(name, per_seq, raw_pairs) for key, per_seq in
                         (("automatic", auto), ("smoothed", smooth), ("smoothed_fps", smooth_fps))},
        }
        if strengths:
            results[name]["sweep"] = sweep(name, auto, raw_pairs, strengths)
    return results


COLUMNS = (  # header, width, format of one table row
    ("dataset", 10, "{name:<10}"), ("tracks from", 13, "{source:<13}"),
    ("tol", 5, "{r[tolerance]:>5}"), ("boxes", 8, "{r[boxes]:>8}"),
    ("tracks", 7, "{res[tracks]:>7}"), ("runs", 6, "{res[runs]:>6}"),
    ("present", 9, "{r[present_keyframes]:>9}"), ("share", 8, "{r[present_share_of_boxes]:>8.1%}"),
    ("+outside", 9, "{r[all_keyframes_share_of_boxes]:>9.1%}"),
    ("frames/kf", 10, "{r[frames_per_present_keyframe]:>10.2f}"),
    ("track mean", 11, "{r[per_track_share_mean]:>11.1%}"),
    ("median", 8, "{r[per_track_share_median]:>8.1%}"),
    ("min IoU", 8, "{r[min_iou_back]:>8.3f}"), ("s", 7, "{r[sparse_seconds]:>7.2f}"),
)


def table(results: dict[str, Any]) -> str:
    """One row per dataset, track source and tolerance."""
    lines = ["".join(h.ljust(w) if i < 2 else h.rjust(w) for i, (h, w, _) in enumerate(COLUMNS))]
    row = "".join(fmt for _, _, fmt in COLUMNS)
    for name, by_source in results.items():
        for source, label in SOURCES.items():
            if source not in by_source:
                continue
            res = by_source[source]
            lines.extend(row.format(name=name, source=label, res=res, r=r)
                         for r in res["by_tolerance"])
    return "\n".join(lines)


ACCURACY_COLUMNS = (
    ("dataset", 10, "{name:<10}"), ("tracks from", 13, "{source:<13}"),
    ("strength", 9, "{strength:>9}"), ("HOTA", 8, "{r[hota]:>8.4f}"),
    ("DetA", 8, "{r[deta]:>8.4f}"), ("AssA", 8, "{r[assa]:>8.4f}"),
    ("LocA", 8, "{r[loca]:>8.4f}"), ("MOTA", 8, "{r[mota]:>8.4f}"),
    ("IDF1", 8, "{r[idf1]:>8.4f}"), ("IoU same", 9, "{r[mean_iou_same_pairs]:>9.4f}"),
    ("pairs", 7, "{r[same_pairs]:>7}"), ("IoU again", 10, "{r[mean_iou_rematched]:>10.4f}"),
    ("pairs", 7, "{r[rematched_pairs]:>7}"), ("kf@0.9", 8, "{share:>8}"),
)


def accuracy_table(results: dict[str, Any]) -> str:
    """Accuracy of raw and smoothed automatic tracks (and of each swept strength)."""
    cols = ACCURACY_COLUMNS
    lines = ["".join(h.ljust(w) if i < 2 else h.rjust(w) for i, (h, w, _) in enumerate(cols))]
    row = "".join(fmt for _, _, fmt in cols)
    for name, res in results.items():
        for source, r in res["accuracy"].items():
            strength = {"automatic": "0", "smoothed": f"{res['smoothed']['strength']:g}",
                        "smoothed_fps": f"{DEFAULT_SMOOTH_SECONDS:g} s"}[source]
            share = next(t["present_share_of_boxes"] for t in res[source]["by_tolerance"]
                         if t["tolerance"] == 0.9) if source in res else None
            lines.append(row.format(name=name, source=SOURCES[source], strength=strength, r=r,
                                    share="" if share is None else f"{share:.1%}"))
        for r in res.get("sweep", []):
            lines.append(row.format(name=name, source="sweep", strength=f"{r['strength']:g}",
                                    r=r, share=f"{r['present_share_at_0.9']:.1%}"))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=list(LOADERS), choices=list(LOADERS))
    parser.add_argument("--tolerances", nargs="+", type=float, default=list(TOLERANCES))
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--strength", type=float, default=DEFAULT_SMOOTH_STRENGTH,
                        help="smooth_tracks strength (frames) of the 'smoothed' rows")
    parser.add_argument("--sweep", nargs="*", type=float, default=[],
                        help="also report accuracy and keyframes at these strengths (frames)")
    args = parser.parse_args(argv)
    sparse_keyframes(Boxes.create(xyxy=[[0, 0, 1, 1]] * 3, frame=[0, 1, 2], track_id=0))  # compile
    smooth_tracks(Boxes.create(xyxy=[[0, 0, 1, 1]] * 3, frame=[0, 1, 2], track_id=0))  # compile
    results = run(args.datasets, args.tolerances, DATA_DIR, args.strength, args.sweep)
    print(table(results))
    print()
    print(accuracy_table(results))
    if args.no_write:
        return
    write_json(args.out, result_doc("benchmarks.bench_sparse", results,
                                    track_config=config_to_dict(TrackConfig())))


if __name__ == "__main__":
    main()
