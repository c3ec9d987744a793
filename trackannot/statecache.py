"""State cache: a video's corrections log, replayed, kept so that a batch costs what it touches.

The corrections log is the record; the current annotation is the automatic tracks with the log
replayed (`trackannot.state`). Replaying a log of a million rows for every batch would make each
batch cost the whole history, so the replayed edits are kept in a cache beside the store
(`STORE/.trackannot/cache/<video>.sqlite`, SQLite from Python's standard library: indexed by
track, updated in transactions): for every track the corrections changed, its pieces of automatic
tracks, its keyframes and its class; the merges; and the extent of every automatic track.

The cache is derived, never the truth, and is checked before use: it records the log it reflects
(the video group's `uid`, committed rows and batches, the log's chained digest at its last batch)
and the interpolation settings replayed with. A cache that is behind the log catches up by
replaying only the batches it lacks; one that disagrees (another group under the same key, a log
restored from a backup, other settings) is rebuilt from the whole log. Only a writer holding the
video's lock writes it, after the batch is committed to the log, in one transaction: a crash in
between leaves a cache one batch behind, which the next writer catches up. Readers only read it.

`StoreSource` gives a state the automatic boxes of one original track (read from the store by
that track's frame extent, smoothed as `load_state` smooths all tracks) and the detections of a
frame range, so a batch reads the tracks it touches, not the video.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any, Iterable

from trackannot.config import InterpolateConfig, config_to_dict
from trackannot.errors import CorruptStoreError, StoreInputError
from trackannot.sources import Key, TrackEdits
from trackannot.state import AnnotationState
from trackannot.store import LogInfo, VideoGroup

__all__ = ["StateCache", "cache_identity"]

SCHEMA = 1
_SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS auto (track INTEGER PRIMARY KEY, first INTEGER, last INTEGER);
CREATE TABLE IF NOT EXISTS edited (track INTEGER PRIMARY KEY, alive INTEGER, class INTEGER);
CREATE TABLE IF NOT EXISTS pieces (track INTEGER, seq INTEGER, orig INTEGER, lo INTEGER,
                                   hi INTEGER, PRIMARY KEY (track, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS keys (track INTEGER, frame INTEGER, x1 REAL, y1 REAL, x2 REAL,
                                 y2 REAL, outside INTEGER, class INTEGER,
                                 PRIMARY KEY (track, frame)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS merged (track INTEGER PRIMARY KEY, target INTEGER);
"""
_TABLES = ("meta", "auto", "edited", "pieces", "keys", "merged")
_BUSY_TIMEOUT_S = 30.0


def cache_identity(result: VideoGroup, cfg: InterpolateConfig) -> str:
    """What a cache must have been built from to serve `result` replayed with `cfg`."""
    attrs = result.attrs
    uid = attrs.get("uid") or "legacy:" + json.dumps(
        [(attrs.get("input") or {}).get("first_mib_sha256"), attrs.get("committed")],
        sort_keys=True)
    settings = json.dumps(config_to_dict(cfg), sort_keys=True)
    return hashlib.sha256(f"{SCHEMA}|{uid}|{settings}".encode()).hexdigest()


