"""Issue 14: where the Ray executor's 1-worker gap goes on the detections-file path.

The same 8 videos (copies of MOT15 ETH-Bahnhof's seqinfo.ini, its SORT Faster R-CNN detections
file, as `benchmarks.bench_scale`) through `track_videos` four ways, repeats interleaved (the
order rotates each repeat), medians and per-repeat ratios against the local run:

* `local`: this process, the local executor (jobs 1);
* `sub_persist`: a plain Python subprocess (no Ray), started and warmed once, the same call;
* `ray_fresh`: a 1-worker `RayExecutor` started for each repeat, as `bench_scale` does;
* `ray_persist`: one 1-worker `RayExecutor` started once and used for every repeat.

Measured per run: wall seconds of the `track_videos` call, and the user and system CPU seconds
and minor page faults of the process that does the work (/proc/<pid>/stat). `sub_persist`
against `local` separates "another process" from "Ray"; `ray_fresh` against `ray_persist`
separates "a fresh process" from "a Ray actor". The cluster gets 4 logical CPUs
(`ray.init(num_cpus=4)`) so that the persistent pool and a fresh one (2 CPUs each, as
`bench_scale`'s 1-worker pool) can both be up; the machine has 2 cores.

    python -m benchmarks.bench_ray_gap --repeats 6

Writes benchmarks/results/ray_gap.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks._common import result_doc, write_json
from benchmarks.bench_scale import DATA, _file_inputs
from trackannot.config import PipelineConfig, RayConfig

OUT = Path(__file__).resolve().parent / "results" / "ray_gap.json"
VARIANTS = ("local", "sub_persist", "ray_fresh", "ray_persist")
_TICK = os.sysconf("SC_CLK_TCK")


def _proc(pid: int) -> tuple[float, float, int]:
    """(user s, system s, minor faults) of process `pid` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / _TICK, int(fields[12]) / _TICK, int(fields[7])


def _worker(args: dict[str, Any]) -> None:
    """The plain subprocess: warm up once, then one `track_videos` per store path on stdin."""
    from trackannot.detect import make_detector
    from trackannot.pipeline import track_videos
    from trackannot.provenance import describe_detector

    cfg = PipelineConfig()
    videos = [Path(v) for v in args["videos"]]
    detector = make_detector(cfg.detect, detections=args["det"])
    info = describe_detector(detector, cfg.detect.weights, args["det"])
    track_videos(videos[:1], args["warm"], cfg, detector, detector_info=info)
    shutil.rmtree(args["warm"])
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        store = json.loads(line)["store"]
        t0 = time.perf_counter()
        track_videos(videos, store, cfg, detector, detector_info=info)
        wall = time.perf_counter() - t0
        shutil.rmtree(store)
        print(json.dumps({"wall": wall}), flush=True)


def run(repeats: int, copies: int, data: Path) -> dict[str, Any]:
    """Interleaved runs of every variant; raw rows, medians and ratios to `local`."""
    import ray

    from trackannot.detect import make_detector
    from trackannot.pipeline import failures, track_videos
    from trackannot.provenance import describe_detector
    from trackannot.ray_executor import DetectorSpec, RayExecutor

    os.environ.setdefault("RAY_worker_niceness", "0")
    ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False)
    work = Path(tempfile.mkdtemp(prefix="bench_ray_gap_"))
    sub = None
    persist = None
    try:
        videos, det = _file_inputs(work, data, copies)
        cfg = PipelineConfig()
        detector = make_detector(cfg.detect, detections=det)
        info = describe_detector(detector, cfg.detect.weights, det)
        spec = DetectorSpec(cfg.detect, str(det))
        track_videos(videos[:1], work / "warm.zarr", cfg, detector, detector_info=info)
        shutil.rmtree(work / "warm.zarr")
        args = {"videos": [str(v) for v in videos], "det": str(det), "warm": str(work / "w.zarr")}
        sub = subprocess.Popen([sys.executable, "-m", "benchmarks.bench_ray_gap", "--worker",
                                json.dumps(args)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               text=True, cwd=Path(__file__).resolve().parents[1])
        assert sub.stdin is not None and sub.stdout is not None
        if not json.loads(sub.stdout.readline()).get("ready"):
            raise RuntimeError("the plain subprocess did not start")
        one = RayConfig(workers=1, num_cpus=2)
        persist = RayExecutor.start(one, spec, videos=len(videos))
        rows: dict[str, list[dict[str, float]]] = {v: [] for v in VARIANTS}
        loads = []
        for r in range(repeats):
            order = VARIANTS[r % len(VARIANTS):] + VARIANTS[:r % len(VARIANTS)]
            for v in order:
                store = work / f"{v}-{r}.zarr"
                loads.append(float(Path("/proc/loadavg").read_text().split()[0]))
                pool = None
                if v == "local":
                    pid = os.getpid()
                elif v == "sub_persist":
                    pid = sub.pid
                else:
                    pool = persist if v == "ray_persist" else RayExecutor.start(
                        one, spec, videos=len(videos))
                    pid = pool.pids()[0]
                before = _proc(pid)
                t0 = time.perf_counter()
                if v == "sub_persist":
                    sub.stdin.write(json.dumps({"store": str(store)}) + "\n")
                    sub.stdin.flush()
                    wall = json.loads(sub.stdout.readline())["wall"]
                else:
                    summaries = track_videos(videos, store, cfg, pool.detector if pool else detector,
                                             detector_info=info, executor=pool)
                    wall = time.perf_counter() - t0
                    assert not failures(summaries), failures(summaries)
                after = _proc(pid)
                if v == "ray_fresh":
                    pool.close()
                if store.exists():
                    shutil.rmtree(store)
                rows[v].append({"wall_s": round(wall, 4),
                                "user_s": round(after[0] - before[0], 3),
                                "sys_s": round(after[1] - before[1], 3),
                                "minflt": after[2] - before[2]})
            print(f"repeat {r}: " + ", ".join(f"{v} {rows[v][-1]['wall_s']:.2f} s"
                                              for v in VARIANTS), flush=True)
    finally:
        if sub is not None and sub.stdin is not None:
            sub.stdin.close()
            sub.wait()
        if persist is not None:
            persist.close()
        ray.shutdown()
        shutil.rmtree(work, ignore_errors=True)
    med = statistics.median
    summary = {}
    for v in VARIANTS:
        summary[v] = {k: round(med([x[k] for x in rows[v]]), 3) for k in rows[v][0]}
        summary[v]["wall_over_local"] = round(med(
            [a["wall_s"] / b["wall_s"] for a, b in zip(rows[v], rows["local"])]), 4)
        summary[v]["user_over_local"] = round(med(
            [a["user_s"] / b["user_s"] for a, b in zip(rows[v], rows["local"])]), 4)
    return {"videos": copies, "runs": rows, "medians": summary,
            "load_average_1min": [min(loads), max(loads)]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=6)
    parser.add_argument("--copies", type=int, default=8)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(json.loads(args.worker))
        return
    import ray

    results = run(args.repeats, args.copies, args.data)
    write_json(args.out, result_doc("benchmarks.bench_ray_gap", results, repeats=args.repeats,
                                    ray=ray.__version__))
    for v, row in results["medians"].items():
        print(f"{v:12s} wall {row['wall_s']:.3f} s (x{row['wall_over_local']:.3f}), user "
              f"{row['user_s']:.3f} s (x{row['user_over_local']:.3f}), sys {row['sys_s']:.3f} s, "
              f"minor faults {row['minflt']:.0f}")
    print(f"load average {results['load_average_1min']}; wrote {args.out}")


if __name__ == "__main__":
    main()
