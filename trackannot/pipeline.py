"""Pipeline: run decode -> detect -> track -> store over many videos, resumably, one group each.

Tracks. What is stored is what `trackannot.track.track_detections` gives for the stored
detections and the processed frames, column for column: a track's tentative first frames are
stored too, once it is confirmed (`trackannot.track.LaggedTracker`). A frame is handed to the
writer only when no later frame can change it, `track.min_hits - 1` processed frames after it
(the last frames when the input ends). `det_index` of a stored track row is the row of its
detection within its frame's detections (as `Tracker.update` gives it); `track_detections` gives
the row in the whole detections table, i.e. the stored value plus that frame's `row_start` in the
detections table.

Store and commits. The store directory is written directly. Each video has its own group with
exactly one writer (one thread), which commits chunk by chunk (`trackannot.store.StoreWriter`):
the group's `status` is "running" while it is written, "complete" when its video is done and
"failed" when decoding failed mid-stream; a failed group keeps every frame decoded before the
failure and its `error`.

Resume. Running `track_videos` again on the same store with the same inputs and configuration
skips "complete" and "failed" videos and continues "running" ones (an interrupted run: a crash,
SIGKILL, Ctrl-C) from their last commit: the video is decoded again from the start, batches
wholly before the commit point are not detected, the batch that straddles it is detected whole
(so the detector sees the same batches as in an uninterrupted run) and only its frames after the
commit point are tracked. The tracker's state at the commit point is rebuilt exactly by replaying
the committed detections through a fresh `LaggedTracker` (it is deterministic and cheap: no image
is involved); only final frames were ever committed, and the rows the rebuilt tracker adds later
to committed frames are dropped (they were written with their frame), so the finished group
equals the one an uninterrupted run writes. A video whose configuration, detector, pixel format
or input file (size, hash of the first MiB) differs from what its group records
(`trackannot.provenance`) is refused before anything is written, unless `overwrite=True`, which
deletes the store first.

Overlap. Within one video three threads work at once, with bounded queues between them
(`trackannot.overlap.in_background`): decoding (`decode.prefetch_batches` batches ahead, into
the form and memory the detector asks for: YUV planes in pinned memory for the on-device path),
detection (`_DETECT_AHEAD` batches ahead; on CUDA the batch is colour-converted, letterboxed and
normalised on the GPU, `trackannot.detect.device`) and, in the calling thread, tracking and
writing. A slow stage blocks the ones before it, so memory stays bounded whatever the video
length.

Several videos in flight. With `jobs` > 1, up to `jobs` videos run at once in threads, each
decoding in its own background thread and writing only its own group; calls to the shared
detector are serialised by a lock (a model is not safe to call from two threads), so the
overlap is of decoding, tracking and writing with detection.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from dataclasses import replace as _with
from pathlib import Path
from typing import Any, Iterator, Protocol, Sequence

import numpy as np

from trackannot.boxes import Boxes
from trackannot.config import PipelineConfig
from trackannot.decode import FrameBatch, decode_frames, probe_input
from trackannot.detect.base import Detector
from trackannot.errors import LockedError, StoreInputError, VideoDecodeError
from trackannot.overlap import in_background
from trackannot.plan import human_work, output_location, plan_videos, video_keys
from trackannot.provenance import decode_config_for, mismatch, run_attrs
from trackannot.results import LOG_COLUMNS
from trackannot.store import (
    DEFAULT_LOCK_TIMEOUT_S, STATUS_COMPLETE, STATUS_FAILED, STATUS_RUNNING, StoreWriter, VideoGroup,
    WriterLock, discard_replacement, discard_unstarted, find_group, group_lock, has_root, open_root,
    recover, remove_temp_files, replacement_path, swap_in,
)
from trackannot.track import FinalFrame, LaggedTracker

__all__ = ["Progress", "VideoExecutor", "VideoSummary", "failures", "track_video", "track_videos"]

# Committed frames replayed through the tracker per read when a run resumes (bounds memory).
_REPLAY_FRAMES = 4096
# Detected batches waiting for the tracker: enough to hide tracker/writer hiccups, each holds its
# frames, so memory grows with it.
_DETECT_AHEAD = 2
_DETECT_THREAD = "trackannot-detect"


class Progress(Protocol):
    """What the pipeline reports while it runs (the CLI draws bars from it; the library never prints)."""

    def start(self, name: str, total_frames: int | None) -> None: ...

    def advance(self, frames: int) -> None: ...

    def close(self) -> None: ...


class VideoExecutor(Protocol):
    """Runs the planned videos of `track_videos` somewhere else than this process's threads
    (`trackannot.ray_executor.RayExecutor`). Each video must go through `track_video` into
    `store` (its lock, commits and resume), with VideoDecodeError and LockedError turned into
    failed and busy summaries as `_run_all` does; other errors are raised."""

    def run(self, plan: dict[str, Path], store: Any, cfg: PipelineConfig,
            detector_info: dict | None, progress: Progress | None, *, replace: bool,
            discard_corrections: bool, lock_timeout: float) -> dict[str, VideoSummary]: ...


class _NoProgress:
    def start(self, name: str, total_frames: int | None) -> None:
        pass

    def advance(self, frames: int) -> None:
        pass

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class VideoSummary:
    """What one video's run produced.

    Attributes:
        key: the video's group in the store.
        path: the video file.
        frames, detections, tracked_boxes, tracks: what its group holds now.
        seconds: time spent on it in this run.
        status: "complete" or "failed".
        error: why it failed (None when complete).
        resumed_from: frames committed by an earlier, interrupted run (0: started afresh).
        skipped: finished by an earlier run; nothing was done now.
        replaced: an existing group was replaced (`--overwrite`).
        busy: another process was writing this video (`error` names it); nothing was done.
    """

    key: str
    path: str
    frames: int
    detections: int
    tracked_boxes: int
    tracks: int
    seconds: float
    status: str = STATUS_COMPLETE
    error: str | None = None
    resumed_from: int = 0
    skipped: bool = False
    replaced: bool = False
    busy: bool = False

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    @property
    def ok(self) -> bool:
        return self.status == STATUS_COMPLETE


def failures(summaries: Sequence[VideoSummary]) -> list[VideoSummary]:
    """The videos of a run that did not complete."""
    return [s for s in summaries if not s.ok]


def _expected_frames(frame_count: int | None, source_fps: float, target_fps: float | None) -> int | None:
    if frame_count is None:
        return None
    if target_fps is None or source_fps <= 0 or target_fps >= source_fps:
        return frame_count
    return int(round(frame_count * target_fps / source_fps))


def track_video(
    path: str | Path,
    writer_store: str | Path,
    key: str,
    cfg: PipelineConfig,
    detector: Detector,
    *,
    detector_info: dict | None = None,
    progress: Progress | None = None,
    replace: bool = False,
    discard_corrections: bool = False,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT_S,
) -> VideoSummary:
    """Track one video into group `key` of the store at `writer_store`, or continue it.

    A new group is created; a "running" group with the same configuration, detector and input
    is continued from its last commit (module docstring); a "complete" or "failed" one is left
    as it is (`skipped`) unless `replace`. The video's group lock is held throughout.

    Args:
        path: the video file, or a MOTChallenge seqinfo.ini standing for footage without pixels
            (`trackannot.seqinfo`; with a detector that reads a file, `FileDetector`).
        writer_store: store directory (created if missing).
        key: group name for this video.
        cfg: the resolved pipeline configuration (written into the group's attributes).
        detector: any `Detector`; its output goes through a fresh `LaggedTracker`.
        detector_info: what the detector is (weights, detections file), for the attributes.
        progress: receives the frame count as the run goes.
        replace: build a new group beside an existing one and swap it in when finished
            (`trackannot.store._replace`); the old group, corrections included, is dropped then.
            A replacement an earlier run left unfinished is continued.
        discard_corrections: with `replace`, allow replacing a group that holds human
            corrections or review answers (checked under the lock: work that landed while
            this run waited for the video counts too).
        lock_timeout: seconds to wait for another writer of this video.

    Returns:
        The video's summary; `status` "failed" when decoding failed mid-stream (the frames
        decoded before are kept in the group).

    Raises:
        VideoDecodeError: the file cannot be opened as a video at all (no group is written).
        StoreInputError: the group exists but was made from another configuration, detector or file,
            or `replace` would discard human work without `discard_corrections`.
        LockedError: another process writes this video.
    """
    progress = progress or _NoProgress()
    info = probe_input(path)
    attrs = run_attrs(path, info, cfg, detector_info,
                      decode_config_for(cfg, detector).pixel_format)
    with group_lock(writer_store, key, _command(replace), lock_timeout) as lock:
        recover(writer_store, key)  # a replacement a crash left finished: swap it in
        current = _existing(writer_store, key) if replace else None
        if current is not None:
            work = human_work(current)  # read under the lock: a batch may have landed while
            if work and not discard_corrections:  # this run waited (its plan saw none)
                raise StoreInputError(f"{writer_store}: --overwrite would discard human work: "
                                      f"'{key}' holds {work}; pass --discard-corrections as well "
                                      "to replace it anyway, or leave it out")
            return _replace(path, writer_store, key, cfg, detector, attrs, info, progress, lock)
        if has_root(writer_store):
            discard_unstarted(writer_store, key)  # nothing committed: start afresh (cleans temps)
        existing = _existing(writer_store, key)
        if existing is not None:
            reason = mismatch(key, existing.attrs, attrs)
            if reason is not None:
                raise StoreInputError(f"{writer_store}: {reason}; rerun with the same settings and "
                                      "inputs to resume, or pass --overwrite to replace it")
            if existing.status != STATUS_RUNNING:
                return _stored_summary(existing, str(path), skipped=True)
            writer = StoreWriter.resume(writer_store, key, cfg.store, lock=lock)
        else:
            writer = StoreWriter.create(writer_store, key, cfg.store, attrs, lock=lock,
                                        log=LOG_COLUMNS)
        progress.start(key, _expected_frames(info.frame_count, info.fps, cfg.decode.fps))
        return _run(path, writer_store, key, cfg, detector, writer, progress, existing)


def _command(replace: bool) -> str:
    return "trackannot track --overwrite" if replace else "trackannot track"


def _replace(path: str | Path, store: str | Path, key: str, cfg: PipelineConfig,
             detector: Detector, attrs: dict[str, Any], info: Any, progress: Progress,
             lock: WriterLock) -> VideoSummary:
    """Build `key`'s new group at its replacement path (continuing one an interrupted run left
    with the same settings), then swap it in. Readers see the old group until then."""
    spot = replacement_path(key)
    existing = _existing(store, key, spot)
    if existing is not None and (existing.status != STATUS_RUNNING or not existing.started
                                 or mismatch(key, existing.attrs, attrs) is not None):
        discard_replacement(store, key)
        existing = None
    if existing is not None:
        remove_temp_files(store, spot)
        writer = StoreWriter.resume(store, key, cfg.store, lock=lock, path=spot)
    else:
        writer = StoreWriter.create(store, key, cfg.store, attrs, lock=lock, path=spot,
                                    log=LOG_COLUMNS)
    progress.start(key, _expected_frames(info.frame_count, info.fps, cfg.decode.fps))
    summary = _run(path, store, key, cfg, detector, writer, progress, existing)
    swap_in(store, key)
    return _with(summary, replaced=True)


def _existing(store: str | Path, key: str, path: str | None = None) -> VideoGroup | None:
    """Group `key` (at `path`, default `key`) if it exists. Looked up by name: listing the
    store's groups while other threads create theirs could meet a group folder whose metadata
    is not written yet."""
    if not has_root(store):
        return None
    return find_group(store, key, path)


def _stored_summary(video: VideoGroup, path: str, **extra: Any) -> VideoSummary:
    """A summary of what a group holds (for videos finished by an earlier run)."""
    frames, rows = video.committed()
    track_id = video.column("tracks", "track_id")
    attrs = video.attrs
    return VideoSummary(
        video.key, path, frames, rows["detections"], rows["tracks"],
        int(np.unique(track_id).size), float(attrs.get("seconds") or 0.0),
        status=video.status, error=attrs.get("error"), **extra,
    )


@dataclass
class _Counts:
    """What the group holds so far, for the summary."""

    frames: int = 0
    detections: int = 0
    tracked_boxes: int = 0
    track_ids: set[int] = field(default_factory=set)

    def add(self, detections: Boxes, tracks: Boxes) -> None:
        self.frames += 1
        self.detections += len(detections)
        self.tracked_boxes += len(tracks)
        self.track_ids.update(tracks.track_id.tolist())


def _replay(video: VideoGroup, tracker: LaggedTracker, counts: _Counts) -> None:
    """Bring `tracker` to the state it had after the committed frames of `video`.

    The committed detections go through `tracker` frame by frame, as in the interrupted run;
    `tracker` was made with `written_through` = the last committed frame, so it releases
    nothing of them (their tracks are in the store), only its state is rebuilt.
    """
    index, _ = video.frames()
    starts = video.row_starts("detections")
    _, rows = video.committed()
    counts.frames = len(index)
    counts.detections, counts.tracked_boxes = rows["detections"], rows["tracks"]
    counts.track_ids.update(np.unique(video.column("tracks", "track_id")).tolist())
    for lo in range(0, len(index), _REPLAY_FRAMES):
        hi = min(lo + _REPLAY_FRAMES, len(index))
        block = video.read(int(index[lo]), int(index[hi - 1]) + 1, table="detections")
        base = starts[lo]
        for i in range(lo, hi):
            frame_dets = block[slice(int(starts[i] - base), int(starts[i + 1] - base))]
            tracker.update(frame_dets, frame=int(index[i]))


def _run(path: str | Path, store: str | Path, key: str, cfg: PipelineConfig, detector: Detector,
         writer: StoreWriter, progress: Progress, existing: VideoGroup | None) -> VideoSummary:
    """Decode, detect, track and write from the writer's commit point to the end."""
    last_committed = writer.last_frame
    tracker = LaggedTracker(cfg.track, written_through=last_committed)
    counts = _Counts()
    resumed_from = writer.committed_frames
    if existing is not None:
        _replay(existing, tracker, counts)
    times: dict[int, float] = {}  # time_s of the frames the tracker still holds
    decode_cfg = decode_config_for(cfg, detector)
    t0 = time.perf_counter()
    skipped = 0
    status, error = STATUS_COMPLETE, None

    # busy seconds of each stage (they overlap: the slowest bounds the run), recorded for reports
    stages = {"decode_wait": 0.0, "detect": 0.0, "track_write": 0.0}

    def detected() -> Iterator[tuple[FrameBatch, int, Boxes | None]]:
        """Decode (its own thread) and detect (this one): batches, frames already committed,
        detections (None when the whole batch is committed)."""
        t = time.perf_counter()
        for batch in decode_frames(path, decode_cfg, detector.allocate):
            stages["decode_wait"] += time.perf_counter() - t
            done = int(np.searchsorted(batch.index, last_committed, side="right"))
            # the detector sees the whole batch, as in a run from the start
            t = time.perf_counter()
            detections = detector.detect(batch) if done < len(batch) else None
            stages["detect"] += time.perf_counter() - t
            yield batch, done, detections
            t = time.perf_counter()

    try:  # decode -> detect -> track and write: three threads, bounded queues between them
        for batch, done, detections in in_background(detected, _DETECT_AHEAD, _DETECT_THREAD):
            skipped += done
            if detections is not None:
                t = time.perf_counter()
                _track_batch(batch, done, detections, tracker, times, writer, counts)
                stages["track_write"] += time.perf_counter() - t
            progress.advance(len(batch))
    except VideoDecodeError as err:
        status, error = STATUS_FAILED, str(err)
    if skipped != resumed_from:
        raise StoreInputError(f"{store}: '{key}': decoding gives {skipped} frames up to frame "
                              f"{last_committed}, the committed run has {resumed_from}; the input "
                              "changed: pass --overwrite to start afresh")
    _write(tracker.finish(), times, writer, counts)  # the input ended: the held frames are final
    seconds = time.perf_counter() - t0
    extra: dict[str, Any] = {"frames_decoded_last": counts.frames, "seconds": seconds,
                             "stage_seconds": {k: round(v, 4) for k, v in stages.items()}}
    if existing is not None:
        extra["resumed_from"] = [*existing.attrs.get("resumed_from", []), resumed_from]
    if error is not None:
        extra["error"] = error
    writer.close(extra, status=status)
    return VideoSummary(key, str(path), counts.frames, counts.detections, counts.tracked_boxes,
                        len(counts.track_ids), seconds, status=status, error=error,
                        resumed_from=resumed_from)


