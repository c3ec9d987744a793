"""The corrections log of a video group: append-only rows, a table of batches, one commit point.

Layout (format /2)::

    <video>/corrections/<column>          (c, ...)  one row per edit (`LOG_COLUMNS`)
    <video>/corrections/batches/<column>  (b, ...)  one row per batch (`BATCH_COLUMNS`)
    <video>/review/<queue>/answers/<col>  (a, ...)  answers that came with a batch
    attrs["corrections"] = {"rows": c, "batches": b, "authors": [...], "digest": hex,
                            "answers": {queue: a, ...}}

Appending a batch writes its rows past the committed ones (over whatever a crash left there),
its answers past their queue's committed answers, and its batch row; then one write of the
group's `corrections` attribute commits all of it. These arrays grow a chunk at a time: rows
past the committed count are room for the next batches (and a crash's leftovers), never read. Readers read the committed extent only,
so a batch lands whole or not at all, and history is never rewritten. Costs are those of the
batch: nothing of the log before it is read or rewritten (the batch row holds its row range).

`digest` chains every batch: sha256(previous digest, the batch's record, its rows' bytes), so a
derived cache or a backend can tell "the log I saw" from "a log that changed under me", and
`trackannot check` can tell an intact log from a damaged one.

/1 groups keep their batch records in the attribute (`batches` is a list); their next append
moves them into the table, in the same commit.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import zarr
from zarr.api.asynchronous import open_array as open_async_array
from zarr.core.sync import sync

from trackannot.errors import CorruptStoreError, StoreInputError
from trackannot.store._layout import (
    _BATCH_CHUNK_ROWS, _LOG_CHUNK_ROWS, BATCH_COLUMNS, LOG_COLUMNS, REVIEW_ANSWER_COLUMNS,
    WRITE_CONFIG, create_column,
)
from trackannot.store._read import open_array, read_rows

__all__ = ["LogInfo", "append_batch", "batch_digest", "chain_digests", "ensure_answers",
           "ensure_log", "log_info", "read_answer_rows", "read_batches", "read_log_rows"]

LOG = "corrections"
BATCHES = "corrections/batches"
_GENESIS = ""


@dataclass(frozen=True)
class LogInfo:
    """The committed extent of a video's corrections log (its `corrections` attribute).

    Attributes:
        rows: committed log rows.
        batches: committed batches.
        authors: every author named so far (log rows hold indices into it).
        digest: the chained digest after the last batch ("" for an empty log; /1 logs: "").
        answers: committed answer rows per review queue.
        legacy: the batch records of a /1 log (in the attribute), else None.
    """

    rows: int = 0
    batches: int = 0
    authors: list[str] = field(default_factory=list)
    digest: str = _GENESIS
    answers: dict[str, int] = field(default_factory=dict)
    legacy: list[dict[str, Any]] | None = None

    def as_attr(self) -> dict[str, Any]:
        return {"rows": self.rows, "batches": self.batches, "authors": list(self.authors),
                "digest": self.digest, "answers": dict(self.answers)}


def log_info(group: zarr.Group, what: str) -> LogInfo:
    """The committed extent of the log (no rows read)."""
    attr = group.attrs.get("corrections")
    if not attr:
        return LogInfo()
    try:
        batches = attr["batches"]
        if isinstance(batches, list):  # format /1
            answers: dict[str, int] = {}
            for b in batches:
                if b.get("queue") is not None:
                    answers[b["queue"]] = max(answers.get(b["queue"], 0), int(b["answers"][1]))
            return LogInfo(int(attr["rows"]), len(batches), list(attr["authors"]), _GENESIS,
                           answers, [dict(b) for b in batches])
        return LogInfo(int(attr["rows"]), int(batches), list(attr["authors"]),
                       str(attr.get("digest", _GENESIS)),
                       {str(k): int(v) for k, v in (attr.get("answers") or {}).items()})
    except (KeyError, TypeError, ValueError) as err:
        raise CorruptStoreError(f"{what}: the corrections attribute does not load ({err}); run "
                                "`trackannot check STORE`") from err


def read_batches(group: zarr.Group, what: str, info: LogInfo, start: int = 0,
                 stop: int | None = None) -> list[dict[str, Any]]:
    """Records of committed batches start..stop-1: number, rows [a, b], source, sha256, author,
    time, and queue with answers [a, b] for a batch that answered a review queue."""
    stop = info.batches if stop is None else min(stop, info.batches)
    if stop <= start:
        return []
    if info.legacy is not None:
        return info.legacy[start:stop]
    records = read_rows(open_array(group, f"{BATCHES}/record", what), start, stop,
                        f"{what}/{BATCHES}/record")
    try:
        return [json.loads(str(r)) for r in records]
    except ValueError as err:
        raise CorruptStoreError(f"{what}: a batch record of {BATCHES} does not load ({err}); run "
                                "`trackannot check STORE`") from err


def read_log_rows(group: zarr.Group, what: str, start: int, stop: int) -> dict[str, np.ndarray]:
    """Columns of committed log rows start..stop-1 (every column of `LOG_COLUMNS`)."""
    if stop <= start:
        return {k: np.zeros((0, *t), d) for k, (d, t) in LOG_COLUMNS.items()}
    return {name: read_rows(open_array(group, f"{LOG}/{name}", what), start, stop,
                            f"{what}/{LOG}/{name}") for name in LOG_COLUMNS}


def read_answer_rows(group: zarr.Group, what: str, queue_id: str, start: int,
                     stop: int) -> dict[str, np.ndarray]:
    """Columns of committed answer rows start..stop-1 of one queue."""
    if stop <= start:
        return {k: np.zeros((0, *t), d) for k, (d, t) in REVIEW_ANSWER_COLUMNS.items()}
    path = f"review/{queue_id}/answers"
    return {name: read_rows(open_array(group, f"{path}/{name}", what), start, stop,
                            f"{what}/{path}/{name}") for name in REVIEW_ANSWER_COLUMNS}


def ensure_log(group: zarr.Group) -> None:
    """Create whichever log arrays are missing (all of them for a new group; for a group whose
    first correction was killed while its arrays were being made, the rest)."""
    log = group.require_group(LOG)
    for name, (dtype, tail) in LOG_COLUMNS.items():
        if name not in log:
            create_column(log, name, dtype, tail, _LOG_CHUNK_ROWS)
    batches = log.require_group("batches")
    for name, (dtype, tail) in BATCH_COLUMNS.items():
        if name not in batches:
            create_column(batches, name, dtype, tail, _BATCH_CHUNK_ROWS)


def ensure_answers(group: zarr.Group, queue_id: str) -> None:
    """Create whichever answer arrays of queue `queue_id` are missing."""
    answers = group.require_group(f"review/{queue_id}/answers")
    for name, (dtype, tail) in REVIEW_ANSWER_COLUMNS.items():
        if name not in answers:
            create_column(answers, name, dtype, tail, _LOG_CHUNK_ROWS)


def batch_digest(previous: str, record: Mapping[str, Any], columns: Mapping[str, np.ndarray]) -> str:
    """sha256 over the previous digest, the batch's record (canonical JSON) and its rows."""
    h = hashlib.sha256(previous.encode())
    h.update(json.dumps(record, sort_keys=True).encode())
    for name in sorted(columns):
        h.update(name.encode())
        h.update(np.ascontiguousarray(columns[name]).tobytes())
    return h.hexdigest()


