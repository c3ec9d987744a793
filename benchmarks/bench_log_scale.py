"""Apply latency of a one-edit batch against the size of the corrections log (issue 11, item 9).

One synthetic video (default: 72,000 frames, 2 hours at 10 fps; tracks of 300 frames, 15 at a
time: about 1.08 million boxes) is tracked into a store once; the store is copied per log size and
each copy's log is filled with that many rows (accepts pinning distinct boxes, appended in
batches of 1,000 through the store's own `append_log`, as `trackannot correct` appends). Then:

* **first apply**: one `apply_corrections` of a one-edit file; with no state cache yet it replays
  the whole log once and writes the cache (what the first writer of a legacy store pays);
* **apply**: one-edit `apply_corrections` calls (open, lock, parse, check against the state,
  append, cache update: the whole library path of `trackannot correct`), interleaved across the
  sizes round by round, median and max;
* **whole replay**: `load_state_uncached`, the whole log replayed over the video (what every
  apply cost before the cache), once per size.

Usage:
    python -m benchmarks.bench_log_scale [--frames 72000] [--sizes 1000 100000 1000000]
                                         [--rounds 15] [--out benchmarks/results/log_scale.json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks._common import result_doc, timed, write_json
from trackannot.annotate import apply_corrections
from trackannot.boxes import Boxes
from trackannot.config import PipelineConfig, StoreConfig, config_to_dict
from trackannot.corrections import Corrections, Op
from trackannot.replay import interpolate_config, load_state_uncached
from trackannot.state import NO_BOX
from trackannot.results import open_store
from trackannot.store import StoreWriter

WIDTH, HEIGHT = 1280, 720
TRACK_FRAMES = 300
LOG_BATCH_ROWS = 1000


def _track_boxes(frame: int, concurrent: int) -> tuple[np.ndarray, np.ndarray]:
    """(track ids, xyxy) alive at `frame`: `concurrent` tracks, each TRACK_FRAMES long."""
    slot = np.arange(concurrent)
    # track k of slot s starts at frame s * TRACK_FRAMES / concurrent + k * TRACK_FRAMES
    offset = slot * TRACK_FRAMES // concurrent
    k = (frame - offset) // TRACK_FRAMES
    alive = frame >= offset
    ids = (k * concurrent + slot)[alive]
    age = (frame - offset)[alive] % TRACK_FRAMES
    x = 20 + (slot[alive] * 80 + age * 3) % (WIDTH - 120)
    y = 20 + slot[alive] * 40 % (HEIGHT - 120)
    xyxy = np.stack([x, y, x + 60, y + 100], axis=1).astype(np.float32)
    return ids.astype(np.int64), xyxy


def build_video(store: Path, frames: int, concurrent: int) -> int:
    """Write the synthetic video's group; returns its box count."""
    cfg = PipelineConfig()
    writer = StoreWriter.create(store, "clip", StoreConfig(), attrs={
        "config": config_to_dict(cfg),
        "video": {"width": WIDTH, "height": HEIGHT, "fps": 10.0, "frame_count": frames},
        "detector": {"class_names": ["object"]},
    })
    rng = np.random.default_rng(0)
    boxes = 0
    for f in range(frames):
        ids, xyxy = _track_boxes(f, concurrent)
        order = np.argsort(ids)
        ids, xyxy = ids[order], xyxy[order]
        tracks = Boxes.create(frame=np.full(len(ids), f), xyxy=xyxy, track_id=ids, score=0.9)
        dets = Boxes.create(frame=np.full(len(ids), f),
                            xyxy=xyxy + rng.normal(0, 1, xyxy.shape).astype(np.float32),
                            score=0.9)
        writer.add_frame(f, f / 10.0, dets, tracks)
        boxes += len(ids)
    writer.close()
    return boxes


