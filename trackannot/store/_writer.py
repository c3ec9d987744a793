"""Store writing: one writer per video group, appending whole chunks and committing them."""

from __future__ import annotations

import bisect
import contextlib
import uuid
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np
import zarr

from trackannot.boxes import COLUMNS, Boxes
from trackannot.config import StoreConfig
from trackannot.errors import StoreConflictError, StoreInputError, StoreNotFoundError
from trackannot.store._layout import (
    NOTHING_COMMITTED, STATUS_COMPLETE, STATUS_FAILED, STATUS_RUNNING, TABLES, Schema,
    append_many, create_columns, open_root, writable,
)
from trackannot.store._location import zarr_store
from trackannot.store._lock import WriterLock, group_lock
from trackannot.store._log import ensure_log
from trackannot.store._read import open_array, open_child


class _TableWriter:
    """Buffers one Boxes table and appends it to its zarr arrays in whole chunks.

    `written` rows and `starts_written` row_start entries are on disk; writes end on chunk
    boundaries (counted from row 0), so after a resume from a committed row count inside a chunk
    the first write completes that chunk.
    """

    def __init__(self, arrays: Mapping[str, zarr.Array], cfg: StoreConfig) -> None:
        """`arrays`: the table's column arrays and its `row_start`, opened for writing."""
        self._arrays = {name: arrays[name] for name in COLUMNS}
        self._row_start = arrays["row_start"]
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
            append_many([(arr, getattr(head, name)) for name, arr in self._arrays.items()])
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

    def column(self, name: str) -> np.ndarray:
        """Every row of one column, as written (after `close`)."""
        return self._arrays[name][: self.written]


@contextlib.contextmanager
def _held(lock: WriterLock | None, store_path: str | Path,
          key: str) -> Iterator[tuple[WriterLock, bool]]:
    """(the caller's lock, which it must hold, or the group's lock taken here; whether it was
    taken here). A lock taken here is released if the block raises; otherwise the writer made
    in the block keeps it until `close`."""
    own = lock is None
    if lock is None:
        lock = group_lock(store_path, key, "trackannot (writing tracks)")
        lock.acquire()
    elif not lock.held:
        raise StoreConflictError(f"{store_path}: writing video '{key}' needs its group lock held")
    try:
        yield lock, own
    except BaseException:
        if own:
            lock.release()
        raise


