"""Test and benchmark helper: the PETS09-S2L1 store the dashboard is shown on.

The real footage (the 480x360 re-encode in ../shared/data/video) tracked from the official MOT15
detections; a few corrections applied (batch 0); then a review queue of 12 frames answered in two
batches by two reviewers (accepts, a few adjusts, the honeypots caught), with a second queue
built after them and left open.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from trackannot.review import ItemKind

VIDEO = "video/vtest_PETS09-S2L1_480x360_h264.avi"
DETECTIONS = "MOT15/PETS09-S2L1/det/det.txt"
GT = "MOT15/PETS09-S2L1/gt/gt.txt"
KEY = "vtest_PETS09-S2L1_480x360_h264"
FIXES = [
    {"op": "adjust", "track": 3, "frame": 120, "box": [232.0, 115.0, 252.0, 160.0]},
    {"op": "absent", "track": 20, "frame": 200},
    {"op": "create", "frame": 300, "box": [10.0, 200.0, 40.0, 280.0], "class": 0},
]


def _lines(path: Path, lines: list[dict]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def build_pets_store(data_dir: Path, root: Path, *, review: bool = True) -> Path:
    """Track PETS09 from its detections into root/pets.zarr; corrections and review applied."""
    from click.testing import CliRunner
    from trackannot.cli.main import main

    from trackannot.annotate import apply_corrections
    from trackannot.session import VideoSession

    store = root / "pets.zarr"
    ran = CliRunner().invoke(main, ["track", str(data_dir / VIDEO), "-o", str(store), "--quiet",
                                    "--detections", str(data_dir / DETECTIONS)])
    assert ran.exit_code == 0, ran.output
    apply_corrections(store, _lines(root / "fix.jsonl", FIXES), author="ana")
    if not review:
        return store
    session = VideoSession.open(store, KEY)
    queue = session.review(12).queue
    first, second = [], []
    for n, i in enumerate(queue.item.tolist()):
        kind = int(queue.kind[i])
        if kind == ItemKind.HONEYPOT:
            line = {"item": i, "op": "adjust", "box": queue.truth_xyxy[i].tolist()}
        elif kind == ItemKind.CANDIDATE:
            line = {"item": i, "op": "absent"}
        elif n % 7 == 3:  # moved 2 px, kept inside the 480x360 frame (an edge box may not be)
            box = np.clip(queue.xyxy[i] + 2, 0, [478, 358, 480, 360])
            line = {"item": i, "op": "adjust", "box": box.tolist()}
        else:
            line = {"item": i, "op": "accept"}
        (first if int(queue.rank[i]) < 6 else second).append(line)
    apply_corrections(store, _lines(root / "a1.jsonl", first), author="ana", queue=queue.queue_id)
    apply_corrections(store, _lines(root / "a2.jsonl", second), author="bo", queue=queue.queue_id)
    session.review(8)
    return store


def queued_frames(store: Path) -> list[int]:
    """Frames of every queue of the store's video (what the previews must show)."""
    from trackannot.results import open_store

    video = open_store(store)[KEY]
    frames: set[int] = set()
    for record in video.queue_records():
        frames.update(np.unique(video.read_queue(record["id"]).frame).tolist())
    return sorted(frames)
