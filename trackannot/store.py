"""Result store: zarr v3, one group per video, one array per `Boxes` column, written as the run goes.

Layout of a store (a directory)::

    STORE/                         attrs: format, trackannot version
      <video>/                     attrs: status, config, input, video, versions, committed
        frames/index               (f,) int64   decoded frame index of each processed frame
        frames/time_s              (f,) float64 presentation time of each processed frame
        detections/<column>        (n, ...)     one array per Boxes column (frame, xyxy, score, ...)
        detections/row_start       (f,) int64   first detections row of each processed frame
        tracks/<column>            (m, ...)     tracked boxes, same columns
        tracks/row_start           (f,) int64   first tracks row of each processed frame
        corrections/<column>       (c, ...)     the audit log of human corrections (append-only)
        review/                    attrs: review = {"queues": [record, ...]}
        review/<queue>/items/<column>    (n, ...)  the queue's items (`trackannot.review.ITEM_COLUMNS`)
        review/<queue>/answers/<column>  (a, ...)  answers to them, committed by the log's batches

A review queue's items are written first, then one write of the review group's attribute lists
the queue and marks every earlier open queue superseded. Answers to a queue are written past its
committed answers and committed by the corrections-log batch that brings them (the batch records
"queue" and the "answers" row range): one commit point for corrections and answers.

Rows are written in whole chunks as they fill, so memory does not grow with video length and a
crash loses at most one chunk of work. A group's `status` attribute is "running" until `close()`
writes the last partial chunks and sets it to "complete". Reading a frame range touches only the
chunks that hold it: `frames/index` locates the frames, `row_start` the rows.

The corrections log is append-only: a batch is written past the committed rows, and only then does
the group's `corrections` attribute advance `rows` and list the batch (who, when, from which file).
Readers read the committed rows only, so a batch lands whole or not at all; history is never
rewritten.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np
import numpy.typing as npt
import zarr

from trackannot.boxes import COLUMNS, Boxes
from trackannot.config import StoreConfig
from trackannot.corrections import CORRECTION_COLUMNS, Corrections
from trackannot.errors import StoreError
from trackannot.review import ANSWER_COLUMNS, ITEM_COLUMNS, Answers, ReviewQueue

__all__ = [
    "LOG_COLUMNS", "TABLES", "StoreWriter", "TrackStore", "VideoResult", "input_identity", "open_store",
]

FORMAT = "trackannot.store/1"
TABLES = ("detections", "tracks")
STATUS_RUNNING = "running"
STATUS_COMPLETE = "complete"
_IDENTITY_BYTES = 1 << 20
_LOG_CHUNK_ROWS = 4096
# audit log columns: the correction (see trackannot.corrections) and what it replaced
LOG_COLUMNS: dict[str, tuple[np.dtype[Any], tuple[int, ...]]] = {
    **CORRECTION_COLUMNS,
    "author": (np.dtype(np.int32), ()),  # index into the log's `authors` attribute
    "batch": (np.dtype(np.int32), ()),
    "prev_xyxy": (np.dtype(np.float32), (4,)),  # the box before (NaN: none)
    "prev_origin": (np.dtype(np.uint8), ()),  # its Origin, 255: no box
    "prev_class": (np.dtype(np.int32), ()),  # the track's class before (-1: new track)
}
# review answers: the answer and its author (index into the log's `authors` attribute)
REVIEW_ANSWER_COLUMNS: dict[str, tuple[np.dtype[Any], tuple[int, ...]]] = {
    **ANSWER_COLUMNS, "author": (np.dtype(np.int32), ()),
}
QUEUE_OPEN = "open"
QUEUE_SUPERSEDED = "superseded"
_VERSIONED = ("trackannot", "numpy", "numba", "zarr", "av", "torch", "ultralytics", "scipy")


def input_identity(path: str | Path) -> dict[str, Any]:
    """Path, size and SHA-256 of the first MiB: enough to tell inputs apart without reading them."""
    p = Path(path)
    with p.open("rb") as fh:
        head = fh.read(_IDENTITY_BYTES)
    return {
        "path": str(p.resolve()),
        "size_bytes": p.stat().st_size,
        "first_mib_sha256": hashlib.sha256(head).hexdigest(),
    }


def package_versions() -> dict[str, str]:
    """Versions of the packages that shape a result, for the store attributes."""
    versions = {}
    for name in _VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def video_key(path: str | Path, taken: set[str] | None = None) -> str:
    """A group name for a video: its file stem with unsafe characters replaced, made unique."""
    base = re.sub(r"[^A-Za-z0-9._-]", "_", Path(path).stem) or "video"
    key, n = base, 1
    while taken is not None and key in taken:
        n += 1
        key = f"{base}_{n}"
    return key


class _TableWriter:
    """Buffers one Boxes table and appends it to its zarr arrays in whole chunks."""

    def __init__(self, group: zarr.Group, cfg: StoreConfig) -> None:
        self._arrays = {
            name: group.create_array(
                name, shape=(0, *tail), dtype=dtype, chunks=(cfg.chunk_rows, *tail)
            )
            for name, (dtype, tail) in COLUMNS.items()
        }
        self._row_start = group.create_array(
            "row_start", shape=(0,), dtype=np.int64, chunks=(cfg.chunk_frames,)
        )
        self._chunk_rows = cfg.chunk_rows
        self._chunk_frames = cfg.chunk_frames
        self._parts: list[Boxes] = []
        self._buffered_rows = 0
        self._starts: list[int] = []
        self.rows = 0  # rows seen so far (written + buffered)

    def add_frame(self, boxes: Boxes) -> None:
        self._starts.append(self.rows)
        self.rows += len(boxes)
        if len(boxes):
            self._parts.append(boxes)
            self._buffered_rows += len(boxes)
        if self._buffered_rows >= self._chunk_rows:
            self._write_rows(final=False)
        if len(self._starts) >= self._chunk_frames:
            self._write_starts(final=False)

    def _write_rows(self, final: bool) -> None:
        buffered = Boxes.concat(self._parts)
        n_write = len(buffered) if final else len(buffered) // self._chunk_rows * self._chunk_rows
        if n_write:
            head = buffered[slice(0, n_write)]
            for name, arr in self._arrays.items():
                arr.append(getattr(head, name), axis=0)
        rest = buffered[slice(n_write, len(buffered))]
        self._parts = [rest] if len(rest) else []
        self._buffered_rows = len(rest)

    def _write_starts(self, final: bool) -> None:
        n = len(self._starts) if final else len(self._starts) // self._chunk_frames * self._chunk_frames
        if n:
            self._row_start.append(np.asarray(self._starts[:n], dtype=np.int64))
            del self._starts[:n]

    def close(self) -> None:
        self._write_rows(final=True)
        self._write_starts(final=True)


class StoreWriter:
    """Writes one video's results into a group of a store, chunk by chunk.

    Example:
        >>> writer = StoreWriter.create("out.zarr", "clip", StoreConfig(), attrs={})  # doctest: +SKIP
        >>> writer.add_frame(frame=0, time_s=0.0, detections=dets, tracks=tracks)     # doctest: +SKIP
        >>> writer.close()                                                            # doctest: +SKIP
    """

    def __init__(self, group: zarr.Group, cfg: StoreConfig) -> None:
        self._group = group
        frames = group.create_group("frames")
        self._index = frames.create_array(
            "index", shape=(0,), dtype=np.int64, chunks=(cfg.chunk_frames,)
        )
        self._time = frames.create_array(
            "time_s", shape=(0,), dtype=np.float64, chunks=(cfg.chunk_frames,)
        )
        self._chunk_frames = cfg.chunk_frames
        self._frame_buf: list[int] = []
        self._time_buf: list[float] = []
        self._tables = {name: _TableWriter(group.create_group(name), cfg) for name in TABLES}
        self.frames = 0

    @classmethod
    def create(
        cls,
        store_path: str | Path,
        key: str,
        cfg: StoreConfig,
        attrs: Mapping[str, Any],
    ) -> StoreWriter:
        """Create group `key` in the store at `store_path` (creating the store if needed).

        Raises:
            StoreError: the group already exists (results are never overwritten in place).
        """
        root = zarr.open_group(str(store_path), mode="a", zarr_format=3)
        if "format" not in root.attrs:
            root.attrs.update({"format": FORMAT, "versions": package_versions()})
        if key in root:
            raise StoreError(f"{store_path}: group '{key}' already exists; refusing to overwrite it")
        group = root.create_group(key)
        group.attrs.update({**attrs, "status": STATUS_RUNNING})
        return cls(group, cfg)

    def add_frame(self, frame: int, time_s: float, detections: Boxes, tracks: Boxes) -> None:
        """Append one processed frame: its detections and its tracked boxes (either may be empty)."""
        self._frame_buf.append(int(frame))
        self._time_buf.append(float(time_s))
        self._tables["detections"].add_frame(detections)
        self._tables["tracks"].add_frame(tracks)
        self.frames += 1
        if len(self._frame_buf) >= self._chunk_frames:
            self._write_frames()

    def _write_frames(self) -> None:
        if self._frame_buf:
            self._index.append(np.asarray(self._frame_buf, dtype=np.int64))
            self._time.append(np.asarray(self._time_buf, dtype=np.float64))
            self._frame_buf.clear()
            self._time_buf.clear()

    def close(self, extra_attrs: Mapping[str, Any] | None = None) -> None:
        """Write what is buffered and mark the group complete."""
        self._write_frames()
        for table in self._tables.values():
            table.close()
        self._group.attrs.update(
            {
                **(extra_attrs or {}),
                "frames_processed": self.frames,
                "rows": {name: t.rows for name, t in self._tables.items()},
                "status": STATUS_COMPLETE,
            }
        )


@dataclass(frozen=True)
class VideoResult:
    """Read access to one video's group; arrays are read lazily, by frame range."""

    key: str
    group: zarr.Group

    @property
    def attrs(self) -> dict[str, Any]:
        """The group's attributes: status, config, input, video, versions."""
        return dict(self.group.attrs)

    @property
    def complete(self) -> bool:
        return self.group.attrs.get("status") == STATUS_COMPLETE

    def frames(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """(index, time_s) of every processed frame."""
        return self.group["frames/index"][:], self.group["frames/time_s"][:]

    def read(self, start: int | None = None, stop: int | None = None, table: str = "tracks") -> Boxes:
        """`Boxes` of `table` for decoded frames start <= frame < stop, reading only those rows.

        Args:
            start: first decoded frame index (inclusive); None from the beginning.
            stop: end decoded frame index (exclusive); None to the end.
            table: "tracks" or "detections".
        """
        if table not in TABLES:
            raise StoreError(f"unknown table {table!r}; expected one of {TABLES}")
        index = self.group["frames/index"][:]
        lo = 0 if start is None else int(np.searchsorted(index, start, side="left"))
        hi = len(index) if stop is None else int(np.searchsorted(index, stop, side="left"))
        tab = self.group[table]
        n_rows = tab["frame"].shape[0]
        row_start = tab["row_start"]
        r0 = int(row_start[lo]) if lo < len(index) else n_rows
        r1 = int(row_start[hi]) if hi < len(index) else n_rows
        return Boxes(**{name: tab[name][r0:r1] for name in COLUMNS})


    @property
    def num_frames(self) -> int:
        """Frames in the video: the header's count, or past the last processed frame if more."""
        index = self.group["frames/index"]
        last = int(index[index.shape[0] - 1]) + 1 if index.shape[0] else 0
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
