"""Issue 14: where the Ray executor's 1-worker gap goes, on the detections-file or demo-model path.

The same videos through `track_videos` several ways, repeats interleaved (the order rotates each
repeat), medians and per-repeat ratios against the local run of the same repeat:

* `local`: this process, the local executor (jobs 1);
* `sub_persist`: a plain Python subprocess (no Ray), started and warmed once, the same call;
* `ray_fresh`: a 1-worker `RayExecutor` started for each repeat, as `bench_scale` does (as
  the executor starts actors: `ACTOR_ENV`, `MALLOC_ARENA_MAX=1`, and from commit 1d40a5b on a
  heap frozen after the warm-up, `gc.freeze()`);
* `ray_persist`: one 1-worker `RayExecutor` started once and used for every repeat;
* tuned actors, each a fresh 1-worker pool per repeat as `ray_fresh`, with one thing changed:
  `ray_arena16` (`MALLOC_ARENA_MAX=16`, glibc's default on 2 cores: the actors as they ran
  before `ACTOR_ENV`), `ray_arena2` (`MALLOC_ARENA_MAX=2`), `ray_notrim` (glibc malloc's
  thresholds fixed, `_NOTRIM_ENV`), `ray_freeze` (`gc.freeze()` after the actor's warm-up;
  the same as `ray_fresh` from 1d40a5b on),
  `ray_torch1` (`torch.set_num_threads(1)` in the actor), `ray_quiet` (Ray's per-process
  metrics and task events off and one gRPC server thread, `_QUIET_ENV`).

Paths (`--path`): `file`, copies of MOT15 ETH-Bahnhof's seqinfo.ini with its SORT Faster R-CNN
detections file (as `benchmarks.bench_scale`); `demo`, synthetic demo clips through the bundled
tiny YOLO on the CPU at imgsz 320 (as `bench_scale`'s demo-model path).

Measured per run, in the process that does the work: wall seconds of the `track_videos` call;
user and system CPU seconds, minor and major page faults (/proc/<pid>/stat); CPU seconds per
thread (/proc/<pid>/task/*/stat), grouped: the Python threads that live on, by their
`threading` name (`track_video` runs on `MainThread` in `local` and `sub_persist`, on a Ray
task thread, `Dummy`, in an actor), native threads by their name (Ray's core-worker threads,
...), and `exited` (threads that ended during the run: the per-video decode and detect threads
of `trackannot.overlap.in_background`, with the OpenMP team of the detect thread); the Python
garbage collector's collections per generation and seconds inside them (`gc.callbacks`);
resident memory (VmRSS, VmHWM) after the run; torch's intra-op threads (the probing thread's
and a new thread's, which is what the per-video detect thread gets) and inter-op threads.
With `--perf DIR`, each run is also sampled by `perf record` (CPU clock, 999 Hz, every thread of
the working process) into DIR/<variant>-<repeat>.data, for `perf report --sort sym` side by side.
`sub_persist` against `local` separates "another process" from "Ray"; `ray_fresh` against
`ray_persist` "a fresh process" from "a Ray actor". The cluster gets 8 logical CPUs
(`ray.init(num_cpus=8)`) so that the persistent pool and a fresh one (2 CPUs each, as
`bench_scale`'s 1-worker pool) can both be up; the machine has 2 cores.

    python -m benchmarks.bench_ray_gap --repeats 7
    python -m benchmarks.bench_ray_gap --path demo --repeats 9 \
        --variants local sub_persist ray_fresh ray_arena16 ray_arena2 \
        --out benchmarks/results/ray_gap_demo.json

Writes benchmarks/results/ray_gap.json (or --out).
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
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks._common import result_doc, write_json
from benchmarks.bench_scale import DATA, _demo_cfg, _demo_inputs, _file_inputs
from trackannot.config import PipelineConfig, RayConfig

OUT = Path(__file__).resolve().parent / "results" / "ray_gap.json"
BASE = ("local", "sub_persist", "ray_fresh", "ray_persist")
TUNED = ("ray_arena16", "ray_arena2", "ray_arena1", "ray_notrim", "ray_freeze", "ray_torch1",
         "ray_quiet")
# Ray's own per-process reporting, off (read by each core worker from its environment)
_QUIET_ENV = {"RAY_enable_metrics_collection": "0", "RAY_enable_task_events": "0",
              "RAY_event_stats": "0", "RAY_core_worker_num_server_call_thread": "1",
              "RAY_num_server_call_thread": "1"}
# glibc malloc's fixed thresholds: blocks under 32 MiB from the heap, freed memory kept up to
# 128 MiB at its top (the dynamic defaults hand big freed blocks back and fault them in again)
_NOTRIM_ENV = {"MALLOC_MMAP_THRESHOLD_": str(32 << 20), "MALLOC_TRIM_THRESHOLD_": str(128 << 20)}
_ENV = {"ray_arena16": {"MALLOC_ARENA_MAX": "16"}, "ray_arena2": {"MALLOC_ARENA_MAX": "2"},
        "ray_arena1": {"MALLOC_ARENA_MAX": "1"},
        "ray_notrim": _NOTRIM_ENV, "ray_quiet": _QUIET_ENV}
_TICK = os.sysconf("SC_CLK_TCK")


def _proc(pid: int) -> dict[str, float]:
    """User s, system s, minor and major faults of process `pid` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return {"user_s": int(fields[11]) / _TICK, "sys_s": int(fields[12]) / _TICK,
            "minflt": int(fields[7]), "majflt": int(fields[9])}


