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
- Check: the keyframes are interpolated back with `trackannot.kernels.interp.linear_fill`; every
  (track, frame) must come back exactly once and none extra, at IoU >= tolerance (the minimum
  IoU is reported; the run fails otherwise).

Run (writes benchmarks/results/sparse.json and prints a table):
    python -m benchmarks.bench_sparse
    python -m benchmarks.bench_sparse --datasets MOT15 --tolerances 0.9     # one dataset
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.datasets import Sequence, load_kitti_car, load_mot15
from trackannot.boxes import Boxes
from trackannot.config import TrackConfig, config_to_dict
from trackannot.keyframes import Keyframes
from trackannot.kernels.interp import linear_counts, linear_fill
from trackannot.sparse import sparse_keyframes
from trackannot.track import track_detections

DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"
OUT = Path(__file__).resolve().parent / "results" / "sparse.json"
LOADERS = {"MOT15": load_mot15, "KITTI-Car": load_kitti_car}
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


def run(datasets: list[str], tolerances: list[float], data_dir: Path) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name in datasets:
        sequences = LOADERS[name](data_dir)
        t0 = time.perf_counter()
        auto = [(seq, automatic_tracks(seq)) for seq in sequences]
        track_seconds = time.perf_counter() - t0
        results[name] = {
            "sequences": [seq.name for seq in sequences],
            "frames": sum(seq.num_frames for seq in sequences),
            "tracking_seconds": track_seconds,
            "automatic": summarise(auto, tolerances),
            "ground_truth": summarise([(seq, gt_tracks(seq, name)) for seq in sequences],
                                      tolerances),
        }
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
        for source in ("automatic", "ground_truth"):
            res = by_source[source]
            lines.extend(row.format(name=name, source=source, res=res, r=r)
                         for r in res["by_tolerance"])
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=list(LOADERS), choices=list(LOADERS))
    parser.add_argument("--tolerances", nargs="+", type=float, default=list(TOLERANCES))
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    sparse_keyframes(Boxes.create(xyxy=[[0, 0, 1, 1]] * 3, frame=[0, 1, 2], track_id=0))  # compile
    results = run(args.datasets, args.tolerances, DATA_DIR)
    print(table(results))
    if args.no_write:
        return
    doc = {
        "command": "python -m benchmarks.bench_sparse " + " ".join(sys.argv[1:]),
        "track_config": config_to_dict(TrackConfig()),
        "python": platform.python_version(),
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    partial = args.out.with_suffix(".partial")
    partial.write_text(json.dumps(doc, indent=1))
    partial.replace(args.out)


if __name__ == "__main__":
    main()
