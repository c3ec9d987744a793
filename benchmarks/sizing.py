"""Sizing: how long 200 h of 1080p footage at 10 fps takes on N machines, from measured stage figures.

Nothing is timed here: the table is built from the result files other benchmarks wrote, and every
figure it uses is printed with the file it came from.

* `results/pipeline_cpu_device.json` (`bench_pipeline --preprocess device`): 1080p H.264 decoding
  (YUV planes), the detector alone (random-init yolo11n, imgsz 320) and end to end, per batch size,
  on this 2-core machine; tracking and store writing alone on PETS09's real detections.
* `results/scale.json` (`bench_scale`): the Ray executor's per-video scheduling overhead and its
  cluster start.
* `results/object_store.json` (`bench_object_store`): the write overhead per chunk on S3-compatible
  storage (moto on loopback) and the chunks a run wrote.
* `results/pipeline_gpu.json` (`benchmarks/gpu/run.sh`) when a GPU run exists: the detector and
  decoding on the GPU machine. None exists yet (no GPU was lent), so the GPU rows say what detector
  rate would make decoding the bottleneck instead of inventing one.

The model. Sampling by timestamp decodes every source frame (H.264 frames depend on the frames
before them) and keeps `sample_fps / source_fps` of them. On a CPU machine decoding, detection,
tracking and writing share the same cores, so their times per kept frame add up:

    t = (source_fps / sample_fps) / decode_fps + 1 / detect_fps + 1 / track_fps + 1 / store_fps
        + s3_s_per_frame

(checked against the measured end-to-end rate: the sum predicts it within a few percent, printed
below as "model check"). On a GPU machine the detector runs on the GPU beside CPU decoding, so the
rate is the slowest of the two. Videos are the unit of work: with V videos on N machines (one actor
each) the run takes ceil(V / N) rounds of one video, plus the Ray cluster's start and the per-video
scheduling overhead. The bottleneck named per N is the stage with the largest share of t, or
"video count" once machines outnumber the videos (rounding makes >= 10% of the run idle).

Usage:
    python -m benchmarks.sizing [--hours 200] [--sample-fps 10] [--source-fps 30] [--video-hours 1]
        [--machines 1 2 4 8 16 32 64 128 256] [--gpu-detect-fps F]
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from benchmarks._common import result_doc, write_json

RESULTS = Path(__file__).parent / "results"
CLIP_1080 = "1920x1080"


def _load(name: str) -> dict[str, Any] | None:
    path = RESULTS / name
    return json.loads(path.read_text()) if path.is_file() else None


def cpu_stages(doc: dict[str, Any]) -> dict[str, float]:
    """The 1080p H.264 stage rates (frames/s) of a pipeline result: the batch size with the best
    end-to-end rate, its decode and detector rates, and tracking/store writing alone."""
    stages = doc["results"]["stages"]
    h264 = [s for s in stages if CLIP_1080 in s["clip"] and "libx264" in s["clip"]]
    e2e = [s for s in h264 if s["stage"] == "e2e"]
    if not e2e:
        raise SystemExit(f"no 1080p H.264 end-to-end figure in {doc['command']}")
    best = max(e2e, key=lambda s: s["fps"])
    b = best["batch_size"]

    def rate(stage: str) -> float:
        return next(s["fps"] for s in h264 if s["stage"] == stage and s["batch_size"] == b)

    def alone(stage: str) -> float:  # tracking and writing PETS09's real detections (~8 a frame)
        return next(s["fps"] for s in stages if s["stage"] == stage and s["clip"] == "real boxes")

    return {"batch_size": b, "decode_fps": rate("decode"), "detect_fps": rate("detect"),
            "e2e_fps": best["fps"], "track_fps": alone("track"), "store_fps": alone("store")}


def s3_s_per_frame(doc: dict[str, Any] | None, default_chunk_rows: int = 65536) -> float:
    """Object-storage write overhead per kept frame at the default chunk size: the measured
    overhead per chunk times the chunks a frame fills (the benchmark's chunks per frame, scaled
    from its small chunks to the default ones: row chunks dominate)."""
    if doc is None:
        return 0.0
    r = doc["results"]
    per_frame_measured = r["chunks_written"]["s3"] / r["frames"]
    return r["write_overhead_per_chunk_s"] * per_frame_measured * r["chunk_rows"] / default_chunk_rows


def ray_overheads(doc: dict[str, Any] | None) -> dict[str, float]:
    """Per-video scheduling overhead (s) and cluster start (s): the largest median over the
    benchmark's paths and worker counts (the cautious figure)."""
    if doc is None:
        return {"per_video_s": 0.0, "start_s": 0.0}
    runs = [w for path in doc["results"].values() for w in path["by_workers"].values()]
    return {"per_video_s": max(w["per_video_overhead_ms_median"] for w in runs) / 1000,
            "start_s": max(w["ray_start_median_s"] for w in runs)}


