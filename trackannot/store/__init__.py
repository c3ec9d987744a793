"""Result store: zarr v3, one group per video, one array per `Boxes` column, written as the run goes.

Layout of a store (a directory)::

    STORE/                         attrs: format, trackannot version
      <video>/                     attrs: status, config, input, video, versions, committed
        frames/index               (f,) int64   decoded frame index of each processed frame
        frames/time_s              (f,) float64 presentation time of each processed frame
        detections/<column>        (n, ...)     one array per Boxes column (frame, xyxy, score, ...)
        detections/row_start       (f,) int64   first detections row of each processed frame
        tracks/<column>            (m, ...)     tracked boxes, same columns
        tracks/row_start           (f,) int64   first tracks row of each processed frame
        corrections/<column>       (c, ...)     the audit log of human corrections (append-only)
        review/                    attrs: review = {"queues": [record, ...]}
        review/<queue>/items/<column>    (n, ...)  the queue's items (`trackannot.review.ITEM_COLUMNS`)
        review/<queue>/answers/<column>  (a, ...)  answers to them, committed by the log's batches

A review queue's items are written first, then one write of the review group's attribute lists
the queue and marks every earlier open queue superseded. Answers to a queue are written past its
committed answers and committed by the corrections-log batch that brings them (the batch records
"queue" and the "answers" row range): one commit point for corrections and answers.

Rows are written in whole chunks as they fill, so memory does not grow with video length, and
each group has one writer (`StoreWriter`; zarr has no locking). After each write of whole chunks
one write of the group's `committed` attribute records the frames and rows now entirely on disk
(see `StoreWriter`): a crash loses at most the work since then; readers (`VideoResult`) read the
committed extent only and `StoreWriter.resume` cuts off what lies past it and writes on. A
group's `status` attribute is "running" until `close()` writes the last partial chunks and sets
it to "complete", or to "failed" (with `error`) for a video whose decoding failed mid-stream: its
frames decoded before the failure are kept. Every file zarr writes is written whole (a temporary
file, then a rename), so a killed process never leaves a torn chunk or attribute. Reading a frame
range touches only the chunks that hold it: `frames/index` locates the frames, `row_start` the rows.

The corrections log is append-only: a batch is written past the committed rows, and only then does
the group's `corrections` attribute advance `rows` and list the batch (who, when, from which file).
Readers read the committed rows only, so a batch lands whole or not at all; history is never
rewritten.

The package: `_layout` (format, statuses, column schemas, group names, set-up), `_writer`
(`StoreWriter`) and `_video` (`VideoResult`, `TrackStore`, `open_store`).
"""

from __future__ import annotations

from trackannot.store._layout import (
    FORMAT, LOG_COLUMNS, QUEUE_OPEN, QUEUE_SUPERSEDED, REVIEW_ANSWER_COLUMNS, STATUS_COMPLETE,
    STATUS_FAILED, STATUS_RUNNING, TABLES, discard_unstarted, input_identity, open_root,
    package_versions, remove_temp_files, video_key,
)
from trackannot.store._video import TrackStore, VideoResult, open_store
from trackannot.store._writer import StoreWriter

__all__ = [
    "FORMAT", "LOG_COLUMNS", "QUEUE_OPEN", "QUEUE_SUPERSEDED", "REVIEW_ANSWER_COLUMNS",
    "STATUS_COMPLETE", "STATUS_FAILED", "STATUS_RUNNING", "TABLES", "StoreWriter", "TrackStore",
    "VideoResult", "discard_unstarted", "input_identity", "open_root", "open_store",
    "package_versions", "remove_temp_files", "video_key",
]
