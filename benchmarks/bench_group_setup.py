"""Per-video cost of short videos: this checkout against another, interleaved.

`track_videos` (local executor, 1 job) over `--copies` copies of MOT15 ETH-Bahnhof's seqinfo.ini
with its SORT Faster R-CNN detections file (1000 frames each, no pixels, as `bench_scale`'s
detections-file path), where a video group's set-up and close weigh most. Each checkout runs in
a subprocess of its own (imports from its folder), warmed by one video, then `--runs` runs;
the checkouts alternate `--repeats` times. Reported per checkout: the median run, seconds per
video, and the round trips to zarr's event loop per video (`asyncio.run_coroutine_threadsafe`
calls: each is a wait of the writing thread on zarr's loop thread).

    git worktree add /tmp/before <commit>
    python -m benchmarks.bench_group_setup --against /tmp/before --repeats 5

Writes benchmarks/results/group_setup.json (or --out).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks._common import result_doc, write_json

HERE = Path(__file__).resolve().parents[1]
OUT = HERE / "benchmarks" / "results" / "group_setup.json"
DATA = HERE.parent / "shared" / "data"

_WORKER = r"""
import asyncio, json, shutil, sys, tempfile, time
from pathlib import Path
root, data, copies, runs = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
sys.path.insert(0, root)
import trackannot
assert trackannot.__file__.startswith(root), trackannot.__file__
from benchmarks.bench_scale import _file_inputs
from trackannot.config import PipelineConfig
from trackannot.detect import make_detector
from trackannot.pipeline import track_videos
from trackannot.provenance import describe_detector

calls = [0]
submit = asyncio.run_coroutine_threadsafe
def counted(*args, **kwargs):
    calls[0] += 1
    return submit(*args, **kwargs)
asyncio.run_coroutine_threadsafe = counted
work = Path(tempfile.mkdtemp(prefix="bench_group_setup_"))
try:
    (videos, det), cfg = _file_inputs(work, data, copies), PipelineConfig()
    detector = make_detector(cfg.detect, detections=det)
    info = describe_detector(detector, cfg.detect.weights, det)
    track_videos(videos[:1], work / "warm.zarr", cfg, detector, detector_info=info)
    walls, trips = [], []
    for r in range(runs):
        calls[0] = 0
        t0 = time.perf_counter()
        track_videos(videos, work / f"s{r}.zarr", cfg, detector, detector_info=info)
        walls.append(time.perf_counter() - t0)
        trips.append(calls[0])
        shutil.rmtree(work / f"s{r}.zarr")
    print(json.dumps({"walls": walls, "trips": trips}))
finally:
    shutil.rmtree(work, ignore_errors=True)
"""


def _one(root: Path, data: Path, copies: int, runs: int) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-c", _WORKER, str(root), str(data), str(copies),
                          str(runs)], capture_output=True, text=True, check=True, cwd=root)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--against", type=Path, required=True,
                        help="another checkout of this repository (e.g. a git worktree)")
    parser.add_argument("--copies", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3, help="runs per subprocess (median kept)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    roots = {"this": HERE, "against": args.against.resolve()}
    rows: dict[str, list[dict[str, Any]]] = {k: [] for k in roots}
    for r in range(args.repeats):
        for name in (list(roots) if r % 2 == 0 else list(roots)[::-1]):
            got = _one(roots[name], args.data, args.copies, args.runs)
            rows[name].append({"wall_s": statistics.median(got["walls"]),
                               "trips": statistics.median(got["trips"])})
        print(f"repeat {r}: " + ", ".join(f"{k} {v[-1]['wall_s']:.2f} s" for k, v in rows.items()),
              flush=True)
    summary: dict[str, Any] = {}
    for name, got in rows.items():
        wall = statistics.median(x["wall_s"] for x in got)
        summary[name] = {"root": str(roots[name]), "wall_s": round(wall, 3),
                         "s_per_video": round(wall / args.copies, 4),
                         "event_loop_trips_per_video": statistics.median(
                             x["trips"] for x in got) / args.copies}
    ratio = statistics.median(a["wall_s"] / b["wall_s"]
                              for a, b in zip(rows["this"], rows["against"]))
    summary["this_over_against_paired"] = round(ratio, 4)
    write_json(args.out, result_doc("benchmarks.bench_group_setup", {"summary": summary,
                                                                      "runs": rows},
                                    copies=args.copies, repeats=args.repeats))
    for name in roots:
        s = summary[name]
        print(f"{name:8s} {s['wall_s']:.3f} s ({s['s_per_video'] * 1000:.0f} ms a video), "
              f"{s['event_loop_trips_per_video']:.0f} round trips to zarr's loop a video")
    print(f"this / against (paired median): x{ratio:.3f}; wrote {args.out}")


if __name__ == "__main__":
    main()
