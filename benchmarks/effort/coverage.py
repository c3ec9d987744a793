"""Why ranked review loses to uniform review at equal seconds: where the looks fall, and what a
queue look costs at the very frames uniform review looks at.

Two measurements on one dataset of the effort benchmark (same pre-labels, truth, annotators and
cost model as `benchmarks.effort.run`):

* `distances`: each strategy run up to `budget` human s/frame (uniform review: every k-th
  frame); every gt box's distance in frames to the nearest frame looked at, and the share of
  gt boxes right (box accuracy's rule) per distance bin, with the stretches between looks.
* `same_frames`: the review queue forced to look at exactly uniform review's frames (every k-th
  frame, the frames order replaced by that list, as `bench_queue --spread` replaces it), by
  each annotator, with every candidate shown or none (`ReviewConfig.frames_candidate_min_p`
  1.0), scored after the last of those frames: the queue's own cost at equal frames.

* `skeleton_looks` (`--skeleton`): looks in the frames order's finished coverage skeleton
  (`trackannot.ranking.anchored_order`, the shortest prefix of the order that leaves no stretch
  longer than N) against every N-th frame, over the dataset's sequences (a random risk order;
  every frame can be queued).

    python -m benchmarks.effort.coverage --dataset KITTI-Car --budget 1.6 --k 10
    python -m benchmarks.effort.coverage --dataset KITTI-Car --skeleton 5 10

Writes benchmarks/results/effort_coverage_<dataset>.json and prints it (`--skeleton` prints
only).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from dataclasses import replace
from typing import Any

import numpy as np
import numpy.typing as npt

from benchmarks.effort import run as bench
from benchmarks.effort.cost import DEFAULT_COST, ActionCounts
from benchmarks.effort.oracle import owners
from benchmarks.effort.strategies import queue_review, review, uniform_frames
from trackannot import ranking
from trackannot.boxes import Boxes
from trackannot.config import ReviewConfig

BINS = (0, 1, 3, 6, 11, 21, 51)  # distance bins (frames), lower edges


class _Done(Exception):
    """Raised from on_look to stop a queue after its last wanted look."""


def right_gt(boxes: Boxes, gt: Boxes) -> npt.NDArray[np.bool_]:
    """Per gt box: covered by a box of the track whose object it is (`box_accuracy`'s rule)."""
    owner, matched = owners(boxes, gt)
    ok = matched >= 0
    ok &= np.array([owner.get(int(t), -2) for t in boxes.track_id]) == matched
    cells = set(zip(boxes.frame[ok].tolist(), matched[ok].tolist()))
    return np.array([(f, t) in cells for f, t in zip(gt.frame.tolist(), gt.track_id.tolist())],
                    bool)


def nearest_look(looked: list[int], frame: npt.NDArray[np.int64], num_frames: int
                 ) -> npt.NDArray[np.int64]:
    """Frames from each of `frame` to the nearest looked frame (num_frames if none)."""
    a = np.unique(np.asarray(looked, np.int64))
    if not len(a):
        return np.full(len(frame), num_frames, np.int64)
    i = np.searchsorted(a, frame)
    lo = np.where(i > 0, frame - a[np.maximum(i - 1, 0)], num_frames)
    hi = np.where(i < len(a), a[np.minimum(i, len(a) - 1)] - frame, num_frames)
    return np.minimum(lo, hi)


def _queue(data: bench.Data, i: int, name: str, budget: float, on_look: Any = None,
           cfg: ReviewConfig | None = None) -> tuple[Boxes, ActionCounts]:
    """One video through a queue strategy up to `budget` (seconds, or looks for the strategies
    that count looks)."""
    s, g, a, ig = data.seqs[i], data.gts[i], data.autos[i], data.ignores[i]
    options = bench.queue_options(name)
    if cfg is not None:
        options["review_cfg"] = cfg
    points = queue_review(a, s.detections, g, s.num_frames, [budget],
                          bench._queue_batch(name, s, a), ignore=ig, cost=DEFAULT_COST,
                          on_look=on_look, **options)
    return points[0].boxes, points[0].counts


def distances(data: bench.Data, names: list[str], budget: float, k: int) -> dict[str, Any]:
    """Per strategy: s/frame, accuracy, looks, stretches between looks, accuracy by distance."""
    out: dict[str, Any] = {}
    frames = sum(s.num_frames for s in data.seqs)
    for name in (*names, f"uniform k={k}"):
        dist, right, gaps, seconds = [], [], [], 0.0
        for i, (s, g, a) in enumerate(zip(data.seqs, data.gts, data.autos)):
            looked: list[int] = []
            if name.startswith("uniform"):
                looked = uniform_frames(s.num_frames, k).tolist()
                boxes, counts = review(a, s.detections, g, s.num_frames, np.asarray(looked),
                                       manual_k=bench.MANUAL_K)
            else:
                boxes, counts = _queue(data, i, name, budget * s.num_frames,
                                       on_look=lambda st, f, c, got=looked: got.append(f))
            seconds += DEFAULT_COST.seconds(counts)
            dist.append(nearest_look(looked, g.frame, s.num_frames))
            right.append(right_gt(boxes, g))
            gaps.extend(np.diff(np.r_[-1, np.unique(looked), s.num_frames]).tolist())
        d, r, gap = np.concatenate(dist), np.concatenate(right), np.asarray(gaps)
        rows = []
        for lo, hi in zip(BINS, (*BINS[1:], None)):
            m = (d >= lo) if hi is None else (d >= lo) & (d < hi)
            rows.append({"distance": f"{lo}+" if hi is None else f"{lo}-{hi - 1}",
                         "gt_boxes": int(m.sum()), "wrong": int((~r[m]).sum()),
                         "accuracy": float(r[m].mean()) if m.any() else None})
        out[name] = {"human_s_per_frame": seconds / frames, "box_accuracy": float(r.mean()),
                     "looks": int(len(gap) - len(data.seqs)), "stretch_median": float(np.median(gap)),
                     "stretch_p90": float(np.percentile(gap, 90)), "stretch_max": int(gap.max()),
                     "by_distance": rows}
    return out


def same_frames(data: bench.Data, k: int) -> dict[str, Any]:
    """The queue at exactly every k-th frame, by annotator, candidates shown or not."""
    def every_k(frame, track, p, num_frames, cfg, weight=None, whole=None):  # noqa: ANN001
        f = np.arange(num_frames)
        return np.lexsort((f, f % k != 0)).astype(np.int64)

    shipped = ranking.frame_order
    ranking.frame_order = every_k
    out: dict[str, Any] = {}
    try:
        for name in ("queue_keying", "queue_frames", "queue_frames_risk"):
            for shown in (True, False):
                parts, looks = [], 0
                for i, s in enumerate(data.seqs):
                    snap: dict[str, Any] = {"boxes": data.autos[i], "counts": ActionCounts()}
                    total = ActionCounts()

                    def on_look(state, f, c, snap=snap, total=total):  # noqa: ANN001
                        if f % k:
                            raise _Done
                        total.add(c)
                        snap["boxes"], snap["counts"] = state.boxes(), ActionCounts(**total.as_dict())
                        snap["looks"] = snap.get("looks", 0) + 1

                    cfg = replace(bench.queue_settings(name), frames_candidate_min_p=0.0 if shown else 1.0)
                    try:
                        _queue(data, i, name, 1e12, on_look=on_look, cfg=cfg)
                    except _Done:
                        pass
                    parts.append((snap["boxes"], snap["counts"]))
                    looks += snap.get("looks", 0)
                r = bench.score(data, parts, DEFAULT_COST, [0] * len(parts))
                out[f"{name}, candidates {'shown' if shown else 'hidden'}"] = {
                    "looks": looks, "human_s_per_frame": r["human_s_per_frame"],
                    "box_accuracy": r["box_accuracy"], "actions": r["actions"],
                    "halves": r["halves"]}
    finally:
        ranking.frame_order = shipped
    parts = [review(a, s.detections, g, s.num_frames, uniform_frames(s.num_frames, k),
                    manual_k=bench.MANUAL_K) for s, g, a in zip(data.seqs, data.gts, data.autos)]
    r = bench.score(data, parts, DEFAULT_COST, [0] * len(parts))
    out[f"uniform k={k} (b)"] = {"looks": sum(len(uniform_frames(s.num_frames, k)) for s in data.seqs),
                                 "human_s_per_frame": r["human_s_per_frame"],
                                 "box_accuracy": r["box_accuracy"], "actions": r["actions"],
                                 "halves": r["halves"]}
    return out


def longest_stretch(looked: npt.NDArray[np.int64], num_frames: int) -> int:
    """The longest stretch between looks, an edge stretch counted twice (as `anchored_order`)."""
    a = np.unique(looked)
    if not len(a):
        return 2 * num_frames
    return int(max(2 * a[0], 2 * (num_frames - 1 - a[-1]), *(np.diff(a) if len(a) > 1 else [0])))


def skeleton_looks(num_frames: int, spacing: int, seed: int = 0) -> int:
    """Looks in `anchored_order`'s finished skeleton of a video with nothing looked at yet."""
    order = np.random.default_rng(seed).permutation(num_frames).astype(np.int64)
    out = ranking.anchored_order(order, np.zeros(0, np.int64), num_frames, spacing)
    lo, hi = 1, num_frames  # the shortest covering prefix (coverage only grows with the prefix)
    while lo < hi:
        mid = (lo + hi) // 2
        if longest_stretch(out[:mid], num_frames) <= spacing:
            hi = mid
        else:
            lo = mid + 1
    return lo


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=list(bench.LOADERS), default="KITTI-Car")
    parser.add_argument("--budget", type=float, default=1.6,
                        help="queue budget, s/frame (share of the frames looked at for the "
                        "strategies whose budget is in looks, *_looks)")
    parser.add_argument("--k", type=int, default=10, help="uniform review's spacing, frames")
    parser.add_argument("--strategies", nargs="+",
                        default=["queue_frames_risk", "queue_anchor10_risk"])
    parser.add_argument("--limit", type=int, default=None, help="first N sequences (a check)")
    parser.add_argument("--skeleton", nargs="+", type=int, metavar="N",
                        help="only count the looks of the finished skeleton at these spacings")
    args = parser.parse_args(argv)
    if args.skeleton:
        lengths = [s.num_frames for s in bench.LOADERS[args.dataset](bench.DATA_DIR)[:args.limit]]
        for n in args.skeleton:
            looks = sum(skeleton_looks(f, n) for f in lengths)
            every = sum(-(-f // n) for f in lengths)
            print(f"{args.dataset}: {sum(lengths)} frames, spacing {n}: skeleton {looks} looks, "  # noqa: T201
                  f"every {n}th frame {every} ({looks / every:.2f}x)")
        return
    data = bench.Data(args.dataset, bench.LOADERS[args.dataset](bench.DATA_DIR)[:args.limit])
    res = {"date": dt.date.today().isoformat(), "dataset": args.dataset, "budget": args.budget,
           "k": args.k, "distances": distances(data, args.strategies, args.budget, args.k),
           "same_frames": same_frames(data, args.k)}
    path = bench.RESULTS / f"effort_coverage_{args.dataset}{'_limit' if args.limit else ''}.json"
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(res, indent=1))
    partial.replace(path)
    print(json.dumps(res, indent=1))  # noqa: T201
    print(f"wrote {path}")  # noqa: T201


if __name__ == "__main__":
    main()
