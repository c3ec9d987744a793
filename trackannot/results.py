"""Stored results as the domain reads and writes them: a video's corrections log as `Corrections`,
its review queues as `ReviewQueue` and `Answers`.

The store (`trackannot.store`) keeps append-only tables and knows nothing of what their columns
mean. This module owns the on-disk columns of the human tables (`LOG_COLUMNS`,
`REVIEW_ANSWER_COLUMNS`, with `trackannot.review.ITEM_COLUMNS`: together `SCHEMAS`), passes them
to the store, and builds the domain's types from the columns it gets back: `read_log`,
`append_log`, `write_queue`, `read_queue`, `read_answers` take any `trackannot.store.VideoGroup`.
`VideoResult` is a `VideoGroup` with them as methods; `open_store` opens a store whose videos are
`VideoResult`s (what `trackannot.open_store` is).

Example:
    >>> store = open_store("out.zarr")                                  # doctest: +SKIP
    >>> corrections, columns = store["clip"].read_log()                 # every batch, in order
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from trackannot.corrections import CORRECTION_COLUMNS, Corrections
from trackannot.errors import CorruptStoreError, InputFormatError
from trackannot.review import (
    ANSWER_COLUMNS, ITEM_COLUMNS, QUEUE_OPEN, QUEUE_SETTINGS, QUEUE_SUPERSEDED, Answers,
    ReviewQueue,
)
from trackannot.store import AnswerRows, TableSchemas, TrackStore, VideoGroup
from trackannot.validate import check_number

__all__ = ["LOG_COLUMNS", "PREVIOUS_COLUMNS", "REVIEW_ANSWER_COLUMNS", "SCHEMAS", "VideoResult",
           "append_log", "open_store", "read_answers", "read_log", "read_queue", "write_queue"]

_AUTHOR = (np.dtype(np.int32), ())  # index into the log's `authors` attribute

PREVIOUS_COLUMNS: dict[str, tuple[np.dtype[Any], tuple[int, ...]]] = {
    "prev_xyxy": (np.dtype(np.float32), (4,)),  # the box before (NaN: none)
    "prev_origin": (np.dtype(np.uint8), ()),  # its Origin, 255: no box
    "prev_class": (np.dtype(np.int32), ()),  # the track's class before (-1: new track)
}
"""What each logged correction replaced (`VideoResult.append_log`'s `extra`)."""

LOG_COLUMNS: dict[str, tuple[np.dtype[Any], tuple[int, ...]]] = {
    **CORRECTION_COLUMNS,
    "author": _AUTHOR,
    "batch": (np.dtype(np.int32), ()),
    **PREVIOUS_COLUMNS,
}
"""A row of the corrections log: the correction, its author, its batch and what it replaced."""

REVIEW_ANSWER_COLUMNS: dict[str, tuple[np.dtype[Any], tuple[int, ...]]] = {
    **ANSWER_COLUMNS, "author": _AUTHOR,
}
"""A stored review answer: the answer and its author."""

SCHEMAS = TableSchemas(log=LOG_COLUMNS, answers=REVIEW_ANSWER_COLUMNS, items=ITEM_COLUMNS)
"""The columns of a video group's human tables, for the store."""


def _author_names(video: VideoGroup, index: np.ndarray, where: str) -> np.ndarray:
    """The author of each row, from its index into the log's author list."""
    authors = np.asarray(video.log_info().authors, dtype=str)
    if len(index) and (index.min() < 0 or index.max() >= len(authors)):
        raise CorruptStoreError(f"{video.key}: {where} name authors outside the "
                                f"{len(authors)} recorded; run `trackannot check STORE`")
    return authors[index] if len(index) else np.zeros(0, dtype=str)


def read_log(video: VideoGroup, start: int = 0, stop: int | None = None
             ) -> tuple[Corrections, dict[str, np.ndarray]]:
    """Committed corrections start..stop-1 of a video (default: all), in order, and every log
    column (`LOG_COLUMNS`: batch, prev_*, author as an index)."""
    cols = video.read_log_table(LOG_COLUMNS, start, stop)
    n = len(cols["op"])
    author = _author_names(video, cols["author"], f"corrections log rows {start}..{start + n - 1}")
    corrections = Corrections(**{name: cols[name] for name in CORRECTION_COLUMNS},
                              author=author, source_line=np.zeros(n, np.int64))
    return corrections, cols


def append_log(video: VideoGroup, corrections: Corrections, extra: Mapping[str, np.ndarray],
               batch: Mapping[str, Any], answers: tuple[str, Answers] | None = None,
               opened: dict[str, Any] | None = None) -> int:
    """Append one batch to a video's corrections log and commit it; returns the batch number.

    Args:
        video: the video, from `TrackStore.writer` (its lock held).
        corrections: the batch, with every new track id resolved.
        extra: prev_xyxy, prev_origin, prev_class columns for the batch (`PREVIOUS_COLUMNS`).
        batch: what to record about the batch (source file, its hash, author, time).
        answers: (queue id, answers to its items) that came with the batch: written past the
            queue's committed answers and committed with the batch.
        opened: the log's arrays as the caller's last append left them
            (`VideoGroup.append_batch`; start with {}).

    Raises:
        StoreInputError: the store was opened read-only.
        StoreConflictError: the lock is not held.
        StoreNotFoundError: the answers' queue is unknown.
    """
    info = video.log_info()
    authors = list(info.authors)
    names = corrections.author.tolist() + (answers[1].author.tolist() if answers else [])
    authors += [a for a in sorted(set(names)) if a not in authors]
    lookup = {a: i for i, a in enumerate(authors)}

    def index(who: np.ndarray) -> np.ndarray:
        return np.asarray([lookup[a] for a in who.tolist()], np.int32)

    rows = {name: getattr(corrections, name) for name in CORRECTION_COLUMNS}
    rows |= {"author": index(corrections.author),
             "batch": np.full(len(corrections), info.batches, np.int32)}
    rows |= {name: np.asarray(extra[name]) for name in PREVIOUS_COLUMNS}
    given = None
    if answers is not None:
        queue_id, answered = answers
        given = AnswerRows(queue_id, {
            **{name: getattr(answered, name) for name in ANSWER_COLUMNS},
            "batch": np.full(len(answered), info.batches, np.int32),
            "author": index(answered.author),
        })
    return video.append_batch(rows, SCHEMAS, batch, authors, given, opened)


def write_queue(video: VideoGroup, queue: ReviewQueue, settings: Mapping[str, Any]
                ) -> dict[str, Any]:
    """Store a new review queue in a video; every earlier open queue becomes superseded by it.

    The items (and empty answer arrays) are written first; one write of the review group's
    attribute then lists the queue and supersedes the others (`VideoGroup.write_queue_table`).

    Args:
        video: the video, from `TrackStore.writer` (its lock held).
        queue: the queue (its id must be new in this video).
        settings: what built it (`trackannot.review.QUEUE_SETTINGS` are kept).

    Returns:
        The queue's record.

    Raises:
        StoreInputError: read-only store, or a queue with this id exists.
        StoreConflictError: the lock is not held.
    """
    record = {
        "id": queue.queue_id, "created": datetime.now(timezone.utc).isoformat(),
        "based_on": int(queue.based_on), "based_on_batches": video.log_info().batches,
        "mode": queue.mode, "budget": int(queue.budget), "items": len(queue),
        "frames": len(queue.frames), "status": QUEUE_OPEN, "superseded_by": None,
        "settings": {**{k: settings[k] for k in QUEUE_SETTINGS if k in settings},
                     "check_min_risk": float(queue.check_min_risk)},
        "order": queue.order, "evidence": queue.evidence(),
    }
    updated = [
        {**r, "status": QUEUE_SUPERSEDED, "superseded_by": queue.queue_id}
        if r["status"] == QUEUE_OPEN else r for r in video.queue_records()
    ]
    video.write_queue_table(queue.queue_id, queue.columns(), SCHEMAS, [*updated, record])
    return record


def read_queue(video: VideoGroup, queue_id: str) -> ReviewQueue:
    """A video's stored queue `queue_id`, with the evidence of its candidate and proposal items
    from its record (queues stored before records kept an order and evidence read as frames
    order, every item with the default evidence).

    Raises:
        StoreNotFoundError: no such queue (the message lists the video's queues).
        CorruptStoreError: its record's evidence does not fit its items, or its check policy
            is not a number in [0, 1].
    """
    record, items = video.read_queue_table(queue_id, ITEM_COLUMNS)
    settings = record.get("settings") if isinstance(record.get("settings"), dict) else {}
    try:
        evidence = ReviewQueue.evidence_columns(record.get("evidence"), items["frame"],
                                                "its record")
        return ReviewQueue(queue_id=queue_id, based_on=int(record["based_on"]),
                           mode=record["mode"], budget=int(record["budget"]),
                           order=record.get("order", "frames"),
                           check_min_risk=check_number(settings.get("check_min_risk", 0.0),
                                                       "its record", "check_min_risk"),
                           **items, **evidence)
    except InputFormatError as err:
        raise CorruptStoreError(f"{video.key}: queue {queue_id}: {err}; run `trackannot check "
                                "STORE`") from err


def read_answers(video: VideoGroup, queue_id: str) -> Answers:
    """The committed answers to a video's queue `queue_id`, in the order they were logged.

    Raises:
        StoreNotFoundError: no such queue.
    """
    cols = video.read_answer_table(queue_id, REVIEW_ANSWER_COLUMNS)
    if not len(cols["item"]):
        return Answers.create(item=[], op=[])
    author = _author_names(video, cols["author"], f"answers to queue {queue_id}")
    return Answers(**{name: cols[name] for name in ANSWER_COLUMNS}, author=author)


class VideoResult(VideoGroup):
    """One video of a store (`trackannot.store.VideoGroup`: boxes by frame range, the log's
    extent and records) with the functions above as methods: its human tables read and written
    as domain types. Library code calls the functions, so it takes any `VideoGroup`.

    Writes (`append_log`, `write_queue`) need the group's lock: get the video from
    `open_store(path, mode="a").writer(key)`.
    """

    def read_log(self, start: int = 0, stop: int | None = None
                 ) -> tuple[Corrections, dict[str, np.ndarray]]:
        """`read_log` of this video."""
        return read_log(self, start, stop)

    def append_log(self, corrections: Corrections, extra: Mapping[str, np.ndarray],
                   batch: Mapping[str, Any], answers: tuple[str, Answers] | None = None,
                   opened: dict[str, Any] | None = None) -> int:
        """`append_log` to this video."""
        return append_log(self, corrections, extra, batch, answers, opened)

    def write_queue(self, queue: ReviewQueue, settings: Mapping[str, Any]) -> dict[str, Any]:
        """`write_queue` to this video."""
        return write_queue(self, queue, settings)

    def read_queue(self, queue_id: str) -> ReviewQueue:
        """`read_queue` of this video."""
        return read_queue(self, queue_id)

    def read_answers(self, queue_id: str) -> Answers:
        """`read_answers` of this video."""
        return read_answers(self, queue_id)


def open_store(path: str | Path, mode: str = "r") -> TrackStore[VideoResult]:
    """Open a result store: mode "r" to read, "a" to also write (under `TrackStore.writer`);
    its videos are `VideoResult`s.

    Example:
        >>> store = open_store("out.zarr")                      # doctest: +SKIP
        >>> boxes = store["clip"].read(100, 200)                # frames 100..199 only
        >>> corrections, _ = store["clip"].read_log()
    """
    return TrackStore(path, mode, video=VideoResult)
