"""Per-frame tracker speed: `Tracker.update` over one MOT15 sequence, detections in memory.

Usage: python benchmarks/bench_tracker_update.py [--seq ADL-Rundle-6] [--repeats 7]
Prints the median frames/s (numba compiled by an untimed first pass).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from trackannot.config import TrackConfig
from trackannot.detect.from_file import read_mot_file
from trackannot.track import Tracker

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seq", default="ADL-Rundle-6")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    dets = read_mot_file(DATA / "MOT15" / args.seq / "det" / "det_sort_frcnn.txt")
    frames = [(f, dets.for_frame(f)) for f in range(int(dets.frame.max()) + 1)]

    def run() -> None:
        tracker = Tracker(TrackConfig())
        for frame, boxes in frames:
            tracker.update(boxes, frame=frame)

    run()  # compile
    seconds = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - t0)
    fps = len(frames) / statistics.median(seconds)
    print(f"{args.seq}: {len(frames)} frames, Tracker.update {fps:,.0f} frames/s "
          f"(median of {args.repeats})")


if __name__ == "__main__":
    main()