async def _put(store: Any, path: str, start: int, values: np.ndarray) -> None:
    """Write rows start.. of the array at `path` (past its committed rows: whatever a crash left
    there is overwritten). The array grows a chunk at a time, so most batches write only data:
    rows past the committed count are room for the next batches, never read."""
    array = await open_async_array(store=store, path=path, zarr_format=3, mode="r+")
    array = array.with_config(WRITE_CONFIG)
    end = start + len(values)
    if array.metadata.shape[0] < end:
        rows = int(array.metadata.chunk_grid.chunk_shape[0])
        await array.resize((-(-end // rows) * rows, *array.metadata.shape[1:]))
    if len(values):
        await array.setitem(slice(start, end), values)


def _put_all(group: zarr.Group, rows: list[tuple[str, int, np.ndarray]]) -> None:
    """`_put` for every (path in `group`, first row, values), concurrently (one round trip)."""
    base = f"{group.path}/" if group.path else ""

    async def put_all() -> list[BaseException | None]:
        # every write finishes (or fails) before this returns: none goes on after an error
        return await asyncio.gather(*(_put(group.store, base + path, start, np.asarray(values))
                                      for path, start, values in rows), return_exceptions=True)

    errors = [e for e in sync(put_all()) if isinstance(e, BaseException)]
    if errors:
        raise errors[0]


def append_batch(group: zarr.Group, what: str, info: LogInfo, columns: Mapping[str, np.ndarray],
                 record: Mapping[str, Any], authors: list[str],
                 answers: tuple[str, Mapping[str, np.ndarray]] | None = None) -> int:
    """Append one batch and commit it (see the module docstring); returns its number.

    Args:
        group: the video's group, opened for writing, its group lock held by the caller.
        what: the group's name, for messages.
        info: the log's committed extent, read under the same lock.
        columns: the batch's rows, every column of `LOG_COLUMNS` (its `batch` column included).
        record: what to record of the batch (source, sha256, author, time); number, rows and
            answers are added here.
        authors: the log's author list after this batch (log rows index into it).
        answers: (queue id, rows of `REVIEW_ANSWER_COLUMNS`) that came with the batch.
    """
    if group.store.read_only:
        raise StoreInputError(f"{what}: store opened read-only; open_store(path, mode='a')")
    number, n0 = info.batches, info.rows
    k = len(columns["op"])
    if info.batches == 0 or info.legacy is not None:
        ensure_log(group)  # made with the group; a first batch may find them half made (a crash)
    full = {**record, "number": number, "rows": [n0, n0 + k]}
    answer_counts = dict(info.answers)
    puts: list[tuple[str, int, np.ndarray]] = []
    a0 = a1 = -1
    if answers is not None:
        queue_id, rows = answers
        a0 = info.answers.get(queue_id, 0)
        a1 = a0 + len(rows["item"])
        if a0 == 0:
            ensure_answers(group, queue_id)
        puts += [(f"review/{queue_id}/answers/{name}", a0, rows[name])
                 for name in REVIEW_ANSWER_COLUMNS]
        full.update({"queue": queue_id, "answers": [a0, a1]})
        answer_counts[queue_id] = a1
    puts += [(f"{LOG}/{name}", n0, columns[name]) for name in LOG_COLUMNS]
    earlier, digests, digest = _legacy_chain(group, what, info)
    digest = batch_digest(digest, full, _hashed(columns, answers[1] if answers else None))
    records = [*earlier, full]
    batch_rows = {
        "row_start": [r["rows"][0] for r in records],
        "row_end": [r["rows"][1] for r in records],
        "answers_start": [r.get("answers", [-1, -1])[0] for r in records],
        "answers_end": [r.get("answers", [-1, -1])[1] for r in records],
        "time_ns": [int(r.get("time_ns", 0)) for r in records],
        "record": [json.dumps(r) for r in records],
        "digest": [*digests, digest],
    }
    first = number - len(earlier)
    puts += [(f"{BATCHES}/{name}", first, np.asarray(batch_rows[name], dtype=dtype))
             for name, (dtype, _) in BATCH_COLUMNS.items()]
    _put_all(group, puts)  # rows, answers, batch row: all past the commit point
    committed = LogInfo(n0 + k, number + 1, list(authors), digest, answer_counts)
    group.attrs["corrections"] = committed.as_attr()  # the commit point
    return number


def _hashed(columns: Mapping[str, np.ndarray],
            answers: Mapping[str, np.ndarray] | None) -> dict[str, np.ndarray]:
    """What a batch's digest covers: its log rows and the answer rows that came with it."""
    out = {name: np.asarray(columns[name]) for name in LOG_COLUMNS}
    if answers is not None:
        out |= {f"answers/{name}": np.asarray(answers[name]) for name in REVIEW_ANSWER_COLUMNS}
    return out


def _legacy_chain(group: zarr.Group, what: str,
                  info: LogInfo) -> tuple[list[dict[str, Any]], list[str], str]:
    """For a /1 log: its batch records, their chained digests and the last one (its rows read
    once, to move them into the table); for a /2 log: nothing to move, and its digest."""
    if info.legacy is None:
        return [], [], info.digest
    digests = chain_digests(group, what, info)
    return info.legacy, digests, digests[-1] if digests else _GENESIS


def chain_digests(group: zarr.Group, what: str, info: LogInfo) -> list[str]:
    """The chained digest after each committed batch, recomputed from the rows (for checks)."""
    records = read_batches(group, what, info)
    rows = read_log_rows(group, what, 0, info.rows)
    out, digest = [], _GENESIS
    for record in records:
        a, b = record["rows"]
        answers = None
        if record.get("queue") is not None:
            answers = read_answer_rows(group, what, record["queue"], *record["answers"])
        digest = batch_digest(digest, record, _hashed({n: v[a:b] for n, v in rows.items()},
                                                      answers))
        out.append(digest)
    return out
