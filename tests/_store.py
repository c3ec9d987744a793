"""Test helpers for stores: their content, byte for byte."""

from __future__ import annotations

import hashlib
from pathlib import Path

from trackannot.store import INTERNAL


def store_digest(root: Path) -> dict[str, str]:
    """Every file of a store -> SHA-256 of its bytes, the store's own folder (`.trackannot`:
    lock files, holder records, derived caches, housekeeping rather than data) left out."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*"))
            if p.is_file() and p.relative_to(root).parts[0] != INTERNAL}
