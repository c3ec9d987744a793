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

Rows are written in whole chunks as they fill, so memory does not grow with video length, and
each group has one writer (`StoreWriter`; zarr has no locking). After each write of whole chunks
one write of the group's `committed` attribute records the frames and rows now entirely on disk
(see `StoreWriter`): a crash loses at most the work since then; readers (`VideoResult`) read the
committed extent only and `StoreWriter.resume` cuts off what lies past it and writes on. A
group's `status` attribute is "running" until `close()` writes the last partial chunks and sets
it to "complete", or to "failed" (with `error`) for a video whose decoding failed mid-stream: its
frames decoded before the failure are kept. Every file zarr writes is written whole (a temporary
file, then a rename), so a killed process never leaves a torn chunk or attribute. Reading a frame
range touches only the chunks that hold it: `frames/index` locates the frames, `row_start` the rows.

The corrections log is append-only: a batch is written past the committed rows, and only then does
the group's `corrections` attribute advance `rows` and list the batch (who, when, from which file).
Readers read the committed rows only, so a batch lands whole or not at all; history is never
rewritten.
"""

from __future__ import annotations

import bisect
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
    "LOG_COLUMNS", "STATUS_COMPLETE", "STATUS_FAILED", "STATUS_RUNNING", "TABLES", "StoreWriter",
    "TrackStore", "VideoResult", "discard_unstarted", "input_identity", "open_root", "open_store",
    "remove_temp_files",
]

FORMAT = "trackannot.store/1"
TABLES = ("detections", "tracks")
STATUS_RUNNING = "running"
STATUS_COMPLETE = "complete"
STATUS_FAILED = "failed"
# the `committed` attribute of a group nothing of which is on disk yet (see StoreWriter)
_NOTHING_COMMITTED: dict[str, Any] = {
    "frames": 0, "rows": {name: 0 for name in TABLES}, "last_frame": -1,
}
_IDENTITY_BYTES = 1 << 20
# name of a temporary file of zarr's LocalStore (written, then renamed into place)
_ZARR_TEMP = re.compile(r"\.[0-9a-f]{32}\.partial$")
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


def open_root(store_path: str | Path) -> zarr.Group:
    """The store's root group for writing, created with its attributes in one write if new."""
    root = zarr.open_group(str(store_path), mode="a", zarr_format=3,
                           attributes={"format": FORMAT, "versions": package_versions()})
    if "format" not in root.attrs:
        root.attrs.update({"format": FORMAT, "versions": package_versions()})
    return root


def remove_temp_files(store_path: str | Path, key: str | None = None) -> int:
    """Delete the temporary files of writes a killed process never renamed into place.

    zarr writes every file as `<name>.<32 hex>.partial`, then renames it. Only call this with no
    other writer at work on the same part of the store.

    Args:
        store_path: the store.
        key: a group whose files (at any depth) to clean; None: the root folder's own files.

    Returns:
        The number of files deleted.
    """
    folder = Path(store_path) if key is None else Path(store_path) / key
    if not folder.is_dir():
        return 0
    found = [p for p in (folder.iterdir() if key is None else folder.rglob("*"))
             if p.is_file() and _ZARR_TEMP.search(p.name)]
    for p in found:
        p.unlink()
    return len(found)


def discard_unstarted(store_path: str | Path, key: str) -> bool:
    """Prepare group `key` for a rerun: delete it if it is "running" with nothing committed (a
    run killed while it was being set up: it may lack arrays), else clean a running group's
    temporary files (`remove_temp_files`). Returns whether the group was deleted. Finished
    groups are never touched (a running group has no other writer: corrections need a
    complete one)."""
    root = open_root(store_path)
    if key not in root:
        return False
    attrs = root[key].attrs
    if attrs.get("status") in (STATUS_COMPLETE, STATUS_FAILED):
        return False
    remove_temp_files(store_path, key)
    if int((attrs.get("committed") or _NOTHING_COMMITTED)["frames"]) > 0:
        return False
    del root[key]
    return True