def _track_batch(batch: FrameBatch, first: int, detections: Boxes, tracker: LaggedTracker,
                 times: dict[int, float], writer: StoreWriter, counts: _Counts) -> None:
    """Track the frames of a detected batch from position `first` on; write those now final."""
    frames = batch.index[first:].tolist()
    for frame, time_s in zip(frames, batch.time_s[first:].tolist()):
        times[frame] = time_s
        _write(tracker.update(detections.for_frame(frame), frame=frame), times, writer, counts)


def _write(final: list[FinalFrame], times: dict[int, float], writer: StoreWriter,
           counts: _Counts) -> None:
    """Hand frames the tracker released to the writer (only final frames are ever committed)."""
    for frame, frame_dets, tracks in final:
        writer.add_frame(frame, times.pop(frame), frame_dets, tracks)
        counts.add(frame_dets, tracks)


class _LockedDetector(Detector):
    """One detector shared by several video threads, one `detect` call at a time."""

    def __init__(self, detector: Detector) -> None:
        self._detector = detector
        self._lock = threading.Lock()
        self.pixel_format = detector.pixel_format
        self.names = detector.names
        # thread-safe: it only allocates
        self.allocate = detector.allocate  # type: ignore[method-assign]

    def detect(self, batch: FrameBatch) -> Boxes:
        with self._lock:
            return self._detector.detect(batch)


