"""Store reading and editing: one video's group (boxes by frame range, the corrections log, review
queues and their answers), and the store of many videos."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np
import numpy.typing as npt
import zarr

from trackannot.boxes import COLUMNS, Boxes
from trackannot.corrections import CORRECTION_COLUMNS, Corrections
from trackannot.errors import StoreError
from trackannot.review import ANSWER_COLUMNS, ITEM_COLUMNS, Answers, ReviewQueue
from trackannot.store._layout import (
    _LOG_CHUNK_ROWS, _NOTHING_COMMITTED, FORMAT, LOG_COLUMNS, QUEUE_OPEN, QUEUE_SUPERSEDED,
    REVIEW_ANSWER_COLUMNS, STATUS_COMPLETE, STATUS_FAILED, TABLES,
)

@dataclass(frozen=True)
class VideoResult:
    """Read access to one video's group; arrays are read lazily, by frame range."""

    key: str
    group: zarr.Group

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
        done = self.group.attrs.get("committed") or _NOTHING_COMMITTED
        return self.status in (STATUS_COMPLETE, STATUS_FAILED) or int(done["frames"]) > 0

    def committed(self) -> tuple[int, dict[str, int]]:
        """(frames, rows per table) committed; what was written past them is ignored.

        A group without the `committed` attribute (written before it existed) counts whole.
        """
        done = self.group.attrs.get("committed")
        if done is None:
            return (self.group["frames/index"].shape[0],
                    {name: self.group[f"{name}/frame"].shape[0] for name in TABLES})
        return int(done["frames"]), {name: int(n) for name, n in done["rows"].items()}

    def frames(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """(index, time_s) of every processed (committed) frame."""
        n, _ = self.committed()
        return self.group["frames/index"][:n], self.group["frames/time_s"][:n]

    def read(self, start: int | None = None, stop: int | None = None, table: str = "tracks") -> Boxes:
        """`Boxes` of `table` for decoded frames start <= frame < stop, reading only those rows.

        Args:
            start: first decoded frame index (inclusive); None from the beginning.
            stop: end decoded frame index (exclusive); None to the end.
            table: "tracks" or "detections".
        """
        if table not in TABLES:
            raise StoreError(f"unknown table {table!r}; expected one of {TABLES}")
        n_frames, rows = self.committed()
        index = self.group["frames/index"][:n_frames]
        lo = 0 if start is None else int(np.searchsorted(index, start, side="left"))
        hi = len(index) if stop is None else int(np.searchsorted(index, stop, side="left"))
        tab = self.group[table]
        n_rows = rows[table]
        row_start = tab["row_start"]
        r0 = int(row_start[lo]) if lo < len(index) else n_rows
        r1 = int(row_start[hi]) if hi < len(index) else n_rows
        return Boxes(**{name: tab[name][r0:r1] for name in COLUMNS})

    def row_starts(self, table: str = "tracks") -> npt.NDArray[np.int64]:
        """(f + 1,) int64 offsets of each committed frame's rows in `read(table=table)`."""
        n_frames, rows = self.committed()
        starts = self.group[f"{table}/row_start"][:n_frames]
        return np.append(starts, np.int64(rows[table])).astype(np.int64)

    @property
    def num_frames(self) -> int:
        """Frames in the video: the header's count, or past the last processed frame if more."""
        n, _ = self.committed()
        last = int(self.group["frames/index"][n - 1]) + 1 if n else 0
        return max(int((self.attrs.get("video") or {}).get("frame_count") or 0), last)

    def log_info(self) -> dict[str, Any]:
        """The corrections log's attribute: committed `rows`, `batches`, `authors`."""
        return dict(self.group.attrs.get("corrections") or {"rows": 0, "batches": [], "authors": []})

    def read_log(self) -> tuple[Corrections, dict[str, np.ndarray]]:
        """The committed corrections, in order, and the log's other columns (batch, prev_*)."""
        info = self.log_info()
        n = int(info["rows"])
        if n == 0:
            return Corrections.empty(), {k: np.zeros((0, *t), d) for k, (d, t) in LOG_COLUMNS.items()}
        log = self.group["corrections"]
        cols = {name: log[name][:n] for name in LOG_COLUMNS}
        authors = np.asarray(info["authors"], dtype=str)
        corrections = Corrections(
            **{name: cols[name] for name in CORRECTION_COLUMNS},
            author=authors[cols["author"]],
            source_line=np.zeros(n, np.int64),
        )
        return corrections, cols

    def append_log(self, corrections: Corrections, extra: Mapping[str, np.ndarray],
                   batch: Mapping[str, Any], answers: tuple[str, Answers] | None = None) -> int:
        """Append one batch to the corrections log; returns the batch number.

        Args:
            corrections: the batch, with every new track id resolved.
            extra: prev_xyxy, prev_origin, prev_class columns for the batch.
            batch: what to record about the batch (source file, its hash, author, time).
            answers: (queue id, answers to its items) that came with the batch: written past the
                queue's committed answers and committed with the batch.

        Raises:
            StoreError: the store was opened read-only, or the answers' queue is unknown.
        """
        if self.group.store.read_only:
            raise StoreError(f"{self.key}: store opened read-only; open_store(path, mode='a')")
        info = self.log_info()
        n0, k = int(info["rows"]), len(corrections)
        authors = list(info["authors"])
        names = corrections.author.tolist() + (answers[1].author.tolist() if answers else [])
        for a in dict.fromkeys(sorted(set(names))):
            if a not in authors:
                authors.append(a)
        number = len(info["batches"])
        record: dict[str, Any] = {}
        if answers is not None:
            record = self._write_answers(answers[0], answers[1], number, authors, info)
        cols = {name: getattr(corrections, name) for name in CORRECTION_COLUMNS}
        lookup = {a: i for i, a in enumerate(authors)}
        cols["author"] = np.asarray([lookup[a] for a in corrections.author.tolist()], np.int32)
        cols["batch"] = np.full(k, number, np.int32)
        cols.update({name: np.asarray(extra[name]) for name in ("prev_xyxy", "prev_origin", "prev_class")})
        if "corrections" not in self.group:
            log = self.group.create_group("corrections")
            for name, (dtype, tail) in LOG_COLUMNS.items():
                log.create_array(name, shape=(0, *tail), dtype=dtype, chunks=(_LOG_CHUNK_ROWS, *tail))
        log = self.group["corrections"]
        for name in LOG_COLUMNS:  # rows past the committed count are leftovers of a crash
            arr = log[name]
            arr.resize((n0 + k, *arr.shape[1:]))
            arr[n0 : n0 + k] = cols[name]
        batches = [*info["batches"], {**batch, **record, "number": number, "rows": [n0, n0 + k]}]
        self.group.attrs["corrections"] = {"rows": n0 + k, "batches": batches, "authors": authors}
        return number

    # ------------------------------------------------------------------------------ review queues

    def queue_records(self) -> list[dict[str, Any]]:
        """Every review queue's record, oldest first: id, created, based_on, mode, budget, items,
        frames, status ("open" or "superseded"), superseded_by, settings."""
        if "review" not in self.group:
            return []
        return [dict(r) for r in (self.group["review"].attrs.get("review") or {}).get("queues", [])]

    def _record(self, queue_id: str) -> dict[str, Any]:
        records = self.queue_records()
        for record in records:
            if record["id"] == queue_id:
                return record
        known = ", ".join(r["id"] for r in records) or "none (run `trackannot review`)"
        raise StoreError(f"{self.key}: no review queue {queue_id!r}; queues: {known}")

    def write_queue(self, queue: ReviewQueue, settings: Mapping[str, Any]) -> dict[str, Any]:
        """Store a new review queue; every earlier open queue becomes superseded by it.

        The items are written first; one write of the review group's attribute then lists the
        queue and supersedes the others (items of a crash before it are overwritten next time).

        Args:
            queue: the queue (its id must be new in this video).
            settings: what built it (spot_check_rate, honeypot_rate, honeypot_shift, seed).

        Returns:
            The queue's record.

        Raises:
            StoreError: read-only store, or a queue with this id exists.
        """
        from datetime import datetime, timezone

        if self.group.store.read_only:
            raise StoreError(f"{self.key}: store opened read-only; open_store(path, mode='a')")
        records = self.queue_records()
        if any(r["id"] == queue.queue_id for r in records):
            raise StoreError(f"{self.key}: review queue {queue.queue_id!r} already exists")
        review = self.group.require_group("review")
        items = review.require_group(queue.queue_id).require_group("items")
        for name, (dtype, tail) in ITEM_COLUMNS.items():
            arr = items.create_array(name, shape=(len(queue), *tail), dtype=dtype,
                                     chunks=(max(len(queue), 1), *tail), overwrite=True)
            if len(queue):
                arr[:] = getattr(queue, name)
        record = {
            "id": queue.queue_id, "created": datetime.now(timezone.utc).isoformat(),
            "based_on": int(queue.based_on), "based_on_batches": len(self.log_info()["batches"]),
            "mode": queue.mode, "budget": int(queue.budget), "items": len(queue),
            "frames": len(queue.frames), "status": QUEUE_OPEN, "superseded_by": None,
            "settings": {k: settings[k] for k in ("spot_check_rate", "honeypot_rate",
                                                  "honeypot_shift", "seed") if k in settings},
        }
        updated = [
            {**r, "status": QUEUE_SUPERSEDED, "superseded_by": queue.queue_id}
            if r["status"] == QUEUE_OPEN else r for r in records
        ]
        review.attrs["review"] = {"queues": [*updated, record]}
        return record

    def read_queue(self, queue_id: str) -> ReviewQueue:
        """The stored queue `queue_id`.

        Raises:
            StoreError: no such queue (the message lists the video's queues).
        """
        record = self._record(queue_id)
        items = self.group[f"review/{queue_id}/items"]
        return ReviewQueue(queue_id=queue_id, based_on=int(record["based_on"]), mode=record["mode"],
                           budget=int(record["budget"]),
                           **{name: items[name][:] for name in ITEM_COLUMNS})

    def _committed_answers(self, queue_id: str, info: Mapping[str, Any]) -> int:
        ends = [b["answers"][1] for b in info["batches"] if b.get("queue") == queue_id]
        return int(max(ends, default=0))

    def read_answers(self, queue_id: str) -> Answers:
        """The committed answers to queue `queue_id`, in the order they were logged.

        Raises:
            StoreError: no such queue.
        """
        self._record(queue_id)
        info = self.log_info()
        n = self._committed_answers(queue_id, info)
        if n == 0:
            return Answers.create(item=[], op=[])
        group = self.group[f"review/{queue_id}/answers"]
        cols = {name: group[name][:n] for name in REVIEW_ANSWER_COLUMNS}
        authors = np.asarray(info["authors"], dtype=str)
        return Answers(**{name: cols[name] for name in ANSWER_COLUMNS}, author=authors[cols["author"]])

    def _write_answers(self, queue_id: str, answers: Answers, number: int, authors: list[str],
                       info: Mapping[str, Any]) -> dict[str, Any]:
        """Write answer rows past the queue's committed ones; the batch record's part for them."""
        self._record(queue_id)
        a0, k = self._committed_answers(queue_id, info), len(answers)
        lookup = {a: i for i, a in enumerate(authors)}
        cols = {name: getattr(answers, name) for name in ANSWER_COLUMNS}
        cols["batch"] = np.full(k, number, np.int32)
        cols["author"] = np.asarray([lookup[a] for a in answers.author.tolist()], np.int32)
        group = self.group[f"review/{queue_id}"].require_group("answers")
        for name, (dtype, tail) in REVIEW_ANSWER_COLUMNS.items():
            if name not in group:
                group.create_array(name, shape=(0, *tail), dtype=dtype, chunks=(_LOG_CHUNK_ROWS, *tail))
            arr = group[name]  # rows past the committed count are leftovers of a crash
            arr.resize((a0 + k, *arr.shape[1:]))
            arr[a0 : a0 + k] = cols[name]
        return {"queue": queue_id, "answers": [a0, a0 + k]}


class TrackStore:
    """A store opened for reading: `store.videos`, `store[key]`, iteration over `VideoResult`."""

    def __init__(self, path: str | Path, mode: str = "r") -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise StoreError(f"{self.path}: no such store")
        if mode not in ("r", "a"):
            raise StoreError(f"mode must be 'r' (read) or 'a' (append corrections), got {mode!r}")
        try:
            self._root = zarr.open_group(str(self.path), mode=mode, zarr_format=3)
        except (FileNotFoundError, ValueError, zarr.errors.GroupNotFoundError) as err:
            raise StoreError(f"{self.path}: not a trackannot store ({err})") from err
        if self._root.attrs.get("format") != FORMAT:
            raise StoreError(f"{self.path}: not a trackannot store (format attribute missing)")

    @property
    def videos(self) -> list[str]:
        return sorted(name for name, _ in self._root.groups())

    def __getitem__(self, key: str) -> VideoResult:
        if key not in self.videos:
            raise StoreError(f"{self.path}: no video '{key}'; videos: {', '.join(self.videos)}")
        return VideoResult(key, self._root[key])

    def __iter__(self) -> Iterator[VideoResult]:
        return (self[key] for key in self.videos)


def open_store(path: str | Path, mode: str = "r") -> TrackStore:
    """Open a result store: mode "r" to read, "a" to also append corrections.

    Example:
        >>> store = open_store("out.zarr")                      # doctest: +SKIP
        >>> boxes = store["clip"].read(100, 200)                # frames 100..199 only
    """
    return TrackStore(path, mode)
