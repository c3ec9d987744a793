"""Tracking quality and tracker speed: trackannot vs Roboflow `trackers` ByteTrack and boxmot's
ByteTrack and OC-SORT, all fed the same detections.

Datasets (../shared/data, see benchmarks/datasets.py):
- MOT15: the 10 train sequences with gt, SORT's Faster R-CNN detections (det_sort_frcnn.txt),
  scored with TrackEval's MOT15 rules (gt rows with conf 0 ignored).
- KITTI: tracking training Car 0000-0013, AB3DMOT's PointRCNN Car detections (scores mapped to
  [0, 1] by the logistic function), scored with TrackEval's KITTI 2D box Car rules (Van and
  occluded/truncated gt as distractors, DontCare regions, 25 px minimum height).
Each dataset's HOTA/MOTA/IDF1 is TrackEval's combination over its sequences
(`trackannot.evaluate.evaluate_dataset`).

Speed is association only: detections are loaded and converted to each tracker's input type
before timing, each tracker (numba compiled by an untimed warm-up run) then processes every frame
of every sequence, empty frames included; frames/s = all frames / seconds per pass, median of
--repeats rounds interleaved across trackers (the order rotates each round); within a round a
tracker repeats whole passes for at least --min-seconds (1 s) so fast ones are not timed on blips.

Settings: every tracker runs with its defaults, except the frame rate (from seqinfo.ini, 10 for
KITTI) where the tracker takes one (Roboflow ByteTrack `frame_rate`, boxmot ByteTrack
`frame_rate`); trackannot's defaults are `TrackConfig()`. boxmot gets a dummy all-zero image of the
sequence's size (its trackers here do not look at it). boxmot's optional C++ backend (built by
`setup_peers.sh --native`, rows "(C++ backend)") gets the Python classes' defaults explicitly.

Peers live in a separate venv (boxmot pins conflict with trackannot's dependencies):
    bash benchmarks/setup_peers.sh
    benchmarks/.venv-peers/bin/python -m benchmarks.bench_tracking [--repeats 5]
Without the peers installed (the main environment) only trackannot runs.
Regression baseline (tests/baselines/mot15_hota.json), after an intended change of defaults:
    python -m benchmarks.bench_tracking --update-baseline

What ships vs what is measured (`--shipped`, our tracker only, no timing): each dataset through
the pipeline (detections file + seqinfo.ini, no footage -> store -> MOT export -> TrackEval,
`benchmarks.shipped`), with and without the export's smoothing, against `track_detections` and
against the old pipeline output (online `Tracker.update`, as stored before issue 13; "as
exported": smoothed and rounded the way the export treats stored tracks). Also checks, per
sequence, that the store equals `track_detections` over the stored detections, and that
smoothing and rounding `track_detections` the export's way gives the exported file exactly.
    python -m benchmarks.bench_tracking --shipped     # writes benchmarks/results/shipped.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

import numpy as np

from benchmarks._common import write_json
from benchmarks.datasets import Sequence, load_kitti_car, load_mot15
from benchmarks.shipped import ship
from trackannot.boxes import COLUMNS, Boxes
from trackannot.config import PipelineConfig, TrackConfig, config_to_dict
from trackannot.evaluate import EvalSequence, evaluate_dataset

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
OUT = REPO / "benchmarks" / "out"
BASELINE = REPO / "tests" / "baselines" / "mot15_hota.json"
SHIPPED_OUT = REPO / "benchmarks" / "results" / "shipped.json"
DATASETS: dict[str, tuple[Callable[[Path], list[Sequence]], str]] = {
    "MOT15": (load_mot15, "MOT15"),
    "KITTI-Car": (load_kitti_car, "KITTI"),
}


@dataclass(frozen=True)
class Runner:
    """One tracker: untimed input preparation, the timed run, untimed conversion to Boxes."""

    name: str
    settings: Callable[[Sequence], dict[str, Any]]
    prepare: Callable[[Sequence], Any]
    run: Callable[[Sequence, Any], Any]
    to_boxes: Callable[[Sequence, Any], Boxes]


# -- trackannot ------------------------------------------------------------------------------------


def _ours() -> list[Runner]:
    from trackannot.track import Tracker, track_detections

    cfg = TrackConfig()

    def run_batch(seq: Sequence, dets: Boxes) -> Boxes:
        return track_detections(dets, cfg, frames=range(seq.num_frames))

    def run_update(seq: Sequence, frames: list[Boxes]) -> list[Boxes]:
        tracker = Tracker(cfg)
        return [tracker.update(b, frame=f) for f, b in enumerate(frames)]

    settings = lambda seq: config_to_dict(cfg)  # noqa: E731
    return [
        Runner("trackannot", settings, lambda seq: seq.detections, run_batch,
               lambda seq, out: out),
        Runner("trackannot (Tracker.update per frame)", settings, _per_frame_boxes, run_update,
               lambda seq, out: Boxes.concat(out)),
    ]


def _per_frame_boxes(seq: Sequence) -> list[Boxes]:
    return [seq.detections.for_frame(f) for f in range(seq.num_frames)]


# -- peers -----------------------------------------------------------------------------------------


def _roboflow() -> list[Runner]:
    import supervision as sv
    from trackers import ByteTrackTracker

    def prepare(seq: Sequence) -> list[sv.Detections]:
        return [sv.Detections(xyxy=b.xyxy.astype(np.float32), confidence=b.score.copy(),
                              class_id=np.zeros(len(b), dtype=int))
                for b in _per_frame_boxes(seq)]

    def run(seq: Sequence, frames: list[sv.Detections]) -> list[sv.Detections]:
        tracker = ByteTrackTracker(frame_rate=seq.fps)
        return [tracker.update(d) for d in frames]

    def to_boxes(seq: Sequence, outs: list[sv.Detections]) -> Boxes:
        parts = [(f, d[d.tracker_id >= 0]) for f, d in enumerate(outs)]
        return _boxes([(f, d.xyxy, d.confidence, d.tracker_id) for f, d in parts])

    return [Runner("Roboflow trackers ByteTrack", lambda seq: {"frame_rate": seq.fps},
                   prepare, run, to_boxes)]


def _boxmot() -> list[Runner]:
    from boxmot.trackers.box.bytetrack.tracker import ByteTrack
    from boxmot.trackers.box.ocsort.tracker import OcSort

    # quiet the INFO banner every instance logs (boxmot configures its logger on import)
    logging.getLogger("boxmot").setLevel(logging.WARNING)

    def prepare(seq: Sequence) -> tuple[list[np.ndarray], np.ndarray]:
        rows = [np.c_[b.xyxy, b.score, np.zeros(len(b))].astype(np.float32)
                for b in _per_frame_boxes(seq)]
        return rows, np.zeros((seq.height, seq.width, 3), dtype=np.uint8)

    def runner(name: str, make: Callable[[Sequence], Any],
               settings: Callable[[Sequence], dict[str, Any]]) -> Runner:
        def run(seq: Sequence, inputs: tuple[list[np.ndarray], np.ndarray]) -> list[np.ndarray]:
            tracker, (rows, image) = make(seq), inputs
            return [tracker.update(r, image) for r in rows]

        def to_boxes(seq: Sequence, outs: list[np.ndarray]) -> Boxes:
            # output rows: x1, y1, x2, y2, id, conf, cls, det_ind
            return _boxes([(f, o[:, :4], o[:, 5], o[:, 4]) for f, o in enumerate(outs)])

        return Runner(name, settings, prepare, run, to_boxes)

    runners = [
        runner("boxmot ByteTrack", lambda seq: ByteTrack(frame_rate=round(seq.fps)),
               lambda seq: {"frame_rate": round(seq.fps)}),
        runner("boxmot OcSort", lambda seq: OcSort(), lambda seq: {}),
    ]
    return runners + _boxmot_native(runner)


# boxmot's Python classes' constructor defaults, given explicitly to its C++ backend: that backend
# otherwise takes its defaults from boxmot's YAML tuning configs, which differ (ByteTrack
# track_thresh 0.6, match_thresh 0.9, track_buffer 30; OcSort det_thresh 0.6, inertia 0.1).
_BOXMOT_BYTETRACK = {"min_conf": 0.1, "track_thresh": 0.45, "match_thresh": 0.8,
                     "track_buffer": 25}
_BOXMOT_OCSORT = {"det_thresh": 0.3, "max_age": 30, "min_hits": 3, "iou_threshold": 0.3,
                  "delta_t": 3, "inertia": 0.2, "min_conf": 0.1, "use_byte": False,
                  "asso_func": "iou"}


def _boxmot_native(runner: Callable[..., Runner]) -> list[Runner]:
    """boxmot's C++ ByteTrack/OcSort, only where `setup_peers.sh --native` built them."""
    from boxmot.native._common import candidate_libraries

    if not all(any(p.is_file() for p in candidate_libraries(n)) for n in ("bytetrack", "ocsort")):
        return []
    from boxmot.trackers.box.bytetrack.native import NativeByteTrackTracker
    from boxmot.trackers.box.ocsort.native import NativeOcSortTracker

    def bytetrack_settings(seq: Sequence) -> dict[str, Any]:
        return {**_BOXMOT_BYTETRACK, "frame_rate": round(seq.fps)}

    return [
        runner("boxmot ByteTrack (C++ backend)",
               lambda seq: NativeByteTrackTracker(bytetrack_settings(seq)), bytetrack_settings),
        runner("boxmot OcSort (C++ backend)", lambda seq: NativeOcSortTracker(dict(_BOXMOT_OCSORT)),
               lambda seq: dict(_BOXMOT_OCSORT)),
    ]


