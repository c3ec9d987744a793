"""Test helpers for stores: their content, byte for byte."""

from __future__ import annotations

import errno
import hashlib
import os
from pathlib import Path

import pytest
import zarr.storage

from trackannot.store import INTERNAL


def store_digest(root: Path) -> dict[str, str]:
    """Every file of a store -> SHA-256 of its bytes, the store's own folder (`.trackannot`:
    lock files, holder records, derived caches, housekeeping rather than data) left out."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*"))
            if p.is_file() and p.relative_to(root).parts[0] != INTERNAL}


def watch_writes(monkeypatch: pytest.MonkeyPatch, fail_after: int | None = None,
                 code: int = errno.ENOSPC) -> list[int]:
    """Count every file zarr writes from now on (`count[0]`); with `fail_after`, each write after
    that many raises OSError(code), as a full or read-only disk does. `monkeypatch.undo()` ends it."""
    real = zarr.storage.LocalStore.set
    count = [0]

    async def watched(self, key, value, *args, **kwargs):  # noqa: ANN001, ANN202
        count[0] += 1
        if fail_after is not None and count[0] > fail_after:
            raise OSError(code, os.strerror(code), f"{self.root}/{key}")
        return await real(self, key, value, *args, **kwargs)

    monkeypatch.setattr(zarr.storage.LocalStore, "set", watched)
    return count
