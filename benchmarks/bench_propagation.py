"""Propagation of human edits (issue 13, part 2): how much of a missed object one drawn box
recovers on real detections, and what one edit costs on a 2-hour store.

Accuracy (MOT15 train with SORT's Faster R-CNN det_sort_frcnn.txt, KITTI tracking Car 0000-0013
with PointRCNN; `benchmarks.datasets`):

* Pre-labels: `track_detections` with the default `TrackConfig` on every frame, smoothed 0.1 s,
  as `load_state` shows them. Ground truth: the objects a person annotates (MOT15 rows with
  flag 1; KITTI Car rows with an id; `benchmarks.bench_risk.gt_tracks`).
* Covered: per frame, pre-label boxes are matched one to one to gt boxes (Hungarian on IoU,
  IoU >= 0.5; `benchmarks.effort.oracle.owners`); a gt box is covered when a pre-label box is
  matched to it (its own match: a box matched to another object does not count).
* Missed gt run: a maximal run of consecutive frames in which one gt object has a gt box and it
  is not covered. Runs of one frame have nothing to propagate into: counted, not scored.
* The edit: one CREATE of a new track with the object's gt box at the run's middle frame
  (first + length // 2), and separately at its first frame, on the pre-labels with every
  detection of the sequence (`AnnotationState`, nothing else edited).
* Recovered: the run's other frames (not the created one) where the new track has a box at
  IoU >= 0.5 with the object's gt box. Recall = recovered / those frames, over all runs.
* Propagated boxes: every PROPAGATED box of the new track, inside the run or not. Right: IoU >=
  0.5 with the object's gt box at its frame, where no pre-label already covers the object (a box
  on an already covered object is a duplicate). Ignored: not right, but at IoU >= 0.5 with a gt
  row that is no annotated object (KITTI DontCare regions, vans, ...; MOT15 rows with flag 0), as
  the benchmarks' evaluation ignores such boxes. Wrong share = 1 - right / (propagated -
  ignored).
* Configurations: every stored detection (min_score 0, the default), and without weak
  detections: only those at or above the tracker's low score (0.1) or its track-start score
  (`TrackConfig.new_track_score`, 0.8). MOT15's detections all score 0.5..1.0 (only the last
  setting removes any); KITTI's PointRCNN logits map to 0.3..1.0.
* Stops: how the runs ended (`StopReason`), per dataset.
* What could be recovered at all: the share of those frames with a detection of the object
  (any score, IoU >= 0.5 with its gt box), and with one that no pre-label box holds (IoU <
  claim_iou with every automatic box taken from a detection).

Latency: a 72,000-frame store (2 hours at 10 fps, `benchmarks.bench_session`'s synthetic
video: 20 slots of 30 s..5 min tracks, detections with noise, 5% missed) in which every fifth
track was never tracked (its detections are stored, its boxes are not: a missed object), with
1,000 corrections applied first in batches of 20 (bench_session's planner, on the tracked
tracks). Timed, interleaved with the same store whose settings have propagation off ("before"),
--rounds rounds, medians: `VideoSession.apply` of one CREATE on a missed object at a random frame
of its span (the checks against the state, the log, the cache), the session's read of the 200
frames around it after (the propagation through up to max_frames frames each way),
and how many boxes the edit propagated. Before each edit the session has read those 200 frames
(the reviewer is looking there); the edit's latency is the apply plus that read after it (the
batch replayed into the session, the new track's runs computed). In the same rounds, an ADJUST
of a tracked track that disagrees with its box (moved by 60% of its width) 150 frames after an
untimed ACCEPT of it, plus the read after: the path where the change is kept near the adjust.

Usage:
    python -m benchmarks.bench_propagation [--rounds 15] [--frames 72000]
    python -m benchmarks.bench_propagation --quick      # 3 sequences each, a 6,000-frame store
    python -m benchmarks.bench_propagation --latency-only   # results/propagation_latency.json
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._common import result_doc, timed, write_json
from benchmarks.bench_log_scale import HEIGHT, WIDTH
from benchmarks.bench_risk import gt_tracks
from benchmarks.bench_session import (
    FPS, READ_FRAMES, EditPlanner, TrackPlan, _rows, _slices, plan_tracks, video_boxes,
)
from benchmarks.datasets import Sequence, load_kitti_car, load_mot15
from benchmarks.effort.oracle import owners
from trackannot.boxes import Boxes, Origin, pair_iou
from trackannot.config import (
    InterpolateConfig, PipelineConfig, PropagateConfig, StoreConfig, TrackConfig, config_to_dict,
)
from trackannot.corrections import Corrections, Op
from trackannot.errors import TrackannotError
from trackannot.session import VideoSession
from trackannot.smooth import smooth_tracks, strength_for_fps
from trackannot.sources import MemorySource
from trackannot.state import AnnotationState
from trackannot.store import StoreWriter
from trackannot.track import track_detections

LOADERS = {"MOT15": load_mot15, "KITTI-Car": load_kitti_car}
MATCH_IOU = 0.5
SMOOTH_SECONDS = 0.1
CREATED = 1_000_000  # id of the created track (above every automatic id)
MISSED_EVERY = 5  # every fifth synthetic track is a missed object (latency store)
SETTINGS = {  # name -> PropagateConfig.min_score
    "all detections": 0.0,
    "score >= low_score (0.1)": TrackConfig().low_score,
    "score >= track start (0.8)": TrackConfig().new_track_score,
}


# -- accuracy ---------------------------------------------------------------------------------


def missed_runs(gt: Boxes, covered: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """(gt id, frames) of every missed gt run (module docstring): maximal runs of consecutive
    frames in which the object has a gt box that no pre-label covers."""
    out = []
    for g in np.unique(gt.track_id).tolist():
        rows = np.flatnonzero(gt.track_id == g)
        run: list[int] = []
        for f, c in zip(gt.frame[rows].tolist(), covered[rows].tolist()):
            if c or (run and f != run[-1] + 1):
                if run:
                    out.append((g, np.array(run)))
                run = []
            if not c:
                run.append(f)
        if run:
            out.append((g, np.array(run)))
    return out


def sequence_runs(seq: Sequence, dataset: str) -> dict[str, Any]:
    """Pre-labels, gt, and the missed gt runs of one sequence."""
    tracks = track_detections(seq.detections, TrackConfig(), frames=range(seq.num_frames))
    raw = tracks[tracks.track_id >= 0]
    shown = smooth_tracks(raw, strength_for_fps(seq.fps, SMOOTH_SECONDS))
    gt = gt_tracks(seq, dataset)
    _, matched = owners(shown, gt)
    hit = set(zip(shown.frame[matched >= 0].tolist(), matched[matched >= 0].tolist()))
    covered = np.array([(f, g) in hit for f, g in zip(gt.frame.tolist(), gt.track_id.tolist())],
                       bool)
    annotated = set(zip(gt.frame.tolist(), gt.track_id.tolist(), map(tuple, gt.xyxy.tolist())))
    ignore = seq.gt[np.array([(f, t, tuple(b)) not in annotated for f, t, b in zip(
        seq.gt.frame.tolist(), seq.gt.track_id.tolist(), seq.gt.xyxy.tolist())], bool)]
    return {"seq": seq, "raw": raw, "shown": shown, "gt": gt, "covered": covered,
            "ignore": ignore, "runs": missed_runs(gt, covered)}


def score_run(data: dict[str, Any], source: MemorySource, g: int, run: np.ndarray, at: int,
              cfg: InterpolateConfig) -> dict[str, Any]:
    """One create at frame `at` of a missed run of object g: recovered frames, propagated boxes
    and the right ones among them, and the runs' stop reasons."""
    seq, gt, covered = data["seq"], data["gt"], data["covered"]
    state = AnnotationState.over(source, num_frames=seq.num_frames, ids=source.auto_ids(),
                                 merged_into={}, next_id=CREATED + 1, cfg=cfg)
    rows = np.flatnonzero(gt.track_id == g)
    truth = dict(zip(gt.frame[rows].tolist(), gt.xyxy[rows]))
    done = set(gt.frame[rows][covered[rows]].tolist())
    state.apply(Corrections.create(op=[Op.CREATE], track_id=[CREATED], frame=[at],
                                   xyxy=[truth[at]], author="bench", time_ns=1))
    boxes = state.track_boxes(CREATED)
    iou = np.array([pair_iou([b], [truth[f]])[0] if f in truth else 0.0
                    for f, b in zip(boxes.frame.tolist(), boxes.xyxy)])
    good = iou >= MATCH_IOU
    others = set(run.tolist()) - {at}
    recovered = sum(1 for f, ok in zip(boxes.frame.tolist(), good) if ok and f in others)
    prop = boxes.origin == Origin.PROPAGATED
    right = prop & good & ~np.isin(boxes.frame, list(done))
    ignored = prop & ~right & _on_ignored(boxes, data["ignore"])
    return {"frames": len(others), "recovered": recovered, "propagated": int(prop.sum()),
            "right": int(right.sum()), "ignored": int(ignored.sum()),
            "stops": [s.reason.name for s in state.propagation_stops([CREATED])]}


