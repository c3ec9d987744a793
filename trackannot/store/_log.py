"""The corrections log of a video group: append-only rows, a table of batches, one commit point.

Layout (format /2)::

    <video>/corrections/<column>          (c, ...)  one row per edit (`TableSchemas.log`)
    <video>/corrections/batches/<column>  (b, ...)  one row per batch (`BATCH_COLUMNS`)
    <video>/review/<queue>/answers/<col>  (a, ...)  answers that came with a batch
                                                    (`TableSchemas.answers`)
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

The columns of the log's rows and of the answers are the domain's (`trackannot.results`), passed
in as schemas; only the batch table is the log's own.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Mapping, NamedTuple

import numpy as np
import zarr
from zarr.api.asynchronous import open_array as open_async_array
from zarr.core.sync import sync

from trackannot.errors import CorruptStoreError, StoreInputError
from trackannot.store._layout import (
    BATCH_CHUNK_ROWS, BATCH_COLUMNS, LOG_CHUNK_ROWS, WRITE_CONFIG, Schema, TableSchemas,
    create_columns,
)
from trackannot.store._read import read_many

__all__ = ["AnswerRows", "LogInfo", "answers_path", "append_batch", "batch_digest",
           "chain_digests", "conform", "empty_columns", "ensure_answers", "ensure_log",
           "ensure_table", "log_info", "read_answer_rows", "read_batches", "read_log_rows",
           "read_table"]

LOG = "corrections"
BATCHES = "corrections/batches"
_GENESIS = ""
_OPENED_AT = "\0digest"  # in `append_batch`'s `opened`: the log's digest its arrays reflect


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
    records = read_many(group, [(f"{BATCHES}/record", start, stop)], what)[0]
    try:
        return [json.loads(str(r)) for r in records]
    except ValueError as err:
        raise CorruptStoreError(f"{what}: a batch record of {BATCHES} does not load ({err}); run "
                                "`trackannot check STORE`") from err


class AnswerRows(NamedTuple):
    """Rows a batch brings for a review queue's answers table, committed with the batch."""

    queue_id: str
    rows: Mapping[str, np.ndarray]  # every column of `TableSchemas.answers`


def empty_columns(schema: Schema) -> dict[str, np.ndarray]:
    """No rows of a table: every column of `schema`, empty."""
    return {name: np.zeros((0, *tail), dtype) for name, (dtype, tail) in schema.items()}


def read_table(group: zarr.Group, what: str, path: str, schema: Schema, start: int,
               stop: int) -> dict[str, np.ndarray]:
    """Rows start..stop-1 of the table at `path` (one array per column of `schema`), verified
    (`trackannot.store._read`); the caller keeps inside the committed extent."""
    if stop <= start:
        return empty_columns(schema)
    # every column in one round trip to zarr's event loop (`read_many`), not three per column
    columns = read_many(group, [(f"{path}/{name}", start, stop) for name in schema], what)
    return dict(zip(schema, columns))


def ensure_table(group: zarr.Group, path: str, schema: Schema, chunk: int) -> None:
    """Create whichever column arrays of the table at `path` are missing (empty)."""
    ensure_tables(group, {path: (schema, chunk)})


def ensure_tables(group: zarr.Group, tables: Mapping[str, tuple[Schema, int]]) -> None:
    """`ensure_table` for several tables {path: (schema, chunk)}: one listing per table, then
    every missing column made at once (`create_columns`)."""
    missing: dict[str, tuple[Any, tuple[int, ...], int]] = {}
    for path, (schema, chunk) in tables.items():
        have = set(group.require_group(path).array_keys())
        missing.update({f"{path}/{name}": (dtype, tail, chunk)
                        for name, (dtype, tail) in schema.items() if name not in have})
    if missing:
        create_columns(group, missing)


def answers_path(queue_id: str) -> str:
    """Where the answers to review queue `queue_id` are, in its video's group."""
    return f"review/{queue_id}/answers"


def read_log_rows(group: zarr.Group, what: str, schema: Schema, start: int,
                  stop: int) -> dict[str, np.ndarray]:
    """Columns of committed log rows start..stop-1 (every column of `schema`)."""
    return read_table(group, what, LOG, schema, start, stop)


def read_answer_rows(group: zarr.Group, what: str, queue_id: str, schema: Schema, start: int,
                     stop: int) -> dict[str, np.ndarray]:
    """Columns of committed answer rows start..stop-1 of one queue."""
    return read_table(group, what, answers_path(queue_id), schema, start, stop)


