"""Store checks: verify every video of a store and repair what can be repaired without losing
human work (`trackannot check STORE [--repair]`).

Per video (`trackannot.store.check_group`, given the human tables' schemas,
`trackannot.results.SCHEMAS`): the group's metadata and attributes, its commit markers
against its arrays, every committed chunk (present, checksum), the corrections log's batches and
chained digest, the review queues; then, for a complete video with a sound log, the log is
replayed over its tracks (`trackannot.replay.load_state`). For the store: its root metadata,
temporary files, and replacements (`--overwrite`) a crash interrupted.

`repair=True` takes each video's writer lock and deletes crash leftovers, finishes interrupted
replacements, and rolls damaged automatic results back to the last commit before the damage
(rerunning the same `trackannot track` command recomputes them). Damage to what people made (the
log, review queues, a group's metadata) is reported, not repaired: restore it from a backup.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

from trackannot.errors import InputFormatError, LockedError, StoreError, StoreNotFoundError
from trackannot.results import SCHEMAS, open_store
from trackannot.store import (
    DAMAGE, DEFAULT_LOCK_TIMEOUT_S, LEFTOVER, STATUS_COMPLETE, Finding, check_group,
    finished_replacement, group_lock, group_on_disk, recover, remove_temp_files, repair_group,
    replacement_in_progress, replacement_path, replacing_keys, root_temp_files, store_lock,
)
from trackannot.store._location import location

__all__ = ["CheckReport", "check_store"]


@dataclass
class CheckReport:
    """What `check_store` found and did.

    Attributes:
        store: the store checked.
        videos: keys of the videos checked.
        findings: everything found, before any repair.
        repaired: what the repair did, one line each.
        remaining: damage still there after the repair (all damage when not repairing).
        notes: facts worth knowing that are not problems (a replacement in progress, ...).
    """

    store: Path
    videos: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    remaining: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def consistent(self) -> bool:
        """No damage left (leftovers are harmless: readers never see them)."""
        return not self.remaining

    @property
    def damaged(self) -> bool:
        """Damage was found (repaired or not)."""
        return any(f.kind == DAMAGE for f in self.findings)


def check_store(path: str | Path, *, repair: bool = False, videos: list[str] | None = None,
                lock_timeout: float = DEFAULT_LOCK_TIMEOUT_S) -> CheckReport:
    """Check (and with `repair`, repair) a store; see the module docstring.

    Args:
        path: the store.
        repair: delete leftovers, finish interrupted replacements, roll damaged automatic
            results back, each under the video's lock.
        videos: only these videos (default: all).
        lock_timeout: seconds to wait for a video another process is writing (repair only).

    Raises:
        StoreNotFoundError: no store at `path` (a store whose root metadata is damaged is
            reported).
    """
    store = location(path)  # a directory, or s3://... (`trackannot.store._location`)
    report = CheckReport(store)
    if isinstance(store, Path) and not store.is_dir():
        raise StoreNotFoundError(f"{store}: no such store")
    try:
        opened = open_store(store)
    except StoreError as err:  # CorruptStoreError included: nothing below the root is reachable
        finding = Finding("", DAMAGE, str(err).split("; run")[0])
        report.findings.append(finding)
        report.remaining.append(finding)
        return report
    _check_root(store, report, repair, lock_timeout)
    keys = videos if videos is not None else sorted(set(opened.videos) | replacing_keys(store))
    for key in keys:
        report.videos.append(key)
        try:
            _check_video(store, key, report, repair, lock_timeout)
        except LockedError as err:
            report.notes.append(f"{key}: not repaired: {err}")
            _check_video(store, key, report, False, lock_timeout)
    return report


def _check_root(store: Path, report: CheckReport, repair: bool, lock_timeout: float) -> None:
    temps = root_temp_files(store)
    if not temps:
        return
    finding = Finding("", LEFTOVER, f"{len(temps)} temporary files of root writes a crash never "
                                    "finished", "delete them")
    report.findings.append(finding)
    if repair:
        with store_lock(store, "trackannot check --repair", lock_timeout):
            report.repaired.append(f"deleted {remove_temp_files(store)} temporary files of the root")


def _check_video(store: Path, key: str, report: CheckReport, repair: bool,
                 lock_timeout: float) -> None:
    lock = group_lock(store, key, "trackannot check --repair", lock_timeout) if repair \
        else contextlib.nullcontext()
    with lock:
        if repair:
            report.repaired.extend(recover(store, key))
        elif finished_replacement(store, key):
            report.findings.append(Finding(key, LEFTOVER, "a finished replacement (--overwrite) "
                                           "was not yet swapped in; readers see it",
                                           "swap it in"))
        if replacement_in_progress(store, key):
            report.notes.append(f"{key}: a replacement (--overwrite) is in progress or was "
                                "interrupted; rerun the same `trackannot track --overwrite` "
                                "command to finish it (the current group stays until then)")
            _check_one(store, key, replacement_path(key), report, repair)
        if group_on_disk(store, key):
            _check_one(store, key, key, report, repair)


def _check_one(store: Path, key: str, path: str, report: CheckReport, repair: bool) -> None:
    """Check (and repair) the group at `path`, then replay its log if it is sound."""
    found = check_group(store, key, SCHEMAS, path)
    if not found.damaged and path == key:
        found.findings.extend(_replay(store, key))
    report.findings.extend(found.findings)
    if repair and found.findings:
        report.repaired.extend(repair_group(store, found, path))
        found = check_group(store, key, SCHEMAS, path)
        if not found.damaged and path == key:
            found.findings.extend(_replay(store, key))
    report.remaining.extend(f for f in found.findings if f.kind == DAMAGE)


def _replay(store: Path, key: str) -> list[Finding]:
    """The log replayed over the tracks of a complete video: a damage finding if it fails."""
    from trackannot.replay import load_state

    video = open_store(store)[key]
    if video.status != STATUS_COMPLETE or not video.log_info().rows:
        return []
    try:
        load_state(video)
    except (StoreError, InputFormatError) as err:
        return [Finding(key, DAMAGE, f"{key}: the corrections log does not replay: {err}")]
    return []