def _boxes(parts: list[tuple[int, Any, Any, Any]]) -> Boxes:
    """Boxes from (frame, xyxy, score, track_id) per frame (track ids must be >= 0)."""
    parts = [p for p in parts if len(p[1])]
    if not parts:
        return Boxes.empty()
    return Boxes.create(
        xyxy=np.concatenate([p[1] for p in parts]),
        frame=np.concatenate([np.full(len(p[1]), p[0]) for p in parts]),
        score=np.clip(np.concatenate([p[2] for p in parts]), 0.0, 1.0),
        track_id=np.concatenate([p[3] for p in parts]).astype(np.int64),
        sort=True,
    )


def available_runners(only_ours: bool) -> tuple[list[Runner], list[str]]:
    """Our runners and every peer whose package imports; and the peers that are missing."""
    runners, missing = _ours(), []
    if only_ours:
        return runners, missing
    for make, package in ((_roboflow, "trackers"), (_boxmot, "boxmot")):
        try:
            runners += make()
        except ImportError as err:
            missing.append(f"{package} ({err})")
    return runners, missing


# -- measuring -------------------------------------------------------------------------------------


def _quality(runner: Runner, seqs: list[Sequence], inputs: list[Any], protocol: str
             ) -> dict[str, Any]:
    """Untimed run (also the numba warm-up) and TrackEval scores, combined and per sequence."""
    evals = [
        EvalSequence(tracks=runner.to_boxes(s, runner.run(s, x)), gt=s.gt, gt_extra=s.gt_extra,
                     num_frames=s.num_frames, name=s.name)
        for s, x in zip(seqs, inputs)
    ]
    scores = evaluate_dataset(evals, benchmark=protocol)  # type: ignore[arg-type]
    keys = ("hota", "mota", "idf1")
    return {
        "combined": scores.combined.as_dict(),
        "per_sequence": {k: {m: v.as_dict()[m] for m in keys}
                         for k, v in scores.per_sequence.items()},
        "settings": {s.name: runner.settings(s) for s in seqs},
    }


