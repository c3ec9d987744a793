"""`trackannot report` on the PETS09 store and a synthetic 2-hour store: write time, first
paint in Chromium, page weight (issue 15, "Must show").

Stores:

* **PETS09**: PETS09-S2L1's real footage (795 frames) tracked from its MOT15 detections, a few
  corrections, one review queue answered by two reviewers and a second queue left open
  (`tests/report/_pets.py`, the store the browser tests report).
* **2-hour**: one synthetic video of 72,000 frames at 10 fps, 1280x720, with --tracks (default
  20) tracks each running most of the video (boxes bouncing off the frame's edges, 5% of
  detections missed: those boxes are PREDICTED), written with `StoreWriter` at the default
  chunk sizes (`benchmarks.bench_session`'s boxes); 200 corrections applied in 10 batches
  through `VideoSession.apply` (`bench_session.EditPlanner`: keyframes and identity edits); a
  review queue of 50 frames built and answered (accept, every 5th adjusted) and a second queue
  left open. No footage: the page says there are no previews (the run recorded no video file).

Timings:

* **write**: `trackannot report STORE -o DIR --effort benchmarks/results --quiet` as a fresh
  process (imports, numba's cached kernels, reading the store, decoding previews, writing every
  page), wall time, --runs runs (median, max). Goal on the 2-hour store: < 30 s.
* **first paint**: the video page (and the index, lead and comparison pages) opened from a
  loopback HTTP server in a fresh page of Debian's headless Chromium driven by Playwright:
  `performance.getEntriesByType('paint')` first-paint and first-contentful-paint, and the time
  until every Plotly figure has drawn (our `data-drawn` mark), --runs loads (median). Goal on the
  2-hour store: first paint < 2 s.
* **page weight**: the bytes of every response the page loads (HTML, plotly.min.js, style,
  thumbnails), as served. Goal: < 10 MB.

Usage:
    python -m benchmarks.bench_report [--runs 3] [--frames 72000] [--tracks 20]
Writes benchmarks/results/report.json.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._common import result_doc, write_json
from benchmarks.bench_log_scale import HEIGHT, WIDTH
from benchmarks.bench_session import (
    FPS, EditPlanner, TrackPlan, _rows, _slices, video_boxes,
)
from trackannot.config import PipelineConfig, StoreConfig, config_to_dict
from trackannot.store import StoreWriter

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
CHROMIUM = "/usr/bin/chromium"
CORRECTIONS, BATCH, QUEUE_FRAMES = 200, 20, 50


def plan_long_tracks(frames: int, tracks: int, rng: np.random.Generator) -> TrackPlan:
    """`tracks` tracks, one per slot, each from early in the video to late in it."""
    first = rng.integers(0, min(3_000, frames // 10), tracks).astype(np.int64)
    last = (frames - 1 - rng.integers(0, min(3_000, frames // 10), tracks)).astype(np.int64)
    order = np.argsort(first, kind="stable")
    first, last = first[order], last[order]
    size = np.stack([rng.uniform(40, 120, tracks), rng.uniform(80, 240, tracks)], axis=1)
    start = rng.uniform(0.2, 0.8, (tracks, 2)) * [WIDTH, HEIGHT]
    velocity = rng.normal(0, 2.0, (tracks, 2))
    return TrackPlan(np.arange(1, tracks + 1, dtype=np.int64), first, last,
                     np.arange(tracks, dtype=np.int64), start, velocity, size)


def build_long_store(store: Path, frames: int, tracks: int, seed: int = 0) -> dict[str, Any]:
    """The 2-hour store (module docstring); returns how long each step took."""
    from trackannot.annotate import apply_corrections
    from trackannot.session import VideoSession

    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    plan = plan_long_tracks(frames, tracks, rng)
    tr, dets = video_boxes(plan, rng)
    tr, t_at = _slices(tr, frames)
    dets, d_at = _slices(dets, frames)
    writer = StoreWriter.create(store, "clip", StoreConfig(), attrs={
        "config": config_to_dict(PipelineConfig()),
        "video": {"width": WIDTH, "height": HEIGHT, "fps": FPS, "frame_count": frames,
                  "duration_s": frames / FPS},
        "detector": {"class_names": ["person", "car"]},
    })
    for f in range(frames):
        writer.add_frame(f, f / FPS, _rows(dets, int(d_at[f]), int(d_at[f + 1])),
                         _rows(tr, int(t_at[f]), int(t_at[f + 1])))
    writer.close({"seconds": time.perf_counter() - t0, "frames_decoded_last": frames})
    t1 = time.perf_counter()
    planner = EditPlanner(plan, frames, seed + 1)
    session = VideoSession.open(store)
    for b in range(CORRECTIONS // BATCH):
        session.apply(planner.batch(BATCH), author=f"rev{b % 3}", source=f"bench batch {b}")
    t2 = time.perf_counter()
    queue = session.review(QUEUE_FRAMES).queue
    frame_max = np.array([WIDTH, HEIGHT, WIDTH, HEIGHT], np.float32)
    lines = [{"item": i, "op": "adjust", "box": np.clip(queue.xyxy[i] + 2, 0, frame_max).tolist()}
             if i % 5 == 4 else {"item": i, "op": "accept"} for i in queue.item.tolist()]
    answers = store.parent / "answers.jsonl"
    import json

    half = len(lines) // 2
    for who, part in (("ana", lines[:half]), ("bo", lines[half:])):
        answers.write_text("".join(json.dumps(x) + "\n" for x in part))
        apply_corrections(store, answers, author=who, queue=queue.queue_id)
    session.review(QUEUE_FRAMES)
    return {"frames": frames, "tracks": tracks, "write_s": t1 - t0, "corrections_s": t2 - t1,
            "review_s": time.perf_counter() - t2}


def time_write(store: Path, out: Path, runs: int) -> dict[str, Any]:
    """Wall time of `trackannot report` as a fresh process, `runs` times."""
    times = []
    for _ in range(runs):
        shutil.rmtree(out, ignore_errors=True)
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "trackannot.cli.main", "report", str(store), "-o",
                        str(out), "--effort", str(REPO / "benchmarks" / "results"), "--quiet"],
                       check=True, capture_output=True)
        times.append(time.perf_counter() - t)
    return {"runs_s": times, "median_s": statistics.median(times), "max_s": max(times)}


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def measure_pages(out: Path, pages: dict[str, str], runs: int) -> dict[str, Any]:
    """First paint, time to drawn figures and page weight of each page, served on loopback."""
    from playwright.sync_api import sync_playwright

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Quiet, directory=str(out)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    results: dict[str, Any] = {}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            for name, path in pages.items():
                paints, drawn, weights, errors = [], [], [], []
                for _ in range(runs):
                    context = browser.new_context(viewport={"width": 1400, "height": 900})
                    page = context.new_page()  # a fresh context: nothing cached
                    sizes: list[int] = []
                    page.on("response", lambda r, s=sizes: s.append(len(r.body())))
                    page.on("console", lambda m, e=errors: e.append(m.text)
                            if m.type == "error" else None)
                    t = time.perf_counter()
                    page.goto(base + path, wait_until="load")
                    page.wait_for_function("[...document.querySelectorAll('div.plot')]"
                                           ".every(d => d.dataset.drawn === '1')",
                                           timeout=120_000)
                    drawn.append(time.perf_counter() - t)
                    entries = page.evaluate("() => Object.fromEntries(performance"
                                            ".getEntriesByType('paint').map(e => [e.name, "
                                            "e.startTime]))")
                    paints.append(entries)
                    weights.append(sum(sizes))
                    context.close()
                results[name] = {
                    "first_paint_s": statistics.median(e["first-paint"] for e in paints) / 1000,
                    "first_contentful_paint_s": statistics.median(
                        e["first-contentful-paint"] for e in paints) / 1000,
                    "all_figures_drawn_s": statistics.median(drawn),
                    "page_weight_bytes": max(weights), "html_bytes": (out / path).stat().st_size,
                    "console_errors": errors}
            browser.close()
    finally:
        server.shutdown()
        server.server_close()
    return results


def report_one(name: str, store: Path, key: str, work: Path, runs: int) -> dict[str, Any]:
    out = work / f"{name}-report"
    write = time_write(store, out, runs)
    pages = {"index": "index.html", "video": f"videos/{key}.html",
             "lead": f"videos/{key}.lead.html", "compare": "compare.html"}
    files = [p for p in out.rglob("*") if p.is_file()]
    return {"write": write, "pages": measure_pages(out, pages, runs),
            "report_files": len(files), "report_bytes": sum(p.stat().st_size for p in files)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--frames", type=int, default=72_000)
    parser.add_argument("--tracks", type=int, default=20)
    parser.add_argument("--skip-pets", action="store_true")
    args = parser.parse_args()
    from tests.report._pets import KEY, build_pets_store

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench_report_") as tmp:
        work = Path(tmp)
        if not args.skip_pets:
            (work / "pets").mkdir()
            pets = build_pets_store(DATA, work / "pets")
            results["pets09"] = report_one("pets09", pets, KEY, work, args.runs)
            print("pets09", results["pets09"], flush=True)
        (work / "long").mkdir()
        long_store = work / "long" / "long.zarr"
        build = build_long_store(long_store, args.frames, args.tracks)
        print("built", build, flush=True)
        results["two_hour"] = {"store": build,
                               **report_one("two_hour", long_store, "clip", work, args.runs)}
        print("two_hour", results["two_hour"], flush=True)
    goals = results["two_hour"]
    results["goals"] = {
        "write_lt_30s": goals["write"]["max_s"] < 30,
        "first_paint_lt_2s": goals["pages"]["video"]["first_paint_s"] < 2,
        "page_weight_lt_10MB": goals["pages"]["video"]["page_weight_bytes"] < 10_000_000}
    path = write_json(REPO / "benchmarks" / "results" / "report.json",
                      result_doc("benchmarks.bench_report", results, runs=args.runs,
                                 frames=args.frames, tracks=args.tracks))
    print(f"written {path}")


if __name__ == "__main__":
    main()