class _TableWriter:
    """Buffers one Boxes table and appends it to its zarr arrays in whole chunks.

    `written` rows and `starts_written` row_start entries are on disk; writes end on chunk
    boundaries (counted from row 0), so after a resume from a committed row count inside a chunk
    the first write completes that chunk.
    """

    def __init__(self, group: zarr.Group, cfg: StoreConfig, *, resume: bool = False) -> None:
        if resume:
            self._arrays = {name: group[name] for name in COLUMNS}
            self._row_start = group["row_start"]
        else:
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
        self.written = 0  # rows on disk
        self.starts_written = 0  # row_start entries on disk
        self.ends: list[int] = []  # row end of each frame not yet committed (see StoreWriter)

    def truncate(self, frames: int, rows: int) -> None:
        """Cut the arrays back to a committed extent (rows past it are crash leftovers)."""
        for arr in (*self._arrays.values(), self._row_start):
            n = rows if arr is not self._row_start else frames
            if arr.shape[0] != n:
                arr.resize((n, *arr.shape[1:]))
        self.rows = self.written = rows
        self.starts_written = frames

    def add_frame(self, boxes: Boxes) -> None:
        self._starts.append(self.rows)
        self.rows += len(boxes)
        self.ends.append(self.rows)
        if len(boxes):
            self._parts.append(boxes)
            self._buffered_rows += len(boxes)
        if self.written + self._buffered_rows >= _next_boundary(self.written, self._chunk_rows):
            self._write_rows(final=False)
        if self.starts_written + len(self._starts) >= _next_boundary(self.starts_written,
                                                                     self._chunk_frames):
            self._write_starts(final=False)

    def _write_rows(self, final: bool) -> None:
        if not self._parts:
            return
        buffered = Boxes.concat(self._parts)
        end = self.written + len(buffered)
        chunk = self._chunk_rows
        n_write = len(buffered) if final else end // chunk * chunk - self.written
        if n_write > 0:
            head = buffered[slice(0, n_write)]
            for name, arr in self._arrays.items():
                arr.append(getattr(head, name), axis=0)
            self.written += n_write
        rest = buffered[slice(max(n_write, 0), len(buffered))]
        self._parts = [rest] if len(rest) else []
        self._buffered_rows = len(rest)

    def _write_starts(self, final: bool) -> None:
        end = self.starts_written + len(self._starts)
        chunk = self._chunk_frames
        n = len(self._starts) if final else end // chunk * chunk - self.starts_written
        if n > 0:
            self._row_start.append(np.asarray(self._starts[:n], dtype=np.int64))
            del self._starts[:n]
            self.starts_written += n

    def close(self) -> None:
        self._write_rows(final=True)
        self._write_starts(final=True)