def _time_all(runners: list[Runner], seqs: list[Sequence], inputs: dict[str, list[Any]],
              repeats: int, min_seconds: float) -> dict[str, list[float]]:
    """Seconds per pass over all sequences, per runner and round.

    Rounds interleave the runners (the order rotates). Within a round a runner repeats whole
    passes until `min_seconds` have elapsed, so fast trackers are not timed on a 0.1 s blip.
    """
    per_pass: dict[str, list[float]] = {r.name: [] for r in runners}
    for rnd in range(repeats):
        order = runners[rnd % len(runners):] + runners[:rnd % len(runners)]
        for runner in order:
            gc.collect()
            passes, start = 0, time.perf_counter()
            while passes == 0 or time.perf_counter() - start < min_seconds:
                for seq, x in zip(seqs, inputs[runner.name]):
                    runner.run(seq, x)
                passes += 1
            per_pass[runner.name].append((time.perf_counter() - start) / passes)
    return per_pass


def run_dataset(name: str, runners: list[Runner], repeats: int, min_seconds: float = 1.0
                ) -> dict[str, Any]:
    loader, protocol = DATASETS[name]
    seqs = loader(DATA)
    frames = sum(s.num_frames for s in seqs)
    inputs = {r.name: [r.prepare(s) for s in seqs] for r in runners}
    result: dict[str, Any] = {"protocol": protocol, "frames": frames,
                              "detections": sum(len(s.detections) for s in seqs),
                              "sequences": [s.name for s in seqs], "trackers": {}}
    for r in runners:
        result["trackers"][r.name] = _quality(r, seqs, inputs[r.name], protocol)
    for rname, secs in _time_all(runners, seqs, inputs, repeats, min_seconds).items():
        fps = [frames / s for s in secs]
        result["trackers"][rname]["speed"] = {
            "fps_median": statistics.median(fps), "fps_runs": fps, "seconds_runs": secs}
    return result


