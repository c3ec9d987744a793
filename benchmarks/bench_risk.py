"""Risk score (`trackannot.risk`): fit its logistic model, and check it on held-out sequences.

Protocol:
- Tracks: `trackannot.track.track_detections` with `TrackConfig()` defaults over every frame, then
  `trackannot.smooth.smooth_tracks` at 0.1 s (as the annotation does), on MOT15's 10 train
  sequences (SORT's Faster R-CNN detections) and KITTI tracking Car 0000-0013 (PointRCNN).
- Labels (issue 4): per frame, tracks are matched to gt (MOT15 rows with flag 1; KITTI Car rows
  with an id) by Hungarian on IoU, pairs at IoU >= 0.5 (`benchmarks.effort.oracle.owners`); a box
  is wrong if unmatched, or matched to another gt id than the one its track is matched to most
  often. A gt box no track box matches is a miss of its frame. An error run is a stretch of
  consecutive wrong boxes of one track: a person who looks at any frame of it sees the error and
  fixes the stretch (split, absent, or an adjusted keyframe that interpolation carries).
- Split: sequences 0, 2, 4, ... of each dataset fit the model (`--fit`: the logistic
  coefficients, then ReviewConfig.spread_frames by the error runs seen in the top 20% of
  frames); sequences 1, 3, 5, ... are held out and every figure below is measured on them only.
- Reported (held out, per dataset and pooled): (a) reliability table: score bucket -> boxes, mean
  score, measured error rate; (b) error recall: frames of each sequence ranked by
  `trackannot.risk.rank_frames` (default spread_frames, and 0: sorted by expected wrong boxes),
  the share of all wrong boxes, of wrong + missed boxes, and of error runs seen, in the top 10%
  and 20% of frames, against every 10th / 5th frame (uniform review), the random expectation,
  and the frames with the most wrong boxes (the best any ranking can do on wrong boxes); the
  share of wrong boxes among the top 10% / 20% of boxes ranked by score; (c) AUC of the box
  score.

Run (writes benchmarks/results/risk.json, prints tables):
    python -m benchmarks.bench_risk          # held-out report of the shipped coefficients
    python -m benchmarks.bench_risk --fit    # refit on the fit half; prints the constants to
                                             # paste into trackannot/risk.py, reports them

What ships (`--pipeline`, writes benchmarks/results/risk_pipeline.json): the tracks and
detections come from the pipeline instead (`benchmarks.shipped`: detections file + seqinfo.ini
-> store; the annotation a review reads, `VideoSession.boxes()`, i.e. the stored tracks smoothed
by the default `interpolate.smooth_seconds`, and the stored detections, as `trackannot.review`
scores them). The run first compares every sequence's features, wrong flags and misses with
the `track_detections` protocol above and says whether the fit input is identical.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.datasets import Sequence, load_kitti_car, load_mot15
from benchmarks.effort.oracle import owners
from benchmarks.shipped import ship
from trackannot import risk
from trackannot.boxes import Boxes
from trackannot.config import ReviewConfig, TrackConfig
from trackannot.smooth import strength_for_fps, smooth_tracks
from trackannot.track import track_detections

DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"
OUT = Path(__file__).resolve().parent / "results" / "risk.json"
OUT_PIPELINE = OUT.with_name("risk_pipeline.json")
LOADERS = {"MOT15": load_mot15, "KITTI-Car": load_kitti_car}
KITTI_CAR = 1  # trackannot.evaluate.KITTI_CLASS_IDS["car"]
SMOOTH_SECONDS = 0.1
BUCKETS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0)
SHARES = (0.1, 0.2)
PLAIN = ReviewConfig(spread_frames=0)  # frames sorted by expected wrong boxes
SPREADS = (0, 2, 3, 5, 8, 10)  # ReviewConfig.spread_frames values tried on the fit half (--fit)
L2 = 1.0  # ridge penalty of the logistic fit (on the summed log-likelihood)


def gt_tracks(seq: Sequence, dataset: str) -> Boxes:
    """The gt objects a person annotates (evaluated MOT15 rows; KITTI Car rows with an id)."""
    if dataset == "MOT15":
        return seq.gt[seq.gt_extra["flag"] == 1]
    return seq.gt[(seq.gt.class_id == KITTI_CAR) & (seq.gt.track_id >= 0)]


def labelled(seq: Sequence, dataset: str) -> dict[str, Any]:
    """Smoothed automatic tracks of one sequence, their features, wrong flags and misses."""
    tracks = track_detections(seq.detections, TrackConfig(), frames=range(seq.num_frames))
    tracks = smooth_tracks(tracks[tracks.track_id >= 0], strength_for_fps(seq.fps, SMOOTH_SECONDS))
    return label(seq, dataset, tracks, seq.detections)


def shipped_labelled(dataset: str, seqs: list[Sequence], workdir: Path) -> list[dict[str, Any]]:
    """`labelled` on what the pipeline stores: the annotation a review reads and the stored
    detections (module docstring, What ships)."""
    from trackannot.results import open_store
    from trackannot.session import VideoSession

    out = []
    for seq, run in zip(seqs, ship(dataset, seqs, DATA_DIR, workdir)):
        tracks = VideoSession.open(run.store, run.key, mode="r").boxes()
        detections = open_store(run.store)[run.key].read(table="detections")
        out.append(label(seq, dataset, tracks, detections))
    return out


def same_input(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two `labelled` results give the fit and the report the same input."""
    return all(np.array_equal(a[k], b[k]) for k in ("x", "wrong", "misses")) and all(
        np.array_equal(getattr(a["tracks"], c), getattr(b["tracks"], c))
        for c in ("frame", "track_id", "xyxy", "pos_std", "origin"))