def track_videos(
    videos: Sequence[str | Path],
    store: str | Path,
    cfg: PipelineConfig,
    detector: Detector,
    *,
    detector_info: dict | None = None,
    overwrite: bool = False,
    discard_corrections: bool = False,
    progress: Progress | None = None,
    jobs: int = 1,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT_S,
    executor: VideoExecutor | None = None,
) -> list[VideoSummary]:
    """Track several videos into one store, one group per video, resuming an interrupted run.

    Every video is checked first: one that cannot be opened is a failure (no group); one whose
    group was made from another configuration, detector or file is refused (unless
    `overwrite`). Then the videos run (up to `jobs` at once), each holding its group's lock; a
    video whose decoding fails mid-stream keeps its valid frames (status "failed") and the run
    goes on; a video another process is writing is reported `busy` and the run goes on. See
    the module docstring for commits and resume.

    Args:
        videos: video files (see `trackannot.inputs.collect_videos` for directories and
            manifests) or seqinfo.ini files (no footage, `trackannot.seqinfo`); keys are their
            file stems (a seqinfo.ini: its folder's name), made unique in this order.
        store: store directory, created if missing, continued if it exists.
        cfg: the resolved configuration.
        detector: the detector every video goes through.
        detector_info: what the detector is, for the attributes (and the resume check).
        overwrite: replace the groups of these videos (built beside the old ones and swapped
            in when finished, `trackannot.store._replace`); other videos of the store stay.
        discard_corrections: with `overwrite`, allow replacing groups that hold human
            corrections or review answers (they are discarded with the group).
        progress: receives frame counts (ignored when jobs > 1).
        jobs: videos in flight at once.
        lock_timeout: seconds to wait for another process writing one of the videos.
        executor: runs the planned videos instead of this process's threads (`jobs` is then
            ignored; `progress` gets one bar over all videos), e.g. the Ray executor of
            `trackannot.ray_executor`. Planning, the store's root and the unopened videos'
            summaries stay here; each video is still written by `track_video`.

    Returns:
        One summary per video, in input order; `failures(summaries)` are those not complete.

    Raises:
        VideoDecodeError: no video can be opened at all (nothing is written).
        StoreInputError: `store` exists but is not a trackannot store, a video's group was
            made from another configuration, detector or file, or `overwrite` would discard
            corrections without `discard_corrections` (nothing is written).
        InputFormatError, WeightsNotFoundError: from the stages; groups being written stay
            "running" at their last commit, so a rerun resumes them.
    """
    if jobs < 1:
        raise StoreInputError(f"jobs should be an int >= 1, got {jobs}")
    store = output_location(store, overwrite=overwrite)  # a directory or s3://...; checked
    keys = video_keys(videos)
    plan, unopened = plan_videos(videos, keys, store, cfg, detector_info,
                                 decode_config_for(cfg, detector).pixel_format,
                                 overwrite=overwrite, discard_corrections=discard_corrections)
    if not plan:
        raise VideoDecodeError("no video could be opened: " + "; ".join(unopened.values()))
    _create_root(store)
    run_progress = progress if progress is not None and (jobs == 1 or executor) else None
    try:
        if executor is not None:
            done = executor.run(plan, store, cfg, detector_info, run_progress, replace=overwrite,
                                discard_corrections=discard_corrections,
                                lock_timeout=lock_timeout)
        else:
            done = _run_all(plan, store, cfg, detector, detector_info, run_progress, jobs,
                            replace=overwrite, discard_corrections=discard_corrections,
                            lock_timeout=lock_timeout)
    finally:
        if progress is not None:
            progress.close()
    for key, error in unopened.items():
        path = str(videos[keys.index(key)])
        done[key] = VideoSummary(key, path, 0, 0, 0, 0, 0.0, status=STATUS_FAILED, error=error)
    return [done[k] for k in keys]