def table(hours: float, sample_fps: float, source_fps: float, video_hours: float,
          machines: list[int], stages: dict[str, float], s3_frame_s: float,
          ray: dict[str, float], gpu_detect_fps: float | None, gpu_cores_factor: float) -> dict:
    frames = hours * 3600 * sample_fps
    videos = math.ceil(hours / video_hours)
    frames_per_video = frames / videos
    k = source_fps / sample_fps
    parts = {"decode": k / stages["decode_fps"], "detect": 1 / stages["detect_fps"],
             "track": 1 / stages["track_fps"], "store": 1 / stages["store_fps"],
             "object storage": s3_frame_s}
    t_cpu = sum(parts.values())
    check = 1 / (1 / stages["decode_fps"] + parts["detect"] + parts["track"] + parts["store"])
    rows = []
    for n in machines:
        rounds = math.ceil(videos / n)
        idle = 1 - (videos / n) / rounds
        per_video_s = frames_per_video * t_cpu + ray["per_video_s"]
        wall_s = ray["start_s"] + rounds * per_video_s
        neck = "video count" if idle >= 0.10 else max(parts, key=parts.get)
        row = {"machines": n, "rounds": rounds, "idle_share": round(idle, 3),
               "cpu_wall_h": wall_s / 3600, "cpu_bottleneck": neck}
        decode_fps = stages["decode_fps"] * gpu_cores_factor / k
        # GPU machines: without a measured detector rate, the decode-bound lower bound
        rate = min(decode_fps, gpu_detect_fps or math.inf)
        gpu_neck = "video count" if idle >= 0.10 else (
            "decode (CPU)" if decode_fps < (gpu_detect_fps or math.inf) else "detect (GPU)")
        row["gpu_wall_h"] = (ray["start_s"]
                             + rounds * (frames_per_video / rate + ray["per_video_s"])) / 3600
        row["gpu_bottleneck"] = gpu_neck
        rows.append(row)
    return {"frames": int(frames), "videos": videos, "frames_per_video": frames_per_video,
            "decoded_per_kept": k, "stage_s_per_frame": parts, "cpu_s_per_frame": t_cpu,
            "model_check": {"predicted_e2e_fps_at_source_rate": round(check, 1),
                            "measured_e2e_fps": round(stages["e2e_fps"], 1)},
            "gpu_decode_ceiling_fps": stages["decode_fps"] * gpu_cores_factor / k,
            "rows": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hours", type=float, default=200)
    ap.add_argument("--sample-fps", type=float, default=10)
    ap.add_argument("--source-fps", type=float, default=30)
    ap.add_argument("--video-hours", type=float, default=1.0, help="length of one video")
    ap.add_argument("--machines", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32, 64, 128, 256])
    ap.add_argument("--gpu-detect-fps", type=float, default=None,
                    help="detector rate on one GPU (1080p, batch of the GPU run); default: from "
                    "results/pipeline_gpu.json when it exists, else no GPU column")
    ap.add_argument("--gpu-machine-cores", type=int, default=16,
                    help="CPU cores of a GPU machine (decoding scales with cores: an assumption)")
    ap.add_argument("--out", type=Path, default=RESULTS / "sizing.json")
    args = ap.parse_args()

    cpu = _load("pipeline_cpu_device.json")
    if cpu is None:
        raise SystemExit("results/pipeline_cpu_device.json is missing: run "
                         "`python -m benchmarks.bench_pipeline --preprocess device` first")
    stages = cpu_stages(cpu)
    gpu_detect = args.gpu_detect_fps
    gpu = _load("pipeline_gpu.json")
    if gpu_detect is None and gpu is not None:
        gpu_detect = max(s["fps"] for s in gpu["results"]["stages"]
                         if s["stage"] == "detect" and CLIP_1080 in s["clip"])
    cores = cpu.get("machine", {}).get("cpus") or 2
    doc = table(args.hours, args.sample_fps, args.source_fps, args.video_hours, args.machines,
                stages, s3_s_per_frame(_load("object_store.json")), ray_overheads(_load("scale.json")),
                gpu_detect, args.gpu_machine_cores / cores)
    doc["inputs"] = {"cpu_stages": stages, "cpu_machine_cores": cores,
                     "gpu_detect_fps": gpu_detect,
                     "gpu_detect_source": "pipeline_gpu.json" if gpu is not None else
                     ("--gpu-detect-fps" if gpu_detect else "not measured (no GPU lent)"),
                     "ray": ray_overheads(_load("scale.json"))}
    write_json(args.out, result_doc("benchmarks.sizing", doc))

    print(f"{args.hours:g} h at {args.sample_fps:g} fps = {doc['frames']:,} kept frames in "
          f"{doc['videos']} videos of {args.video_hours:g} h; {args.source_fps:g} fps sources: "
          f"{doc['decoded_per_kept']:g} decoded per kept frame")
    print("CPU stage figures (1080p, this 2-core machine, batch %d): decode %.0f, detect %.1f, "
          "track %.0f, store %.0f frames/s" % (stages["batch_size"], stages["decode_fps"],
                                               stages["detect_fps"], stages["track_fps"],
                                               stages["store_fps"]))
    print("s per kept frame: " + ", ".join(f"{k} {v * 1000:.2f} ms"
                                           for k, v in doc["stage_s_per_frame"].items()))
    print(f"model check at the source rate: predicted {doc['model_check']['predicted_e2e_fps_at_source_rate']} "
          f"frames/s, measured e2e {doc['model_check']['measured_e2e_fps']}")
    gpu_head = "GPU machines: wall h" if gpu_detect else \
        "GPU machines, if the detector keeps up (not measured): wall h, at least"
    print(f"| machines | rounds | idle | CPU machines: wall h | bottleneck | {gpu_head} | bottleneck |")
    print("|---:|---:|---:|---:|---|---:|---|")
    for r in doc["rows"]:
        line = (f"| {r['machines']} | {r['rounds']} | {r['idle_share']:.0%} | {r['cpu_wall_h']:.2f} | "
                f"{r['cpu_bottleneck']} |")
        line += f" {r['gpu_wall_h']:.2f} | {r['gpu_bottleneck']} |"
        print(line)
    print(f"GPU machine decode ceiling ({args.gpu_machine_cores} cores, linear in cores: assumed): "
          f"{doc['gpu_decode_ceiling_fps']:.0f} kept frames/s")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