def _group_columns(cfg: StoreConfig) -> dict[str, tuple[Any, tuple[int, ...], int]]:
    """A video group's arrays: {path: (dtype, trailing shape, chunk)} (`create_columns`)."""
    columns: dict[str, tuple[Any, tuple[int, ...], int]] = {
        "frames/index": (np.int64, (), cfg.chunk_frames),
        "frames/time_s": (np.float64, (), cfg.chunk_frames),
    }
    for table in TABLES:
        columns.update({f"{table}/{name}": (dtype, tail, cfg.chunk_rows)
                        for name, (dtype, tail) in COLUMNS.items()})
        columns[f"{table}/row_start"] = (np.int64, (), cfg.chunk_frames)
    return columns


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

    def __init__(self, group: zarr.Group, cfg: StoreConfig, key: str, lock: WriterLock,
                 committed: Mapping[str, Any] | None = None, owns_lock: bool = False,
                 log: Schema | None = None) -> None:
        self._group = group
        self.key = key
        self.lock = lock
        self._owns_lock = owns_lock
        resume = committed is not None
        columns = _group_columns(cfg)
        if resume:
            arrays = {path: writable(open_array(group, path, key)) for path in columns}
        else:
            for name in ("frames", *TABLES):
                group.create_group(name)
            arrays = create_columns(group, columns)  # all at once: one wait, not 20
            if log is not None:  # the corrections log exists from the start: its first batch
                ensure_log(group, log)  # then only appends
        self._index, self._time = arrays["frames/index"], arrays["frames/time_s"]
        self._chunk_frames = cfg.chunk_frames
        self._frame_buf: list[int] = []
        self._time_buf: list[float] = []
        self._tables = {
            name: _TableWriter({path.removeprefix(f"{name}/"): array
                                for path, array in arrays.items() if path.startswith(f"{name}/")},
                               cfg)
            for name in TABLES
        }
        done = committed or NOTHING_COMMITTED
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
        *,
        lock: WriterLock | None = None,
        path: str | None = None,
        log: Schema | None = None,
    ) -> StoreWriter:
        """Create group `key` in the store at `store_path` (creating the store if needed).

        Args:
            store_path, key, cfg: the store, the video's key, chunk sizes.
            attrs: the group's attributes (config, input, video, detector).
            lock: the video's group lock, held by the caller for as long as it writes; None:
                take it here (waiting the default time) and release it in `close`.
            path: where the group goes inside the store (default `key`; a replacement is built
                elsewhere, see `trackannot.store._replace`).
            log: the corrections log's row schema (`trackannot.results.LOG_COLUMNS`): its
                arrays are made with the group, so its first batch only appends; None: the
                first batch makes them.

        Raises:
            StoreInputError: the group already exists (results are never overwritten in place).
            LockedError: another process writes this video.
        """
        with _held(lock, store_path, key) as (held, own):
            root = open_root(store_path)
            path = path or key
            if path in root:
                raise StoreInputError(f"{store_path}: group '{path}' already exists; refusing to "
                                      "overwrite it")
            parent, _, name = path.rpartition("/")
            base = root.require_group(parent) if parent else root
            # attributes in the group's first write: a group never exists without its status
            group = base.create_group(name, attributes={**attrs, "status": STATUS_RUNNING,
                                                        "committed": NOTHING_COMMITTED,
                                                        "uid": uuid.uuid4().hex})
            return cls(group, cfg, key, held, owns_lock=own, log=log)

    @classmethod
    def resume(cls, store_path: str | Path, key: str, cfg: StoreConfig, *,
               lock: WriterLock | None = None, path: str | None = None) -> StoreWriter:
        """Reopen the "running" group `key` at its committed extent, to write on from there.

        Rows past the commit point (a crash's leftovers) are cut off; the next frame added is
        the one after `committed["last_frame"]`. `lock` and `path` as in `create`.

        Raises:
            StoreNotFoundError: no such group.
            StoreConflictError: its status is not "running".
            LockedError: another process writes this video.
        """
        with _held(lock, store_path, key) as (held, own):
            root = zarr.open_group(zarr_store(store_path), mode="a", zarr_format=3)
            path = path or key
            if path not in root:
                raise StoreNotFoundError(f"{store_path}: no group '{path}' to resume")
            group = open_child(root, path, key)
            status = group.attrs.get("status")
            if status != STATUS_RUNNING:
                raise StoreConflictError(f"{store_path}: group '{key}' is {status!r}; only a "
                                         "'running' group can be resumed")
            committed = dict(group.attrs.get("committed") or NOTHING_COMMITTED)
            return cls(group, cfg, key, held, committed=committed, owns_lock=own)

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
        self.lock.fence()  # before anything is written (a lease on object storage: still ours)
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
            append_many([(self._index, np.asarray(self._frame_buf[:n], dtype=np.int64)),
                         (self._time, np.asarray(self._time_buf[:n], dtype=np.float64))])
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
        self.lock.fence()  # the commit marker is written only under a lease still held
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
            raise StoreInputError(f"close(status=...) takes 'complete' or 'failed', got {status!r}")
        if not self.lock.held:
            raise StoreConflictError(f"{self.key}: the writer's group lock was released before "
                                     "close()")
        self._write_frames(final=True)
        for table in self._tables.values():
            table.close()
        rows = {name: t.rows for name, t in self._tables.items()}
        if self._pending_index:
            self._last_frame = self._pending_index[-1]
        self._committed = self.frames
        classes = self._tables["tracks"].column("class_id")
        self.lock.fence()
        self._group.attrs.update(
            {
                **(extra_attrs or {}),
                "frames_processed": self.frames,
                "rows": rows,
                # the classes tracks have (readers need them without reading the table)
                "track_classes": sorted(set(np.unique(classes).tolist())),
                "committed": {"frames": self.frames, "rows": rows, "last_frame": self._last_frame},
                "status": status,
            }
        )
        if self._owns_lock:
            self.lock.release()