def label(seq: Sequence, dataset: str, tracks: Boxes, detections: Boxes) -> dict[str, Any]:
    """Features, wrong flags and misses of an annotation of one sequence."""
    gt = gt_tracks(seq, dataset)
    owner, matched = owners(tracks, gt)
    own = np.array([owner.get(int(t), -2) for t in tracks.track_id], np.int64)
    wrong = (matched < 0) | (matched != own)
    hits = np.bincount(tracks.frame[matched >= 0], minlength=seq.num_frames)[: seq.num_frames]
    misses = np.bincount(gt.frame, minlength=seq.num_frames)[: seq.num_frames] - hits
    return {"name": seq.name, "tracks": tracks, "detections": detections,
            "x": risk.risk_features(tracks, detections), "wrong": wrong,
            "misses": misses, "num_frames": seq.num_frames}


def rank_by_risk(tracks: Boxes, detections: Boxes, num_frames: int) -> np.ndarray:
    """`benchmarks.effort` RankFn: frames in review order by `trackannot.risk` (default config).

    python -m benchmarks.effort.run --rank benchmarks.bench_risk:rank_by_risk
    """
    return risk.rank_frames(tracks, risk.score_risk(tracks, detections, None), num_frames)


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = L2) -> np.ndarray:
    """Intercept + coefficients of a ridge logistic regression (Newton / IRLS, 50 steps max)."""
    a = np.c_[np.ones(len(x)), x]
    beta = np.zeros(a.shape[1])
    beta[0] = math.log(max(y.mean(), 1e-6) / max(1 - y.mean(), 1e-6))
    pen = np.full(a.shape[1], l2)
    pen[0] = 0.0
    for _ in range(50):
        p = 1 / (1 + np.exp(-(a @ beta)))
        grad = a.T @ (p - y) + pen * beta
        hess = (a * (p * (1 - p))[:, None]).T @ a + np.diag(pen)
        step = np.linalg.solve(hess, grad)
        beta -= step
        if np.abs(step).max() < 1e-8:
            break
    return beta


def auc(score: np.ndarray, y: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney, ties counted half)."""
    from scipy.stats import rankdata

    pos, n_pos = y.astype(bool), int(y.sum())
    n_neg = len(y) - n_pos
    if not n_pos or not n_neg:
        return float("nan")
    ranks = rankdata(score)
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def reliability(score: np.ndarray, y: np.ndarray) -> list[dict[str, Any]]:
    """(a) score bucket -> boxes, mean score, measured error rate."""
    rows = []
    for lo, hi in zip(BUCKETS[:-1], BUCKETS[1:]):
        m = (score >= lo) & ((score < hi) if hi < 1.0 else (score <= hi))
        rows.append({"bucket": f"{lo:.2f}-{hi:.2f}", "boxes": int(m.sum()),
                     "mean_score": float(score[m].mean()) if m.any() else None,
                     "error_rate": float(y[m].mean()) if m.any() else None})
    return rows


def error_runs(tracks: Boxes, wrong: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Runs of consecutive wrong boxes of one track: (rows sorted by track, frame; run id per
    wrong row in that order, -1 for right rows). One look at any frame of a run shows the error
    (a person then fixes the run: a split, an absent, or an adjusted keyframe)."""
    order = np.lexsort((tracks.frame, tracks.track_id))
    w, tid, fr = wrong[order], tracks.track_id[order], tracks.frame[order]
    cont = np.r_[False, (tid[1:] == tid[:-1]) & (fr[1:] == fr[:-1] + 1) & w[:-1]]
    run = np.cumsum(w & ~cont) - 1
    return order, np.where(w, run, -1)


