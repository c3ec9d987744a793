"""Per-object fragment analysis of the demo clip's tracking against its truth (issue 15).

Reads the detections of a `trackannot demo` store, tracks them with the default settings and
with the occlusion recovery (`track.recover_distance`), and prints per truth object: the frames
where it is hidden (no truth row: < 20% visible), detection gaps while visible, and the track
pieces that cover it; then tracks, HOTA, MOTA and IDF1 of each setting.

    trackannot demo -o /tmp/demo --quiet
    python -m benchmarks.demo_fragments /tmp/demo [--seconds 10 --seed 7]
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np

from trackannot.boxes import Boxes
from trackannot.config import PipelineConfig
from trackannot.demo.run import DEMO_FPS, DEMO_HEIGHT, DEMO_RECOVER_DISTANCE, DEMO_WIDTH
from trackannot.demo.synth import make_scene
from trackannot.evaluate import evaluate
from trackannot.simulate import match_frame
from trackannot.store import open_store
from trackannot.track import track_detections


def _runs(frames: list[int]) -> list[tuple[int, int]]:
    out: list[list[int]] = []
    for f in frames:
        if out and out[-1][1] == f - 1:
            out[-1][1] = f
        else:
            out.append([f, f])
    return [(a, b) for a, b in out]


def pieces(boxes: Boxes, truth: Boxes) -> dict[int, list[tuple[int, int, int]]]:
    """Per truth object, the (track id, first, last frame) pieces of boxes matched to it."""
    out: dict[int, list[list[int]]] = {}
    for f in np.unique(truth.frame).tolist():
        gt, b = truth.for_frame(f), boxes.for_frame(f)
        for i, j in enumerate(match_frame(b.xyxy, gt.xyxy).tolist()):
            if j < 0:
                continue
            seq = out.setdefault(int(gt.track_id[j]), [])
            tid = int(b.track_id[i])
            if seq and seq[-1][0] == tid:
                seq[-1][2] = f
            else:
                seq.append([tid, f, f])
    return {k: [tuple(p) for p in v] for k, v in out.items()}  # type: ignore[misc]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("demo_dir", type=Path)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    n = max(1, round(args.seconds * DEMO_FPS))
    _, truth = make_scene(args.seed, n, DEMO_WIDTH, DEMO_HEIGHT)
    store = open_store(args.demo_dir / "demo.zarr")
    dets = store[store.videos[0]].read(table="detections")
    base = PipelineConfig().track
    settings = {"default (recover_distance 0)": base,
                f"demo (recover_distance {DEMO_RECOVER_DISTANCE})":
                    replace(base, recover_distance=DEMO_RECOVER_DISTANCE)}
    tracked = {k: track_detections(dets, cfg, frames=range(n)) for k, cfg in settings.items()}
    for g in np.unique(truth.track_id).tolist():
        gf = truth.frame[truth.track_id == g]
        hidden = sorted(set(range(int(gf.min()), int(gf.max()) + 1)) - set(gf.tolist()))
        seen = {f for f in gf.tolist()
                if (match_frame(dets.for_frame(f).xyxy,
                                truth.for_frame(f).xyxy[truth.for_frame(f).track_id == g]) >= 0).any()}
        print(f"object {g}: visible {int(gf.min())}-{int(gf.max())}, hidden {_runs(hidden)}, "
              f"no detection while visible {_runs(sorted(set(gf.tolist()) - seen))}")
        for k, t in tracked.items():
            print(f"    {k:32s} pieces (track, first, last): {pieces(t, truth).get(g, [])}")
    for k, t in tracked.items():
        s = evaluate(t, truth)
        print(f"{k:32s} tracks {len(np.unique(t.track_id))}  HOTA {100 * s.hota:.1f}  "
              f"MOTA {100 * s.mota:.1f}  IDF1 {100 * s.idf1:.1f}  IDSW {s.idsw}")


if __name__ == "__main__":
    main()