def _next_boundary(n: int, chunk: int) -> int:
    """The first multiple of `chunk` above `n`: where the chunk holding entry `n` ends."""
    return (n // chunk + 1) * chunk


class StoreWriter:
    """Writes one video's results into a group of a store, chunk by chunk, committing as it goes.

    Whole chunks are written as they fill. After each write the group's `committed` attribute
    records the extent that is entirely on disk, one attribute write being the commit point::

        committed = {"frames": F, "rows": {"detections": R_d, "tracks": R_t}, "last_frame": i}

        F    frames processed in full (frames/index[:F], row_start[:F] and their rows written)
        R_*  rows of those F frames in each table
        i    decoded index of frame F - 1 (-1 when F == 0): where a resumed run continues

    Rows and frames past it are crash leftovers: readers ignore them and `resume` cuts them off.
    The tracker's state at the commit point is not stored: it is a deterministic function of the
    committed detections, so a resumed run rebuilds it by replaying them (see
    `trackannot.pipeline`).

    Example:
        >>> writer = StoreWriter.create("out.zarr", "clip", StoreConfig(), attrs={})  # doctest: +SKIP
        >>> writer.add_frame(frame=0, time_s=0.0, detections=dets, tracks=tracks)     # doctest: +SKIP
        >>> writer.close()                                                            # doctest: +SKIP
    """

    def __init__(self, group: zarr.Group, cfg: StoreConfig,
                 committed: Mapping[str, Any] | None = None) -> None:
        self._group = group
        resume = committed is not None
        if resume:
            frames_group = group["frames"]
            self._index, self._time = frames_group["index"], frames_group["time_s"]
        else:
            frames_group = group.create_group("frames")
            self._index = frames_group.create_array(
                "index", shape=(0,), dtype=np.int64, chunks=(cfg.chunk_frames,)
            )
            self._time = frames_group.create_array(
                "time_s", shape=(0,), dtype=np.float64, chunks=(cfg.chunk_frames,)
            )
        self._chunk_frames = cfg.chunk_frames
        self._frame_buf: list[int] = []
        self._time_buf: list[float] = []
        self._tables = {name: _TableWriter(group.require_group(name), cfg, resume=resume)
                        for name in TABLES}
        done = committed or _NOTHING_COMMITTED
        self.frames = self._frames_written = self._committed = int(done["frames"])
        self._last_frame = int(done["last_frame"])
        self._pending_index: list[int] = []  # frame index of each frame not yet committed
        if resume:
            for arr in (self._index, self._time):
                if arr.shape[0] != self.frames:
                    arr.resize((self.frames,))
            for name, table in self._tables.items():
                table.truncate(self.frames, int(done["rows"][name]))

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
        root = open_root(store_path)
        if key in root:
            raise StoreError(f"{store_path}: group '{key}' already exists; refusing to overwrite it")
        # attributes in the group's first write: a group never exists without its status
        group = root.create_group(key, attributes={**attrs, "status": STATUS_RUNNING,
                                                   "committed": _NOTHING_COMMITTED})
        return cls(group, cfg)

    @classmethod
    def resume(cls, store_path: str | Path, key: str, cfg: StoreConfig) -> StoreWriter:
        """Reopen the "running" group `key` at its committed extent, to write on from there.

        Rows past the commit point (a crash's leftovers) are cut off; the next frame added is
        the one after `committed["last_frame"]`.

        Raises:
            StoreError: no such group, or its status is not "running".
        """
        root = zarr.open_group(str(store_path), mode="a", zarr_format=3)
        if key not in root:
            raise StoreError(f"{store_path}: no group '{key}' to resume")
        group = root[key]
        status = group.attrs.get("status")
        if status != STATUS_RUNNING:
            raise StoreError(f"{store_path}: group '{key}' is {status!r}; only a 'running' group "
                             "can be resumed")
        return cls(group, cfg, committed=dict(group.attrs.get("committed") or _NOTHING_COMMITTED))

    @property
    def committed_frames(self) -> int:
        """Frames whose results are on disk and committed."""
        return self._committed

    @property
    def last_frame(self) -> int:
        """Decoded index of the last committed frame (-1: none)."""
        return self._last_frame

    def add_frame(self, frame: int, time_s: float, detections: Boxes, tracks: Boxes) -> None:
        """Append one processed frame: its detections and its tracked boxes (either may be empty)."""
        self._frame_buf.append(int(frame))
        self._time_buf.append(float(time_s))
        self._pending_index.append(int(frame))
        self._tables["detections"].add_frame(detections)
        self._tables["tracks"].add_frame(tracks)
        self.frames += 1
        if self.frames >= _next_boundary(self._frames_written, self._chunk_frames):
            self._write_frames(final=False)
        self._commit()

    def _write_frames(self, final: bool) -> None:
        end = self.frames
        n = len(self._frame_buf) if final else (
            end // self._chunk_frames * self._chunk_frames - self._frames_written)
        if n > 0:
            self._index.append(np.asarray(self._frame_buf[:n], dtype=np.int64))
            self._time.append(np.asarray(self._time_buf[:n], dtype=np.float64))
            del self._frame_buf[:n], self._time_buf[:n]
            self._frames_written += n

    def _commit_extent(self) -> int:
        """Frames entirely on disk: frame entries, row offsets and rows of every table."""
        done = self._frames_written
        for table in self._tables.values():
            rows_done = self._committed + bisect.bisect_right(table.ends, table.written)
            done = min(done, table.starts_written, rows_done)
        return done

    def _commit(self) -> None:
        """Advance the `committed` attribute to what is on disk (one attribute write)."""
        done = self._commit_extent()
        if done <= self._committed:
            return
        k = done - self._committed
        rows = {name: int(table.ends[k - 1]) for name, table in self._tables.items()}
        self._last_frame = self._pending_index[k - 1]
        for table in self._tables.values():
            del table.ends[:k]
        del self._pending_index[:k]
        self._committed = done
        self._group.attrs["committed"] = {"frames": done, "rows": rows,
                                          "last_frame": self._last_frame}

    def close(self, extra_attrs: Mapping[str, Any] | None = None,
              status: str = STATUS_COMPLETE) -> None:
        """Write what is buffered, commit it and set the group's status in one attribute write.

        Args:
            extra_attrs: more attributes for the group (run time, the error of a failed run).
            status: "complete", or "failed" for a video whose decoding failed: its frames
                decoded before the failure are kept.
        """
        if status not in (STATUS_COMPLETE, STATUS_FAILED):
            raise StoreError(f"close(status=...) takes 'complete' or 'failed', got {status!r}")
        self._write_frames(final=True)
        for table in self._tables.values():
            table.close()
        rows = {name: t.rows for name, t in self._tables.items()}
        if self._pending_index:
            self._last_frame = self._pending_index[-1]
        self._committed = self.frames
        self._group.attrs.update(
            {
                **(extra_attrs or {}),
                "frames_processed": self.frames,
                "rows": rows,
                "committed": {"frames": self.frames, "rows": rows, "last_frame": self._last_frame},
                "status": status,
            }
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