def _create_root(store: Path) -> None:
    """Create the store's root group once, before any video thread writes into it."""
    open_root(store)


def _run_all(plan: dict[str, Path], store: Path, cfg: PipelineConfig, detector: Detector,
             detector_info: dict | None, progress: Progress | None, jobs: int, *,
             replace: bool, discard_corrections: bool,
             lock_timeout: float) -> dict[str, VideoSummary]:
    """Run every planned video, `jobs` at a time; each group is written by one thread only."""

    def one(key: str, path: Path, shared: Detector) -> VideoSummary:
        try:
            return track_video(path, store, key, cfg, shared, detector_info=detector_info,
                               progress=progress, replace=replace,
                               discard_corrections=discard_corrections,
                               lock_timeout=lock_timeout)
        except VideoDecodeError as err:  # the file changed since it was probed
            return VideoSummary(key, str(path), 0, 0, 0, 0, 0.0, status=STATUS_FAILED,
                                error=str(err))
        except LockedError as err:  # another process writes it: the others go on
            return VideoSummary(key, str(path), 0, 0, 0, 0, 0.0, status=STATUS_RUNNING,
                                error=str(err), busy=True)

    if jobs == 1:
        return {key: one(key, path, detector) for key, path in plan.items()}
    shared = _LockedDetector(detector)
    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="trackannot-video") as pool:
        futures: dict[str, Future[VideoSummary]] = {
            key: pool.submit(one, key, path, shared) for key, path in plan.items()
        }
        finished, _ = wait(futures.values(), return_when=FIRST_EXCEPTION)
        errors = [f.exception() for f in finished if f.exception() is not None]
        if errors:
            for f in futures.values():
                f.cancel()  # videos not started stay as they are; running ones finish
            raise errors[0]  # type: ignore[misc]
    return {key: f.result() for key, f in futures.items()}
