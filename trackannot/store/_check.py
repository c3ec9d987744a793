"""Checking one video's group: metadata, commit markers, every committed chunk, the log's chain.

`check_group` reads everything a group commits (each chunk of each array within its committed
extent, so a missing chunk or a failed checksum is found), compares the arrays with the commit
markers, recomputes the corrections log's chained digest, and lists what it found as `Finding`s:

* "damage": committed data that is missing, unreadable or inconsistent;
* "leftover": what a crash left past a commit point (rows, temporary files, unlisted queues),
  never read, harmless;

with what `repair_group` does about each. Repairs never lose human work: leftovers are deleted;
damage to the automatic results (frames, detections, tracks) rolls the group back to its last
commit before the damage (status "running"), so rerunning the same `trackannot track` command
recomputes the rest, which equals the lost part because a run is deterministic; damage to the
corrections log, the review queues or the group's metadata cannot be repaired without losing
what people did, so it is reported and left for a backup.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from trackannot.boxes import COLUMNS
from trackannot.errors import CorruptStoreError
from trackannot.store._layout import (
    BATCH_COLUMNS, NOTHING_COMMITTED, STATUS_COMPLETE, STATUS_FAILED, STATUS_RUNNING, TABLES,
    TableSchemas, remove_temp_files, writable,
)
from trackannot.store._location import Remote, location, zarr_store
from trackannot.store._log import LogInfo, chain_digests, ensure_log, log_info, read_batches
from trackannot.store._read import read_rows

__all__ = ["DAMAGE", "LEFTOVER", "Finding", "GroupCheck", "check_group", "repair_group"]

DAMAGE = "damage"
LEFTOVER = "leftover"
_STATUSES = (STATUS_RUNNING, STATUS_COMPLETE, STATUS_FAILED)


@dataclass(frozen=True)
class Finding:
    """One thing `check_group` found.

    Attributes:
        video: the video's key.
        kind: DAMAGE or LEFTOVER.
        message: what, where (array, chunk, rows).
        repair: what `repair_group` does about it ("" when it cannot without losing human work).
    """

    video: str
    kind: str
    message: str
    repair: str = ""


@dataclass
class GroupCheck:
    """What `check_group` found in one group, and what a repair needs."""

    key: str
    schemas: TableSchemas  # the human tables' columns (the domain's)
    findings: list[Finding] = field(default_factory=list)
    # arrays longer than their committed extent: path -> committed length
    trim: dict[str, int] = field(default_factory=dict)
    unlisted_queues: list[str] = field(default_factory=list)
    missing_log_arrays: bool = False
    # frames to roll the automatic results back to (None: no damage there)
    rollback_frames: int | None = None
    human_damage: bool = False
    temp_files: int = 0

    @property
    def damaged(self) -> bool:
        return any(f.kind == DAMAGE for f in self.findings)

    def add(self, kind: str, message: str, repair: str = "") -> None:
        self.findings.append(Finding(self.key, kind, message, repair))


def _first_bad_chunk(array: zarr.Array, n: int, what: str) -> tuple[int, str] | None:
    """(first row of the first chunk of rows 0..n-1 that is missing or damaged, why)."""
    rows = int(array.chunks[0])
    for start in range(0, n, rows):
        try:
            read_rows(array, start, min(start + rows, n), what)
        except CorruptStoreError as err:
            return start, str(err).split("; run")[0]
    return None


def _array(check: GroupCheck, group: zarr.Group, path: str) -> zarr.Array | None:
    try:
        found = group[path]
    except KeyError:
        return None
    except (ValueError, TypeError) as err:
        check.add(DAMAGE, f"{check.key}/{path}: metadata does not load ({err})")
        return None
    return found if isinstance(found, zarr.Array) else None


def _scan(check: GroupCheck, group: zarr.Group, path: str, committed: int,
          human: bool, room: bool = False) -> int | None:
    """Check one committed array: present, long enough, every chunk intact. Returns the first
    row of its first bad chunk (or 0 when absent or short), None when intact. `room`: rows
    past the committed count are normal (the log's arrays grow a chunk at a time)."""
    what = f"{check.key}/{path}"
    array = _array(check, group, path)
    if array is None:
        if committed > 0:
            check.add(DAMAGE, f"{what}: missing ({committed} committed rows)")
            check.human_damage |= human
            return 0
        return None
    if array.shape[0] < committed:
        check.add(DAMAGE, f"{what}: {array.shape[0]} rows, {committed} committed")
        check.human_damage |= human
        return array.shape[0]
    if array.shape[0] > committed and not room:
        check.trim[path] = committed
        check.add(LEFTOVER, f"{what}: {array.shape[0] - committed} rows past the commit point "
                            "(a crash's, never read)", "cut them")
    bad = _first_bad_chunk(array, committed, what)
    if bad is not None:
        check.add(DAMAGE, bad[1])
        check.human_damage |= human
        return bad[0]
    return None


def _frames_for_row(row_start: np.ndarray, row: int) -> int:
    """Frames whose rows all lie before `row` (row_start is each frame's first row)."""
    return int(np.searchsorted(row_start, row, side="right")) - 1 if row > 0 else 0


def _check_results(check: GroupCheck, group: zarr.Group, attrs: dict[str, Any]) -> None:
    """Frames and both tables against the `committed` marker (automatic results)."""
    done = attrs.get("committed") or NOTHING_COMMITTED
    try:
        frames = int(done["frames"])
        rows = {t: int(done["rows"][t]) for t in TABLES}
    except (KeyError, TypeError, ValueError):
        check.add(DAMAGE, f"{check.key}: the committed attribute {done!r} does not load")
        check.human_damage = True  # nothing to roll back to
        return
    limit = frames
    for path in ("frames/index", "frames/time_s"):
        bad = _scan(check, group, path, frames, human=False)
        if bad is not None:
            limit = min(limit, bad)
    starts: dict[str, np.ndarray] = {}
    for table in TABLES:
        bad = _scan(check, group, f"{table}/row_start", frames, human=False)
        if bad is not None:
            limit = min(limit, bad)
        good = min(frames, bad if bad is not None else frames)
        array = _array(check, group, f"{table}/row_start")
        starts[table] = array[:good] if array is not None and good else np.zeros(0, np.int64)
        for name in COLUMNS:
            bad = _scan(check, group, f"{table}/{name}", rows[table], human=False)
            if bad is not None:
                limit = min(limit, _frames_for_row(starts[table], bad))
        if len(starts[table]) and (np.any(np.diff(starts[table]) < 0)
                                   or starts[table][-1] > rows[table]):
            check.add(DAMAGE, f"{check.key}/{table}/row_start: offsets out of order or past the "
                              f"{rows[table]} committed rows")
            limit = 0
    if limit < frames:
        check.rollback_frames = limit
        for finding in list(check.findings):
            if finding.kind == DAMAGE and not finding.repair:
                check.findings[check.findings.index(finding)] = Finding(
                    finding.video, finding.kind, finding.message,
                    f"roll the automatic results back to frame {limit} of {frames}; rerun the "
                    "same `trackannot track` command to redo the rest")


def _check_log(check: GroupCheck, group: zarr.Group) -> LogInfo | None:
    """The corrections log: arrays against its commit, every chunk, batch rows, the digest."""
    key = check.key
    try:
        info = log_info(group, key)
    except CorruptStoreError as err:
        check.add(DAMAGE, str(err).split("; run")[0])
        check.human_damage = True
        return None
    if "corrections" not in group and info.rows == 0 and info.batches == 0:
        return info  # never made: its writer was given no schema, and nothing was logged
    if any(f"corrections/{n}" not in group for n in check.schemas.log):
        if info.rows == 0:
            check.missing_log_arrays = True
            check.add(LEFTOVER, f"{key}/corrections: log arrays incomplete (a first correction "
                                "was stopped while making them)", "make the missing ones")
            return info
    before = len(check.findings)
    for name in check.schemas.log:
        _scan(check, group, f"corrections/{name}", info.rows, human=True, room=True)
    if info.legacy is None:
        for name in BATCH_COLUMNS:
            _scan(check, group, f"corrections/batches/{name}", info.batches, human=True,
                  room=True)
    if any(f.kind == DAMAGE for f in check.findings[before:]):
        return info
    try:
        records = read_batches(group, key, info)
        _check_batches(check, info, records)
        if info.legacy is None and info.batches:
            digests = chain_digests(group, key, info, check.schemas)
            if digests[-1] != info.digest:
                check.add(DAMAGE, f"{key}/corrections: the log's rows do not match its digest "
                                  "(changed after they were committed)")
                check.human_damage = True
    except CorruptStoreError as err:
        check.add(DAMAGE, str(err).split("; run")[0])
        check.human_damage = True
    return info


def _check_batches(check: GroupCheck, info: LogInfo, records: list[dict[str, Any]]) -> None:
    end = 0
    for i, record in enumerate(records):
        a, b = record.get("rows", [-1, -1])
        if record.get("number") != i or a != end or b < a:
            check.add(DAMAGE, f"{check.key}/corrections/batches: batch {i} covers rows {a}..{b}, "
                              f"expected to start at row {end}")
            check.human_damage = True
            return
        end = b
    if end != info.rows:
        check.add(DAMAGE, f"{check.key}/corrections: batches cover {end} rows, {info.rows} "
                          "committed")
        check.human_damage = True


def _check_queues(check: GroupCheck, group: zarr.Group, info: LogInfo | None) -> None:
    if "review" not in group:
        return
    review = group["review"]
    try:
        records = [dict(r) for r in (review.attrs.get("review") or {}).get("queues", [])]
    except (AttributeError, TypeError) as err:
        check.add(DAMAGE, f"{check.key}/review: the queue list does not load ({err})")
        check.human_damage = True
        return
    listed = {r.get("id") for r in records}
    for record in records:
        queue_id = record.get("id")
        for name in check.schemas.items:
            _scan(check, group, f"review/{queue_id}/items/{name}", int(record.get("items", 0)),
                  human=True)
        answered = info.answers.get(queue_id, 0) if info is not None else 0
        for name in check.schemas.answers:
            _scan(check, group, f"review/{queue_id}/answers/{name}", answered, human=True,
                  room=True)
    with warnings.catch_warnings():
        # a crash's temporary file in the review folder (counted as a leftover in check_group)
        # is no zarr node: zarr warns about it while it lists the queue groups
        warnings.filterwarnings("ignore", r"Object at .*\.partial is not recognized",
                                zarr.errors.ZarrUserWarning)
        found = set(review.group_keys())
    for name in sorted(found - listed):
        check.unlisted_queues.append(name)
        check.add(LEFTOVER, f"{check.key}/review/{name}: a queue written but never listed (a "
                            "crash before its commit)", "delete it")


def _temp_count(store: str | Path, path: str) -> int:
    """Temporary files under the group's folder (none on object storage: PUTs are whole)."""
    found = location(store)
    if isinstance(found, Remote):
        return 0
    return sum(1 for p in (found / path).rglob("*.partial") if p.is_file())


def _open_group(store: str | Path, path: str, mode: str) -> zarr.Group:
    """The group at `path` inside the store (a directory or object storage)."""
    found = location(store)
    if isinstance(found, Remote):
        return zarr.open_group(zarr_store(found, read_only=mode == "r"), path=path, mode=mode,
                               zarr_format=3)
    return zarr.open_group(str(found / path), mode=mode, zarr_format=3)


def check_group(store: str | Path, key: str, schemas: TableSchemas,
                path: str | None = None) -> GroupCheck:
    """Check video `key`'s group (at `path`, default `key`) as described in the module docstring;
    `schemas` name the columns of its human tables (the domain's: `trackannot.results.SCHEMAS`).

    Safe beside a running writer: only committed extents are judged (rows a writer is adding
    may show as leftovers). Take the group's lock to get a still picture.
    """
    check = GroupCheck(key, schemas)
    path = path or key
    check.temp_files = _temp_count(store, path)
    if check.temp_files:
        check.add(LEFTOVER, f"{key}: {check.temp_files} temporary files of writes a crash never "
                            "finished", "delete them")
    try:
        group = _open_group(store, path, "r")
        attrs = dict(group.attrs)
    except (ValueError, KeyError, TypeError, FileNotFoundError) as err:
        check.add(DAMAGE, f"{key}: the group's metadata (zarr.json) does not load ({err})")
        check.human_damage = True
        return check
    if attrs.get("status") not in _STATUSES:
        check.add(DAMAGE, f"{key}: status {attrs.get('status')!r} is not one of {_STATUSES}")
        check.human_damage = True
        return check
    _check_results(check, group, attrs)
    info = _check_log(check, group)
    _check_queues(check, group, info)
    return check


def repair_group(store: str | Path, check: GroupCheck, path: str | None = None) -> list[str]:
    """Carry out the repairs `check` lists (the group's lock held by the caller); returns what
    was done. Damage to human work is left as it is (see the module docstring)."""
    path = path or check.key
    done: list[str] = []
    if check.temp_files:
        remove_temp_files(store, path)
        done.append(f"{check.key}: deleted {check.temp_files} temporary files")
    group = _open_group(store, path, "a")
    if check.rollback_frames is not None:  # recomputable: never loses human work
        done.append(_roll_back(group, check.key, check.rollback_frames))
    for array_path, n in check.trim.items():
        if check.rollback_frames is not None and array_path.split("/")[0] in ("frames", *TABLES):
            continue  # cut by the roll-back
        array = writable(group[array_path])
        array.resize((n, *array.shape[1:]))
    if check.trim:
        done.append(f"{check.key}: cut rows past the commit points of {len(check.trim)} arrays")
    for queue_id in check.unlisted_queues:
        del group[f"review/{queue_id}"]
        done.append(f"{check.key}: deleted the unlisted queue {queue_id}")
    if check.missing_log_arrays:
        ensure_log(group, check.schemas.log)
        done.append(f"{check.key}: made the missing corrections log arrays")
    return done


def _roll_back(group: zarr.Group, key: str, frames: int) -> str:
    """Set the group back to `frames` committed frames (status running) and cut the rest."""
    index = read_rows(group["frames/index"], 0, frames, f"{key}/frames/index") if frames else \
        np.zeros(0, np.int64)
    rows = {}
    for table in TABLES:
        done = group.attrs.get("committed") or NOTHING_COMMITTED
        total = int(done["rows"][table])
        starts = group[f"{table}/row_start"]
        rows[table] = int(read_rows(starts, frames, frames + 1, key)[0]) \
            if frames < starts.shape[0] and frames < int(done["frames"]) else total
    was = int((group.attrs.get("committed") or NOTHING_COMMITTED)["frames"])
    for path in ("frames/index", "frames/time_s"):
        _cut(group, path, frames)
    for table in TABLES:
        _cut(group, f"{table}/row_start", frames)
        for name in COLUMNS:
            _cut(group, f"{table}/{name}", rows[table])
    group.attrs.update({
        "committed": {"frames": frames, "rows": rows,
                      "last_frame": int(index[-1]) if frames else -1},
        "status": STATUS_RUNNING,
        "rolled_back": {"from_frames": was, "to_frames": frames},
    })
    return (f"{key}: rolled the automatic results back from {was} to {frames} frames (status "
            "running); rerun the same `trackannot track` command to redo the rest")


def _cut(group: zarr.Group, path: str, n: int) -> None:
    if path not in group:
        return
    array = writable(group[path])
    if array.shape[0] > n:
        array.resize((n, *array.shape[1:]))