def recall(seqs: list[dict[str, Any]], risks: list[risk.Risk],
           cfg: ReviewConfig | None = None) -> dict[str, Any]:
    """(b) share of wrong (and wrong + missed) boxes in the top frames / boxes of each sequence."""
    out: dict[str, Any] = {}
    total_wrong = sum(int(s["wrong"].sum()) for s in seqs)
    total_missed = sum(int(s["misses"].sum()) for s in seqs)
    total_runs = sum(int(error_runs(s["tracks"], s["wrong"])[1].max(initial=-1)) + 1 for s in seqs)
    for share in SHARES:
        got = {"ranked": [0, 0, 0], "sorted": [0, 0, 0], "uniform": [0, 0, 0], "best": [0, 0, 0],
               "boxes_ranked": 0}
        for s, r in zip(seqs, risks):
            n, k = s["num_frames"], max(1, math.ceil(share * s["num_frames"]))
            wrong_f = np.bincount(s["tracks"].frame[s["wrong"]], minlength=n)[:n]
            both_f = wrong_f + s["misses"]
            picks = {"ranked": risk.rank_frames(s["tracks"], r, n, cfg)[:k],
                     "sorted": risk.rank_frames(s["tracks"], r, n, PLAIN)[:k],
                     "uniform": np.arange(0, n, round(1 / share))[:k],
                     "best": np.argsort(-wrong_f, kind="stable")[:k]}
            order, run = error_runs(s["tracks"], s["wrong"])
            run_frame = s["tracks"].frame[order]
            for name, frames in picks.items():
                got[name][0] += int(wrong_f[frames].sum())
                got[name][1] += int(both_f[frames].sum())
                seen = run[(run >= 0) & np.isin(run_frame, frames)]
                got[name][2] += len(np.unique(seen))
            kb = max(1, math.ceil(share * len(r.score)))
            top = np.argsort(-r.score, kind="stable")[:kb]
            got["boxes_ranked"] += int(s["wrong"][top].sum())
        out[f"top_{int(share * 100)}pct"] = {
            "random_expectation": share,
            **{f"frames_{k}_wrong": v[0] / total_wrong
               for k, v in got.items() if k != "boxes_ranked"},
            **{f"frames_{k}_wrong_or_missed": v[1] / (total_wrong + total_missed)
               for k, v in got.items() if k != "boxes_ranked"},
            **{f"frames_{k}_error_runs_seen": v[2] / total_runs
               for k, v in got.items() if k != "boxes_ranked"},
            "boxes_ranked_wrong": got["boxes_ranked"] / total_wrong,
        }
    return out


def report(seqs: list[dict[str, Any]]) -> dict[str, Any]:
    """Held-out figures of the shipped model (`trackannot.risk.score_risk`)."""
    t0 = time.perf_counter()
    risks = [risk.score_risk(s["tracks"], s["detections"], None) for s in seqs]
    seconds = time.perf_counter() - t0
    score = np.concatenate([r.score for r in risks])
    y = np.concatenate([s["wrong"] for s in seqs])
    reasons = np.concatenate([r.reason for r in risks])
    top = np.bincount(reasons[score >= np.quantile(score, 0.8)], minlength=len(risk.Reason))
    return {
        "sequences": [s["name"] for s in seqs], "boxes": int(len(y)), "wrong": int(y.sum()),
        "missed": int(sum(s["misses"].sum() for s in seqs)), "error_rate": float(y.mean()),
        "error_runs": sum(int(error_runs(s["tracks"], s["wrong"])[1].max(initial=-1)) + 1
                          for s in seqs),
        "score_risk_seconds": seconds, "auc": auc(score, y), "reliability": reliability(score, y),
        "recall": recall(seqs, risks),
        "reasons_top20pct_boxes": {risk.Reason(i).label: int(c) for i, c in enumerate(top) if c},
    }


