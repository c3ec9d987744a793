"""One video of a store, for the CLI and annotation backends: every use case in one place.

`VideoSession` opens one video group and offers what a person or a backend does with it:

* read the current annotation (automatic tracks + corrections) for a frame range, with the
  derived state kept between calls (`boxes`), or as the sparse keyframes tools show
  (`keyframes`), together with the revision it reflects (`revision`);
* apply a batch of edits (corrections, a tool's keyframes, or a file), optionally against the
  revision the reviewer saw (`apply(..., expect_revision=r)`): edits to cells that changed since
  are refused with `StaleRevisionError` naming them, edits to other cells merge;
* build a review queue (`review`), export to every format (`export`), audit the reviewers
  (`audit`) and score against ground truth (`evaluate`).

The revision of a video is the number of correction batches committed to its log; every
applied batch adds one. A batch's cells are the (track, frame) pairs it edits; an edit that
reassigns a whole track (split, merge, class) covers every frame of its tracks.

Example:
    >>> from trackannot import VideoSession                               # doctest: +SKIP
    >>> video = VideoSession.open("out.zarr", "clip")
    >>> shown, rev = video.boxes(1000, 1200), video.revision
    >>> video.apply(edits, author="ana", expect_revision=rev)             # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

from trackannot.errors import (
    ConflictError, InputFormatError, RunIncompleteError, StaleRevisionError, StoreInputError,
)

if TYPE_CHECKING:
    from trackannot.advise import Advice
    from trackannot.annotate import BatchSummary
    from trackannot.audit import ReviewerStats
    from trackannot.boxes import Boxes
    from trackannot.config import PipelineConfig, ReviewConfig
    from trackannot.corrections import Corrections
    from trackannot.evaluate import Scores
    from trackannot.export.meta import VideoMeta
    from trackannot.keyframes import Keyframes
    from trackannot.review import ReviewQueue
    from trackannot.state import AnnotationState
    from trackannot.results import VideoResult
    from trackannot.sources import StoreTables
    from trackannot.store import TrackStore

__all__ = ["EXPORT_FORMATS", "ReviewRound", "VideoAudit", "VideoSession", "open_video"]

EXPORT_FORMATS = {  # format -> (output name for a video, what it is)
    "mot": ("{key}.txt", "MOTChallenge txt, every box"),
    "cvat": ("{key}.xml", "CVAT for video 1.1 XML, sparse keyframes"),
    "labelstudio": ("{key}.json", "Label Studio video JSON (annotations), sparse keyframes"),
    "labelstudio-predictions": ("{key}.predictions.json",
                                "Label Studio ML-backend predictions, sparse keyframes"),
    "coco": ("{key}.coco.json", "COCO, one image per frame, track ids"),
    "yolo": ("{key}_yolo", "YOLO txt, one file per frame (a directory)"),
}

WHOLE_TRACK = -1
"""The frame of a cell that stands for every frame of a track (split, merge, class edits)."""

READ_ATTEMPTS = 3
"""Reads of a video's keyframes before `keyframes_at_revision` gives up (each read again
because a batch landed meanwhile)."""


@dataclass(frozen=True)
class ReviewRound:
    """A review queue built and stored by `VideoSession.review`."""

    queue: ReviewQueue
    meta: VideoMeta
    frames_with_boxes: int


@dataclass(frozen=True)
class VideoAudit:
    """The reviewers of one video and the review-mode advice (`VideoSession.audit`)."""

    queues: int
    reviewers: list[ReviewerStats]
    advice: Advice

    def as_dict(self) -> dict[str, Any]:
        return {"queues": self.queues, "reviewers": [s.as_dict() for s in self.reviewers],
                "advice": self.advice.as_dict()}


def open_video(store: str | Path, video: str | None = None, **kwargs: Any) -> VideoSession:
    """`VideoSession.open` (see there)."""
    return VideoSession.open(store, video, **kwargs)


# current boxes of the tracks read last that a session keeps (least recently read first out):
# about 10 MB, the tracks of several 200-frame reads of a busy video
_KEEP_ROWS = 200_000


@dataclass
class _ReadState:
    """The derived state a session keeps between reads, and the revision it reflects: the
    extent of every track, and the current boxes of the tracks read last (`_KEEP_ROWS`)."""

    uid: str
    revision: int
    state: AnnotationState
    extents: dict[int, tuple[int, int] | None] = field(default_factory=dict)
    rows: OrderedDict[int, Boxes] = field(default_factory=OrderedDict)
    kept_rows: int = 0

    def forget(self, track: int) -> None:
        """Drop what is kept of a track (a batch changed it)."""
        self.extents.pop(track, None)
        rows = self.rows.pop(track, None)
        if rows is not None:
            self.kept_rows -= len(rows)

    def track_boxes(self, track: int) -> Boxes:
        """A track's current boxes, kept for the next reads; the state keeps nothing of it."""
        rows = self.rows.get(track)
        if rows is None:
            rows = self.rows[track] = self.state.track_boxes(track)
            self.state.release([track])
            self.kept_rows += len(rows)
        self.rows.move_to_end(track)
        return rows

    def replayed(self, corrections: Corrections | None, revision: int) -> None:
        """The state replayed `corrections` (the log's batches up to `revision`): forget what
        is kept of the tracks they touched and of the propagated runs they stopped."""
        if corrections is not None:  # their tracks may have grown, shrunk or appeared
            for t in {*corrections.track_id.tolist(), *corrections.other_id.tolist()}:
                self.forget(int(t))
        for t in self.state.take_invalidated():  # propagated runs an edit stopped
            self.forget(t)
        self.revision = revision

    def trim(self) -> None:
        """Forget the least recently read tracks past `_KEEP_ROWS` rows."""
        while self.kept_rows > _KEEP_ROWS:
            _, rows = self.rows.popitem(last=False)
            self.kept_rows -= len(rows)