def fill_log(store: Path, rows: int, frames: int, concurrent: int) -> None:
    """Append `rows` accepts of distinct boxes, LOG_BATCH_ROWS per batch."""
    cells = []
    f = 0
    while len(cells) < rows:
        ids, xyxy = _track_boxes(f % frames, concurrent)
        cells += [(int(t), f % frames, b) for t, b in zip(ids, xyxy)]
        f += 37  # spread over the video
    cells = cells[:rows]
    with open_store(store, mode="a").writer("clip", "bench_log_scale") as video:
        for start in range(0, rows, LOG_BATCH_ROWS):
            part = cells[start:start + LOG_BATCH_ROWS]
            n = len(part)
            batch = Corrections.create(
                op=np.full(n, Op.ACCEPT), track_id=[c[0] for c in part],
                frame=[c[1] for c in part], xyxy=np.stack([c[2] for c in part]),
                author="bench", time_ns=time.time_ns())
            extra = {"prev_xyxy": np.full((n, 4), np.nan, np.float32),
                     "prev_origin": np.full(n, NO_BOX, np.uint8),
                     "prev_class": np.zeros(n, np.int32)}
            video.append_log(batch, extra, {"source": "bench", "author": "bench"})


def one_edit(path: Path, rng: np.random.Generator, frames: int, concurrent: int) -> Path:
    """A corrections file adjusting one random box by a pixel."""
    f = int(rng.integers(0, frames))
    ids, xyxy = _track_boxes(f, concurrent)
    i = int(rng.integers(0, len(ids)))
    box = (xyxy[i] + 1).tolist()
    path.write_text(json.dumps({"op": "adjust", "track": int(ids[i]), "frame": f,
                                "box": box}) + "\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=72_000)
    parser.add_argument("--concurrent", type=int, default=15)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 100_000, 1_000_000])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/log_scale.json"))
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    with tempfile.TemporaryDirectory(prefix="bench_log_scale_") as tmp:
        tmp_path = Path(tmp)
        base = tmp_path / "base.zarr"
        t = time.perf_counter()
        boxes = build_video(base, args.frames, args.concurrent)
        print(f"video: {args.frames} frames, {boxes} boxes, built in {time.perf_counter() - t:.1f} s")
        stores = {}
        for size in args.sizes:
            stores[size] = tmp_path / f"log{size}.zarr"
            shutil.copytree(base, stores[size])
            t = time.perf_counter()
            fill_log(stores[size], size, args.frames, args.concurrent)
            print(f"log of {size} rows written in {time.perf_counter() - t:.1f} s")
        results: dict[int, dict[str, float | list[float]]] = {}
        for size, store in stores.items():
            edit = one_edit(tmp_path / "first.jsonl", rng, args.frames, args.concurrent)
            first = timed(lambda: apply_corrections(store, edit, author="bench"))
            video = open_store(store)["clip"]
            whole = timed(lambda: load_state_uncached(video, interpolate_config(video, None)))
            results[size] = {"first_apply_s": first, "whole_replay_s": whole, "apply_s": []}
            print(f"{size} rows: first apply {first:.2f} s, whole replay {whole:.2f} s")
        for r in range(args.rounds):  # interleaved: every size once per round
            for size, store in stores.items():
                edit = one_edit(tmp_path / f"e{r}.jsonl", rng, args.frames, args.concurrent)
                results[size]["apply_s"].append(
                    timed(lambda: apply_corrections(store, edit, author="bench")))
    rows = []
    for size, res in results.items():
        times = res["apply_s"]
        res["apply_median_s"] = statistics.median(times)
        res["apply_max_s"] = max(times)
        rows.append((size, res))
    print("\n| log rows | apply, median (ms) | apply, max (ms) | first apply, builds the cache (s) "
          "| whole replay (s) |")
    print("|---:|---:|---:|---:|---:|")
    for size, res in rows:
        print(f"| {size:,} | {1000 * res['apply_median_s']:.0f} | {1000 * res['apply_max_s']:.0f} "
              f"| {res['first_apply_s']:.2f} | {res['whole_replay_s']:.2f} |")
    smallest, largest = rows[0][1], rows[-1][1]
    print(f"\nmedian apply at {rows[-1][0]:,} rows / at {rows[0][0]:,} rows: "
          f"{largest['apply_median_s'] / smallest['apply_median_s']:.2f}x")
    write_json(args.out, result_doc("benchmarks.bench_log_scale",
                                    {str(k): v for k, v in results.items()},
                                    frames=args.frames, concurrent=args.concurrent, boxes=boxes,
                                    rounds=args.rounds))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