def _print(name: str, res: dict[str, Any]) -> None:
    print(f"\n== {name} held out {res['sequences']}: {res['boxes']} boxes, {res['wrong']} wrong "
          f"({res['error_rate']:.3f}) in {res['error_runs']} runs, {res['missed']} missed; "
          f"AUC {res['auc']:.3f}; score_risk {res['score_risk_seconds']:.3f} s")
    print(f"{'bucket':>11} {'boxes':>7} {'mean':>6} {'error':>6}")
    for row in res["reliability"]:
        if row["boxes"]:
            print(f"{row['bucket']:>11} {row['boxes']:>7} {row['mean_score']:>6.3f} "
                  f"{row['error_rate']:>6.3f}")
    for key, r in res["recall"].items():
        print(f"{key}: frames ranked (spread) / sorted by risk / every k-th / best by wrong "
              f"boxes: wrong boxes {r['frames_ranked_wrong']:.3f} / {r['frames_sorted_wrong']:.3f}"
              f" / {r['frames_uniform_wrong']:.3f} / {r['frames_best_wrong']:.3f}; wrong+missed "
              f"{r['frames_ranked_wrong_or_missed']:.3f} / {r['frames_sorted_wrong_or_missed']:.3f}"
              f" / {r['frames_uniform_wrong_or_missed']:.3f} / "
              f"{r['frames_best_wrong_or_missed']:.3f}; error runs seen "
              f"{r['frames_ranked_error_runs_seen']:.3f} / {r['frames_sorted_error_runs_seen']:.3f}"
              f" / {r['frames_uniform_error_runs_seen']:.3f} / "
              f"{r['frames_best_error_runs_seen']:.3f}; top boxes by score hold "
              f"{r['boxes_ranked_wrong']:.3f} of wrong boxes (random {r['random_expectation']})")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fit", action="store_true", help="refit the coefficients first")
    parser.add_argument("--pipeline", action="store_true",
                        help="fit and report on what the pipeline stores (module docstring)")
    args = parser.parse_args(argv)
    seqs = {name: load(DATA_DIR) for name, load in LOADERS.items()}
    data = {name: [labelled(s, name) for s in ss] for name, ss in seqs.items()}
    identical: dict[str, dict[str, bool]] = {}
    if args.pipeline:
        with tempfile.TemporaryDirectory(prefix="trackannot-risk-") as tmp:
            shipped = {name: shipped_labelled(name, ss, Path(tmp) / name)
                       for name, ss in seqs.items()}
        identical = {name: {a["name"]: same_input(a, b) for a, b in zip(data[name], runs)}
                     for name, runs in shipped.items()}
        for name, same in identical.items():
            print(f"{name}: fit input through the pipeline identical to track_detections' on "
                  f"{sum(same.values())}/{len(same)} sequences"
                  + ("" if all(same.values()) else f" (differs: {[k for k, v in same.items() if not v]})"))
        data = shipped
    fit_half = [s for seqs in data.values() for s in seqs[0::2]]
    if args.fit:
        x = np.concatenate([s["x"] for s in fit_half])
        y = np.concatenate([s["wrong"] for s in fit_half]).astype(np.float64)
        beta = fit_logistic(x, y)
        risk.INTERCEPT = round(float(beta[0]), 3)
        risk.COEFFICIENTS = {k: round(float(b), 3) for k, b in zip(risk.FEATURES, beta[1:])}
        print(f"INTERCEPT = {risk.INTERCEPT}\nCOEFFICIENTS = {risk.COEFFICIENTS}")
        risks = [risk.score_risk(s["tracks"], s["detections"], None) for s in fit_half]
        for spread in SPREADS:
            got = recall(fit_half, risks, ReviewConfig(spread_frames=spread))["top_20pct"]
            print(f"fit half, spread_frames {spread}: top 20% frames see "
                  f"{got['frames_ranked_error_runs_seen']:.3f} of error runs, "
                  f"{got['frames_ranked_wrong']:.3f} of wrong boxes")
    held = {name: seqs[1::2] for name, seqs in data.items()}
    results = {name: report(seqs) for name, seqs in held.items()}
    results["pooled"] = report([s for seqs in held.values() for s in seqs])
    for name, res in results.items():
        _print(name, res)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, cwd=Path(__file__).parent).stdout.strip()
    out = OUT_PIPELINE if args.pipeline else OUT
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({
        "commit": commit, "python": platform.python_version(), "argv": sys.argv[1:],
        "intercept": risk.INTERCEPT, "coefficients": risk.COEFFICIENTS,
        "fit_sequences": [s["name"] for s in fit_half], "held_out": results,
        **({"fit_input_identical_to_track_detections": identical} if args.pipeline else {}),
    }, indent=1))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