def _threads(pid: int) -> dict[int, tuple[str, float]]:
    """tid -> (native name, CPU seconds so far) of every live thread of `pid`."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            text = (task / "stat").read_text()
        except OSError:  # ended since the listing
            continue
        name = text[text.index("(") + 1:text.rindex(")")]
        fields = text.rsplit(")", 1)[1].split()
        out[int(task.name)] = (name, (int(fields[11]) + int(fields[12])) / _TICK)
    return out


def _memory(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM of `pid` in MiB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key.lower() + "_mib"] = round(int(value.split()[0]) / 1024, 1)
    return out


def _probe(_actor: Any, action: str) -> dict[str, Any]:
    """In the process that does the work (an actor through `__ray_call__`, the subprocess or
    this one): "install" gc callbacks; "read" (and reset) the gc counts, and name the Python
    threads and torch's thread counts; "unfreeze", "torch1" apply a tuning."""
    import gc

    state = sys.modules[__name__].__dict__.setdefault("_GC_STATE", {})
    if action == "install" and not state:
        state.update(n=[0, 0, 0], s=[0.0, 0.0, 0.0], t0=[0.0])

        def on_gc(phase: str, info: dict[str, int]) -> None:
            if phase == "start":
                state["t0"][0] = time.perf_counter()
            else:
                g = info["generation"]
                state["n"][g] += 1
                state["s"][g] += time.perf_counter() - state["t0"][0]

        gc.callbacks.append(on_gc)
    elif action == "freeze":
        gc.freeze()
    elif action == "torch1":
        import torch

        torch.set_num_threads(1)
    out: dict[str, Any] = {"gc_collections": list(state.get("n", [])),
                           "gc_s": [round(x, 4) for x in state.get("s", [])],
                           "gc_frozen": gc.get_freeze_count(),
                           "threads": {t.native_id: t.name for t in threading.enumerate()},
                           "caller": threading.get_native_id()}
    if "torch" in sys.modules:
        import torch

        fresh: list[int] = []  # what a new thread (the per-video detect thread) gets
        t = threading.Thread(target=lambda: fresh.append(torch.get_num_threads()))
        t.start()
        t.join()
        out["torch_threads"] = [torch.get_num_threads(), fresh[0], torch.get_num_interop_threads()]
    if action == "read" and state:
        state["n"][:] = [0, 0, 0]
        state["s"][:] = [0.0, 0.0, 0.0]
    return out


def _worker(args: dict[str, Any]) -> None:
    """The plain subprocess: warm up once, then one `track_videos` per store path on stdin."""
    from trackannot.detect import make_detector
    from trackannot.pipeline import track_videos
    from trackannot.provenance import describe_detector

    cfg = _demo_cfg() if args["path"] == "demo" else PipelineConfig()
    videos = [Path(v) for v in args["videos"]]
    detector = make_detector(cfg.detect, detections=args["det"])
    info = describe_detector(detector, cfg.detect.weights, args["det"])
    track_videos(videos[:1], args["warm"], cfg, detector, detector_info=info)
    shutil.rmtree(args["warm"])
    _probe(None, "install")
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        store = json.loads(line)["store"]
        t0 = time.perf_counter()
        track_videos(videos, store, cfg, detector, detector_info=info)
        wall = time.perf_counter() - t0
        shutil.rmtree(store)
        print(json.dumps({"wall": wall, "probe": _probe(None, "read")}), flush=True)


