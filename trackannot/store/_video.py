"""Store reading and editing: one video's group (boxes by frame range, the corrections log, review
queues and their answers, as tables of the columns the domain's schemas name), and the store of
many videos."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Iterator, Mapping, Sequence, TypeVar

import numpy as np
import numpy.typing as npt
import zarr
from zarr.core.sync import sync

from trackannot.boxes import COLUMNS, Boxes
from trackannot.errors import (
    CorruptStoreError, StoreConflictError, StoreInputError, StoreNotFoundError,
)
from trackannot.store._layout import (
    FORMAT, NOTHING_COMMITTED, STATUS_COMPLETE, STATUS_FAILED, TABLES, Schema, TableSchemas,
    cache_path, check_format, create_column, is_video_key, open_root,
)
from trackannot.store._location import (
    Remote, ensure_reachable, exists, location, zarr_store,
)
from trackannot.store._lock import DEFAULT_LOCK_TIMEOUT_S, WriterLock, group_lock
from trackannot.store._log import (
    AnswerRows, LogInfo, append_batch, conform, ensure_answers, log_info, read_answer_rows,
    read_batches, read_log_rows, read_table,
)
from trackannot.store._read import open_array, open_child, read_many
from trackannot.store._replace import REPLACING, finished_replacement, recover, replacement_path


@dataclass(frozen=True)
class VideoGroup:
    """Read access to one video's group; arrays are read lazily, by frame range.

    Every read stays inside the committed extent and is verified (`trackannot.store._read`):
    a chunk that is missing or damaged raises `CorruptStoreError`, never reads as zeros.
    Writes (`append_batch`, `write_queue_table`) need the group's lock: get the video from
    `TrackStore.writer(key)`. The human tables (log, queues, answers) are read and written as
    columns of the schemas their domain passes in; `trackannot.results.VideoResult` reads them
    as `Corrections`, `ReviewQueue` and `Answers`.
    """

    key: str
    group: zarr.Group
    lock: WriterLock | None = field(default=None, compare=False)

    @property
    def attrs(self) -> dict[str, Any]:
        """The group's attributes: status, config, input, video, versions, committed."""
        return dict(self.group.attrs)

    @property
    def status(self) -> str:
        """"running" (being written, or interrupted), "complete" or "failed" (decoding failed;
        the frames decoded before the failure are kept: see attrs["error"])."""
        return str(self.group.attrs.get("status"))

    @property
    def complete(self) -> bool:
        return self.group.attrs.get("status") == STATUS_COMPLETE

    @property
    def started(self) -> bool:
        """Whether the group holds results: finished, or frames committed (else a rerun
        replaces it: see `discard_unstarted`)."""
        done = self.group.attrs.get("committed") or NOTHING_COMMITTED
        return self.status in (STATUS_COMPLETE, STATUS_FAILED) or int(done["frames"]) > 0

    def _array(self, path: str) -> zarr.Array:
        return open_array(self.group, path, self.key)

    def _rows(self, path: str, start: int, stop: int) -> np.ndarray:
        return read_many(self.group, [(path, start, stop)], self.key)[0]  # one round trip

    def committed(self) -> tuple[int, dict[str, int]]:
        """(frames, rows per table) committed; what was written past them is ignored.

        A group without the `committed` attribute (written before it existed) counts whole.
        """
        done = self.group.attrs.get("committed")
        try:
            if done is None:
                return (self._array("frames/index").shape[0],
                        {name: self._array(f"{name}/frame").shape[0] for name in TABLES})
            return int(done["frames"]), {name: int(done["rows"][name]) for name in TABLES}
        except (KeyError, TypeError, ValueError) as err:
            raise CorruptStoreError(f"{self.key}: the committed attribute {done!r} does not "
                                    "load; run `trackannot check STORE`") from err

    def frames(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """(index, time_s) of every processed (committed) frame."""
        n, _ = self.committed()
        return self._rows("frames/index", 0, n), self._rows("frames/time_s", 0, n)

    def read(self, start: int | None = None, stop: int | None = None, table: str = "tracks") -> Boxes:
        """`Boxes` of `table` for decoded frames start <= frame < stop, reading only those rows.

        Args:
            start: first decoded frame index (inclusive); None from the beginning.
            stop: end decoded frame index (exclusive); None to the end.
            table: "tracks" or "detections".

        Raises:
            CorruptStoreError: a chunk of those rows is missing or damaged.
        """
        if table not in TABLES:
            raise StoreInputError(f"unknown table {table!r}; expected one of {TABLES}")
        n_frames, rows = self.committed()
        index = self._rows("frames/index", 0, n_frames)
        lo = 0 if start is None else int(np.searchsorted(index, start, side="left"))
        hi = len(index) if stop is None else int(np.searchsorted(index, stop, side="left"))
        n_rows = rows[table]
        starts = self._rows(f"{table}/row_start", lo, min(hi + 1, len(index)))
        r0 = int(starts[0]) if lo < len(index) else n_rows
        r1 = int(starts[hi - lo]) if hi < len(index) else n_rows
        return self.read_rows(table, r0, r1)

    def read_rows(self, table: str, start: int, stop: int) -> Boxes:
        """Rows start..stop-1 of `table` (committed rows only; see `row_starts` for where each
        frame's rows start), all columns read at once."""
        _, rows = self.committed()
        if not 0 <= start <= stop <= rows[table]:
            raise CorruptStoreError(f"{self.key}/{table}: rows {start}..{stop - 1} asked, "
                                    f"{rows[table]} committed; run `trackannot check STORE`")
        columns = read_many(self.group, [(f"{table}/{name}", start, stop) for name in COLUMNS],
                            self.key)
        return Boxes(**dict(zip(COLUMNS, columns)))

    def row_starts(self, table: str = "tracks", start: int = 0,
                   stop: int | None = None) -> npt.NDArray[np.int64]:
        """Offsets of committed frames start..stop (inclusive) in the rows of `table`:
        (stop - start + 1,) int64, where entry f is the first row of the f-th processed frame
        and entry f (the committed frames) is the table's committed row count. Default: every
        frame, (f + 1,); only the entries asked are read."""
        n_frames, rows = self.committed()
        stop = n_frames if stop is None else int(stop)
        if not 0 <= start <= stop <= n_frames:
            raise StoreInputError(f"{self.key}/{table}: row offsets of frames {start}..{stop} "
                                  f"asked; {n_frames} frames committed")
        starts = self._rows(f"{table}/row_start", start, min(stop + 1, n_frames))
        if stop == n_frames:
            starts = np.append(starts, np.int64(rows[table]))
        return starts.astype(np.int64)

    def frame_index(self, start: int = 0, stop: int | None = None) -> npt.NDArray[np.int64]:
        """Decoded frame index of committed frames start..stop-1 (default: all), reading only
        those entries (`frames` reads every entry and its time)."""
        n_frames, _ = self.committed()
        stop = n_frames if stop is None else min(int(stop), n_frames)
        return self._rows("frames/index", start, stop).astype(np.int64)

    def chunk_rows(self, table: str = "tracks") -> tuple[int, int]:
        """(rows per chunk of `table`'s columns, entries per chunk of its row offsets): reads
        aligned to them decode each chunk once."""
        return (int(self._array(f"{table}/frame").chunks[0]),
                int(self._array(f"{table}/row_start").chunks[0]))

    def column(self, table: str, name: str) -> np.ndarray:
        """One column of `table`, every committed row (e.g. `column("tracks", "track_id")`)."""
        _, rows = self.committed()
        return self._rows(f"{table}/{name}", 0, rows[table])

    @property
    def num_frames(self) -> int:
        """Frames in the video: the header's count, or past the last processed frame if more."""
        n, _ = self.committed()
        last = int(self._rows("frames/index", n - 1, n)[0]) + 1 if n else 0
        return max(int((self.attrs.get("video") or {}).get("frame_count") or 0), last)

    def cache_path(self) -> Path | None:
        """Where this video's derived cache goes (`trackannot.statecache`); None for a store
        that is not a local directory."""
        return cache_path(self.group.store, self.key)

    # ------------------------------------------------------------------------- corrections log

    def log_info(self) -> LogInfo:
        """The corrections log's committed extent: rows, batches, authors, digest."""
        return log_info(self.group, self.key)

    def batches(self, start: int = 0, stop: int | None = None) -> list[dict[str, Any]]:
        """Records of committed batches start..stop-1 (number, rows, source, author, time,
        queue and answers), read from the batch table."""
        return read_batches(self.group, self.key, self.log_info(), start, stop)

    def digest_at(self, batches: int) -> str:
        """The log's chained digest after its first `batches` batches ("" for none)."""
        info = self.log_info()
        if batches == info.batches:
            return info.digest
        if batches <= 0 or info.legacy is not None:
            return ""
        return str(self._rows("corrections/batches/digest", batches - 1, batches)[0])

    def read_log_table(self, schema: Schema, start: int = 0,
                       stop: int | None = None) -> dict[str, np.ndarray]:
        """Committed log rows start..stop-1 (default: all), in order: every column of `schema`
        (the log's row schema, `TableSchemas.log`), as stored."""
        rows = self.log_info().rows
        stop = rows if stop is None else min(stop, rows)
        return read_log_rows(self.group, self.key, schema, start, stop)

    def _require_lock(self, doing: str) -> None:
        if self.group.store.read_only:
            raise StoreInputError(f"{self.key}: store opened read-only; cannot {doing}")
        if self.lock is None or not self.lock.held:
            raise StoreConflictError(f"{self.key}: {doing} needs the video's writer lock; use "
                                     "`with open_store(path, mode='a').writer(key) as video:`")
        self.lock.fence()  # a lease on object storage: still ours (renewed if due)

    def append_batch(self, rows: Mapping[str, np.ndarray], schemas: TableSchemas,
                     record: Mapping[str, Any], authors: Sequence[str],
                     answers: AnswerRows | None = None,
                     opened: dict[str, Any] | None = None) -> int:
        """Append one batch to the log and commit it (with the answers it brings); returns the
        batch number (`trackannot.store._log.append_batch`).

        Args:
            rows: the batch's log rows, every column of `schemas.log`.
            schemas: the human tables' schemas.
            record: what to record about the batch (source file, its hash, author, time).
            authors: the log's author list after the batch: `log_info().authors` with the
                batch's new authors after it (rows hold indices into it).
            answers: rows of a review queue's answers committed with the batch.
            opened: the log's arrays as the caller's last append left them, kept between
                appends (start with {}): not opened again while nothing was appended since.

        Raises:
            StoreInputError: the store was opened read-only, or rows that do not fit.
            StoreConflictError: the lock is not held.
            StoreNotFoundError: the answers' queue is unknown.
        """
        self._require_lock("appending corrections")
        if answers is not None:
            self.queue_record(answers.queue_id)
        return append_batch(self.group, self.key, self.log_info(), rows, schemas, dict(record),
                            list(authors), answers, opened)

    # ------------------------------------------------------------------------------ review queues

    def queue_records(self) -> list[dict[str, Any]]:
        """Every review queue's record, oldest first, as written by `write_queue_table` (its
        "id" and "items", the committed item count, are the store's; the rest is the writer's)."""
        if "review" not in self.group:
            return []
        review = open_child(self.group, "review", self.key)
        try:
            return [dict(r) for r in (review.attrs.get("review") or {}).get("queues", [])]
        except (AttributeError, TypeError) as err:
            raise CorruptStoreError(f"{self.key}: the review attribute does not load ({err}); "
                                    "run `trackannot check STORE`") from err

    def queue_record(self, queue_id: str) -> dict[str, Any]:
        """The record of review queue `queue_id`.

        Raises:
            StoreNotFoundError: no such queue (the message lists the video's queues).
        """
        records = self.queue_records()
        for record in records:
            if record["id"] == queue_id:
                return record
        known = ", ".join(r["id"] for r in records) or "none (run `trackannot review`)"
        raise StoreNotFoundError(f"{self.key}: no review queue {queue_id!r}; queues: {known}")

    def write_queue_table(self, queue_id: str, items: Mapping[str, np.ndarray],
                          schemas: TableSchemas, records: list[dict[str, Any]]) -> None:
        """Store a new review queue's items, then commit the video's list of queue records.

        The items (and empty answer arrays) are written first; one write of the review group's
        attribute then lists `records` (what a crash before it left is overwritten next time).
        Needs the group's lock (`TrackStore.writer`).

        Args:
            queue_id: the queue's id (new in this video).
            items: its items, every column of `schemas.items`.
            schemas: the human tables' schemas.
            records: every queue's record after this one is written, the new one included
                ({"id": queue_id, "items": rows, ...}).

        Raises:
            StoreInputError: read-only store, a queue with this id exists, items or records
                that do not fit.
            StoreConflictError: the lock is not held.
        """
        self._require_lock("writing a review queue")
        if any(r["id"] == queue_id for r in self.queue_records()):
            raise StoreInputError(f"{self.key}: review queue {queue_id!r} already exists")
        columns = conform(items, schemas.items, f"{self.key}/review/{queue_id}/items")
        n = len(next(iter(columns.values()), ()))
        listed = [r for r in records if r.get("id") == queue_id]
        if len(listed) != 1 or int(listed[0].get("items", -1)) != n:
            raise StoreInputError(f"{self.key}: the queue records must list {queue_id!r} once, "
                                  f"with its {n} items")
        review = self.group.require_group("review")
        folder = review.require_group(queue_id)
        table = folder.require_group("items")
        for name, (dtype, tail) in schemas.items.items():
            arr = create_column(table, name, dtype, tail, max(n, 1), rows=n)
            if n:
                arr[:] = columns[name]
        if "answers" in folder:  # a crash's leftovers under this (never listed) id
            del folder["answers"]
        ensure_answers(self.group, queue_id, schemas.answers)
        review.attrs["review"] = {"queues": list(records)}

    def read_queue_table(self, queue_id: str, schema: Schema
                         ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """(record, items) of review queue `queue_id`: its items are every column of `schema`
        (`TableSchemas.items`).

        Raises:
            StoreNotFoundError: no such queue (the message lists the video's queues).
        """
        record = self.queue_record(queue_id)
        items = read_table(self.group, self.key, f"review/{queue_id}/items", schema, 0,
                           int(record["items"]))
        return record, items

    def read_answer_table(self, queue_id: str, schema: Schema) -> dict[str, np.ndarray]:
        """The committed answers to queue `queue_id`, in the order they were logged: every
        column of `schema` (`TableSchemas.answers`), as stored.

        Raises:
            StoreNotFoundError: no such queue.
        """
        self.queue_record(queue_id)
        n = self.log_info().answers.get(queue_id, 0)
        return read_answer_rows(self.group, self.key, queue_id, schema, 0, n)


V = TypeVar("V", bound=VideoGroup)


class TrackStore(Generic[V]):
    """A store opened for reading (mode "r") or for writes under locks (mode "a"):
    `store.videos`, `store[key]`, iteration over its videos, `store.writer(key)`.

    Args:
        path: the store: a directory, or `s3://bucket/prefix` (`trackannot.store._location`;
            `path` is then a `Remote`).
        mode: "r" or "a".
        video: the class each video is handed out as: `VideoGroup`, or a domain class built on
            it (`trackannot.results.VideoResult`, what `trackannot.open_store` gives).
    """

    def __init__(self, path: str | Path, mode: str = "r",
                 video: type[V] = VideoGroup) -> None:  # type: ignore[assignment]
        self._video: type[V] = video
        self.path: Any = location(path)
        if isinstance(self.path, Remote):
            ensure_reachable(self.path)  # a clear message for a missing bucket or bad key
        elif not self.path.exists():
            raise StoreNotFoundError(f"{self.path}: no such store")
        if mode not in ("r", "a"):
            raise StoreInputError(f"mode must be 'r' (read) or 'a' (append corrections), got "
                                  f"{mode!r}")
        self.mode = mode
        if not exists(self.path, "zarr.json"):
            raise StoreNotFoundError(f"{self.path}: not a trackannot store (no zarr.json)")
        try:
            self._root = zarr.open_group(zarr_store(self.path, read_only=mode == "r"), mode=mode,
                                         zarr_format=3)
        except (FileNotFoundError, zarr.errors.GroupNotFoundError) as err:
            raise StoreNotFoundError(f"{self.path}: not a trackannot store ({err})") from err
        except (ValueError, KeyError, TypeError) as err:
            raise CorruptStoreError(f"{self.path}/zarr.json: the store's root metadata does not "
                                    f"load ({err}); run `trackannot check {self.path}`") from err
        check_format(self.path, self._root.attrs)

    @property
    def videos(self) -> list[str]:
        """Keys of the store's video groups, sorted (a group whose metadata is damaged is listed:
        opening it raises `CorruptStoreError`)."""
        names = {n for n in sync(_children(self._root.store)) if is_video_key(n)}
        found = {n for n in names if self._exists(n)}
        # a replacement a crash left finished but not yet renamed into place (see _replace)
        found |= {n for n in self._pending_replacements() if n not in found}
        return sorted(found)

    def _exists(self, path: str) -> bool:
        return bool(sync(self._root.store.exists(f"{path}/zarr.json")))

    def _pending_replacements(self) -> list[str]:
        if isinstance(self.path, Remote):  # no replacements on object storage (`_replace`)
            return []
        folder = self.path / REPLACING
        if not folder.is_dir():
            return []
        return [p.name for p in folder.iterdir() if is_video_key(p.name)
                and finished_replacement(self.path, p.name)]

    def __getitem__(self, key: str) -> V:
        path = key
        if not is_video_key(key):
            raise StoreNotFoundError(f"{self.path}: no video '{key}'; videos: "
                                     f"{', '.join(self.videos)}")
        if not self._exists(key):
            if not finished_replacement(self.path, key):
                raise StoreNotFoundError(f"{self.path}: no video '{key}'; videos: "
                                         f"{', '.join(self.videos)}")
            path = replacement_path(key)
        group = open_child(self._root, path, key)
        if not isinstance(group, zarr.Group):
            raise CorruptStoreError(f"{key}: should be a group, found an array")
        return self._video(key, group)

    def __iter__(self) -> Iterator[V]:
        return (self[key] for key in self.videos)

    @contextlib.contextmanager
    def writer(self, key: str, command: str | None = None,
               timeout: float = DEFAULT_LOCK_TIMEOUT_S) -> Iterator[V]:
        """Video `key` for writing, its group lock held for the block; everything read inside
        the block (state, log extent) is read under the lock, so a batch is checked against the
        state it is appended to.

        Raises:
            LockedError: another process holds the lock longer than `timeout` seconds.
            StoreInputError: read-only store.
            StoreNotFoundError: no such video.
        """
        if self.mode != "a":
            raise StoreInputError(f"{self.path}: opened read-only; open_store(path, mode='a')")
        with group_lock(self.path, key, command, timeout) as lock:
            recover(self.path, key)  # finish a replacement a crash interrupted
            if self._root.attrs.get("format") != FORMAT:
                open_root(self.path)  # a /1 store: its writes from now on are /2 (store lock)
            result = self[key]
            yield self._video(key, result.group, lock)


async def _children(store: Any) -> list[str]:
    return [name async for name in store.list_dir("")]


def find_group(store: str | Path, key: str, path: str | None = None) -> VideoGroup | None:
    """Video `key`'s group at `path` inside the store (default `key`), None if it does not
    exist. Looked up by name, without listing the store (other writers may be creating their
    groups at the same moment)."""
    root = zarr.open_group(zarr_store(store, read_only=True), mode="r", zarr_format=3)
    path = path or key
    if not sync(root.store.exists(f"{path}/zarr.json")):
        return None
    return VideoGroup(key, open_child(root, path, key))


def open_store(path: str | Path, mode: str = "r") -> TrackStore[VideoGroup]:
    """Open a result store at the storage layer: mode "r" to read, "a" to also write (under
    `TrackStore.writer`); its videos are `VideoGroup`s. `trackannot.open_store` opens the same
    store with the human tables read as `Corrections`, `ReviewQueue` and `Answers`.

    Example:
        >>> store = open_store("out.zarr")                      # doctest: +SKIP
        >>> boxes = store["clip"].read(100, 200)                # frames 100..199 only
    """
    return TrackStore(path, mode)