def _on_ignored(boxes: Boxes, ignore: Boxes) -> np.ndarray:
    """(n,) bool: the box overlaps a gt row of no annotated object at IoU >= MATCH_IOU."""
    out = np.zeros(len(boxes), bool)
    for i, (f, xyxy) in enumerate(zip(boxes.frame.tolist(), boxes.xyxy)):
        rows = ignore.for_frame(f)
        out[i] = len(rows) > 0 and pair_iou(np.repeat(xyxy[None], len(rows), 0),
                                            rows.xyxy).max() >= MATCH_IOU
    return out


def detectable(data: dict[str, Any], g: int, run: np.ndarray, at: int) -> tuple[int, int]:
    """(frames of the run but `at` with a detection of the object: any score, IoU >= 0.5 with
    its gt box; those where that detection is no pre-label's: IoU < claim_iou with every
    automatic box taken from a detection) - what any propagation could recover."""
    gt, dets, raw = data["gt"], data["seq"].detections, data["raw"]
    claim = PropagateConfig().claim_iou
    seen = free = 0
    rows = np.flatnonzero(gt.track_id == g)
    for f in run.tolist():
        if f == at:
            continue
        truth = gt.xyxy[rows[gt.frame[rows] == f]]
        found = dets.for_frame(f)
        if not len(found):
            continue
        iou = pair_iou(np.repeat(truth, len(found), 0), found.xyxy)
        if iou.max() < MATCH_IOU:
            continue
        seen += 1
        tracked = raw.for_frame(f)
        tracked = tracked[tracked.origin == Origin.DETECTED]
        best = found.xyxy[int(np.argmax(iou))]
        free += not len(tracked) or pair_iou(np.repeat(best[None], len(tracked), 0),
                                             tracked.xyxy).max() < claim
    return seen, free