class StateCache:
    """The state cache of one video (module docstring).

    Args:
        path: the SQLite file.
        write: open for writing (the caller holds the video's lock); else read-only.
    """

    def __init__(self, path: Path, *, write: bool) -> None:
        self.path = path
        self.write = write
        if write:
            path.parent.mkdir(parents=True, exist_ok=True)
            uri = f"file:{path}?mode=rwc"
        else:
            uri = f"file:{path}?mode=ro"
        try:
            self._db = sqlite3.connect(uri, uri=True, timeout=_BUSY_TIMEOUT_S,
                                       isolation_level=None)
            if write:
                # a rollback journal (not WAL: it needs shared memory, unsafe on NFS); a killed
                # process leaves a hot journal that the next open rolls back. synchronous=OFF: a
                # power cut may damage the cache, which is then rebuilt from the log
                self._db.execute("PRAGMA journal_mode=DELETE")
                self._db.execute("PRAGMA synchronous=OFF")
                self._db.executescript(_SCHEMA_SQL)
        except sqlite3.Error as err:
            raise CorruptStoreError(f"{path}: the state cache cannot be opened ({err})") from err
        self._meta: dict[str, str] | None = None

    @classmethod
    def open(cls, result: VideoGroup, *, write: bool) -> StateCache | None:
        """The cache of `result` (None: read-only and there is none, or it does not open)."""
        path = result.cache_path()
        if path is None:
            return None
        if not write and not path.is_file():
            return None
        try:
            return cls(path, write=write)
        except CorruptStoreError:
            if not write:
                return None
            path.unlink(missing_ok=True)  # damaged: it is only a cache
            return cls(path, write=write)

    def close(self) -> None:
        self._db.close()

    def snapshot(self) -> _Snapshot:
        """A read transaction: every read inside it sees one state of the cache, even while a
        writer commits (SQLite's shared lock keeps the writer's commit waiting until it ends)."""
        return _Snapshot(self)

    def __enter__(self) -> StateCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------ validity

    def meta(self) -> dict[str, str]:
        if self._meta is None:
            try:
                self._meta = dict(self._db.execute("SELECT k, v FROM meta").fetchall())
            except sqlite3.Error:
                self._meta = {}
        return self._meta

    def behind(self, identity: str, info: LogInfo, digest_at: Any) -> int | None:
        """Batches the cache holds, if it is a cache of this log (it may lag behind); None when
        it must be rebuilt.

        Args:
            identity: `cache_identity` of the video and settings.
            info: the log's committed extent.
            digest_at: `digest_at(b)` gives the log's chained digest after batch b - 1.
        """
        meta = self.meta()
        if meta.get("identity") != identity or "batches" not in meta:
            return None
        batches, rows = int(meta["batches"]), int(meta["rows"])
        if batches > info.batches or rows > info.rows:
            return None
        if batches and meta.get("digest", "") != digest_at(batches):
            return None
        return batches

    # ------------------------------------------------------------------------------ reading

    def auto_extents(self) -> dict[int, tuple[int, int]]:
        """Original track id -> (first frame, last frame) of its automatic boxes."""
        rows = self._db.execute("SELECT track, first, last FROM auto").fetchall()
        return {int(t): (int(a), int(b)) for t, a, b in rows}

    def ids(self, auto_ids: Iterable[int]) -> set[int]:
        """Every current track id: the automatic ones not merged away, and the edited ones."""
        edited = dict(self._db.execute("SELECT track, alive FROM edited").fetchall())
        alive = {t for t in auto_ids if edited.get(t, 1)}
        return alive | {int(t) for t, a in edited.items() if a}

    def merged(self) -> dict[int, int]:
        return {int(t): int(d) for t, d in self._db.execute("SELECT track, target FROM merged")}

    def next_id(self) -> int:
        return int(self.meta().get("next_id", 0))

    def edits(self, track: int) -> TrackEdits | None:
        row = self._db.execute("SELECT alive, class FROM edited WHERE track = ?",
                               (track,)).fetchone()
        if row is None or not row[0]:
            return None
        pieces = [(int(o), int(lo), int(hi)) for o, lo, hi in self._db.execute(
            "SELECT orig, lo, hi FROM pieces WHERE track = ? ORDER BY seq", (track,))]
        keys = {int(f): ((x1, y1, x2, y2), bool(out), int(c)) for f, x1, y1, x2, y2, out, c in
                self._db.execute("SELECT frame, x1, y1, x2, y2, outside, class FROM keys "
                                 "WHERE track = ?", (track,))}
        return TrackEdits(pieces, keys, None if row[1] is None else int(row[1]))

    def keys_in(self, start: int, stop: int) -> dict[int, dict[int, Key]]:
        """The keyframes in frames start..stop-1 of every edited track that still exists (the
        other tracks' keyframes a propagated run must not run into)."""
        out: dict[int, dict[int, Key]] = {}
        for track, f, x1, y1, x2, y2, outside, c in self._db.execute(
                "SELECT k.track, k.frame, k.x1, k.y1, k.x2, k.y2, k.outside, k.class FROM keys k "
                "JOIN edited e ON e.track = k.track WHERE e.alive = 1 AND k.frame >= ? AND "
                "k.frame < ?", (int(start), int(stop))):
            out.setdefault(int(track), {})[int(f)] = ((x1, y1, x2, y2), bool(outside), int(c))
        return out

    def all_edits(self) -> dict[int, TrackEdits]:
        """The edits of every edited track that still exists (for a state of the whole video)."""
        out: dict[int, TrackEdits] = {}
        for track, cls in self._db.execute("SELECT track, class FROM edited WHERE alive = 1"):
            out[int(track)] = TrackEdits([], {}, None if cls is None else int(cls))
        for track, o, lo, hi in self._db.execute(
                "SELECT track, orig, lo, hi FROM pieces ORDER BY track, seq"):
            if int(track) in out:
                out[int(track)].pieces.append((int(o), int(lo), int(hi)))
        for track, f, x1, y1, x2, y2, outside, c in self._db.execute("SELECT * FROM keys"):
            if int(track) in out:
                out[int(track)].keys[int(f)] = ((x1, y1, x2, y2), bool(outside), int(c))
        return out

    # ------------------------------------------------------------------------------ writing

    def rebuild(self, identity: str, extents: dict[int, tuple[int, int]]) -> None:
        """Empty the cache for another log (or the first time): its identity and the automatic
        tracks' extents; `save` then writes the edits."""
        with self._transaction():
            for table in _TABLES:
                self._db.execute(f"DELETE FROM {table}")  # noqa: S608  (fixed names)
            self._db.executemany("INSERT INTO auto VALUES (?, ?, ?)",
                                 [(t, a, b) for t, (a, b) in extents.items()])
            self._put_meta({"identity": identity, "schema": str(SCHEMA)})

    def save(self, state: AnnotationState, info: LogInfo, tracks: Iterable[int]) -> None:
        """Write the edits of `tracks` (those `state` changed) and the log extent they reflect,
        in one transaction."""
        with self._transaction():
            for track in sorted(set(tracks)):
                edits = state.edits(track)
                self._db.execute("DELETE FROM pieces WHERE track = ?", (track,))
                self._db.execute("DELETE FROM keys WHERE track = ?", (track,))
                if edits is None:
                    self._db.execute("INSERT OR REPLACE INTO edited VALUES (?, 0, NULL)",
                                     (track,))
                    continue
                self._db.execute("INSERT OR REPLACE INTO edited VALUES (?, 1, ?)",
                                 (track, edits.class_id))
                self._db.executemany("INSERT INTO pieces VALUES (?, ?, ?, ?, ?)",
                                     [(track, i, o, lo, hi)
                                      for i, (o, lo, hi) in enumerate(edits.pieces)])
                self._db.executemany(
                    "INSERT INTO keys VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [(track, f, *xyxy, int(outside), c)
                     for f, (xyxy, outside, c) in edits.keys.items()])
            self._db.execute("DELETE FROM merged")
            self._db.executemany("INSERT INTO merged VALUES (?, ?)",
                                 list(state.merged_into.items()))
            self._put_meta({"rows": str(info.rows), "batches": str(info.batches),
                            "digest": info.digest, "next_id": str(state.next_id)})

    def _put_meta(self, values: dict[str, str]) -> None:
        self._db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", list(values.items()))
        self._meta = None

    def _transaction(self) -> _Transaction:
        if not self.write:
            raise StoreInputError(f"{self.path}: the state cache was opened read-only")
        return _Transaction(self._db)


class _Snapshot:
    def __init__(self, cache: StateCache) -> None:
        self._cache = cache

    def __enter__(self) -> StateCache:
        self._cache._db.execute("BEGIN")
        self._cache._meta = None
        return self._cache

    def __exit__(self, *exc: object) -> None:
        self._cache._db.execute("COMMIT")


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any error."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, *rest: object) -> None:
        self._db.execute("ROLLBACK" if kind is not None else "COMMIT")
