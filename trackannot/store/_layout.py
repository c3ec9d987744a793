"""Store layout: format, statuses, table schemas, codecs, group names and the root's set-up."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import zarr
import zarr.codecs
from zarr.api.asynchronous import create_array as create_async_array
from zarr.core.sync import sync

from trackannot.boxes import Schema
from trackannot.errors import CorruptStoreError, StoreInputError, StoreNotFoundError
from trackannot.store._location import (
    Remote, any_under, exists, location, put_if_absent, top_names, zarr_store,
)

# /2: chunks carry a CRC-32C checksum and are written even when they hold only fill values (so a
# missing chunk is damage, never "all zeros"); the log's batch records are a table, not a
# growing attribute. /1 stores are read and written; their log moves to the table on its next
# batch, and the root's format attribute is raised to /2 by the next writer.
FORMAT = "trackannot.store/2"
FORMATS_READ = ("trackannot.store/1", FORMAT)
TABLES = ("detections", "tracks")
STATUS_RUNNING = "running"
STATUS_COMPLETE = "complete"
STATUS_FAILED = "failed"
# The store's own folder (a zarr group, so zarr lists it as one and never warns): locks, derived
# caches and groups being replaced. Video keys never start with a dot.
INTERNAL = ".trackannot"
NOTHING_COMMITTED: dict[str, Any] = {
    "frames": 0, "rows": {name: 0 for name in TABLES}, "last_frame": -1,
}
"""The `committed` attribute of a group nothing of which is on disk yet (see `StoreWriter`)."""
_IDENTITY_BYTES = 1 << 20
# a temporary file: zarr's LocalStore writes `<name>.<32 hex>.partial`, we write
# `<name>.<pid>.partial`, each then renamed into place
ROOT_TEMP_GRACE_S = 120.0
"""A temporary file in the store's root this old belongs to a write that died."""
_TEMP = re.compile(r"\.[0-9a-f]+\.partial$")
LOG_CHUNK_ROWS = 4096
"""Rows per chunk of the log's and the review answers' arrays."""
_ZSTD_LEVEL = 0  # zarr's default level
_STR = np.dtypes.StringDType()
# A table is described by a `Schema` (`trackannot.boxes`: name -> (dtype, trailing shape)); one
# array per column, rows along axis 0. The store knows where its tables live and what commits
# them, not what their columns mean: the domain module that owns a table passes its schema in.


@dataclass(frozen=True)
class TableSchemas:
    """The schemas of a video group's human tables, as their domain modules define them.

    Attributes:
        log: one row per logged edit (`corrections/<column>`).
        answers: rows a batch may bring for a review queue (`review/<queue>/answers/<column>`).
        items: a review queue's items (`review/<queue>/items/<column>`).
    """

    log: Schema
    answers: Schema
    items: Schema


# one row per batch of the log: its rows, its answers' rows, when, and the record (JSON: source
# file, its hash, author, time, queue) with the chained digest of everything logged so far (the
# log's own table: its schema is the store's)
BATCH_COLUMNS: dict[str, tuple[Any, tuple[int, ...]]] = {
    "row_start": (np.dtype(np.int64), ()),
    "row_end": (np.dtype(np.int64), ()),
    "answers_start": (np.dtype(np.int64), ()),  # -1: no answers
    "answers_end": (np.dtype(np.int64), ()),
    "time_ns": (np.dtype(np.int64), ()),
    "record": (_STR, ()),
    "digest": (_STR, ()),
}
BATCH_CHUNK_ROWS = 1024
"""Rows per chunk of the log's batch table."""
_VERSIONED = ("trackannot", "numpy", "numba", "zarr", "av", "torch", "ultralytics", "scipy")
WRITE_CONFIG = {"write_empty_chunks": True}  # every chunk written, even all-fill ones


def _column(dtype: Any, tail: tuple[int, ...], chunk: int, rows: int) -> dict[str, Any]:
    """`create_array`'s arguments for a column array (see `create_column`)."""
    return dict(shape=(rows, *tail), dtype=dtype, chunks=(chunk, *tail),
                compressors=[zarr.codecs.ZstdCodec(level=_ZSTD_LEVEL), zarr.codecs.Crc32cCodec()],
                config=WRITE_CONFIG, overwrite=True)


def create_column(group: zarr.Group, name: str, dtype: Any, tail: tuple[int, ...], chunk: int,
                  rows: int = 0) -> zarr.Array:
    """A new column array of `rows` rows (chunked along rows), checksummed, written in full.

    Every chunk carries a CRC-32C of its compressed bytes (checked on read), and chunks are
    written even when they hold only the fill value, so a chunk that is not there is damage.
    """
    return group.create_array(name, **_column(dtype, tail, chunk, rows))


