"""Replacing one video's group (`track --overwrite`) so that a crash leaves the old or the new one.

The new group is built beside the old one, at `.trackannot/replacing/<key>` (committing chunk by
chunk like any group, so an interrupted replacement resumes), while readers keep reading the old
group. When it is finished, `swap_in` moves it into place with directory renames, each atomic on
a local or NFS file system:

    1. <key>                        -> .trackannot/trash/<key>~<token>   (if there was one)
    2. .trackannot/replacing/<key>  -> <key>
    3. delete .trackannot/trash/<key>~<token>

A crash before 1 leaves the old group (and a finished replacement, swapped in by the next writer
of the video: `recover`); between 1 and 2, no group at `<key>` but a finished replacement, which
readers are given (`finished_replacement`) until `recover` renames it; after 2, the new group and
some trash `recover` deletes. Other videos of the store are never touched. Every step runs with
the video's group lock held, and the renames with the store lock too.

Object storage (`s3://`) has no rename: a group there is never replaced (`track --overwrite`
is refused before any work, `refuse_remote`), so no replacement is ever pending there and the
queries below answer "none".
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import zarr

from trackannot.errors import StoreInputError
from trackannot.store._layout import INTERNAL, STATUS_COMPLETE, STATUS_FAILED, cache_path
from trackannot.store._location import is_remote, remote
from trackannot.store._lock import store_lock

__all__ = [
    "REPLACING",
    "discard_replacement",
    "finished_replacement",
    "recover",
    "refuse_remote",
    "replacement_in_progress",
    "replacement_path",
    "replacing_keys",
    "swap_in",
]

REPLACING = f"{INTERNAL}/replacing"
_TRASH = f"{INTERNAL}/trash"


def refuse_remote(store: object, doing: str = "--overwrite") -> None:
    """Refuse replacing groups of a store on object storage (no rename to swap one in).

    Raises:
        StoreInputError: `store` is on object storage.
    """
    if is_remote(store):
        raise StoreInputError(
            f"{remote(store)}: {doing} is not supported for stores on object storage (a group is "
            "replaced by a directory rename, which object storage does not have); write the run "
            "to a new s3:// prefix instead, or delete the video's group there first")


def replacement_path(key: str) -> str:
    """Where the replacement of group `key` is built, relative to the store."""
    return f"{REPLACING}/{key}"


def replacing_keys(store: str | Path) -> set[str]:
    """Videos whose replacement is being built, or waits to be swapped in."""
    if is_remote(store):
        return set()
    folder = Path(store) / REPLACING
    return {p.name for p in folder.iterdir() if p.is_dir()} if folder.is_dir() else set()


def replacement_in_progress(store: str | Path, key: str) -> bool:
    """Whether a replacement of `key` is being built or was interrupted (not finished)."""
    if is_remote(store):
        return False
    return (Path(store) / replacement_path(key)).is_dir() and not finished_replacement(store, key)


def _status(store: Path, path: str) -> str | None:
    """Status attribute of the group at `path`, None when there is no readable group."""
    if not (store / path / "zarr.json").is_file():
        return None
    try:
        group = zarr.open_group(str(store / path), mode="r", zarr_format=3)
    except (ValueError, KeyError, TypeError, FileNotFoundError):
        return None
    return str(group.attrs.get("status"))


def finished_replacement(store: str | Path, key: str) -> bool:
    """Whether a finished (complete or failed) replacement of `key` waits to be swapped in."""
    if is_remote(store):
        return False
    return _status(Path(store), replacement_path(key)) in (STATUS_COMPLETE, STATUS_FAILED)


def swap_in(store: str | Path, key: str) -> None:
    """Move the finished replacement of `key` into place (module docstring). The caller holds
    the video's group lock."""
    refuse_remote(store)
    store = Path(store)
    with store_lock(store, f"replacing video '{key}'"):
        target = store / key
        trash = store / _TRASH / f"{key}~{uuid.uuid4().hex[:12]}"
        if (target / "zarr.json").is_file() or target.exists():
            trash.parent.mkdir(parents=True, exist_ok=True)
            os.rename(target, trash)
        os.rename(store / replacement_path(key), target)
    _clean(store, key)
    cache = cache_path(store, key)
    if cache is not None:  # of the old group (a new group's uid would refuse it anyway)
        cache.unlink(missing_ok=True)


def discard_replacement(store: str | Path, key: str) -> bool:
    """Delete an unfinished replacement of `key` (its group lock held); whether there was one."""
    if is_remote(store):
        return False
    folder = Path(store) / replacement_path(key)
    if not folder.exists():
        return False
    shutil.rmtree(folder)
    return True


def recover(store: str | Path, key: str) -> list[str]:
    """Finish what a crash interrupted for video `key` (its group lock held): swap in a finished
    replacement, delete trash and stale caches. Returns what was done, for reports."""
    if is_remote(store):
        return []
    store = Path(store)
    done = []
    if finished_replacement(store, key):
        swap_in(store, key)
        done.append(f"'{key}': finished an interrupted replacement (the new group is in place)")
    if _clean(store, key):
        done.append(f"'{key}': deleted what an interrupted replacement left behind")
    return done


def _clean(store: Path, key: str) -> int:
    """Delete the trash of `key`'s earlier groups; returns how many were deleted."""
    trash = store / _TRASH
    found = sorted(trash.glob(f"{key}~*")) if trash.is_dir() else []
    for path in found:
        shutil.rmtree(path, ignore_errors=True)
        if path.exists():  # a file, or undeletable: say so through `check`
            path.unlink(missing_ok=True)
    return len(found)
