"""Result store: zarr v3, one group per video, one array per `Boxes` column, written as the run goes.

The store is a layer under the domain: it knows groups, append-only tables, commit markers and
locks, and imports nothing of corrections, review queues or annotation. The columns of the human
tables (the corrections log, review items, review answers) are the domain's: their modules pass
their schemas in (`TableSchemas`, see `trackannot.results`), and build `Corrections`,
`ReviewQueue` and `Answers` from the columns the store returns. Only `trackannot.boxes` (the
automatic tables are `Boxes` columns), `trackannot.errors` and `trackannot.config` (`StoreConfig`,
the lock timeout) are imported: the base types every layer shares.

Layout of a store (a directory)::

    STORE/                         attrs: format, trackannot version
      .trackannot/                 the store's own: locks, derived caches, groups being replaced
      <video>/                     attrs: status, config, input, video, versions, committed
        frames/index               (f,) int64   decoded frame index of each processed frame
        frames/time_s              (f,) float64 presentation time of each processed frame
        detections/<column>        (n, ...)     one array per Boxes column (frame, xyxy, score, ...)
        detections/row_start       (f,) int64   first detections row of each processed frame
        tracks/<column>            (m, ...)     tracked boxes, same columns
        tracks/row_start           (f,) int64   first tracks row of each processed frame
        corrections/<column>       (c, ...)     the audit log of human corrections (append-only,
                                                `TableSchemas.log`)
        corrections/batches/<col>  (b, ...)     one row per batch: its rows, record, digest
        review/                    attrs: review = {"queues": [record, ...]}
        review/<queue>/items/<column>    (n, ...)  the queue's items (`TableSchemas.items`)
        review/<queue>/answers/<column>  (a, ...)  answers to them, committed by the log's batches
                                                   (`TableSchemas.answers`)

A review queue's items are written first, then one write of the review group's attribute lists
the queue and marks every earlier open queue superseded. Answers to a queue are written past its
committed answers and committed by the corrections-log batch that brings them (the batch records
"queue" and the "answers" row range): one commit point for corrections and answers.

Rows are written in whole chunks as they fill, so memory does not grow with video length, and
each group has one writer (`StoreWriter`, holding the group's lock). After each write of whole chunks
one write of the group's `committed` attribute records the frames and rows now entirely on disk
(see `StoreWriter`): a crash loses at most the work since then; readers (`VideoGroup`) read the
committed extent only and `StoreWriter.resume` cuts off what lies past it and writes on. A
group's `status` attribute is "running" until `close()` writes the last partial chunks and sets
it to "complete", or to "failed" (with `error`) for a video whose decoding failed mid-stream: its
frames decoded before the failure are kept. Every file zarr writes is written whole (a temporary
file, then a rename), so a killed process never leaves a torn chunk or attribute. Reading a frame
range touches only the chunks that hold it: `frames/index` locates the frames, `row_start` the rows.

The corrections log is append-only: a batch is written past the committed rows, its record (who,
when, from which file) as a row of the batch table, and only then does the group's `corrections`
attribute advance `rows` and `batches` (`trackannot.store._log`). Readers read the committed rows
only, so a batch lands whole or not at all; history is never rewritten.

Only one process writes a video's group at a time: every writer holds the group's lock
(`group_lock`, an OS file lock under `STORE/.trackannot/locks/`), and store-wide changes hold
the store lock (`store_lock`); see `trackannot.store._lock` for what that guarantees where.
`TrackStore.writer(key)` hands out a video for writing with its lock held. Format /2 chunks
carry a CRC-32C and are all written, so reads (`trackannot.store._read`) refuse missing or
damaged chunks instead of returning zeros. `--overwrite` builds a video's new group beside the
old one and swaps it in (`trackannot.store._replace`).

Where a store lives: a local directory, or S3-compatible object storage (`s3://bucket/prefix`,
zarr's `ObjectStore` over obstore; `_location`). On object storage every PUT is atomic and whole
(no temporary files), a group's lock is a lease object renewed and taken over by conditional
PUTs and checked before every commit-marker write (`_lease`), and `--overwrite` is refused (no
rename to swap a group in).

The package: `_location` (a store's place: directory or object storage), `_layout` (format,
statuses, schemas, codecs, group names, set-up), `_lock` (writer locks; `_lease` on object
storage), `_read` (verified reads), `_log` (the corrections log and its batch table),
`_replace` (replacing a group), `_writer` (`StoreWriter`), `_video` (`VideoGroup`, `TrackStore`,
`open_store`) and `_check` (checking and repairing a group).
"""

from __future__ import annotations

from trackannot.store._check import DAMAGE, LEFTOVER, Finding, GroupCheck, check_group, repair_group
from trackannot.store._layout import (
    FORMAT, FORMATS_READ, INTERNAL, ROOT_TEMP_GRACE_S, STATUS_COMPLETE, STATUS_FAILED,
    STATUS_RUNNING, TABLES, Schema, TableSchemas, cache_path, discard_unstarted, group_on_disk,
    has_root, input_identity, open_root, package_versions, remove_temp_files, root_temp_files,
    unstarted_folder, video_key,
)
from trackannot.store._lock import DEFAULT_LOCK_TIMEOUT_S, WriterLock, group_lock, store_lock
from trackannot.store._location import Remote, ensure_reachable, location
from trackannot.store._log import AnswerRows, LogInfo
from trackannot.store._replace import (
    REPLACING, discard_replacement, finished_replacement, recover, replacement_in_progress,
    replacement_path, replacing_keys, swap_in,
)
from trackannot.store._video import TrackStore, VideoGroup, find_group, open_store
from trackannot.store._writer import StoreWriter

__all__ = [
    "DAMAGE", "DEFAULT_LOCK_TIMEOUT_S", "FORMAT", "FORMATS_READ", "INTERNAL", "LEFTOVER",
    "REPLACING", "ROOT_TEMP_GRACE_S", "STATUS_COMPLETE", "STATUS_FAILED", "STATUS_RUNNING",
    "TABLES", "AnswerRows", "Finding", "GroupCheck", "LogInfo", "Remote", "Schema", "StoreWriter",
    "TableSchemas", "TrackStore", "VideoGroup", "WriterLock", "cache_path", "check_group",
    "discard_replacement", "discard_unstarted", "ensure_reachable", "find_group",
    "finished_replacement", "group_lock", "group_on_disk", "has_root", "input_identity",
    "location", "open_root", "open_store",
    "package_versions", "recover", "remove_temp_files", "repair_group", "replacement_in_progress",
    "replacement_path", "replacing_keys", "root_temp_files", "store_lock", "swap_in",
    "unstarted_folder", "video_key",
]