def create_columns(group: zarr.Group,
                   columns: Mapping[str, tuple[Any, tuple[int, ...], int]]) -> dict[str, zarr.Array]:
    """`create_column` for many empty columns at once: {path under `group`: (dtype, tail, chunk)}
    -> {path: array}, the same arrays, made concurrently in one round trip to zarr's event loop.

    A new video group has 20 columns and its log 19: made one by one they were over a quarter
    of a short video's time (each a wait on zarr's event-loop thread). The groups on the paths
    must exist.
    """
    base = f"{group.path}/" if group.path else ""
    paths = list(columns)

    async def all_of() -> list[Any]:
        return list(await asyncio.gather(*(
            create_async_array(group.store, name=base + path, **_column(*columns[path], rows=0))
            for path in paths)))

    return {path: zarr.Array(made) for path, made in zip(paths, sync(all_of()))}


def append_many(appends: list[tuple[zarr.Array, np.ndarray]]) -> None:
    """`array.append(values, axis=0)` for several arrays at once, in one round trip to zarr's
    event loop. Every append runs to its end before the first error, if any, is raised (no
    write is left running behind the caller)."""

    async def all_of() -> list[Any]:
        return list(await asyncio.gather(*(array.async_array.append(values, axis=0)
                                           for array, values in appends), return_exceptions=True))

    for got in sync(all_of()):
        if isinstance(got, BaseException):
            raise got


def writable(array: zarr.Array) -> zarr.Array:
    """`array` as it must be opened for writing: every chunk written, even all-fill ones."""
    return array.with_config(WRITE_CONFIG)


def checksummed(array: zarr.Array) -> bool:
    """Whether the array's chunks carry a CRC-32C (format /2): then each chunk must exist."""
    return any(isinstance(codec, zarr.codecs.Crc32cCodec) for codec in array.metadata.codecs)


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
    """A group name for a video: its file stem with unsafe characters replaced, made unique.

    Never empty and never starting with a dot (those names are the store's own, `INTERNAL`):
    `..mp4` is "video", `.hidden.mp4` is "hidden".
    """
    base = re.sub(r"[^A-Za-z0-9._-]", "_", Path(path).stem).lstrip(".") or "video"
    key, n = base, 1
    while taken is not None and key in taken:
        n += 1
        key = f"{base}_{n}"
    return key


def is_video_key(name: str) -> bool:
    """Whether a child of the root is a video's group (not the store's own folder)."""
    return bool(name) and not name.startswith(".")


def ensure_internal(store_path: str | Path | Remote) -> None:
    """The store's own folder (`INTERNAL`), created as an empty zarr group if missing (on
    object storage: written only if absent, one conditional PUT)."""
    doc = {"zarr_format": 3, "node_type": "group",
           "attributes": {"trackannot": "the store's own: locks, caches, groups being "
                                        "replaced; not a video"}}
    found = location(store_path)
    if isinstance(found, Remote):
        if not exists(found, f"{INTERNAL}/zarr.json"):
            put_if_absent(found, f"{INTERNAL}/zarr.json", json.dumps(doc).encode())
        return
    folder = found / INTERNAL
    meta = folder / "zarr.json"
    if not meta.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        _write_atomic(meta, json.dumps(doc).encode())


def cache_path(store: Any, key: str) -> Path | None:
    """Where video `key`'s derived cache goes (`trackannot.statecache`): `store` is the store's
    path or its zarr store object (None for stores that are not local directories)."""
    if isinstance(store, (str, Remote)) and isinstance(location(store), Remote):
        return None
    root = store if isinstance(store, (str, Path)) else getattr(store, "root", None)
    if root is None:
        return None
    return Path(root) / INTERNAL / "cache" / f"{key}.sqlite"


def has_root(store_path: str | Path) -> bool:
    """Whether the store's root group is in place (its metadata written): a folder without it
    is new, or the folder of a run killed before the root was made."""
    return exists(store_path, "zarr.json")


def unstarted_folder(store_path: str | Path) -> bool:
    """Whether `store_path` is a folder a run may start a store in although it exists: no root
    yet, and nothing in it but the store's own folder and temporary files (a run killed before
    the store's root was in place). On object storage a prefix holding nothing counts too."""
    found = location(store_path)
    if isinstance(found, Remote):
        return not exists(found, "zarr.json") and set(top_names(found)) <= {INTERNAL}
    folder = found
    if not folder.is_dir() or (folder / "zarr.json").exists():
        return False
    return not [p for p in folder.iterdir()
                if p.name != INTERNAL and not p.name.endswith(".partial")]


def group_on_disk(store_path: str | Path, path: str) -> bool:
    """Whether anything of the group at `path` is on disk (its metadata or its folder), whether
    or not it opens."""
    found = location(store_path)
    if isinstance(found, Remote):
        return any_under(found, path)
    folder = found / path
    return (folder / "zarr.json").is_file() or folder.is_dir()


def _write_atomic(path: Path, data: bytes) -> None:
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    partial.write_bytes(data)
    os.replace(partial, path)


