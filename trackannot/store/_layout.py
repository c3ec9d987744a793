"""Store layout: format, statuses, column schemas, group names and the root group's set-up."""

from __future__ import annotations

import hashlib
import re
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from trackannot.corrections import CORRECTION_COLUMNS
from trackannot.review import ANSWER_COLUMNS

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
