"""Effort benchmark: human seconds per frame vs final quality, on MOT15 and KITTI Car 0000-0013.

Strategies (`benchmarks.effort.strategies`), each at several budget levels:

* manual: keyframes drawn from ground truth every k frames, linear interpolation;
* uniform: automatic tracks (TrackConfig() defaults, smoothed over 0.1 s as the annotation does)
  reviewed at every k-th frame by the simulated annotator (`benchmarks.effort.oracle`), guided
  interpolation in between;
* risk: the same frames as uniform at k, but the person checks only the boxes whose current risk
  (`trackannot.risk.score_risk`, re-scored as corrections land) is >= MIN_RISK, and draws what
  is missing: pre-labels with risk-ranked review;
* active: the active loop (`strategies.active_review`): frames ranked by risk
  (`trackannot.risk.rank_frames`, open track ends included), a batch of ACTIVE_BATCH of the
  frames reviewed (boxes with risk >= MIN_RISK), corrections applied, re-interpolated, re-ranked;
  measured after ACTIVE_SHARES of the frames.

In uniform, risk and active, a missed object the person draws is then keyframed over its visible
run every MANUAL_K frames, as a manual annotator would (`Oracle(manual_k=...)`).

Human seconds come from `benchmarks.effort.cost.CostModel` (sources in its docstring). Quality:
HOTA and IDF1 (`trackannot.evaluate.evaluate_dataset`, MOT15 / KITTI rules, as
benchmarks/bench_tracking.py) and box accuracy (share of gt boxes covered at IoU >= 0.5 by a box
of the track owned by that gt object, `strategies.box_accuracy`).

    python -m benchmarks.effort.run [--datasets MOT15 KITTI-Car]

Writes benchmarks/results/effort.json and effort_<dataset>.png.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.datasets import Sequence, load_kitti_car, load_mot15
from benchmarks.effort.cost import DEFAULT_COST, ActionCounts, CostModel
from benchmarks.effort.strategies import active_review, box_accuracy, manual, review, uniform_frames
from trackannot.boxes import Boxes
from trackannot.config import TrackConfig
from trackannot.evaluate import EvalSequence, evaluate_dataset
from trackannot.smooth import smooth_tracks, strength_for_fps
from trackannot.track import track_detections

DATA_DIR = Path(__file__).resolve().parents[3] / "shared" / "data"
RESULTS = Path(__file__).resolve().parents[1] / "results"
LOADERS = {"MOT15": load_mot15, "KITTI-Car": load_kitti_car}
PROTOCOLS = {"MOT15": "MOT15", "KITTI-Car": "KITTI"}
KITTI_CAR = 1  # trackannot.evaluate.KITTI_CLASS_IDS["car"]
SMOOTH_SECONDS = 0.1
KS = (1, 2, 5, 10, 25, 50, 100)
TARGET_ACCURACY = (0.93, 0.95)
MIN_RISK = 0.15  # risk / active: boxes below this risk are not checked
ACTIVE_SHARES = (0.01, 0.02, 0.05, 0.1, 0.2, 0.33)  # active: checkpoints, share of frames
ACTIVE_BATCH = 0.01  # active: share of the frames reviewed between two rankings
MANUAL_K = 10  # uniform / risk / active: a missed object the person draws is keyed every 10 frames


def gt_tracks(seq: Sequence, dataset: str) -> Boxes:
    """The gt objects a person annotates (evaluated MOT15 rows; KITTI Car rows with an id)."""
    if dataset == "MOT15":
        return seq.gt[seq.gt_extra["flag"] == 1]
    return seq.gt[(seq.gt.class_id == KITTI_CAR) & (seq.gt.track_id >= 0)]


def prelabels(seq: Sequence) -> Boxes:
    """Automatic tracks, smoothed over SMOOTH_SECONDS."""
    tracks = track_detections(seq.detections, TrackConfig(), frames=range(seq.num_frames))
    tracks = tracks[tracks.track_id >= 0]
    return smooth_tracks(tracks, strength_for_fps(seq.fps, SMOOTH_SECONDS))


def _score(dataset: str, seqs: list[Sequence], gts: list[Boxes], outs: list[Boxes],
           counts: ActionCounts, cost: CostModel, frames_reviewed: int) -> dict[str, Any]:
    evals = [EvalSequence(tracks=b, gt=s.gt, gt_extra=s.gt_extra, num_frames=s.num_frames, name=s.name)
             for s, b in zip(seqs, outs)]
    scores = evaluate_dataset(evals, benchmark=PROTOCOLS[dataset]).combined  # type: ignore[arg-type]
    n_gt = sum(len(g) for g in gts)
    right = sum(box_accuracy(b, g) * len(g) for b, g in zip(outs, gts))
    frames = sum(s.num_frames for s in seqs)
    return {
        "human_s_per_frame": cost.seconds(counts) / frames, "human_s": cost.seconds(counts),
        "box_accuracy": right / n_gt, "hota": scores.hota, "idf1": scores.idf1,
        "frames_reviewed": frames_reviewed, "actions": counts.as_dict(),
    }


def run_dataset(dataset: str, cost: CostModel) -> dict[str, Any]:
    """Every strategy at every level on one dataset."""
    seqs = LOADERS[dataset](DATA_DIR)
    gts = [gt_tracks(s, dataset) for s in seqs]
    autos = [prelabels(s) for s in seqs]
    rows: dict[str, list[dict[str, Any]]] = {"manual": [], "uniform": [], "risk": [], "active": []}
    for k in KS:
        parts = [manual(g, s.num_frames, k) for s, g in zip(seqs, gts)]
        rows["manual"].append({"k": k, **_summed(dataset, seqs, gts, parts, cost, 0)})
    for k in (*KS, None):  # None: no review, the pre-labels as they are
        frame_sets = [uniform_frames(s.num_frames, k) if k else np.empty(0, np.int64) for s in seqs]
        rows["uniform"].append({"k": k, **_reviewed(dataset, seqs, gts, autos, frame_sets, cost)})
        if k:
            rows["risk"].append({"k": k, **_reviewed(dataset, seqs, gts, autos, frame_sets, cost,
                                                     MIN_RISK)})
    runs = [active_review(a, s.detections, g, s.num_frames,
                          [max(1, round(x * s.num_frames)) for x in ACTIVE_SHARES],
                          max(1, round(ACTIVE_BATCH * s.num_frames)), MIN_RISK,
                          manual_k=MANUAL_K)
            for s, g, a in zip(seqs, gts, autos)]
    for i, share in enumerate(ACTIVE_SHARES):
        points = [r[min(i, len(r) - 1)] for r in runs]
        parts = [(p.boxes, p.counts) for p in points]
        rows["active"].append({"share": share, **_summed(
            dataset, seqs, gts, parts, cost, sum(p.frames_reviewed for p in points))})
    return {"frames": sum(s.num_frames for s in seqs), "gt_boxes": sum(len(g) for g in gts),
            "rows": rows, "at_accuracy": _at_accuracy(rows)}


def _summed(dataset, seqs, gts, parts, cost, reviewed) -> dict[str, Any]:
    counts = ActionCounts()
    for _, c in parts:
        counts.add(c)
    return _score(dataset, seqs, gts, [b for b, _ in parts], counts, cost, reviewed)


def _reviewed(dataset, seqs, gts, autos, frame_sets, cost, min_risk=None) -> dict[str, Any]:
    parts = [review(a, s.detections, g, s.num_frames, f, min_risk=min_risk, manual_k=MANUAL_K)
             for s, g, a, f in zip(seqs, gts, autos, frame_sets)]
    return _summed(dataset, seqs, gts, parts, cost, int(sum(len(f) for f in frame_sets)))


def _at_accuracy(rows: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Per strategy and target box accuracy: the cheapest measured level reaching it, and the
    human s/frame where the curve (levels by cost) first crosses it, linear between the two
    levels around the crossing (None: no level reaches it)."""
    out: dict[str, dict[str, Any]] = {}
    for name, levels in rows.items():
        for target in TARGET_ACCURACY:
            ok = [r for r in levels if r["box_accuracy"] >= target]
            best = min(ok, key=lambda r: r["human_s_per_frame"]) if ok else None
            out.setdefault(name, {})[f"{target:.2f}"] = None if best is None else {
                "k": best.get("k", best.get("share")), "human_s_per_frame": best["human_s_per_frame"],
                "box_accuracy": best["box_accuracy"], "crossing_s_per_frame": _crossing(levels, target),
            }
    return out