def check_format(store_path: str | Path, attrs: Any) -> None:
    """Refuse a root group whose format attribute this version cannot read."""
    found = attrs.get("format")
    if found not in FORMATS_READ:
        if found is None:
            raise StoreNotFoundError(f"{store_path}: not a trackannot store (format attribute "
                                     "missing)")
        raise StoreInputError(f"{store_path}: store format {found!r} is newer than this trackannot "
                              f"reads ({', '.join(FORMATS_READ)}); upgrade trackannot")


def open_root(store_path: str | Path) -> zarr.Group:
    """The store's root group for writing: created with its attributes in one write if new,
    its format raised to the current one (store lock held for either), its own folder made."""
    from trackannot.store._lock import store_lock

    path = location(store_path)
    root = _root_if_current(path)
    if root is not None and not _has_temp_files(path):
        return root
    with store_lock(path, "creating the store"):
        remove_temp_files(path)  # of root writes a killed process never renamed into place
        root = _root_if_current(path)
        if root is not None:
            return root
        if exists(path, "zarr.json"):
            root = _open_existing(path, "a")
            check_format(path, root.attrs)
            root.attrs.update({"format": FORMAT, "versions": package_versions()})
            return root
        root = zarr.open_group(zarr_store(path), mode="a", zarr_format=3,
                                 attributes={"format": FORMAT, "versions": package_versions()})
        return root


def _has_temp_files(path: Path | Remote) -> bool:
    if isinstance(path, Remote):  # every PUT is whole: no temporary files on object storage
        return False
    return bool(_temp_files(path, None))


def root_temp_files(store_path: str | Path) -> list[Path]:
    """The stale temporary files in the store's root folder (see `_temp_files`); none on
    object storage."""
    found = location(store_path)
    return [] if isinstance(found, Remote) else _temp_files(found, None)


def _temp_files(folder: Path, key: str | None) -> list[Path]:
    """A group's temporary files (at any depth), or the root folder's stale ones.

    Every writer's group creation also writes the root's metadata (zarr's `ensure_parents`,
    via a temporary file) under its own group lock only, so a root temporary file younger than
    `ROOT_TEMP_GRACE_S` may belong to a write in flight; such writes take milliseconds."""
    if key is None:
        oldest = time.time() - ROOT_TEMP_GRACE_S
        found = []
        for p in folder.iterdir():
            try:
                if p.is_file() and _TEMP.search(p.name) and p.stat().st_mtime < oldest:
                    found.append(p)
            except FileNotFoundError:  # renamed into place meanwhile
                pass
        return found
    return [p for p in folder.rglob("*") if p.is_file() and _TEMP.search(p.name)]


def _root_if_current(path: Path | Remote) -> zarr.Group | None:
    if not exists(path, "zarr.json") or not exists(path, f"{INTERNAL}/zarr.json"):
        return None
    root = _open_existing(path, "a")
    return root if root.attrs.get("format") == FORMAT else None


def _open_existing(path: Path | Remote, mode: str) -> zarr.Group:
    try:
        return zarr.open_group(zarr_store(path), mode=mode, zarr_format=3)
    except (ValueError, KeyError, TypeError) as err:  # json.JSONDecodeError is a ValueError
        raise CorruptStoreError(f"{path}/zarr.json: the store's root metadata does not load "
                                f"({err}); run `trackannot check {path}`") from err


def remove_temp_files(store_path: str | Path, key: str | None = None) -> int:
    """Delete the temporary files of writes a killed process never renamed into place.

    zarr writes every file as `<name>.<32 hex>.partial`, then renames it (our own small files
    are `<name>.<pid>.partial`). Only call this with no other writer at work on the same part
    of the store (its group lock held).

    Args:
        store_path: the store.
        key: a group whose files (at any depth) to clean; None: the root folder's own files
            older than `ROOT_TEMP_GRACE_S` (younger ones may be writes in flight).

    Returns:
        The number of files deleted (always 0 on object storage: every PUT is whole).
    """
    found = location(store_path)
    if isinstance(found, Remote):
        return 0
    folder = found if key is None else found / key
    if not folder.is_dir():
        return 0
    found = _temp_files(folder, key)
    for p in found:
        p.unlink(missing_ok=True)
    return len(found)


def discard_unstarted(store_path: str | Path, key: str) -> bool:
    """Prepare group `key` for a rerun (its group lock held): delete it if it is "running" with
    nothing committed and no human work (a run killed while it was being set up: it may lack
    arrays), else clean a running group's temporary files (`remove_temp_files`). Returns
    whether the group was deleted. Finished groups, and groups holding corrections or review
    queues (a group `trackannot check --repair` rolled back), are never deleted."""
    root = open_root(store_path)
    if key not in root:
        return False
    group = root[key]
    attrs = group.attrs
    if attrs.get("status") in (STATUS_COMPLETE, STATUS_FAILED):
        return False
    remove_temp_files(store_path, key)
    if int((attrs.get("committed") or NOTHING_COMMITTED)["frames"]) > 0:
        return False
    if attrs.get("corrections") or "review" in group:
        return False
    del root[key]
    return True
