"""Issue 14 (scale-out): the Ray executor against the local one on this machine.

The same videos go through `track_videos` with the local executor (threads, `jobs` = N) and with
the Ray executor (N actors, `RayConfig(workers=N)`), N = 1 and 2, repeats interleaved (each
repeat runs every variant once, in turn), medians reported:

* detections-file path: copies of a MOTChallenge seqinfo.ini (MOT15 ETH-Bahnhof, 1000 frames, no
  pixels) tracked from the sequence's SORT Faster R-CNN detections file. One detections file
  feeds one detector, so the videos are the same sequence under different names (the work is
  the same; each is its own group);
* demo-model path: synthetic demo clips (`trackannot.demo`, 640x360, 15 fps) through the
  bundled tiny YOLO on the CPU.

What is timed. `run_s`: the `track_videos` call, every video planned, tracked and written (a
fresh store each time); the local detector is built before and the Ray actors are started
before (`RayExecutor.start`: connect, start the actors, build their detectors), as a pool
that stays up serves many runs. `start_s`: that start, reported apart, and `run_s + start_s`
against the local `run_s` as the end-to-end ratio of a one-off run. The Ray cluster is started
once (`ray.init(num_cpus=2)`), as a running cluster would be; N actors hold 2/N CPUs each
(`--ray-num-cpus`), the machine split evenly as the local executor's threads share it, at
nice 0 like this process (`RAY_worker_niceness=0`; Ray's default, 15, lets every other process
on this shared machine go first). Per-video scheduling overhead: for
each video, the time from handing it to an actor to its summary back in the driver, minus the
time inside the actor's `track_video` call (`RayExecutor.timings`).

    python -m benchmarks.bench_scale                 # both paths, 3 repeats
    python -m benchmarks.bench_scale --path file --repeats 5

Writes benchmarks/results/scale.json.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from benchmarks._common import result_doc, write_json
from trackannot.config import PipelineConfig, RayConfig

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
OUT = REPO / "benchmarks" / "results" / "scale.json"
SEQ = Path("MOT15") / "ETH-Bahnhof"
# the Ray cluster's CPUs; N actors hold CPUS / N each (the machine split evenly, as the local
# executor's N threads share it; Ray sets OMP_NUM_THREADS, hence torch's threads, to that)
CPUS = 2


def _file_inputs(work: Path, data: Path, copies: int) -> tuple[list[Path], Path]:
    """`copies` seqinfo.ini copies of SEQ (folders seq0, seq1, ...) and its detections file."""
    seq = data / SEQ
    det = seq / "det" / "det_sort_frcnn.txt"
    videos = []
    for i in range(copies):
        folder = work / "file" / f"seq{i}"
        folder.mkdir(parents=True)
        shutil.copy(seq / "seqinfo.ini", folder / "seqinfo.ini")
        videos.append(folder / "seqinfo.ini")
    return videos, det


def _demo_inputs(work: Path, clips: int, seconds: float) -> list[Path]:
    from trackannot.demo.run import DEMO_FPS, DEMO_HEIGHT, DEMO_WIDTH
    from trackannot.demo.synth import write_demo_clip

    folder = work / "demo"
    folder.mkdir(parents=True)
    videos = []
    for i in range(clips):
        videos.append(folder / f"clip{i}.mp4")
        write_demo_clip(videos[-1], seed=i, seconds=seconds, fps=DEMO_FPS, width=DEMO_WIDTH,
                        height=DEMO_HEIGHT)
    return videos


def _demo_cfg() -> PipelineConfig:
    from trackannot.demo.run import DEMO_IMGSZ, DEMO_WEIGHTS

    cfg = PipelineConfig()
    return replace(cfg, detect=replace(cfg.detect, weights=str(DEMO_WEIGHTS), imgsz=DEMO_IMGSZ,
                                       device="cpu"))


def _median(xs: list[float]) -> float:
    return float(statistics.median(xs)) if xs else float("nan")


def bench_path(name: str, videos: list[Path], detections: Path | None, cfg: PipelineConfig,
               workers: list[int], repeats: int, work: Path) -> dict[str, Any]:
    """Interleaved local/Ray runs of `videos` at each worker count; medians and ratios."""
    from trackannot.detect import make_detector
    from trackannot.pipeline import failures, track_videos
    from trackannot.provenance import describe_detector
    from trackannot.ray_executor import DetectorSpec, RayExecutor

    t0 = time.perf_counter()
    detector = make_detector(cfg.detect, detections=detections)
    build_s = time.perf_counter() - t0
    info = describe_detector(detector, cfg.detect.weights, detections)
    spec = DetectorSpec(cfg.detect, str(detections) if detections else None)
    # warm this process as the actors warm themselves (imports, compiled tracker kernels)
    track_videos(videos[:1], work / f"{name}-warm.zarr", cfg, detector, detector_info=info)
    shutil.rmtree(work / f"{name}-warm.zarr")
    frames = 0
    raw: dict[str, dict[str, list[float]]] = {}
    overheads: dict[int, list[float]] = {n: [] for n in workers}
    for r in range(repeats):
        for n in workers:
            # local: threads of this process, one shared detector
            store = work / f"{name}-local-{n}-{r}.zarr"
            t0 = time.perf_counter()
            summaries = track_videos(videos, store, cfg, detector, detector_info=info, jobs=n)
            local_s = time.perf_counter() - t0
            assert not failures(summaries), failures(summaries)
            frames = sum(s.frames for s in summaries)
            shutil.rmtree(store)
            # ray: a pool of n actors, each with its own detector
            t0 = time.perf_counter()
            pool = RayExecutor.start(RayConfig(workers=n, num_cpus=CPUS / n), spec,
                                     videos=len(videos))
            start_s = time.perf_counter() - t0
            store = work / f"{name}-ray-{n}-{r}.zarr"
            try:
                t0 = time.perf_counter()
                summaries = track_videos(videos, store, cfg, pool.detector, detector_info=info,
                                         executor=pool)
                ray_s = time.perf_counter() - t0
            finally:
                pool.close()
            assert not failures(summaries), failures(summaries)
            overheads[n] += [t.driver_s - t.actor_s for t in pool.timings]
            shutil.rmtree(store)
            for key, value in ((f"local_{n}", local_s), (f"ray_{n}", ray_s),
                               (f"ray_start_{n}", start_s)):
                raw.setdefault(key, {"s": []})["s"].append(value)
            print(f"{name} repeat {r} workers {n}: local {local_s:.2f} s, ray {ray_s:.2f} s "
                  f"(+ start {start_s:.2f} s), {frames} frames", flush=True)
    out: dict[str, Any] = {"videos": len(videos), "frames": frames,
                           "local_detector_build_s": round(build_s, 3), "by_workers": {}}
    for n in workers:
        local = _median(raw[f"local_{n}"]["s"])
        ray_run = _median(raw[f"ray_{n}"]["s"])
        start = _median(raw[f"ray_start_{n}"]["s"])
        ov = overheads[n]
        out["by_workers"][str(n)] = {
            "local_run_s": [round(x, 3) for x in raw[f"local_{n}"]["s"]],
            "ray_run_s": [round(x, 3) for x in raw[f"ray_{n}"]["s"]],
            "ray_start_s": [round(x, 3) for x in raw[f"ray_start_{n}"]["s"]],
            "local_median_s": round(local, 3),
            "ray_median_s": round(ray_run, 3),
            "ray_start_median_s": round(start, 3),
            "ray_over_local": round(ray_run / local, 4),
            "ray_with_start_over_local": round((ray_run + start) / local, 4),
            "local_fps": round(frames / local, 1),
            "ray_fps": round(frames / ray_run, 1),
            "per_video_overhead_ms_median": round(1000 * _median(ov), 2),
            "per_video_overhead_ms_max": round(1000 * max(ov), 2) if ov else None,
        }
    if len(workers) > 1:
        lo, hi = str(workers[0]), str(workers[-1])
        b = out["by_workers"]
        out["scaling"] = {
            "local": round(b[lo]["local_median_s"] / b[hi]["local_median_s"], 3),
            "ray": round(b[lo]["ray_median_s"] / b[hi]["ray_median_s"], 3),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--path", choices=["file", "demo", "both"], default="both")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--copies", type=int, default=4, help="seqinfo copies (file path)")
    parser.add_argument("--clips", type=int, default=4, help="demo clips (demo path)")
    parser.add_argument("--seconds", type=float, default=4.0, help="demo clip length")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    import os

    import ray

    # the actors at the benchmark's own priority (Ray's default is nice 15): on this shared
    # machine other processes would otherwise take the actors' CPU, not the executor's overhead
    os.environ.setdefault("RAY_worker_niceness", "0")
    ray.init(num_cpus=CPUS, include_dashboard=False, log_to_driver=False)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench_scale_") as tmp:
        work = Path(tmp)
        if args.path in ("file", "both"):
            videos, det = _file_inputs(work, args.data, args.copies)
            results["detections_file"] = bench_path("file", videos, det, PipelineConfig(),
                                                    args.workers, args.repeats, work)
        if args.path in ("demo", "both"):
            videos = _demo_inputs(work, args.clips, args.seconds)
            results["demo_model"] = bench_path("demo", videos, None, _demo_cfg(), args.workers,
                                               args.repeats, work)
    ray.shutdown()
    doc = result_doc("benchmarks.bench_scale", results, repeats=args.repeats,
                     workers=args.workers, sequence=str(SEQ), ray=ray.__version__)
    write_json(args.out, doc)
    for path, res in results.items():
        for n, row in res["by_workers"].items():
            print(f"{path} workers={n}: local {row['local_median_s']:.2f} s, ray "
                  f"{row['ray_median_s']:.2f} s (x{row['ray_over_local']:.3f}; with start "
                  f"x{row['ray_with_start_over_local']:.3f}), per-video overhead "
                  f"{row['per_video_overhead_ms_median']:.1f} ms median")
        if "scaling" in res:
            print(f"{path} scaling 1->2 workers: local x{res['scaling']['local']:.2f}, "
                  f"ray x{res['scaling']['ray']:.2f}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
