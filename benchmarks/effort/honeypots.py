"""Do honeypots and spot checks reach a reviewer who follows a check policy?

A reviewer who checks only the box items of risk >= R (the policy of the effort benchmark's
`queue_anchor5_check<R>_looks` variants) meets a honeypot or a spot check only when its shown
score is at least R. For every sequence of a dataset of the effort benchmark, the first review
queue of its pre-labels (`trackannot.review.build_queue`, frames order, strict mode so it has
spot checks, the library's defaults otherwise, `share` of its frames) is built twice: without a
policy in the library, and with `review.check_min_risk` = R. Counted over the sequences: queue
items, asked box items, honeypots and spot-check items, and how many of each the policy's
reviewer meets.

    python -m benchmarks.effort.honeypots --dataset KITTI-Car --risk 0.8     # and MOT15

Prints a JSON summary (a few seconds a dataset).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import numpy as np

from benchmarks.effort import run as bench
from benchmarks.effort.strategies import make_state
from trackannot.config import ReviewConfig
from trackannot.ranking import box_items
from trackannot.review import ItemKind, ReviewQueue, build_queue


def met(queue: ReviewQueue, risk: float) -> dict[str, int]:
    """Counts of one queue: items, asked box items (under `risk`), honeypots and spot-check items,
    and those of them whose shown score a reviewer checking risk >= `risk` would check."""
    box = box_items(queue.kind, queue.reason)
    seen = queue.score >= risk
    pots, spots = queue.kind == ItemKind.HONEYPOT, queue.kind == ItemKind.SPOT_CHECK
    return {"items": len(queue), "asked_box_items": int((box & seen).sum()),
            "honeypots": int(pots.sum()), "honeypots_met": int((pots & seen).sum()),
            "spot_items": int(spots.sum()), "spot_items_met": int((spots & seen).sum())}


def measure(dataset: str, risk: float, share: float, limit: int | None = None) -> dict[str, Any]:
    """Sums of `met` over the dataset's sequences, without and with the policy in the library."""
    data = bench.Data(dataset, bench.LOADERS[dataset](bench.DATA_DIR)[:limit])
    out: dict[str, Any] = {"dataset": dataset, "risk": risk, "share": share}
    for name, policy in (("no_policy", 0.0), ("check_min_risk", risk)):
        cfg = ReviewConfig(mode="strict", check_min_risk=policy)
        total: dict[str, int] = {}
        for i, (s, a) in enumerate(zip(data.seqs, data.autos)):
            state = make_state(a, s.num_frames, s.detections)
            queue = build_queue(state, s.detections, s.num_frames,
                                max(1, round(share * s.num_frames)), cfg, queue_id=f"pots{i}",
                                based_on=0)
            for key, value in met(queue, risk).items():
                total[key] = total.get(key, 0) + value
        out[name] = total
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=list(bench.LOADERS), default="KITTI-Car")
    parser.add_argument("--risk", type=float, default=0.8, help="the policy: check risk >= this")
    parser.add_argument("--share", type=float, default=0.1, help="frames queued, share")
    parser.add_argument("--limit", type=int, default=None, help="first N sequences (a check)")
    args = parser.parse_args(argv)
    result = measure(args.dataset, args.risk, args.share, args.limit)
    print(json.dumps(result, indent=1))  # noqa: T201


if __name__ == "__main__":
    main()
