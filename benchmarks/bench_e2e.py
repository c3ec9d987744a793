"""End-to-end CLI run on real footage: frames/s and peak RSS.

Runs `trackannot track` as a user would, on ../shared/data/video/vtest_PETS09-S2L1_480x360_h264.avi
(795 frames, PETS09-S2L1 re-encoded at 480x360) with the PETS09-S2L1 detections from a file. The
detections are in the original 768x576 pixels; the detections source scales them by 480/768 = 0.625
from the seqinfo.ini beside det/, and MOT frame f (1-based) lands on video frame f-1.

Reports, over --repeats runs (median): wall time of the whole command (interpreter start, imports,
decode, detection file, tracking, store), the pipeline's own frames/s, and the peak RSS of the
process (getrusage of the child).

Usage:
    python benchmarks/bench_e2e.py [--repeats 3] [--detections det_sort_frcnn.txt]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
VIDEO = DATA / "video" / "vtest_PETS09-S2L1_480x360_h264.avi"
SEQ = DATA / "MOT15" / "PETS09-S2L1"
FRAMES = 795


def _run_once(detections: Path, extra: list[str]) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "out.zarr"
        cmd = [sys.executable, "-m", "trackannot.cli.main", "track", str(VIDEO), "-o", str(store),
               "--detections", str(detections), "--quiet", *extra]
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ,
                              "YOLO_OFFLINE": "1"}, check=False)
        wall = time.perf_counter() - t0
        peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        if proc.returncode != 0:
            raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr}")
        match = re.search(r"(\d+) frames, .* ([\d.]+) frames/s", proc.stdout)
        if match is None:
            raise SystemExit(f"unexpected output:\n{proc.stdout}")
        return {
            "frames": int(match.group(1)),
            "pipeline_fps": float(match.group(2)),
            "wall_s": wall,
            "wall_fps": int(match.group(1)) / wall,
            # ru_maxrss of children is the largest child so far; runs are sequential and equal,
            # so the max over runs is this run's peak within a few MiB
            "peak_rss_mib": max(peak_kib, before) / 1024,
            "store_mib": sum(f.stat().st_size for f in store.rglob("*") if f.is_file()) / 2**20,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--detections", default="det_sort_frcnn.txt",
                        help="file under MOT15/PETS09-S2L1/det/ (det.txt is the public ACF set)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out" / "e2e.json")
    args, extra = parser.parse_known_args()
    detections = SEQ / "det" / args.detections
    runs = [_run_once(detections, extra) for _ in range(args.repeats)]
    if any(r["frames"] != FRAMES for r in runs):
        raise SystemExit(f"expected {FRAMES} frames, got {[r['frames'] for r in runs]}")
    summary = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    summary["peak_rss_mib"] = max(r["peak_rss_mib"] for r in runs)
    print(f"video: {VIDEO.name} ({FRAMES} frames, 480x360 H.264), detections: {detections.name}")
    print(f"runs: {args.repeats}  (medians; peak RSS is the max)")
    print(f"  pipeline frames/s : {summary['pipeline_fps']:8.1f}")
    print(f"  wall s (whole CLI): {summary['wall_s']:8.2f}  -> {summary['wall_fps']:.1f} frames/s")
    print(f"  peak RSS MiB      : {summary['peak_rss_mib']:8.1f}")
    print(f"  store MiB         : {summary['store_mib']:8.2f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"runs": runs, "summary": summary}, indent=2))


if __name__ == "__main__":
    main()
