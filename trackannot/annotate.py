"""Corrections against a store: apply a file of edits to a video, all or none.

This is what `trackannot correct` and annotation backends call. A batch is parsed and checked in full
against the current state (the automatic tracks with the log replayed, `trackannot.replay`) before
anything is written; then it is appended to the video's audit log in one commit. A bad batch leaves
the store untouched. `load_state` (re-exported from `trackannot.replay`) gives a video's current
annotation.
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np

from trackannot.corrections import (
    Corrections, Op, format_corrections, load_json, read_corrections_file,
)
from trackannot.errors import CorruptStoreError, InputFormatError, StoreConflictError
from trackannot.export.meta import VideoMeta
from trackannot.keyframes import Keyframes
from trackannot.replay import StateWriter, load_state, video_fps
from trackannot.results import append_log, read_queue
from trackannot.review import QUEUE_OPEN, Answers, ReviewQueue, answers_from_lines, read_answer_file
from trackannot.sources import StoreTables
from trackannot.state import AnnotationState
from trackannot.store import DEFAULT_LOCK_TIMEOUT_S, TrackStore, VideoGroup
from trackannot.validate import check_corrections, clip_to_frame

__all__ = ["BatchSummary", "apply_batch", "apply_corrections", "check_queue", "keyframe_corrections",
           "load_state", "video_meta"]

# an imported keyframe this close (pixels, every coordinate) to the current box counts as accepted
_ACCEPT_TOLERANCE_PX = 1e-3


@dataclass(frozen=True)
class BatchSummary:
    """What one applied batch did."""

    video: str
    batch: int
    counts: dict[str, int]
    tracks_touched: int
    rows_recomputed: int
    answers: int = 0  # queue items answered (honeypots included)
    revision: int = 0  # the video's revision (committed batches) after the batch


def video_meta(result: VideoGroup) -> VideoMeta:
    """Name, size, frame count, rate and class names of a stored video, for exporters.

    Class names come from the detector (ultralytics models name their classes); a detections file
    names none, so its classes are called "object" (class 0) or "class<i>".

    Raises:
        StoreError: the store does not record the video's frame size.
    """
    width, height = _frame_size(result)
    fps = video_fps(result)
    names = (result.attrs.get("detector") or {}).get("class_names")
    if not names:
        known = result.attrs.get("track_classes")  # recorded when the run closed
        classes = known if known is not None else result.column("tracks", "class_id").tolist()
        top = int(max(classes, default=0))
        names = ["object"] if top == 0 else [f"class{i}" for i in range(top + 1)]
    return VideoMeta(name=result.key, width=width, height=height, num_frames=result.num_frames,
                     fps=fps, class_names=tuple(names))


def _frame_size(result: VideoGroup) -> tuple[int, int]:
    """(width, height) of a stored video, from its attributes (`video_meta`)."""
    video = result.attrs.get("video") or {}
    width, height = int(video.get("width") or 0), int(video.get("height") or 0)
    if width <= 0 or height <= 0:
        raise CorruptStoreError(f"{result.key}: the store does not record the video's frame size")
    return width, height


def keyframe_corrections(state: AnnotationState, keyframes: Keyframes, author: str,
                         time_ns: int, frame_size: tuple[int, int] | None = None) -> Corrections:
    """Corrections that make `state` hold `keyframes` (imported from an annotation tool).

    A track whose every keyframe matches the current annotation is unchanged and gets no
    correction at all (an exported file imported unchanged records nothing): a present keyframe
    matches when it equals the track's current box there (within `_ACCEPT_TOLERANCE_PX`, the box
    clipped to the frame as exporters write it) with the track's class; an outside keyframe
    when the track shows nothing there. In a track that changed, keyframes that equal the
    current box become ACCEPT, others ADJUST (with their class), outside ones ABSENT. A keyframe
    Label Studio needs before an outside frame (the box interpolated toward the outside
    keyframe's, see `trackannot.export.labelstudio`) is read back as that outside keyframe, not
    as an edit. A track id the state does not have is created at its first keyframe. Tracks not
    in `keyframes` are left as they are.

    Args:
        state: the current annotation.
        keyframes: the tool file's keyframes.
        author, time_ns: recorded with every correction.
        frame_size: (width, height) the exporters clipped boxes to; None: no clipping.
    """
    ids = set(state.track_ids)
    edits: list[tuple[Op, int, int, np.ndarray, int]] = []  # op, track, frame, xyxy, class
    tracks, starts = keyframes.track_bounds()
    for t, track in enumerate(tracks.tolist()):
        keys = keyframes[int(starts[t]):int(starts[t + 1])]
        if track in ids:
            edits += _track_edits(state, track, keys, frame_size)
        else:
            edits += _new_track_edits(track, keys)
    if not edits:
        return Corrections.empty()
    op, track_id, frame, xyxy, class_id = zip(*edits)
    return Corrections.create(op=[int(o) for o in op], track_id=track_id, frame=frame,
                              xyxy=np.asarray(xyxy, np.float32), class_id=class_id,
                              author=author, time_ns=time_ns)


def _new_track_edits(track: int, keys: Keyframes) -> list[tuple[Op, int, int, np.ndarray, int]]:
    """A track the state lacks: created at its first present keyframe, then adjusted and
    marked absent keyframe by keyframe (outside keyframes before it: nothing to create yet)."""
    edits: list[tuple[Op, int, int, np.ndarray, int]] = []
    for i in range(len(keys)):
        frame, xyxy, cls = int(keys.frame[i]), keys.xyxy[i], int(keys.class_id[i])
        if edits:
            edits.append((Op.ABSENT, track, frame, xyxy, -1) if keys.outside[i]
                         else (Op.ADJUST, track, frame, xyxy, cls))
        elif not keys.outside[i]:
            edits.append((Op.CREATE, track, frame, xyxy, cls))
    return edits


def _track_edits(state: AnnotationState, track: int, keys: Keyframes,
                 frame_size: tuple[int, int] | None) -> list[tuple[Op, int, int, np.ndarray, int]]:
    """Nothing for a track whose keyframes all match what it shows; else one edit per keyframe.

    Every edit carries its box, so the batch pins exactly the file's keyframes whatever the
    order edits are applied in (an absent removes later automatic boxes).
    """
    shown = _shown_boxes(state, track, frame_size)
    keys = _outside_as_written(keys, shown)
    same = _same_as_shown(keys, shown, state.track_class(track))
    if same.all():
        return []  # nothing in this track changed
    edits: list[tuple[Op, int, int, np.ndarray, int]] = []
    for i in range(len(keys)):
        frame, xyxy = int(keys.frame[i]), keys.xyxy[i]
        if keys.outside[i]:
            edits.append((Op.ABSENT, track, frame, xyxy, -1))
        elif same[i]:
            edits.append((Op.ACCEPT, track, frame, xyxy, -1))
        else:
            edits.append((Op.ADJUST, track, frame, xyxy, int(keys.class_id[i])))
    return edits


def _shown_boxes(state: AnnotationState, track: int,
                 frame_size: tuple[int, int] | None) -> tuple[np.ndarray, np.ndarray]:
    """(frames, xyxy) a track shows: its current boxes clipped to the frame, as exporters write
    them, without those with no area left in it."""
    boxes = state.track_boxes(track)
    if frame_size is None:
        return boxes.frame, boxes.xyxy
    xyxy, _, empty = clip_to_frame(boxes.xyxy, *frame_size)
    return boxes.frame[~empty], xyxy[~empty]


def _box_shown_at(shown: tuple[np.ndarray, np.ndarray], frame: int) -> np.ndarray | None:
    frames, xyxy = shown
    i = int(np.searchsorted(frames, frame))
    return xyxy[i] if i < len(frames) and frames[i] == frame else None


def _same_as_shown(keys: Keyframes, shown: tuple[np.ndarray, np.ndarray],
                   track_class: int) -> np.ndarray:
    """(n,) bool: keyframes of one track that match what it shows (present: the same box and
    class; outside: no box there)."""
    same = np.zeros(len(keys), bool)
    for i in range(len(keys)):
        box = _box_shown_at(shown, int(keys.frame[i]))
        if keys.outside[i]:
            same[i] = box is None
        else:
            same[i] = (box is not None and int(keys.class_id[i]) == track_class
                       and float(np.abs(box - keys.xyxy[i]).max()) <= _ACCEPT_TOLERANCE_PX)
    return same


def _outside_as_written(keys: Keyframes, shown: tuple[np.ndarray, np.ndarray]) -> Keyframes:
    """One track's keyframes with each Label Studio rendering of an outside keyframe undone.

    Label Studio cannot mark a frame outside; our writer puts a disabled keyframe at g = f - 1
    holding the box interpolated from the previous keyframe (frame p, box P) toward the outside
    keyframe's box, which is the track's last box before the gap (S, shown at g). The reader
    gives back a present keyframe at g and an outside one at f, both with that box. When the
    box at g is exactly P + (S - P) * (g - p) / (f - p) (within `_ACCEPT_TOLERANCE_PX`) and the
    track shows nothing at f, the pair is the outside keyframe at f with box S.
    """
    drop, boxes = [], keys.xyxy.copy()
    for i in range(1, len(keys) - 1):
        g, f, p = int(keys.frame[i]), int(keys.frame[i + 1]), int(keys.frame[i - 1])
        pattern = (not keys.outside[i] and keys.outside[i + 1] and not keys.outside[i - 1]
                   and f == g + 1 and p < g and np.array_equal(keys.xyxy[i], keys.xyxy[i + 1]))
        last = _box_shown_at(shown, g) if pattern else None
        if last is None or _box_shown_at(shown, f) is not None:
            continue
        start = keys.xyxy[i - 1].astype(np.float64)
        rendered = start + (last.astype(np.float64) - start) * ((g - p) / (f - p))
        if float(np.abs(rendered - keys.xyxy[i]).max()) <= _ACCEPT_TOLERANCE_PX:
            drop.append(i)
            boxes[i + 1] = last
    if not drop:
        return keys
    keep = np.ones(len(keys), bool)
    keep[drop] = False
    return Keyframes(track_id=keys.track_id[keep], frame=keys.frame[keep], xyxy=boxes[keep],
                     outside=keys.outside[keep], class_id=keys.class_id[keep])


def check_queue(result: VideoGroup, queue_id: str) -> ReviewQueue:
    """The stored queue `queue_id`, if it can still be answered.

    Raises:
        StoreError: no such queue (lists the video's queues), the queue was re-ranked (names the
            queue to answer instead), or corrections from elsewhere landed since it was built.
    """
    record = result.queue_record(queue_id)
    if record["status"] != QUEUE_OPEN:
        newer = record["superseded_by"]
        raise StoreConflictError(f"{result.key}: queue {queue_id} was re-ranked as {newer} (the "
                                 f"annotation changed since it was built); answer {newer}'s items")
    info = result.log_info()
    since = result.batches(int(record.get("based_on_batches", 0))) \
        if info.rows != int(record["based_on"]) else []
    others = [b for b in since if b.get("queue") != queue_id]
    if others:
        landed = sum(b["rows"][1] - b["rows"][0] for b in others)
        raise StoreConflictError(f"{result.key}: queue {queue_id} is stale: {landed} corrections "
                                 f"in {len(others)} batch(es) landed since it was built; run "
                                 "`trackannot review` again and answer the new queue")
    return read_queue(result, queue_id)


def _has_item_line(path: Path) -> int:
    """Line number of the first line of a JSON Lines file that answers a queue item (0: none)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (UnicodeDecodeError, OSError):
        return 0  # the reader reports it
    for number, raw in enumerate(lines, start=1):
        with contextlib.suppress(InputFormatError):  # the reader reports bad lines
            obj = load_json(raw, f"{path} line {number}")
            if isinstance(obj, dict) and "item" in obj:
                return number
    return 0


def _read_batch(path: Path, state: AnnotationState, result: VideoGroup, author: str,
                time_ns: int, queue: ReviewQueue | None = None) -> tuple[Corrections, Answers | None]:
    """The file's batch (and its answers to `queue`), every value checked as the store will hold
    it, boxes inside the video's frame (`trackannot.validate.check_corrections`)."""
    meta = video_meta(result)
    batch, answers = _parse_batch(path, state, meta, author, time_ns, queue)
    check_corrections(batch, str(path), (meta.width, meta.height))
    return batch, answers


def _parse_batch(path: Path, state: AnnotationState, meta: VideoMeta, author: str, time_ns: int,
                 queue: ReviewQueue | None) -> tuple[Corrections, Answers | None]:
    suffix = path.suffix.lower()
    frame_size = (meta.width, meta.height)
    if suffix in (".jsonl", ".ndjson"):
        if queue is not None:
            return read_answer_file(path, queue, author, time_ns, frame_size=frame_size)
        line = _has_item_line(path)
        if line:
            raise InputFormatError(f"{path} line {line}: refers to a review queue item; pass "
                                   "--queue with the queue's id")
        return read_corrections_file(path, author, time_ns), None
    if queue is not None:
        from trackannot.export.review_tasks import (
            read_cvat_answers,
            read_labelstudio_answers,
        )

        if suffix == ".xml":
            lines = read_cvat_answers(path, queue, frame_size)
        elif suffix == ".json":
            lines = read_labelstudio_answers(path, queue, frame_size)
        else:
            raise InputFormatError(
                f"{path}: unknown answers format {suffix or '(no suffix)'!r}; expected .jsonl "
                "(item lines), .xml (CVAT for images 1.1) or .json (Label Studio tasks) made by "
                "`trackannot review`"
            )
        if not lines:
            raise InputFormatError(f"{path}: the file answers no frame of queue {queue.queue_id}")
        return answers_from_lines(lines, queue, author, time_ns, frame_size=frame_size)
    if suffix == ".xml":
        from trackannot.export.cvat import read_cvat_video

        keyframes = read_cvat_video(path, meta)
    elif suffix == ".json":
        from trackannot.export.labelstudio import read_labelstudio

        keyframes = read_labelstudio(path, meta)
    else:
        raise InputFormatError(
            f"{path}: unknown corrections format {suffix or '(no suffix)'!r}; expected .jsonl "
            "(trackannot corrections), .xml (CVAT for video 1.1) or .json (Label Studio)"
        )
    if not len(keyframes):
        raise InputFormatError(f"{path}: no keyframes in the file")
    # an unchanged file gives an empty batch: logged, it records that nothing changed
    return keyframe_corrections(state, keyframes, author, time_ns, frame_size), None


def apply_corrections(store: str | Path, path: str | Path, *, video: str | None = None,
                      author: str, dry_run: bool = False, queue: str | None = None,
                      lock_timeout: float = DEFAULT_LOCK_TIMEOUT_S,
                      expect_revision: int | None = None) -> BatchSummary:
    """Apply one file of corrections to one video of a store, all or none.

    The video's writer lock is held from reading its current state to committing the batch, so
    concurrent applies to one video run one after the other, each checked against the state it
    is appended to: none is lost. (`trackannot.session.VideoSession.apply` does the same for
    edits in memory, and checks them against the revision a reviewer saw.)

    Args:
        store: the store directory.
        path: .jsonl corrections, CVAT for video 1.1 XML, or Label Studio JSON; with `queue`:
            .jsonl with item lines, or the queue's CVAT for images XML / Label Studio tasks
            (`trackannot.export.review_tasks`) as the reviewers saved them.
        video: the video's group; may be omitted when the store holds one video.
        author: recorded for edits that name no author.
        dry_run: check the batch against the state, write nothing (no lock taken).
        queue: id of the review queue the file's `"item": N` lines answer
            (`trackannot.review.read_answer_file`); the answers are logged with the batch.
        lock_timeout: seconds to wait while another process writes this video.
        expect_revision: the revision (committed batches) the file was made against; refused
            with `StaleRevisionError` when cells it edits changed since.

    Raises:
        InputFormatError: the file is malformed or does not fit the video (names the file and line),
            or has item lines but no queue; the store is unchanged.
        StoreError: no such store or video; unknown, re-ranked or stale queue.
        LockedError: another process held the video longer than `lock_timeout`.
    """
    from trackannot.session import VideoSession

    session = VideoSession.open(store, video, mode="r" if dry_run else "a",
                                lock_timeout=lock_timeout)
    return session.apply(Path(path), author=author, queue=queue, dry_run=dry_run,
                         expect_revision=expect_revision)


Guard = Callable[[VideoGroup, Corrections, "int | None"], None]
Committed = Callable[[VideoGroup, int, Corrections], None]


def apply_batch(store: TrackStore[Any], key: str, edits: Path | Corrections, *, author: str,
                source: str = "", queue: str | None = None, dry_run: bool = False,
                lock_timeout: float = DEFAULT_LOCK_TIMEOUT_S, expect_revision: int | None = None,
                guard: Guard | None = None, tables: StoreTables | None = None,
                committed: Committed | None = None,
                log_arrays: dict[str, Any] | None = None) -> BatchSummary:
    """Check a batch (a file, or corrections in memory) against video `key`'s current state
    and, unless `dry_run`, log it, the video's lock held from reading the state to the commit.
    `guard(result, batch, expect_revision)` runs under the lock before anything is written
    (`VideoSession` refuses stale edits there). `tables`: the video's tracking tables as the
    caller already read them (`StateWriter`). `committed(result, number, corrections)` is
    called once the batch is committed, with its number and its corrections as the log holds
    them (read back, `read_log` gives the same), so a caller's state replays them unread.
    `log_arrays`: the log's arrays as the caller's last batch left them, kept between batches
    (`trackannot.results.append_log`'s `opened`)."""
    if dry_run:
        return _apply(store[key], edits, author, source, queue, None, None, write=False)
    name = edits.name if isinstance(edits, Path) else (source or "edits")
    with store.writer(key, f"trackannot correct {name}", lock_timeout) as result:
        return _apply(result, edits, author, source, queue, expect_revision, guard, write=True,
                      tables=tables, committed=committed, log_arrays=log_arrays)


def _apply(result: VideoGroup, edits: Path | Corrections, author: str, source: str,
           queue: str | None, expect_revision: int | None, guard: Guard | None,
           write: bool, tables: StoreTables | None = None,
           committed: Committed | None = None,
           log_arrays: dict[str, Any] | None = None) -> BatchSummary:
    """Check a batch against the video's current state and, with `write`, log it (the
    video's lock held): the state reads only the tracks the batch touches (`StateWriter`)."""
    review = check_queue(result, queue) if queue is not None else None
    if not write:
        return _check_and_log(result, load_state(result), edits, author, source, queue, review,
                              None, expect_revision, guard)
    with StateWriter(result, tables=tables) as writer:
        return _check_and_log(result, writer.state, edits, author, source, queue, review,
                              writer, expect_revision, guard, committed, log_arrays)


def _check_and_log(result: VideoGroup, state: AnnotationState, edits: Path | Corrections,
                   author: str, source: str, queue: str | None, review: ReviewQueue | None,
                   writer: StateWriter | None, expect_revision: int | None,
                   guard: Guard | None, committed: Committed | None = None,
                   log_arrays: dict[str, Any] | None = None) -> BatchSummary:
    now = int(datetime.now(timezone.utc).timestamp() * 1e9)
    if isinstance(edits, Path):
        batch, answers = _read_batch(edits, state, result, author, now, review)
        source = str(edits.resolve())
        digest = hashlib.sha256(edits.read_bytes()).hexdigest()
    else:
        batch, answers = edits, None
        check_corrections(batch, source or "edits", _frame_size(result))
        digest = hashlib.sha256(format_corrections(batch).encode()).hexdigest()
    if guard is not None:
        guard(result, batch, expect_revision)
    before = state.recomputed_rows
    previous = state.apply(batch, source=source)
    # record the ids new tracks got and the box each keyframe pinned (an accept or absent that
    # gave none pins the track's box), so the log replays without choosing ids or boxes again
    pins = np.isin(batch.op, [Op.ACCEPT, Op.ABSENT]) & np.isnan(batch.xyxy).any(axis=1)
    resolved = replace(
        batch,
        track_id=np.where(batch.op == Op.CREATE, previous.track_id, batch.track_id),
        other_id=np.where(batch.op == Op.SPLIT, previous.track_id, batch.other_id),
        xyxy=np.where(pins[:, None], previous.pinned, batch.xyxy).astype(np.float32),
    )
    number = -1
    if writer is not None:
        number = append_log(
            result, resolved,
            {"prev_xyxy": previous.xyxy, "prev_origin": previous.origin, "prev_class": previous.class_id},
            {
                "source": source,
                "sha256": digest,
                "author": author,
                "time": datetime.fromtimestamp(now / 1e9, tz=timezone.utc).isoformat(),
                "time_ns": now,
            },
            answers=(queue, answers) if queue is not None and answers is not None else None,
            opened=log_arrays,
        )
        writer.saved()  # after the log's commit: a crash in between leaves the cache behind
        if committed is not None:  # as `read_log` reads the rows back: no source lines
            committed(result, number, replace(resolved, source_line=np.zeros(len(resolved),
                                                                             np.int64)))
    ops, counts = np.unique(batch.op, return_counts=True)
    return BatchSummary(
        video=result.key,
        batch=number,
        counts={Op(int(o)).name.lower(): int(c) for o, c in zip(ops, counts)},
        tracks_touched=len(set(previous.track_id.tolist())),
        rows_recomputed=state.recomputed_rows - before,
        answers=len(answers) if answers is not None else 0,
        revision=number + 1 if writer is not None else result.log_info().batches,
    )