def ensure_log(group: zarr.Group, schema: Schema) -> None:
    """Create whichever log arrays are missing (all of them for a new group; for a group whose
    first correction was killed while its arrays were being made, the rest)."""
    ensure_tables(group, {LOG: (schema, LOG_CHUNK_ROWS), BATCHES: (BATCH_COLUMNS,
                                                                  BATCH_CHUNK_ROWS)})


def ensure_answers(group: zarr.Group, queue_id: str, schema: Schema) -> None:
    """Create whichever answer arrays of queue `queue_id` are missing."""
    ensure_table(group, answers_path(queue_id), schema, LOG_CHUNK_ROWS)


def batch_digest(previous: str, record: Mapping[str, Any], columns: Mapping[str, np.ndarray]) -> str:
    """sha256 over the previous digest, the batch's record (canonical JSON) and its rows."""
    h = hashlib.sha256(previous.encode())
    h.update(json.dumps(record, sort_keys=True).encode())
    for name in sorted(columns):
        h.update(name.encode())
        h.update(np.ascontiguousarray(columns[name]).tobytes())
    return h.hexdigest()


async def _put(store: Any, path: str, start: int, values: np.ndarray,
               opened: dict[str, Any] | None = None) -> None:
    """Write rows start.. of the array at `path` (past its committed rows: whatever a crash left
    there is overwritten). The array grows a chunk at a time, so most batches write only data:
    rows past the committed count are room for the next batches, never read. `opened`: arrays
    opened before (path -> array), used and added to."""
    array = opened.get(path) if opened is not None else None
    if array is None:
        array = await open_async_array(store=store, path=path, zarr_format=3, mode="r+")
        array = array.with_config(WRITE_CONFIG)
        if opened is not None:
            opened[path] = array
    end = start + len(values)
    if array.metadata.shape[0] < end:
        rows = int(array.metadata.chunk_grid.chunk_shape[0])
        await array.resize((-(-end // rows) * rows, *array.metadata.shape[1:]))
    if len(values):
        await array.setitem(slice(start, end), values)


def _put_all(group: zarr.Group, rows: list[tuple[str, int, np.ndarray]],
             opened: dict[str, Any] | None = None) -> None:
    """`_put` for every (path in `group`, first row, values), concurrently (one round trip)."""
    base = f"{group.path}/" if group.path else ""

    async def put_all() -> list[BaseException | None]:
        # every write finishes (or fails) before this returns: none goes on after an error
        return await asyncio.gather(*(_put(group.store, base + path, start, np.asarray(values),
                                           opened)
                                      for path, start, values in rows), return_exceptions=True)

    errors = [e for e in sync(put_all()) if isinstance(e, BaseException)]
    if errors:
        raise errors[0]


def conform(columns: Mapping[str, np.ndarray], schema: Schema, what: str
            ) -> dict[str, np.ndarray]:
    """Columns of one table as they are stored (and hashed): every column of `schema`, no other,
    each of the schema's dtype and trailing shape, all of one length.

    Raises:
        StoreInputError: a column missing or unknown, of another shape, or lengths that differ.
    """
    if set(columns) != set(schema):
        raise StoreInputError(f"{what}: columns {sorted(columns)} given, the table has "
                              f"{sorted(schema)}")
    out = {name: np.asarray(columns[name], dtype=dtype) for name, (dtype, _) in schema.items()}
    for name, (dtype, tail) in schema.items():
        if out[name].ndim != 1 + len(tail) or out[name].shape[1:] != tail:
            raise StoreInputError(f"{what}: column {name} must be (n, *{tail}) {dtype}, got "
                                  f"{out[name].shape}")
    lengths = sorted({len(col) for col in out.values()})
    if len(lengths) > 1:
        raise StoreInputError(f"{what}: columns of different lengths {lengths}")
    return out


def append_batch(group: zarr.Group, what: str, info: LogInfo, columns: Mapping[str, np.ndarray],
                 schemas: TableSchemas, record: Mapping[str, Any], authors: list[str],
                 answers: AnswerRows | None = None, opened: dict[str, Any] | None = None) -> int:
    """Append one batch and commit it (see the module docstring); returns its number.

    Args:
        group: the video's group, opened for writing, its group lock held by the caller.
        what: the group's name, for messages.
        info: the log's committed extent, read under the same lock.
        columns: the batch's rows, every column of `schemas.log`.
        schemas: the columns of the log's rows and of review answers.
        record: what to record of the batch (source, sha256, author, time); number, rows and
            answers are added here.
        authors: the log's author list after this batch (rows index into it): the committed
            list, with the batch's new authors after it.
        answers: the rows of a review queue's answers (every column of `schemas.answers`)
            that came with the batch.
        opened: the arrays as this process's last append left them, kept by the caller between
            appends (start with {}): their metadata is not read again while the log is as that
            append committed it (its digest: nothing appended since); else they are opened anew.

    Raises:
        StoreInputError: read-only store; columns that do not fit their schema, or an author
            list that does not extend the committed one.
    """
    if group.store.read_only:
        raise StoreInputError(f"{what}: store opened read-only; open_store(path, mode='a')")
    if list(authors[:len(info.authors)]) != list(info.authors):
        raise StoreInputError(f"{what}: the batch's author list does not extend the log's")
    number, n0 = info.batches, info.rows
    if opened is not None and (not info.digest or opened.pop(_OPENED_AT, None) != info.digest):
        opened.clear()  # another log, or batches appended since (by anyone): shapes changed
    columns = conform(columns, schemas.log, f"{what}/{LOG}")
    given = conform(answers.rows, schemas.answers, f"{what}/{answers_path(answers.queue_id)}") \
        if answers is not None else None
    k = len(next(iter(columns.values()), ()))
    if info.batches == 0 or info.legacy is not None:
        # made with the group (when its writer was given the schema); a first batch may find
        # them missing or half made (a crash)
        ensure_log(group, schemas.log)
    full = {**record, "number": number, "rows": [n0, n0 + k]}
    answer_counts = dict(info.answers)
    puts: list[tuple[str, int, np.ndarray]] = []
    a0 = a1 = -1
    if answers is not None and given is not None:
        a0 = info.answers.get(answers.queue_id, 0)
        a1 = a0 + len(next(iter(given.values()), ()))
        if a0 == 0:
            ensure_answers(group, answers.queue_id, schemas.answers)
        puts += [(f"{answers_path(answers.queue_id)}/{name}", a0, col)
                 for name, col in given.items()]
        full.update({"queue": answers.queue_id, "answers": [a0, a1]})
        answer_counts[answers.queue_id] = a1
    puts += [(f"{LOG}/{name}", n0, col) for name, col in columns.items()]
    earlier, digests, digest = _legacy_chain(group, what, info, schemas)
    digest = batch_digest(digest, full, _hashed(columns, given))
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
    _put_all(group, puts, opened)  # rows, answers, batch row: all past the commit point
    committed = LogInfo(n0 + k, number + 1, list(authors), digest, answer_counts)
    group.attrs["corrections"] = committed.as_attr()  # the commit point
    if opened is not None:
        opened[_OPENED_AT] = digest
    return number


def _hashed(columns: Mapping[str, np.ndarray],
            answers: Mapping[str, np.ndarray] | None) -> dict[str, np.ndarray]:
    """What a batch's digest covers: its log rows and the answer rows that came with it."""
    out = {name: np.asarray(col) for name, col in columns.items()}
    if answers is not None:
        out |= {f"answers/{name}": np.asarray(col) for name, col in answers.items()}
    return out


def _legacy_chain(group: zarr.Group, what: str, info: LogInfo,
                  schemas: TableSchemas) -> tuple[list[dict[str, Any]], list[str], str]:
    """For a /1 log: its batch records, their chained digests and the last one (its rows read
    once, to move them into the table); for a /2 log: nothing to move, and its digest."""
    if info.legacy is None:
        return [], [], info.digest
    digests = chain_digests(group, what, info, schemas)
    return info.legacy, digests, digests[-1] if digests else _GENESIS


def chain_digests(group: zarr.Group, what: str, info: LogInfo,
                  schemas: TableSchemas) -> list[str]:
    """The chained digest after each committed batch, recomputed from the rows (for checks)."""
    records = read_batches(group, what, info)
    rows = read_log_rows(group, what, schemas.log, 0, info.rows)
    out, digest = [], _GENESIS
    for record in records:
        a, b = record["rows"]
        answers = None
        if record.get("queue") is not None:
            answers = read_answer_rows(group, what, record["queue"], schemas.answers,
                                       *record["answers"])
        digest = batch_digest(digest, record, _hashed({n: v[a:b] for n, v in rows.items()},
                                                      answers))
        out.append(digest)
    return out