# -- what ships (--shipped) ---------------------------------------------------------------------


def _as_exported(tracks: Boxes, fps: float, smooth_seconds: float, folder: Path) -> Boxes:
    """`tracks` as the MOT export gives stored tracks: smoothed over `smooth_seconds` (as the
    annotation derives them, `trackannot.replay`), written with 0.01 px, read back."""
    from trackannot.detect.from_file import read_mot_file
    from trackannot.export.mot import write_mot
    from trackannot.smooth import smooth_tracks, strength_for_fps

    if smooth_seconds > 0:
        tracks = smooth_tracks(tracks, strength_for_fps(fps, smooth_seconds))
    folder.mkdir(parents=True, exist_ok=True)
    return read_mot_file(write_mot(tracks, folder / f"{time.monotonic_ns()}.txt"))


def _scores(seqs: list[Sequence], tracks: list[Boxes], protocol: str) -> dict[str, Any]:
    scores = evaluate_dataset([EvalSequence(tracks=t, gt=s.gt, gt_extra=s.gt_extra,
                                            num_frames=s.num_frames, name=s.name)
                               for s, t in zip(seqs, tracks)], benchmark=protocol)  # type: ignore[arg-type]
    return {"combined": scores.combined.as_dict(),
            "per_sequence_hota": {k: v.hota for k, v in scores.per_sequence.items()}}


def _same(a: Boxes, b: Boxes) -> bool:
    return len(a) == len(b) and all(np.array_equal(getattr(a, c), getattr(b, c))
                                    for c in ("frame", "track_id", "xyxy", "score"))


def run_shipped(name: str, workdir: Path) -> dict[str, Any]:
    """One dataset: the equality checks and the five ways of getting its tracks, scored."""
    from trackannot.track import Tracker, track_detections

    loader, protocol = DATASETS[name]
    seqs = loader(DATA)
    cfg = PipelineConfig()
    smooth_s = cfg.interpolate.smooth_seconds
    unsmoothed = replace(cfg, interpolate=replace(cfg.interpolate, smooth_seconds=0.0))
    t0 = time.perf_counter()
    shipped = ship(name, seqs, DATA, workdir / "default", cfg)
    seconds = time.perf_counter() - t0
    raw = ship(name, seqs, DATA, workdir / "unsmoothed", unsmoothed)
    offline = [track_detections(s.detections, cfg.track, frames=range(s.num_frames))
               for s in seqs]
    online = []
    for s in seqs:
        tracker = Tracker(cfg.track)
        online.append(Boxes.concat([tracker.update(s.detections.for_frame(f), frame=f)
                                    for f in range(s.num_frames)]))
    emulated = [_as_exported(t, s.fps, smooth_s, workdir / "emulated")
                for s, t in zip(seqs, offline)]
    variants = {
        "track_detections (what the gate and tables measured)": offline,
        f"pipeline: store -> MOT export, smoothed {smooth_s:g} s (what ships)":
            [r.exported for r in shipped],
        "pipeline: store -> MOT export, smooth_seconds 0": [r.exported for r in raw],
        "old pipeline output: online Tracker.update": online,
        f"old pipeline output as exported (smoothed {smooth_s:g} s, 0.01 px)":
            [_as_exported(t, s.fps, smooth_s, workdir / "old") for s, t in zip(seqs, online)],
    }
    return {
        "protocol": protocol, "sequences": [s.name for s in seqs],
        "frames": sum(s.num_frames for s in seqs),
        "detections": sum(len(s.detections) for s in seqs),
        "pipeline_seconds": seconds,
        "equality": {r.name: {"store_equals_track_detections": not r.mismatch,
                              "mismatch": r.mismatch,
                              "stored_detections_are_the_benchmarks": r.same_detections,
                              "file_policy": r.counts}
                     for r in shipped},
        "export_equals_track_detections_smoothed_and_rounded": {
            r.name: _same(r.exported, e) for r, e in zip(shipped, emulated)},
        "unsmoothed_export_equals_track_detections_rounded": {
            r.name: _same(r.exported, _as_exported(t, s.fps, 0.0, workdir / "rounded"))
            for r, s, t in zip(raw, seqs, offline)},
        "rows": {k: int(sum(len(t) for t in v)) for k, v in variants.items()},
        "scores": {k: _scores(seqs, v, protocol) for k, v in variants.items()},
    }