def _by_thread(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]],
               total_s: float, probe: dict[str, Any]) -> dict[str, float]:
    """CPU seconds of the run per thread group (see the module docstring)."""
    names = {int(k): v for k, v in probe["threads"].items()}
    groups: dict[str, float] = {}
    seen = 0.0
    for tid, (native, cpu) in after.items():
        used = cpu - before.get(tid, (native, 0.0))[1]
        seen += used
        if tid in names:
            group = "py:" + names[tid].split("-")[0].split(" ")[0]
        else:
            group = "native:" + native
        groups[group] = groups.get(group, 0.0) + used
    groups["exited"] = max(total_s - seen, 0.0)
    return {k: round(v, 3) for k, v in sorted(groups.items())}


def _perf_start(perf: Path | None, pid: int, name: str) -> subprocess.Popen | None:
    """`perf record` of one process (every thread, CPU-clock samples at 999 Hz), or None."""
    if perf is None:
        return None
    perf.mkdir(parents=True, exist_ok=True)
    rec = subprocess.Popen(["perf", "record", "-q", "-e", "cpu-clock", "-F", "999", "-p", str(pid),
                            "-o", str(perf / f"{name}.data")], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    time.sleep(0.3)  # perf attaches to every thread before the run starts
    return rec


def _perf_stop(rec: subprocess.Popen | None) -> None:
    if rec is not None:
        rec.send_signal(2)
        rec.wait()


def run(path: str, variants: list[str], repeats: int, copies: int, clips: int, seconds: float,
        data: Path, perf: Path | None = None) -> dict[str, Any]:
    """Interleaved runs of every variant; raw rows, medians and ratios to `local`."""
    import ray
    from ray import cloudpickle

    from trackannot.detect import make_detector
    from trackannot.pipeline import failures, track_videos
    from trackannot.provenance import describe_detector
    from trackannot.ray_executor import DetectorSpec, RayExecutor

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    os.environ.setdefault("RAY_worker_niceness", "0")
    ray.init(num_cpus=8, include_dashboard=False, log_to_driver=False)
    work = Path(tempfile.mkdtemp(prefix="bench_ray_gap_"))
    sub = None
    persist = None
    try:
        if path == "demo":
            videos, det, cfg = _demo_inputs(work, clips, seconds), None, _demo_cfg()
        else:
            (videos, det), cfg = _file_inputs(work, data, copies), PipelineConfig()
        detector = make_detector(cfg.detect, detections=det)
        info = describe_detector(detector, cfg.detect.weights, det)
        spec = DetectorSpec(cfg.detect, str(det) if det else None)
        track_videos(videos[:1], work / "warm.zarr", cfg, detector, detector_info=info)
        shutil.rmtree(work / "warm.zarr")
        _probe(None, "install")
        args = {"path": path, "videos": [str(v) for v in videos],
                "det": str(det) if det else None, "warm": str(work / "w.zarr")}
        if "sub_persist" in variants:
            sub = subprocess.Popen([sys.executable, "-m", "benchmarks.bench_ray_gap", "--worker",
                                    json.dumps(args)], stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, text=True,
                                   cwd=Path(__file__).resolve().parents[1])
            assert sub.stdin is not None and sub.stdout is not None
            if not json.loads(sub.stdout.readline()).get("ready"):
                raise RuntimeError("the plain subprocess did not start")
        one = RayConfig(workers=1, num_cpus=2)
        if "ray_persist" in variants:
            persist = RayExecutor.start(one, spec, videos=len(videos))
            ray.get(persist.actors[0].__ray_call__.remote(_probe, "install"))
        rows: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
        loads = []
        for r in range(repeats):
            order = variants[r % len(variants):] + variants[:r % len(variants)]
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
                        one, spec, videos=len(videos), env_vars=_ENV.get(v))
                    pid = pool.pids()[0]
                    actor = pool.actors[0]
                    if v != "ray_persist":
                        ray.get(actor.__ray_call__.remote(_probe, "install"))
                    if v in ("ray_freeze", "ray_torch1"):
                        ray.get(actor.__ray_call__.remote(_probe, v.removeprefix("ray_")))
                    ray.get(actor.__ray_call__.remote(_probe, "read"))
                if v == "local":
                    _probe(None, "read")
                rec = _perf_start(perf, pid, f"{v}-{r}")
                before, threads0 = _proc(pid), _threads(pid)
                t0 = time.perf_counter()
                if v == "sub_persist":
                    sub.stdin.write(json.dumps({"store": str(store)}) + "\n")
                    sub.stdin.flush()
                    reply = json.loads(sub.stdout.readline())
                    wall, probe = reply["wall"], reply["probe"]
                else:
                    summaries = track_videos(videos, store, cfg,
                                             pool.detector if pool else detector,
                                             detector_info=info, executor=pool)
                    wall = time.perf_counter() - t0
                    assert not failures(summaries), failures(summaries)
                after, threads1, memory = _proc(pid), _threads(pid), _memory(pid)
                _perf_stop(rec)
                if pool is not None:
                    probe = ray.get(pool.actors[0].__ray_call__.remote(_probe, "read"))
                elif v == "local":
                    probe = _probe(None, "read")
                if v == "ray_fresh" or v in TUNED:
                    pool.close()
                if store.exists():
                    shutil.rmtree(store)
                cpu = {k: after[k] - before[k] for k in after}
                row = {"wall_s": round(wall, 4), "user_s": round(cpu["user_s"], 3),
                       "sys_s": round(cpu["sys_s"], 3), "minflt": cpu["minflt"],
                       "majflt": cpu["majflt"], **memory,
                       "gc_collections": probe["gc_collections"], "gc_s": probe["gc_s"],
                       "gc_frozen": probe["gc_frozen"], "torch_threads": probe.get("torch_threads"),
                       "threads": _by_thread(threads0, threads1, cpu["user_s"] + cpu["sys_s"],
                                             probe)}
                rows[v].append(row)
            print(f"repeat {r}: " + ", ".join(f"{v} {rows[v][-1]['wall_s']:.2f} s"
                                              for v in variants), flush=True)
    finally:
        if sub is not None and sub.stdin is not None:
            sub.stdin.close()
            sub.wait()
        if persist is not None:
            persist.close()
        ray.shutdown()
        shutil.rmtree(work, ignore_errors=True)
    return {"path": path, "videos": len(videos), "runs": rows,
            "medians": _medians(rows, variants), "load_average_1min": [min(loads), max(loads)]}


