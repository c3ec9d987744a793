"""Interpolation accuracy: boxes between keyframes taken from ground truth, linear vs guided.

Protocol (per sequence):
- Ground truth tracks: MOT17-02/04/05/09 pedestrians (gt flag 1 and class 1); MOT15's 10 train
  sequences with gt (rows with conf 0 dropped, as TrackEval's MOT15 rules do); KITTI tracking
  Car 0000-0013 (type Car only; DontCare, Van and other types are not interpolated).
- Each gt track's frames are split into runs of consecutive frames. Keyframes: every `k`-th frame
  of each run counted from its first frame, plus the run's last frame; when another run of the
  same track follows, an outside keyframe at the run's last frame + 1 (carrying its last box)
  closes the gap, as CVAT does.
- Spacings: k = 5, 10, 20, 50 frames, and 1 s and 3 s at the sequence's frame rate (seqinfo.ini
  frameRate; KITTI 10 fps), rounded to whole frames.
- Scored: every gt box that is not a keyframe, against the interpolated box of the same track
  and frame: mean IoU and the share with IoU >= 0.7, pooled over the dataset's sequences.
- Guided interpolation gets the detections the tracking benchmark uses
  (`benchmarks.datasets`): MOT15 SORT's Faster R-CNN det_sort_frcnn.txt (pixels of the
  sequence's images, so no rescaling), KITTI AB3DMOT's PointRCNN Car boxes (logistic scores).
  MOT17 has no detections here (SOURCES.md, N4): linear only.

Run (writes benchmarks/results/interpolation.json and prints a table):
    python -m benchmarks.bench_interpolation
    python -m benchmarks.bench_interpolation --datasets MOT15 --sequences TUD-Campus \
        --spacings "1 s" --set gate_iou=0.5 --no-write   # a quick look at one setting
Kernel throughput (boxes/s, guided_fill 1 thread / all threads vs its NumPy reference) is
benchmarks/bench_interp_kernels.py.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from benchmarks._common import result_doc, write_json
from benchmarks.datasets import Sequence, load_kitti_car, load_mot15
from trackannot.boxes import Boxes
from trackannot.config import InterpolateConfig
from trackannot.detect.from_file import read_mot_file, read_seqinfo
from trackannot.keyframes import Keyframes

DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"
OUT = Path(__file__).resolve().parent / "results" / "interpolation.json"
MOT17_SEQUENCES = ("MOT17-02", "MOT17-04", "MOT17-05", "MOT17-09")
STEPS = (5, 10, 20, 50)
SECONDS = (1.0, 3.0)
GOOD_IOU = 0.7
KITTI_CAR = 1  # trackannot.evaluate.KITTI_CLASS_IDS["car"]


@dataclass(frozen=True, eq=False)
class GtSequence:
    """Evaluated gt tracks of one sequence with the detections guided interpolation may use."""

    name: str
    gt: Boxes  # evaluated rows only, every track_id >= 0
    detections: Boxes | None
    fps: float
    num_frames: int


def load_mot17(data_dir: Path) -> list[GtSequence]:
    """MOT17-02/04/05/09 pedestrians (flag 1, class 1); no detections."""
    out = []
    for name in MOT17_SEQUENCES:
        root = data_dir / "MOT17" / f"{name}-FRCNN"  # gt is identical for DPM/FRCNN/SDP
        info = read_seqinfo(root / "seqinfo.ini")
        gt, extra = read_mot_file(root / "gt" / "gt.txt", with_extra=True)
        keep = (extra["flag"] == 1) & (extra["class"] == 1)
        out.append(GtSequence(name, gt[keep], None, float(info["frameRate"]),
                              int(info["seqLength"])))
    return out


def _from_benchmark(seq: Sequence, dataset: str) -> GtSequence:
    if dataset == "MOT15":
        keep = seq.gt_extra["flag"] == 1
    else:
        keep = (seq.gt.class_id == KITTI_CAR) & (seq.gt.track_id >= 0)
    return GtSequence(seq.name, seq.gt[keep], seq.detections, seq.fps, seq.num_frames)


def load(dataset: str, data_dir: Path, names: list[str] | None) -> list[GtSequence]:
    if dataset == "MOT17":
        seqs = load_mot17(data_dir)
    elif dataset == "MOT15":
        seqs = [_from_benchmark(s, dataset) for s in load_mot15(data_dir)]
    else:
        seqs = [_from_benchmark(s, dataset) for s in load_kitti_car(data_dir)]
    return [s for s in seqs if not names or s.name in names]


def sample_keyframes(gt: Boxes, step: int) -> tuple[Keyframes, np.ndarray, np.ndarray]:
    """Keyframes every `step` frames of each run of each gt track (see the module docstring).

    Returns:
        keyframes; scored (n,) bool mask of the gt rows (track-sorted order) not taken as
        keyframes; order (n,) the permutation sorting gt rows by (track_id, frame).
    """
    order = np.lexsort((gt.frame, gt.track_id))
    tid, frame, xyxy = gt.track_id[order], gt.frame[order], gt.xyxy[order]
    n = len(tid)
    new_run = np.r_[True, (tid[1:] != tid[:-1]) | (frame[1:] != frame[:-1] + 1)]
    run_id = np.cumsum(new_run) - 1
    run_first = frame[new_run][run_id]
    last_of_run = np.r_[new_run[1:], True]
    is_key = ((frame - run_first) % step == 0) | last_of_run
    # an outside keyframe after each run followed by another run of the same track
    gap = last_of_run & np.r_[tid[1:] == tid[:-1], False] if n else np.zeros(0, bool)
    keys = Keyframes.create(
        track_id=np.r_[tid[is_key], tid[gap]],
        frame=np.r_[frame[is_key], frame[gap] + 1],
        xyxy=np.r_[xyxy[is_key], xyxy[gap]],
        outside=np.r_[np.zeros(int(is_key.sum()), bool), np.ones(int(gap.sum()), bool)],
    )
    return keys, ~is_key, order


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(n,) IoU of row i of a with row i of b, float64."""
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    iw = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = iw * ih
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])  # noqa: E731
    union = area(a) + area(b) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def score_rows(pred: Boxes, gt: Boxes, scored: np.ndarray, order: np.ndarray) -> np.ndarray:
    """IoU of each scored gt row with the interpolated box of its track and frame."""
    tid, frame = gt.track_id[order][scored], gt.frame[order][scored]
    p_order = np.lexsort((pred.frame, pred.track_id))
    p_tid, p_frame = pred.track_id[p_order], pred.frame[p_order]
    span = int(max(frame.max(initial=0), p_frame.max(initial=0))) + 1
    p_code = p_tid * span + p_frame
    pos = np.searchsorted(p_code, tid * span + frame)
    pos = np.minimum(pos, len(p_code) - 1)
    if len(p_code) == 0 or not np.array_equal(p_code[pos], tid * span + frame):
        raise RuntimeError("interpolation left out gt frames inside a track's runs")
    return box_iou(gt.xyxy[order][scored], pred.xyxy[p_order][pos])