class VideoSession:
    """One video of a store (module docstring).

    Args:
        store: the store (`trackannot.open_store(path, mode="a")` to write).
        key: the video's group.
        lock_timeout: seconds a write waits while another process writes this video.

    A session is cheap to keep: reads take no lock and see every batch committed since the
    last read; writes take the video's writer lock for the batch only. Not thread-safe: give
    each thread its own session (they share nothing but the store).
    """

    def __init__(self, store: TrackStore[VideoResult], key: str, *,
                 lock_timeout: float | None = None) -> None:
        from trackannot.store import DEFAULT_LOCK_TIMEOUT_S

        self._store = store
        self.key = key
        self.lock_timeout = DEFAULT_LOCK_TIMEOUT_S if lock_timeout is None else lock_timeout
        self._read: _ReadState | None = None
        self._tables: StoreTables | None = None  # the tracking tables, shared by its states
        self._log_arrays: dict[str, Any] = {}  # the log's arrays as its last batch left them
        self.result  # no such video: say so now

    @classmethod
    def open(cls, store: str | Path, video: str | None = None, *, mode: str = "a",
             lock_timeout: float | None = None) -> VideoSession:
        """A session on video `video` of the store at `store` (default: its only video).

        Raises:
            StoreNotFoundError: no store there, or no such video.
            StoreInputError: `video` omitted and the store holds several videos.
        """
        from trackannot.results import open_store

        opened = open_store(store, mode=mode)
        if video is None:
            videos = opened.videos
            if len(videos) != 1:
                raise StoreInputError(f"{store} holds {len(videos)} videos ({', '.join(videos)}); "
                                      "name one (--video)")
            video = videos[0]
        return cls(opened, video, lock_timeout=lock_timeout)

    @classmethod
    def all(cls, store: str | Path, *, mode: str = "r") -> Iterator[VideoSession]:
        """A session on every video of a store, in key order."""
        from trackannot.results import open_store

        opened = open_store(store, mode=mode)
        for key in opened.videos:
            yield cls(opened, key)

    # ------------------------------------------------------------------------------ about

    @property
    def store_path(self) -> Any:
        """The store's `Path`, or its `trackannot.store._location.Remote` (s3://...)."""
        return self._store.path

    @property
    def result(self) -> VideoResult:
        """The video's group as committed now (re-read on each access)."""
        return self._store[self.key]

    @property
    def status(self) -> str:
        """"complete", "running" (being tracked, or interrupted) or "failed"."""
        return self.result.status

    @property
    def revision(self) -> int:
        """Correction batches committed to the video's log (see the module docstring)."""
        return self.result.log_info().batches

    @property
    def meta(self) -> VideoMeta:
        """Name, frame size, frame count, rate and class names (for exporters and tools)."""
        from trackannot.annotate import video_meta

        return video_meta(self.result)

    @property
    def num_frames(self) -> int:
        return self.result.num_frames

    @property
    def track_ids(self) -> list[int]:
        """Every track id of the current annotation, ascending, also of tracks absent in
        every frame (a track a tool adds needs an id none of these has)."""
        return list(self._state().state.track_ids)

    def progress(self) -> dict[str, Any]:
        """What a server reports about the video: status, frames committed, revision."""
        result = self.result
        frames, _ = result.committed()
        return {"video": self.key, "status": result.status, "frames_committed": frames,
                "num_frames": result.num_frames, "revision": result.log_info().batches}

    # ------------------------------------------------------------------------------ reading

    def _require_complete(self, result: VideoResult) -> None:
        if not result.complete:
            frames, _ = result.committed()
            raise RunIncompleteError(
                f"{self.key}: the tracking run is {result.status} ({frames} frames committed); "
                "its annotation can be read and corrected once `trackannot track` completes it")

    def _state(self) -> _ReadState:
        """The derived state, caught up with the log (only the batches committed since the last
        call are replayed into it; tracks are read from the store when first needed)."""
        from trackannot.replay import read_state, replay_log

        result = self.result
        self._require_complete(result)
        uid = str(result.attrs.get("uid"))
        info = result.log_info()
        held = self._read
        if held is None or held.uid != uid or held.revision > info.batches:
            state = read_state(result, tables=self._tables_of(result))
            held = self._read = _ReadState(uid, info.batches, state)
            return held
        if held.revision < info.batches:
            held.replayed(replay_log(result, held.state, held.revision), info.batches)
        return held

    def _committed(self, uid: str, number: int, corrections: Corrections) -> None:
        """This session's batch `number` was committed: replay it into the kept state from
        memory when the state was at revision `number` (nothing landed in between; else the
        next read catches up from the log)."""
        held = self._read
        if held is None or held.uid != uid or held.revision != number:
            return
        try:
            held.state.replay(corrections)
        except InputFormatError:  # cannot happen for a batch just checked: read it all again
            self._read = None
            return
        held.replayed(corrections, number + 1)

    def _tables_of(self, result: VideoResult) -> StoreTables:
        """The video's tracking tables as this session read them (read anew for another run):
        the reader's state and every batch's writer state share their blocks."""
        from trackannot.sources import StoreTables

        if self._tables is None or not self._tables.serves(result):
            self._tables = StoreTables(result)
        return self._tables

    def boxes(self, start: int = 0, stop: int | None = None) -> Boxes:
        """The current boxes of frames start..stop-1 (default: to the end), sorted by (frame,
        track_id): automatic tracks with every committed correction.

        Only the tracks that reach into the range are read and interpolated; the derived state
        is kept, so the next read of nearby frames reads nothing again, and batches committed
        meanwhile (by anyone) are replayed into it first.

        Raises:
            RunIncompleteError: the video's run has not completed.
            StoreInputError: the range is outside the video.
        """
        from trackannot.boxes import COLUMNS, Boxes

        held = self._state()
        state = held.state
        stop = state.num_frames if stop is None else int(stop)
        start = int(start)
        if not 0 <= start <= stop or start > state.num_frames:
            raise StoreInputError(f"{self.key}: frames {start}..{stop - 1} asked; the video has "
                                  f"frames 0..{state.num_frames - 1}")
        parts = []
        for track in state.track_ids:
            extent = held.extents.get(track, ...)
            if extent is ...:
                extent = held.extents[track] = state.track_extent(track)
            if extent is None or extent[1] < start or extent[0] >= stop:
                continue
            rows = held.track_boxes(track)
            lo, hi = np.searchsorted(rows.frame, [start, stop])
            if hi > lo:
                parts.append(rows[int(lo):int(hi)])
        held.trim()  # after the read: its boxes are in `parts`
        if not parts:
            return Boxes.empty()
        cols = {name: np.concatenate([getattr(p, name) for p in parts]) for name in COLUMNS}
        order = np.lexsort((cols["track_id"], cols["frame"]))
        return Boxes._trusted(**{k: v[order] for k, v in cols.items()})

    def state(self) -> AnnotationState:
        """The whole current annotation (`trackannot.replay.load_state`), for whole-video work."""
        from trackannot.replay import load_state

        result = self.result
        self._require_complete(result)
        return load_state(result)

    def keyframes(self, iou_tolerance: float = 0.9) -> Keyframes:
        """The sparse keyframes tools show: the fewest whose linear interpolation stays at
        `iou_tolerance` IoU with every current box; human keyframes are always kept."""
        from trackannot.boxes import Origin
        from trackannot.sparse import sparse_keyframes

        boxes = self.boxes()
        return sparse_keyframes(boxes, iou_tolerance, keep=boxes.origin == Origin.KEYFRAME,
                                num_frames=self.num_frames)

    def keyframes_at_revision(self, iou_tolerance: float = 0.9,
                              attempts: int = READ_ATTEMPTS) -> tuple[int, Keyframes]:
        """(revision, the sparse keyframes of that very revision), as a tool is shown them.

        Reads take no lock, so a batch may land while the keyframes are read: they are read
        again until the revision before and after agree.

        Raises:
            ConflictError: batches kept landing for `attempts` reads; try again later.
        """
        for _ in range(attempts):
            revision = self.revision
            keyframes = self.keyframes(iou_tolerance)
            if self.revision == revision:
                return revision, keyframes
        raise ConflictError(f"{self.key}: batches kept landing while it was read ({attempts} "
                            "tries); try again")

    def changes_since(self, revision: int) -> set[tuple[int, int]]:
        """The (track, frame) cells the batches after `revision` edited (`WHOLE_TRACK` as the
        frame: every frame of the track)."""
        result = self.result
        info = result.log_info()
        if revision >= info.batches:
            return set()
        records = result.batches(revision)
        corrections, _ = result.read_log(records[0]["rows"][0], records[-1]["rows"][1])
        return _cells(corrections)

    # ------------------------------------------------------------------------------ writing

    def apply(self, edits: Corrections | Keyframes | str | Path, *, author: str,
              source: str = "", expect_revision: int | None = None, queue: str | None = None,
              replace_tracks: bool = False, dry_run: bool = False) -> BatchSummary:
        """Apply one batch of edits, all or none, and log it with its author and source.

        Args:
            edits: `Corrections`; a tool's `Keyframes` (turned into corrections against what
                the reviewer saw: the state at `expect_revision`, else the current one); or a
                file (.jsonl corrections, CVAT for video XML, Label Studio JSON; with `queue`:
                the queue's answer files) as `trackannot correct` reads it.
            author: recorded for edits that name no author.
            source: where the edits came from (a file, a tool's task and annotation id).
            expect_revision: the revision the edits were made against; when batches landed
                since, the batch is refused if any of its cells changed in them.
            queue: the review queue a file's item lines answer.
            replace_tracks: with `Keyframes`: a track the reviewer saw (at `expect_revision`)
                that the keyframes lack was deleted, and is made absent from its first frame.
            dry_run: check everything, write nothing, take no lock.

        Returns:
            What the batch did; `summary.revision` is the video's revision after it.

        Raises:
            InputFormatError: the edits are malformed or do not fit the video (the store is
                unchanged); StaleRevisionError: cells changed since `expect_revision`;
                LockedError: another process held the video past the lock timeout;
                RunIncompleteError: the video's run has not completed.
        """
        from trackannot.annotate import apply_batch

        result = self.result
        self._require_complete(result)
        logged: list[tuple[str, int, Corrections]] = []
        common: dict[str, Any] = {
            "author": author, "dry_run": dry_run, "lock_timeout": self.lock_timeout,
            "expect_revision": expect_revision, "guard": self._guard,
            "tables": self._tables_of(result), "log_arrays": self._log_arrays,
            "committed": lambda r, n, c: logged.append((str(r.attrs.get("uid")), n, c))}
        if isinstance(edits, (str, Path)):
            summary = apply_batch(self._store, self.key, Path(edits), queue=queue, **common)
        else:
            batch = self._batch(edits, author, expect_revision, replace_tracks)
            summary = apply_batch(self._store, self.key, batch, source=source, **common)
        for uid, number, corrections in logged:  # the reader's state replays it unread
            self._committed(uid, number, corrections)
        return summary

    def _batch(self, edits: Corrections | Keyframes, author: str, expect_revision: int | None,
               replace_tracks: bool) -> Corrections:
        """In-memory edits as corrections (a tool's keyframes diffed against what was seen)."""
        from trackannot.annotate import keyframe_corrections
        from trackannot.corrections import Corrections, Op
        from trackannot.keyframes import Keyframes

        if isinstance(edits, Corrections):
            return edits
        if not isinstance(edits, Keyframes):
            raise InputFormatError(f"{self.key}: edits must be Corrections, Keyframes or a file "
                                   f"path, got {type(edits).__name__}")
        now = _now_ns()
        seen = self._seen_state(expect_revision)
        meta = self.meta
        batch = keyframe_corrections(seen, edits, author, now, (meta.width, meta.height))
        if not replace_tracks:
            return batch
        kept = set(edits.track_id.tolist())
        gone = []
        for track in seen.track_ids:
            rows = seen.track_boxes(track)
            if track not in kept and len(rows):
                gone.append((track, int(rows.frame[0])))
        if not gone:
            return batch
        absent = Corrections.create(op=[int(Op.ABSENT)] * len(gone),
                                    track_id=[t for t, _ in gone], frame=[f for _, f in gone],
                                    author=author, time_ns=now)
        return Corrections.concat([batch, absent])

    def _seen_state(self, revision: int | None) -> AnnotationState:
        """The annotation at `revision` (what a reviewer saw), else the current one."""
        from trackannot.replay import read_state

        if revision is None or revision >= self.revision:
            return self._state().state
        if revision < 0:
            raise StoreInputError(f"{self.key}: revision {revision} asked; revisions start at 0")
        result = self.result
        return read_state(result, until=revision, tables=self._tables_of(result))

    def _guard(self, result: VideoResult, batch: Corrections,
               expect_revision: int | None) -> None:
        """Under the writer lock, before anything is written: refuse a batch made against an
        older revision whose cells changed since (module docstring)."""
        current = result.log_info().batches
        if expect_revision is None or expect_revision == current:
            return
        if expect_revision > current or expect_revision < 0:
            raise StoreInputError(f"{self.key}: the edits were made against revision "
                                  f"{expect_revision}; the video is at revision {current}")
        changed = self.changes_since(expect_revision)
        mine = _cells(batch)
        clash = sorted(c for c in mine if c in changed or (c[0], WHOLE_TRACK) in changed
                       or (c[1] == WHOLE_TRACK and any(t == c[0] for t, _ in changed)))
        if clash:
            shown = ", ".join(f"track {t} " + ("(whole track)" if f == WHOLE_TRACK else
                                                f"frame {f}") for t, f in clash[:5])
            more = f" and {len(clash) - 5} more" if len(clash) > 5 else ""
            raise StaleRevisionError(
                f"{self.key}: the edits were made against revision {expect_revision}, but "
                f"{current - expect_revision} batch(es) landed since and changed the same cells "
                f"({shown}{more}); re-read the video at revision {current} and redo them",
                cells=clash, expected=expect_revision, current=current)

    # ------------------------------------------------------------------------------ review

    def review(self, budget: int, cfg: PipelineConfig | None = None, *,
               honeypots: bool = True, order: str = "frames") -> ReviewRound:
        """Build a ranked review queue of `budget` frames (order "frames") or keyframe items
        (order "keyframes") from the current annotation, missed-object candidates ranked in, and
        store it (superseding the open one), under the video's lock so no batch lands in
        between. Candidates rejected in any earlier queue of the video are left out.

        Raises:
            StoreInputError: an unknown order, `budget` below 1 or (frames order) more than
                the video's frames, or the annotation has no boxes.
        """
        from trackannot.config import PipelineConfig, config_to_dict
        from trackannot.replay import load_state
        from trackannot.review import ORDERS, build_queue, rejected_candidates

        cfg = cfg or PipelineConfig()
        if order not in ORDERS:
            raise StoreInputError(f"order {order!r}: expected one of {', '.join(ORDERS)}")
        if budget < 1:
            raise StoreInputError(f"budget {budget}: review at least 1 "
                                  f"{'frame' if order == 'frames' else 'item'}")
        with self._store.writer(self.key, "trackannot review", self.lock_timeout) as result:
            self._require_complete(result)
            num_frames = result.num_frames
            if order == "frames" and budget > num_frames:
                raise StoreInputError(f"budget {budget} is more than the video has: the video "
                                      f"has {num_frames} frames")
            state = load_state(result)
            boxes = state.boxes()
            if not len(boxes):
                raise StoreInputError(f"{self.key}: the annotation has no boxes to review")
            meta = self.meta
            based_on = result.log_info().rows
            settings = config_to_dict(cfg.review) | {"honeypots": honeypots, "budget": budget}
            if order != "frames":  # the ids of frames-order queues stay as they were
                settings["order"] = order
            records = result.queue_records()
            number = len(records)
            digest = hashlib.sha256(json.dumps([number, based_on, settings],
                                               sort_keys=True).encode())
            earlier = [result.read_queue(r["id"]) for r in records]
            rejected = rejected_candidates(earlier, {q.queue_id: result.read_answers(q.queue_id)
                                                     for q in earlier})
            queue = build_queue(state, result.read(table="detections"), num_frames, budget,
                                cfg.review, queue_id=f"q{number:04d}-{digest.hexdigest()[:8]}",
                                based_on=based_on, frame_size=(meta.width, meta.height),
                                honeypots=honeypots, order=order, rejected=rejected)
            stored = config_to_dict(cfg.review)
            if not honeypots:
                stored["honeypot_rate"] = 0.0
            result.write_queue(queue, stored)
        return ReviewRound(queue, meta, len(np.unique(boxes.frame)))

    def write_review_tasks(self, directory: str | Path, round_: ReviewRound) -> list[Path]:
        """The queue's task files (CSV, JSON, CVAT for images, Label Studio tasks)."""
        from trackannot.export.review_tasks import write_review_tasks

        return list(write_review_tasks(Path(directory), round_.queue, round_.meta))

    # ------------------------------------------------------------------------------ export

    def export(self, fmt: str, path: str | Path, *, iou_tolerance: float = 0.9) -> Path:
        """Write the current annotation in format `fmt` (`EXPORT_FORMATS`) to `path`, whole (a
        temporary name, then a rename)."""
        if fmt not in EXPORT_FORMATS:
            raise InputFormatError(f"unknown export format {fmt!r}; expected one of "
                                   f"{', '.join(EXPORT_FORMATS)}")
        path = Path(path)
        boxes = self.boxes()
        if fmt == "mot":
            from trackannot.export.mot import write_mot

            write_mot(boxes, path)
            return path
        meta = self.meta
        if fmt == "coco":
            from trackannot.export.coco import write_coco

            write_coco(path, boxes, meta)
        elif fmt == "yolo":
            from trackannot.export.yolo import write_yolo

            write_yolo(path, boxes, meta, overwrite=True)
        elif fmt == "cvat":
            from trackannot.export.cvat import write_cvat_video

            write_cvat_video(path, self.keyframes(iou_tolerance), meta)
        else:
            from trackannot.export.labelstudio import write_labelstudio

            write_labelstudio(path, self.keyframes(iou_tolerance), meta,
                              as_predictions=fmt.endswith("predictions"))
        return path

    # ------------------------------------------------------------------------------ audit

    def audit(self, manual_k: int = 10) -> VideoAudit | None:
        """Reviewer statistics and review-mode advice; None when nothing was corrected yet."""
        from trackannot.advise import advise
        from trackannot.audit import reviewer_stats
        from trackannot.cost import DEFAULT_COST

        result = self.result
        records = result.queue_records()
        queues = [result.read_queue(r["id"]) for r in records]
        answers = {q.queue_id: result.read_answers(q.queue_id) for q in queues}
        log, _ = result.read_log()
        if not len(log) and not any(len(a) for a in answers.values()):
            return None
        cfg = self._review_config(result)
        reviewers = reviewer_stats(queues, answers, cfg)
        advice = advise(queues, answers, log, result.num_frames, len(self.boxes()), DEFAULT_COST,
                        cfg=cfg, manual_k=manual_k)
        return VideoAudit(len(queues), reviewers, advice)

    def _review_config(self, result: VideoResult) -> ReviewConfig:
        """The review settings the store was made with (defaults for keys it predates)."""
        from dataclasses import fields

        from trackannot.config import ReviewConfig
        from trackannot.errors import ConfigError, CorruptStoreError

        stored = (result.attrs.get("config") or {}).get("review") or {}
        known = {f.name for f in fields(ReviewConfig)}
        try:
            return ReviewConfig(**{k: v for k, v in stored.items() if k in known})
        except (TypeError, ConfigError) as err:
            raise CorruptStoreError(f"{self.key}: stored review settings {stored} do not load: "
                                    f"{err}") from err

    # ------------------------------------------------------------------------------ evaluate

    def evaluate(self, gt_path: str | Path, benchmark: str | None = None,
                 gt_class: str | None = None) -> tuple[Scores, str, float]:
        """Score the current annotation against ground truth (TrackEval's HOTA, CLEAR, Identity):
        a MOTChallenge gt.txt or a KITTI tracking label file, told apart by content
        (`trackannot.groundtruth`). MOT boxes are scaled to the video by the seqinfo.ini beside
        the gt/ folder when there is one; KITTI labels are scored for one class, the store's
        tracks of that class (`gt_class`, see `choose_kitti_class`). Only frames the run
        processed count.

        Returns:
            (scores, the benchmark rules used ("MOT17", "KITTI Car", ...), the gt scale
            applied).

        Raises:
            NotFoundError, InputFormatError: no such file, or a malformed line (named).
            InvalidInputError: `benchmark` does not fit the file's format, or `gt_class` no
                class of the store.
        """
        from trackannot.groundtruth import choose_kitti_class, read_ground_truth, score_tracks

        from trackannot.errors import InvalidInputError

        result = self.result
        width = (result.attrs.get("video") or {}).get("width")
        truth = read_ground_truth(gt_path, video_width=width)
        if benchmark is not None and (benchmark == "KITTI") != (truth.format == "KITTI"):
            raise InvalidInputError(f"{gt_path} is a {truth.format} ground-truth file: it cannot "
                                    f"be scored with {benchmark} rules")
        index, _ = result.frames()
        tracks = self.boxes()
        kitti = None
        if truth.format == "KITTI":
            names = (result.attrs.get("detector") or {}).get("class_names")
            kitti = choose_kitti_class(gt_class, names, tracks.class_id, tracks.track_id, truth)
        rules = benchmark or truth.benchmark
        scores = score_tracks(tracks, truth, index, kitti=kitti, benchmark=rules)
        return scores, rules if kitti is None else f"KITTI {kitti.name.title()}", truth.scale


def _cells(corrections: Corrections) -> set[tuple[int, int]]:
    """The (track, frame) cells a batch edits (`WHOLE_TRACK`: every frame of the track)."""
    from trackannot.corrections import Op

    cells: set[tuple[int, int]] = set()
    whole = (Op.SPLIT, Op.MERGE, Op.CLASS)
    for op, track, other, frame in zip(corrections.op.tolist(), corrections.track_id.tolist(),
                                       corrections.other_id.tolist(), corrections.frame.tolist()):
        if op in whole:
            cells.add((int(track), WHOLE_TRACK))
            if op != Op.CLASS and other >= 0:
                cells.add((int(other), WHOLE_TRACK))
        else:
            cells.add((int(track), int(frame)))
    return cells


def _now_ns() -> int:
    return int(datetime.now(timezone.utc).timestamp() * 1e9)


def default_author() -> str:
    """The person at this terminal ($USER), else "unknown"."""
    return os.environ.get("USER") or "unknown"