def shipped_markdown(results: dict[str, Any]) -> str:
    """The --shipped results as Markdown (for RESULTS.md)."""
    out = ["| dataset | tracks | boxes | HOTA | DetA | AssA | MOTA | IDF1 | IDSW |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, res in results["datasets"].items():
        for variant, sc in res["scores"].items():
            c = sc["combined"]
            out.append(f"| {name} | {variant} | {res['rows'][variant]:,} | {100 * c['hota']:.2f} "
                       f"| {100 * c['deta']:.2f} | {100 * c['assa']:.2f} | {100 * c['mota']:.2f} "
                       f"| {100 * c['idf1']:.2f} | {c['idsw']} |")
    return "\n".join(out)


def _print_shipped(name: str, res: dict[str, Any]) -> None:
    equal = [k for k, v in res["equality"].items()
             if v["store_equals_track_detections"] and v["stored_detections_are_the_benchmarks"]]
    print(f"\n{name}: {len(res['sequences'])} sequences; store == track_detections (and stored "
          f"detections == the benchmark's) on {len(equal)}/{len(res['sequences'])}; export == "
          "track_detections smoothed + rounded on "
          f"{sum(res['export_equals_track_detections_smoothed_and_rounded'].values())}; "
          f"pipeline {res['pipeline_seconds']:.1f} s")
    for variant, sc in res["scores"].items():
        c = sc["combined"]
        print(f"  {variant:70s} HOTA {100 * c['hota']:6.2f}  MOTA {100 * c['mota']:6.2f}  "
              f"IDF1 {100 * c['idf1']:6.2f}")


# -- reporting -------------------------------------------------------------------------------------


def _print_dataset(name: str, res: dict[str, Any]) -> None:
    print(f"\n{name}: {len(res['sequences'])} sequences, {res['frames']} frames, "
          f"{res['detections']} detections ({res['protocol']} rules)")
    print(f"{'tracker':40s} {'HOTA':>6} {'DetA':>6} {'AssA':>6} {'MOTA':>6} {'IDF1':>6} "
          f"{'IDSW':>5} {'frames/s':>9}")
    for tname, t in res["trackers"].items():
        c = t["combined"]
        print(f"{tname:40s} {100 * c['hota']:6.2f} {100 * c['deta']:6.2f} {100 * c['assa']:6.2f} "
              f"{100 * c['mota']:6.2f} {100 * c['idf1']:6.2f} {c['idsw']:5d} "
              f"{t['speed']['fps_median']:9.0f}")
    ours = res["trackers"].get("trackannot")
    if ours is None:
        return
    for tname, t in res["trackers"].items():
        if tname.startswith("trackannot"):
            continue
        dh = 100 * (ours["combined"]["hota"] - t["combined"]["hota"])
        ratio = ours["speed"]["fps_median"] / t["speed"]["fps_median"]
        print(f"  ours vs {tname}: HOTA {dh:+.2f} points, speed x{ratio:.1f}")


def markdown_tables(results: dict[str, Any]) -> str:
    """The quality and speed tables of a results JSON, as Markdown (for RESULTS.md)."""
    out = []
    for name, res in results["datasets"].items():
        base = {t: v["speed"]["fps_median"] for t, v in res["trackers"].items()}
        ours = base.get("trackannot")
        out += [f"\n**{name}** ({len(res['sequences'])} sequences, {res['frames']} frames, "
                f"{res['detections']} detections, TrackEval {res['protocol']} rules)\n",
                "| tracker | HOTA | DetA | AssA | MOTA | IDF1 | IDSW | frames/s (median) "
                "| ours / this (speed) |",
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for tname, t in res["trackers"].items():
            c, fps = t["combined"], t["speed"]["fps_median"]
            ratio = f"x{ours / fps:.1f}" if ours else "-"
            out.append(f"| {tname} | {100 * c['hota']:.2f} | {100 * c['deta']:.2f} | "
                       f"{100 * c['assa']:.2f} | {100 * c['mota']:.2f} | {100 * c['idf1']:.2f} "
                       f"| {c['idsw']} | {fps:,.0f} | {ratio} |")
    return "\n".join(out)


def _environment() -> dict[str, Any]:
    versions = {}
    for pkg in ("numpy", "scipy", "numba", "trackeval", "supervision", "trackers", "boxmot",
                "lapx"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    return {"python": platform.python_version(), "platform": platform.platform(),
            "cpu_count": os.cpu_count(), "processor": platform.processor(), "versions": versions}


def write_baseline(mot15: dict[str, Any]) -> Path:
    """tests/baselines/mot15_hota.json from trackannot's MOT15 result (fractions in [0, 1])."""
    ours = mot15["trackers"]["trackannot"]
    c = ours["combined"]
    payload = {
        "description": "trackannot.track.track_detections with TrackConfig() defaults on the 10 "
                       "MOT15 train sequences (det/det_sort_frcnn.txt), TrackEval MOT15 rules, "
                       "combined over sequences. Scores are fractions in [0, 1] (HOTA 0.005 = "
                       "0.5 HOTA points). Regenerate: python -m benchmarks.bench_tracking "
                       "--update-baseline",
        "generated": dt.date.today().isoformat(),
        "hota": c["hota"], "mota": c["mota"], "idf1": c["idf1"],
        "per_sequence": ours["per_sequence"],
        "track_config": config_to_dict(TrackConfig()),
    }
    return write_json(BASELINE, payload, indent=2, final_newline=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", default=",".join(DATASETS),
                        help=f"comma-separated subset of {list(DATASETS)}")
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds per tracker")
    parser.add_argument("--min-seconds", type=float, default=1.0,
                        help="a round repeats whole passes over the dataset for at least this long")
    parser.add_argument("--out", type=Path, default=OUT / "tracking.json")
    parser.add_argument("--update-baseline", action="store_true",
                        help="only run trackannot on MOT15 (1 timed round) and rewrite "
                             f"{BASELINE.relative_to(REPO)}")
    parser.add_argument("--markdown", type=Path, metavar="JSON",
                        help="print the Markdown tables of an earlier results JSON and exit")
    parser.add_argument("--shipped", action="store_true",
                        help="only trackannot: what ships (pipeline -> export) vs track_detections "
                             f"vs the old online output, equality checks; writes "
                             f"{SHIPPED_OUT.relative_to(REPO)}")
    args = parser.parse_args(argv)
    if args.markdown:
        print(markdown_tables(json.loads(args.markdown.read_text())))
        return 0
    if args.shipped:
        return _main_shipped(args.datasets.split(","), argv)
    names = ["MOT15"] if args.update_baseline else args.datasets.split(",")
    runners, missing = available_runners(only_ours=args.update_baseline)
    if args.update_baseline:
        runners = runners[:1]
    for m in missing:
        print(f"peer not installed, skipped: {m} (run bash benchmarks/setup_peers.sh)",
              file=sys.stderr)
    results = {
        "command": " ".join([Path(sys.executable).name, "-m", "benchmarks.bench_tracking",
                             *(argv if argv is not None else sys.argv[1:])]),
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "environment": _environment(),
        "repeats": args.repeats,
        "min_seconds": args.min_seconds,
        "datasets": {},
    }
    for name in names:
        results["datasets"][name] = run_dataset(
            name, runners, 1 if args.update_baseline else args.repeats, args.min_seconds)
        _print_dataset(name, results["datasets"][name])
    if args.update_baseline:
        print(f"\nwrote {write_baseline(results['datasets']['MOT15'])}")
        return 0
    write_json(args.out, results, indent=2, final_newline=True)
    print(f"\nwrote {args.out}")
    return 0


def _main_shipped(names: list[str], argv: list[str] | None) -> int:
    results: dict[str, Any] = {
        "command": " ".join([Path(sys.executable).name, "-m", "benchmarks.bench_tracking",
                             *(argv if argv is not None else sys.argv[1:])]),
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "environment": _environment(),
        "track_config": config_to_dict(TrackConfig()),
        "datasets": {},
    }
    with tempfile.TemporaryDirectory(prefix="trackannot-shipped-") as tmp:
        for name in names:
            results["datasets"][name] = run_shipped(name, Path(tmp) / name)
            _print_shipped(name, results["datasets"][name])
    print("\n" + shipped_markdown(results))
    write_json(SHIPPED_OUT, results, indent=1, final_newline=True)
    print(f"\nwrote {SHIPPED_OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