def _summary(tally: Counter) -> dict[str, Any]:
    judged = max(tally["propagated"] - tally["ignored"], 1)
    return {"recall": tally["recovered"] / max(tally["frames"], 1),
            "frames": tally["frames"], "recovered": tally["recovered"],
            "propagated": tally["propagated"], "ignored": tally["ignored"],
            "wrong_share": 1 - tally["right"] / judged}


def accuracy(datasets: list[str], quick: bool, data_dir: Path) -> dict[str, Any]:
    """Per dataset: the runs, and per setting and create frame the recall and wrong share over
    every sequence, the fit half (sequences 0, 2, ...: the defaults were chosen there) and the
    held-out half."""
    out: dict[str, Any] = {}
    for dataset in datasets:
        seqs = LOADERS[dataset](data_dir)
        seqs = seqs[:3] if quick else seqs
        per = [sequence_runs(seq, dataset) for seq in seqs]
        runs = [(k, d, g, r) for k, d in enumerate(per) for g, r in d["runs"]]
        scored = [(k, d, g, r) for k, d, g, r in runs if len(r) > 1]
        result: dict[str, Any] = {
            "sequences": len(seqs), "gt_boxes": sum(len(d["gt"]) for d in per),
            "missed_gt_boxes": int(sum(len(r) for _, _, _, r in runs)),
            "missed_runs": len(runs), "runs_scored": len(scored),
        }
        seen = np.array([detectable(d, g, r, int(r[len(r) // 2])) for _, d, g, r in scored])
        frames = int(sum(len(r) - 1 for _, _, _, r in scored))
        result["detected_share"] = float(seen[:, 0].sum() / max(frames, 1)) if len(seen) else 0.0
        result["detected_unclaimed_share"] = float(seen[:, 1].sum() / max(frames, 1)) \
            if len(seen) else 0.0
        print(f"{dataset}: {len(scored)} missed runs of 2+ frames, {frames} frames to recover "
              f"from the middle; a detection of the object in {result['detected_share']:.3f} "
              f"of them, one no pre-label holds in {result['detected_unclaimed_share']:.3f}",
              flush=True)
        sources = [MemorySource(d["shown"], d["seq"].detections, raw=d["raw"]) for d in per]
        for name, min_score in SETTINGS.items():
            cfg = InterpolateConfig(propagate=PropagateConfig(min_score=min_score))
            for where in ("middle", "first"):
                halves = {"all": Counter(), "fit": Counter(), "held_out": Counter()}
                stops: Counter[str] = Counter()
                t0 = time.perf_counter()
                for k, d, g, run in scored:
                    at = int(run[len(run) // 2] if where == "middle" else run[0])
                    got = score_run(d, sources[k], g, run, at, cfg)
                    stops.update(got.pop("stops"))
                    for half in ("all", "held_out" if k % 2 else "fit"):
                        halves[half].update(got)
                entry = {half: _summary(t) for half, t in halves.items()}
                entry["stops"] = dict(stops.most_common())
                entry["seconds"] = time.perf_counter() - t0
                result[f"{name} / {where}"] = entry
                r = entry["all"]
                print(f"{dataset:9s} {name:28s} {where:6s}: recall {r['recall']:.3f} "
                      f"({r['recovered']}/{r['frames']}), propagated {r['propagated']}, wrong "
                      f"{r['wrong_share']:.3f} (held out: recall "
                      f"{entry['held_out']['recall']:.3f}, wrong "
                      f"{entry['held_out']['wrong_share']:.3f})", flush=True)
        out[dataset] = result
    return out


# -- latency ----------------------------------------------------------------------------------


def _subplan(plan: TrackPlan, keep: np.ndarray) -> TrackPlan:
    return TrackPlan(*(getattr(plan, f)[keep] for f in ("track_id", "first", "last", "slot",
                                                        "start", "velocity", "size")))


def build_latency_store(path: Path, frames: int, propagate: bool, seed: int
                        ) -> tuple[TrackPlan, TrackPlan]:
    """The synthetic 2-hour video with every MISSED_EVERY-th track untracked (module
    docstring); returns (tracked plan, missed plan)."""
    rng = np.random.default_rng(seed)
    plan = plan_tracks(frames, 20, rng)
    tracks, detections = video_boxes(plan, rng)
    missed_ids = plan.track_id[plan.track_id % MISSED_EVERY == 0]
    keep = ~np.isin(tracks["track_id"], missed_ids)
    tracks = {k: v[keep] for k, v in tracks.items()}
    tracks, t_at = _slices(tracks, frames)
    detections, d_at = _slices(detections, frames)
    cfg = config_to_dict(PipelineConfig())
    cfg["interpolate"]["propagate"]["enabled"] = propagate
    writer = StoreWriter.create(path, "clip", StoreConfig(), attrs={
        "config": cfg, "video": {"width": WIDTH, "height": HEIGHT, "fps": FPS,
                                 "frame_count": frames},
        "detector": {"class_names": ["person", "car"]}})
    for f in range(frames):
        writer.add_frame(f, f / FPS, _rows(detections, int(d_at[f]), int(d_at[f + 1])),
                         _rows(tracks, int(t_at[f]), int(t_at[f + 1])))
    writer.close()
    missed = np.isin(plan.track_id, missed_ids)
    return _subplan(plan, ~missed), _subplan(plan, missed)


def _timed_disagreeing_adjust(session: VideoSession, tracked: TrackPlan,
                              rng: np.random.Generator) -> float | None:
    """Seconds of one ADJUST that disagrees with its track (the box moved by 60% of its width:
    IoU about 0.25) 150 frames after an (untimed) ACCEPT of the same track, plus the read of the
    200 frames around it after: the segment rule's path (the change kept near the adjust). None
    when the picked track no longer takes edits there (the planner's identity edits and absent
    marks came first); the caller skips that round."""
    long = np.flatnonzero(tracked.last - tracked.first >= 200)
    i = int(long[rng.integers(0, len(long))])
    at = int(rng.integers(tracked.first[i] + 160, tracked.last[i] + 1))
    track = int(tracked.track_id[i])
    accept = Corrections.create(op=[Op.ACCEPT], track_id=[track], frame=[at - 150],
                                author="bench", time_ns=time.time_ns())
    box = tracked.xyxy(np.array([i]), np.array([at]))[0].astype(np.float64)
    box[[0, 2]] += 0.6 * (box[2] - box[0])
    box[[0, 2]] = np.clip(box[[0, 2]], 0, WIDTH - 1)
    adjust = Corrections.create(op=[Op.ADJUST], track_id=[track], frame=[at], xyxy=[box],
                                author="bench", time_ns=time.time_ns())
    a = max(min(at - READ_FRAMES // 2, session.num_frames - READ_FRAMES), 0)
    try:
        session.apply(accept, author="bench")
        session.boxes(a, a + READ_FRAMES)
        apply_s = timed(lambda: session.apply(adjust, author="bench"))
    except TrackannotError:
        return None
    return apply_s + timed(lambda: session.boxes(a, a + READ_FRAMES))


def latency(frames: int, rounds: int, corrections: int) -> dict[str, Any]:
    out: dict[str, Any] = {"frames": frames, "corrections_first": corrections}
    with tempfile.TemporaryDirectory(prefix="bench_propagation_") as tmp:
        stores, plans, tracked_plans = {}, {}, {}
        for name, on in (("after", True), ("before", False)):
            stores[name] = Path(tmp) / f"{name}.zarr"
            t0 = time.perf_counter()
            tracked, missed = build_latency_store(stores[name], frames, on, seed=3)
            planner = EditPlanner(tracked, frames, 4)
            session = VideoSession.open(stores[name])
            for start in range(0, corrections, 20):
                session.apply(planner.batch(min(20, corrections - start)), author="bench")
            plans[name] = missed
            tracked_plans[name] = tracked
            print(f"{name}: store of {frames} frames with {corrections} corrections built in "
                  f"{time.perf_counter() - t0:.0f} s", flush=True)
        sessions = {name: VideoSession.open(store) for name, store in stores.items()}
        rng = np.random.default_rng(11)
        times: dict[str, dict[str, list[float]]] = {
            n: {"apply": [], "read_after": [], "edit": [], "adjust_edit": []} for n in stores}
        rng_adjust = {n: np.random.default_rng(17) for n in stores}  # the same edits in both
        propagated: list[int] = []
        for k in range(rounds + 1):  # round 0 compiles and warms; not counted
            missed = plans["after"]
            i = int(rng.integers(0, len(missed.track_id)))
            at = int(rng.integers(missed.first[i], missed.last[i] + 1))
            box = missed.xyxy(np.array([i]), np.array([at]))[0]
            a = max(min(at - READ_FRAMES // 2, frames - READ_FRAMES), 0)
            for name in (("after", "before") if k % 2 else ("before", "after")):
                session = sessions[name]
                session.boxes(a, a + READ_FRAMES)  # the reviewer is looking there
                edit = Corrections.create(op=[Op.CREATE], track_id=[-1], frame=[at], xyxy=[box],
                                          author="bench", time_ns=time.time_ns())
                apply_s = timed(lambda s=session, e=edit: s.apply(e, author="bench"))
                read_s = timed(lambda s=session, a=a: s.boxes(a, a + READ_FRAMES))
                if k:
                    times[name]["apply"].append(apply_s)
                    times[name]["read_after"].append(read_s)
                    times[name]["edit"].append(apply_s + read_s)
                adjust_s = _timed_disagreeing_adjust(session, tracked_plans[name], rng_adjust[name])
                if k and adjust_s is not None:
                    times[name]["adjust_edit"].append(adjust_s)
                if name == "after" and k:
                    track = session.track_ids[-1]
                    shown = session.boxes(max(at - 1100, 0), min(at + 1100, frames))
                    propagated.append(int(((shown.track_id == track)
                                           & (shown.origin == Origin.PROPAGATED)).sum()))
        for name, steps in times.items():
            out[name] = {step: {"median_ms": 1000 * statistics.median(v) if v else None,
                                "max_ms": 1000 * max(v) if v else None, "n": len(v)}
                         for step, v in steps.items()}
        out["propagated_boxes_per_edit"] = {"median": statistics.median(propagated),
                                            "max": max(propagated)}
    return out


def _ms(step: dict[str, Any]) -> str:
    if not step["n"]:
        return "not timed (no round's track took the edit)"
    return f"{step['median_ms']:.0f} ms (max {step['max_ms']:.0f}, n={step['n']})"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=list(LOADERS), choices=list(LOADERS))
    parser.add_argument("--frames", type=int, default=72_000)
    parser.add_argument("--corrections", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--quick", action="store_true",
                        help="3 sequences per dataset, a 6,000-frame store, 3 rounds")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--latency-only", action="store_true",
                        help="only the 2-hour store's edit latency (results/propagation_latency.json)")
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2]
                        / "shared" / "data")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.quick:
        args.frames, args.rounds, args.corrections = 6_000, 3, 80
    out = args.out or Path("benchmarks/results/propagation_quick.json" if args.quick
                           else "benchmarks/results/propagation.json")
    if args.latency_only and args.out is None:
        out = out.with_name(out.stem + "_latency.json")
    results: dict[str, Any] = {} if args.latency_only else {
        "accuracy": accuracy(args.datasets, args.quick, args.data)}
    if not args.skip_latency:
        results["latency"] = latency(args.frames, args.rounds, args.corrections)
        for name in ("before", "after"):
            r = results["latency"][name]
            print(f"latency {name}: apply {r['apply']['median_ms']:.0f} ms (max "
                  f"{r['apply']['max_ms']:.0f}), read after {r['read_after']['median_ms']:.0f} "
                  f"ms, edit {r['edit']['median_ms']:.0f} ms (max {r['edit']['max_ms']:.0f}); "
                  f"disagreeing adjust + read {_ms(r['adjust_edit'])}")
        print(f"propagated boxes per edit: {results['latency']['propagated_boxes_per_edit']}")
    write_json(out, result_doc("benchmarks.bench_propagation", results, quick=args.quick,
                               rounds=args.rounds))
    return results


if __name__ == "__main__":
    main()
