"""Test helper: small review queues and answers for the audit and advice tests."""

from __future__ import annotations

import numpy as np

from trackannot.config import ReviewConfig
from trackannot.corrections import Op
from trackannot.cost import CostModel
from trackannot.review import Answers, ItemKind, ReviewQueue

__all__ = ["BOX", "CFG", "COST", "TRUTH", "answer", "make_queue", "ops_with"]

BOX = [10.0, 10.0, 50.0, 90.0]
TRUTH = [20.0, 10.0, 60.0, 90.0]  # BOX moved 10 px right: IoU 30/50 = 0.6 with BOX
COST = CostModel(verify_s=1.0, adjust_s=10.0, draw_s=6.0, delete_s=2.0, identity_s=5.0)
CFG = ReviewConfig()  # flag_drop 0.5, flag_catch_rate 0.8, catch_iou 0.7


def make_queue(kinds, scores=None, queue_id="q0", mode="fast") -> ReviewQueue:
    n = len(kinds)
    kind = np.asarray(kinds, np.uint8)
    truth = np.full((n, 4), np.nan, np.float32)
    truth[kind == ItemKind.HONEYPOT] = TRUTH
    return ReviewQueue(
        queue_id=queue_id, based_on=0, mode=mode, budget=n, item=np.arange(n, dtype=np.int64),
        rank=np.arange(n, dtype=np.int32), frame=np.arange(n, dtype=np.int64),
        track_id=np.ones(n, np.int64),
        score=np.full(n, 0.5, np.float32) if scores is None else np.asarray(scores, np.float32),
        reason=np.zeros(n, np.uint8), kind=kind, xyxy=np.tile(np.float32(BOX), (n, 1)),
        truth_xyxy=truth)


def answer(items, ops, batch=0, author="ana", time_ns=None, xyxy=None) -> Answers:
    items = list(items)
    ops = [ops] * len(items) if isinstance(ops, Op) else list(ops)
    box = np.tile(np.float32(BOX), (len(items), 1)) if xyxy is None else xyxy
    return Answers.create(item=items, op=ops, xyxy=box, batch=batch, author=author,
                          time_ns=batch * 1000 if time_ns is None else time_ns)


def ops_with(n: int, changed: int) -> list[Op]:
    """n ops, the first `changed` of them adjusts, the rest accepts."""
    return [Op.ADJUST] * changed + [Op.ACCEPT] * (n - changed)