def _crossing(levels: list[dict[str, Any]], target: float) -> float | None:
    pts = sorted((r["human_s_per_frame"], r["box_accuracy"]) for r in levels)
    for (c0, a0), (c1, a1) in zip([(0.0, -1.0), *pts[:-1]], pts):
        if a1 >= target:
            if a0 < 0 or a1 == a0:
                return c1
            return c0 + (c1 - c0) * (target - a0) / (a1 - a0)
    return None


def _plot(dataset: str, res: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    labels = {"manual": "manual keyframes + linear", "uniform": "pre-labels, uniform review",
              "risk": f"pre-labels, risk-ranked review (risk >= {MIN_RISK})",
              "active": "pre-labels, active loop (frames ranked by risk)"}
    for metric, ax in zip(("box_accuracy", "hota", "idf1"), axes):
        for name, levels in res["rows"].items():
            pts = sorted((r["human_s_per_frame"], r[metric]) for r in levels)
            ax.plot([max(p[0], 1e-3) for p in pts], [p[1] for p in pts], "o-", label=labels[name])
        ax.set_xscale("log")
        ax.set_xlabel("human seconds per frame")
        ax.set_ylabel(metric)
        ax.grid(True, alpha=0.3)
    axes[0].axhline(0.95, color="grey", lw=0.8, ls="--")
    axes[0].legend(fontsize=7)
    fig.suptitle(f"Annotation effort vs quality, {dataset}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(LOADERS), choices=list(LOADERS))
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    cost = DEFAULT_COST
    out: dict[str, Any] = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "min_risk": MIN_RISK, "active_batch": ACTIVE_BATCH, "manual_k": MANUAL_K, "cost_model": {
            k: getattr(cost, k) for k in ("verify_s", "adjust_s", "draw_s", "delete_s", "identity_s")},
        "cost_sources": cost.sources, "smooth_seconds": SMOOTH_SECONDS, "datasets": {},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    for dataset in args.datasets:
        t0 = time.perf_counter()
        res = run_dataset(dataset, cost)
        res["seconds"] = time.perf_counter() - t0
        out["datasets"][dataset] = res
        _plot(dataset, res, args.out / f"effort_{dataset}.png")
        _report(dataset, res)
    (args.out / "effort.json").write_text(json.dumps(out, indent=1, default=_json_default) + "\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    raise TypeError(type(value).__name__)


def _report(dataset: str, res: dict[str, Any]) -> None:
    lines = [f"{dataset}: {res['frames']} frames, {res['gt_boxes']} gt boxes, {res['seconds']:.0f} s"]
    for name, levels in res["rows"].items():
        for r in levels:
            level = f"k={r['k']}" if "k" in r else f"{r['share']:.0%}"
            lines.append(f"  {name:8s} {level:>6s}  {r['human_s_per_frame']:7.3f} s/frame  "
                         f"acc {r['box_accuracy']:.4f}  HOTA {r['hota']:.4f}  IDF1 {r['idf1']:.4f}")
    lines.append(f"  at accuracy: {json.dumps(res['at_accuracy'])}")
    print("\n".join(lines))  # noqa: T201  (benchmark script output)


if __name__ == "__main__":
    main()
