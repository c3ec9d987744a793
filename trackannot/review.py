"""Which boxes need a person, and why: the review queue and the answers reviewers give to it.

A `ReviewQueue` is built from the current annotation (`trackannot.state.AnnotationState`): the
frames most likely to hold wrong boxes (`trackannot.risk.rank_frames`) up to a budget of frames,
one item per box shown at those frames. Strict mode adds random spot checks of confident boxes;
honeypots are boxes deliberately moved away from a known truth, hidden among the items, to measure
whether reviewers really look (automation bias). `Answers` records what each reviewer did with
each item (`trackannot.audit` turns them into catch and correction rates).

Queues and answers live in the store next to the corrections log (`<video>/review/...`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import IntEnum
from typing import Any, Iterable

import numpy as np
import numpy.typing as npt

from trackannot.errors import InputFormatError

__all__ = ["ANSWER_COLUMNS", "Answers", "ITEM_COLUMNS", "ItemKind", "ReviewQueue"]


class ItemKind(IntEnum):
    """Why an item is in the queue (the `kind` column; never shown to reviewers)."""

    RISK = 0  # ranked by risk
    SPOT_CHECK = 1  # strict mode: a random confident box
    HONEYPOT = 2  # a perturbed box with known truth


# column -> (dtype, trailing shape)
ITEM_COLUMNS: dict[str, tuple[np.dtype[Any], tuple[int, ...]]] = {
    "item": (np.dtype(np.int64), ()),
    "rank": (np.dtype(np.int32), ()),
    "frame": (np.dtype(np.int64), ()),
    "track_id": (np.dtype(np.int64), ()),
    "score": (np.dtype(np.float32), ()),
    "reason": (np.dtype(np.uint8), ()),
    "kind": (np.dtype(np.uint8), ()),
    "xyxy": (np.dtype(np.float32), (4,)),
    "truth_xyxy": (np.dtype(np.float32), (4,)),
}

ANSWER_COLUMNS: dict[str, tuple[np.dtype[Any], tuple[int, ...]]] = {
    "item": (np.dtype(np.int64), ()),
    "op": (np.dtype(np.uint8), ()),
    "xyxy": (np.dtype(np.float32), (4,)),
    "batch": (np.dtype(np.int32), ()),
    "time_ns": (np.dtype(np.int64), ()),
}


def _check_columns(obj: Any, spec: dict[str, tuple[np.dtype[Any], tuple[int, ...]]], n: int,
                   name: str) -> None:
    for col, (dtype, tail) in spec.items():
        arr = getattr(obj, col)
        if not isinstance(arr, np.ndarray) or arr.dtype != dtype or arr.shape != (n, *tail):
            got = f"{arr.shape} {arr.dtype}" if isinstance(arr, np.ndarray) else type(arr).__name__
            raise InputFormatError(f"{name}.{col} must be {(n, *tail)} {dtype}, got {got}")


@dataclass(frozen=True, slots=True, eq=False)  # a generated __eq__ breaks on arrays
class ReviewQueue:
    """A ranked review queue: one row per item (a box a reviewer is asked to check).

    Items are ordered by `rank` (the frame's position in the review order, 0 first), then by
    score, highest first. Every box of a queued frame is an item, so a reviewer working frame by
    frame sees the whole frame.

    Attributes:
        queue_id: short id, unique in the store (e.g. "q0003-1a2b3c4d").
        based_on: committed rows of the corrections log when the queue was built; answers are only
            accepted while no other batch has been applied since (otherwise the queue is stale).
        mode: "fast" or "strict".
        budget: frames asked for.
        item: (n,) int64, 0..n-1, the id reviewers answer with.
        rank: (n,) int32, the frame's review order (0 = look first).
        frame: (n,) int64.
        track_id: (n,) int64.
        score: (n,) float32, risk of the box (`trackannot.risk.score_risk`); for honeypots the
            risk of the box before it was perturbed.
        reason: (n,) uint8 `trackannot.risk.Reason`.
        kind: (n,) uint8 `ItemKind`.
        xyxy: (n, 4) float32, the box shown (for honeypots: the perturbed box).
        truth_xyxy: (n, 4) float32, honeypots: the true box; NaN for other items.
    """

    queue_id: str
    based_on: int
    mode: str
    budget: int
    item: npt.NDArray[np.int64]
    rank: npt.NDArray[np.int32]
    frame: npt.NDArray[np.int64]
    track_id: npt.NDArray[np.int64]
    score: npt.NDArray[np.float32]
    reason: npt.NDArray[np.uint8]
    kind: npt.NDArray[np.uint8]
    xyxy: npt.NDArray[np.float32]
    truth_xyxy: npt.NDArray[np.float32]

    def __post_init__(self) -> None:
        _check_columns(self, ITEM_COLUMNS, len(self.item), "ReviewQueue")
        if self.mode not in ("fast", "strict"):
            raise InputFormatError(f"ReviewQueue.mode must be 'fast' or 'strict', got {self.mode!r}")

    def __len__(self) -> int:
        return len(self.item)

    def columns(self) -> dict[str, np.ndarray]:
        """The item columns by name (for writing)."""
        return {name: getattr(self, name) for name in ITEM_COLUMNS}

    @property
    def frames(self) -> npt.NDArray[np.int64]:
        """The queued frames in review order."""
        order = np.argsort(self.rank, kind="stable")
        frame = self.frame[order]
        _, first = np.unique(frame, return_index=True)
        return frame[np.sort(first)]


@dataclass(frozen=True, slots=True, eq=False)
class Answers:
    """What reviewers did with queue items, one row per answered item and batch.

    Attributes:
        item: (n,) int64, the queue item.
        op: (n,) uint8 `trackannot.corrections.Op` the reviewer gave it (ACCEPT: left as shown).
        xyxy: (n, 4) float32, the reviewer's box (ACCEPT: the shown box; ABSENT: NaN).
        batch: (n,) int32, the corrections-log batch the answer came with.
        time_ns: (n,) int64.
        author: (n,) str.
    """

    item: npt.NDArray[np.int64]
    op: npt.NDArray[np.uint8]
    xyxy: npt.NDArray[np.float32]
    batch: npt.NDArray[np.int32]
    time_ns: npt.NDArray[np.int64]
    author: npt.NDArray[np.str_]

    def __post_init__(self) -> None:
        _check_columns(self, ANSWER_COLUMNS, len(self.item), "Answers")
        if len(self.author) != len(self.item):
            raise InputFormatError(f"Answers.author must have {len(self.item)} rows")

    def __len__(self) -> int:
        return len(self.item)

    def __getitem__(self, index: npt.NDArray[np.bool_] | npt.NDArray[np.integer] | slice) -> Answers:
        return Answers(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    @classmethod
    def create(cls, *, item: npt.ArrayLike, op: npt.ArrayLike, xyxy: npt.ArrayLike | None = None,
               batch: npt.ArrayLike = 0, time_ns: npt.ArrayLike = 0,
               author: npt.ArrayLike | str = "") -> Answers:
        """Build from array-likes (scalars broadcast)."""
        items = np.asarray(item, np.int64).reshape(-1)
        n = len(items)
        box = np.full((n, 4), np.nan, np.float32) if xyxy is None else np.asarray(xyxy, np.float32)
        return cls(
            item=items, op=np.broadcast_to(np.asarray(op, np.uint8), (n,)).copy(),
            xyxy=np.broadcast_to(box, (n, 4)).copy(),
            batch=np.broadcast_to(np.asarray(batch, np.int32), (n,)).copy(),
            time_ns=np.broadcast_to(np.asarray(time_ns, np.int64), (n,)).copy(),
            author=np.broadcast_to(np.asarray(author, str), (n,)).copy(),
        )

    @classmethod
    def concat(cls, parts: Iterable[Answers]) -> Answers:
        parts = list(parts)
        if not parts:
            return cls.create(item=[], op=[])
        return cls(**{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)})