def spacings(fps: float) -> dict[str, int]:
    out = {f"k={k}": k for k in STEPS}
    out.update({f"{s:g} s": max(1, int(round(s * fps))) for s in SECONDS})
    return out


def run(datasets: list[str], names: list[str] | None, cfg: InterpolateConfig,
        data_dir: Path, labels: list[str] | None = None) -> dict[str, Any]:
    """{dataset: {spacing: {method: {n, mean_iou, share_good, per_sequence}}}}."""
    from trackannot.interpolate import interpolate, interpolate_linear

    results: dict[str, Any] = {}
    for dataset in datasets:
        pooled: dict[str, dict[str, list[np.ndarray]]] = {}
        per_seq: dict[str, dict[str, dict[str, Any]]] = {}
        for seq in load(dataset, data_dir, names):
            for label, step in spacings(seq.fps).items():
                if labels and label not in labels:
                    continue
                keys, scored, order = sample_keyframes(seq.gt, step)
                methods = {"linear": interpolate_linear(keys)}
                if seq.detections is not None:
                    methods["guided"] = interpolate(keys, seq.detections, cfg)
                for method, pred in methods.items():
                    iou = score_rows(pred, seq.gt, scored, order)
                    pooled.setdefault(label, {}).setdefault(method, []).append(iou)
                    per_seq.setdefault(label, {}).setdefault(method, {})[seq.name] = {
                        "step": step, **_stats(iou)}
        results[dataset] = {
            label: {method: {**_stats(np.concatenate(parts)),
                             "per_sequence": per_seq[label][method]}
                    for method, parts in by_method.items()}
            for label, by_method in pooled.items()
        }
    return results


def _stats(iou: np.ndarray) -> dict[str, Any]:
    n = len(iou)
    return {"n": n, "mean_iou": float(iou.mean()) if n else float("nan"),
            "share_good": float((iou >= GOOD_IOU).mean()) if n else float("nan")}


def table(results: dict[str, Any]) -> str:
    lines = [f"{'dataset':8s} {'spacing':8s} {'boxes':>7s} {'linear IoU':>10s} "
             f"{'>=0.7':>7s} {'guided IoU':>10s} {'>=0.7':>7s} {'bad ratio':>9s}"]
    for dataset, by_label in results.items():
        for label, by_method in by_label.items():
            lin = by_method["linear"]
            row = (f"{dataset:8s} {label:8s} {lin['n']:7d} {lin['mean_iou']:10.4f} "
                   f"{lin['share_good']:7.2%}")
            if "guided" in by_method:
                g = by_method["guided"]
                bad = (1 - g["share_good"]) / max(1 - lin["share_good"], 1e-12)
                row += f" {g['mean_iou']:10.4f} {g['share_good']:7.2%} {bad:9.3f}"
            lines.append(row)
    return "\n".join(lines)


def parse_overrides(items: list[str]) -> InterpolateConfig:
    values: dict[str, Any] = {}
    for item in items:
        key, _, raw = item.partition("=")
        values[key.strip()] = yaml.safe_load(raw)
    return InterpolateConfig(**values)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["MOT17", "MOT15", "KITTI"],
                        choices=["MOT17", "MOT15", "KITTI"])
    parser.add_argument("--sequences", nargs="*", help="only these sequence names")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="InterpolateConfig overrides, e.g. gate_iou=0.4")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--spacings", nargs="*", help='only these spacings, e.g. "1 s" "3 s"')
    args = parser.parse_args(argv)
    cfg = parse_overrides(args.set)
    t0 = time.perf_counter()
    results = run(args.datasets, args.sequences, cfg, DATA_DIR, args.spacings)
    elapsed = time.perf_counter() - t0
    print(table(results))
    print(f"({elapsed:.1f} s)")
    if not args.no_write:
        write_json(args.out, result_doc("benchmarks.bench_interpolation", results,
                                        config=dataclasses.asdict(cfg), good_iou=GOOD_IOU))


if __name__ == "__main__":
    main()