def _medians(rows: dict[str, list[dict[str, Any]]], variants: list[str]) -> dict[str, Any]:
    med = statistics.median
    summary: dict[str, Any] = {}
    for v in variants:
        got = rows[v]
        s = {k: round(med([x[k] for x in got]), 3) for k in
             ("wall_s", "user_s", "sys_s", "minflt", "majflt", "vmrss_mib", "vmhwm_mib")}
        if "local" in rows:
            for k in ("wall_s", "user_s", "sys_s"):
                s[k.removesuffix("_s") + "_over_local"] = round(med(
                    [a[k] / b[k] for a, b in zip(got, rows["local"])]), 4)
        s["gc_collections"] = [med([x["gc_collections"][g] for x in got]) for g in range(3)]
        s["gc_s"] = [round(med([x["gc_s"][g] for x in got]), 4) for g in range(3)]
        groups = sorted({k for x in got for k in x["threads"]})
        s["threads"] = {k: round(med([x["threads"].get(k, 0.0) for x in got]), 3)
                        for k in groups}
        s["torch_threads"] = got[0]["torch_threads"]
        summary[v] = s
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--path", choices=["file", "demo"], default="file")
    parser.add_argument("--variants", nargs="+", choices=BASE + TUNED, default=list(BASE))
    parser.add_argument("--repeats", type=int, default=6)
    parser.add_argument("--copies", type=int, default=8, help="seqinfo copies (file path)")
    parser.add_argument("--clips", type=int, default=4, help="demo clips (demo path)")
    parser.add_argument("--seconds", type=float, default=4.0, help="demo clip length")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--perf", type=Path, help="write a `perf record` of each run here")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(json.loads(args.worker))
        return
    import ray

    if args.variants[0] != "local":
        parser.error("--variants must start with local (the ratios are to it)")
    results = run(args.path, args.variants, args.repeats, args.copies, args.clips, args.seconds,
                  args.data, args.perf)
    write_json(args.out, result_doc("benchmarks.bench_ray_gap", results, repeats=args.repeats,
                                    ray=ray.__version__))
    for v, row in results["medians"].items():
        print(f"{v:12s} wall {row['wall_s']:.3f} s (x{row['wall_over_local']:.3f}), user "
              f"{row['user_s']:.3f} s (x{row['user_over_local']:.3f}), sys {row['sys_s']:.3f} s "
              f"(x{row['sys_over_local']:.3f}), faults {row['minflt']:.0f}, rss "
              f"{row['vmrss_mib']:.0f} MiB (peak {row['vmhwm_mib']:.0f}), gc "
              f"{row['gc_collections']} in {sum(row['gc_s']):.3f} s, torch {row['torch_threads']}")
        print("    threads: " + ", ".join(f"{k} {x:.2f}" for k, x in row["threads"].items()))
    print(f"load average {results['load_average_1min']}; wrote {args.out}")


if __name__ == "__main__":
    main()
