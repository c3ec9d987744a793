"""Pipeline: run decode -> detect -> track -> store over videos, committing each store whole.

A run writes into `STORE.partial` and renames it to `STORE` only when every video is complete, so
a crash or an error never leaves a result that looks finished. An existing `STORE` is refused
unless `overwrite=True`, and even then it is replaced only after the new one is complete.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, Sequence

from trackannot.config import PipelineConfig, config_to_dict
from trackannot.decode import decode_frames, probe_video
from trackannot.errors import StoreError
from trackannot.store import StoreWriter, input_identity, video_key
from trackannot.track import Tracker

if TYPE_CHECKING:
    from trackannot.detect import Detector

__all__ = ["Progress", "VideoSummary", "track_video", "track_videos"]


class Progress(Protocol):
    """What the pipeline reports while it runs (the CLI draws bars from it; the library never prints)."""

    def start(self, name: str, total_frames: int | None) -> None: ...

    def advance(self, frames: int) -> None: ...

    def close(self) -> None: ...


class _NoProgress:
    def start(self, name: str, total_frames: int | None) -> None:
        pass

    def advance(self, frames: int) -> None:
        pass

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class VideoSummary:
    """What one video's run produced."""

    key: str
    path: str
    frames: int
    detections: int
    tracked_boxes: int
    tracks: int
    seconds: float

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


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
) -> VideoSummary:
    """Track one video into group `key` of the store at `writer_store`.

    Args:
        path: the video file.
        writer_store: store directory (created if missing).
        key: group name for this video.
        cfg: the resolved pipeline configuration (written into the group's attributes).
        detector: any `Detector`; its output goes through a fresh `Tracker`.
        detector_info: what the detector is (weights, detections file), for the attributes.
        progress: receives the frame count as the run goes.
    """
    progress = progress or _NoProgress()
    info = probe_video(path)
    attrs = {
        "config": config_to_dict(cfg),
        "input": input_identity(path),
        "video": {
            "width": info.width,
            "height": info.height,
            "fps": info.fps,
            "frame_count": info.frame_count,
            "codec": info.codec,
            "duration_s": info.duration_s,
        },
        "detector": detector_info or {},
    }
    writer = StoreWriter.create(writer_store, key, cfg.store, attrs)
    tracker = Tracker(cfg.track)
    progress.start(key, _expected_frames(info.frame_count, info.fps, cfg.decode.fps))
    t0 = time.perf_counter()
    frames = n_det = n_trk = 0
    track_ids: set[int] = set()
    for batch in decode_frames(path, cfg.decode):
        detections = detector.detect(batch)
        for frame, time_s in zip(batch.index.tolist(), batch.time_s.tolist()):
            frame_dets = detections.for_frame(frame)
            tracks = tracker.update(frame_dets, frame=frame)
            writer.add_frame(frame, time_s, frame_dets, tracks)
            n_det += len(frame_dets)
            n_trk += len(tracks)
            track_ids.update(tracks.track_id.tolist())
        frames += len(batch.index)
        progress.advance(len(batch.index))
    seconds = time.perf_counter() - t0
    writer.close({"frames_decoded_last": frames, "seconds": seconds})
    return VideoSummary(key, str(path), frames, n_det, n_trk, len(track_ids), seconds)


def track_videos(
    videos: Sequence[str | Path],
    store: str | Path,
    cfg: PipelineConfig,
    detector: Detector,
    *,
    detector_info: dict | None = None,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> list[VideoSummary]:
    """Track several videos into one new store, one group per video; all or nothing.

    Raises:
        StoreError: `store` exists and `overwrite` is False.
        VideoDecodeError, InputFormatError, WeightsNotFoundError: from the stages; the partial
            store is removed and any existing store is left untouched.
    """
    store = Path(store)
    if store.exists() and not overwrite:
        raise StoreError(f"{store} already exists; pass --overwrite to replace it")
    partial = store.with_name(store.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)
    summaries: list[VideoSummary] = []
    taken: set[str] = set()
    try:
        for path in videos:
            key = video_key(path, taken)
            taken.add(key)
            summaries.append(
                track_video(path, partial, key, cfg, detector,
                            detector_info=detector_info, progress=progress)
            )
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    finally:
        if progress is not None:
            progress.close()
    _replace(partial, store)
    return summaries


def _replace(new: Path, target: Path) -> None:
    """Move the finished store into place; an old one is removed only after the move."""
    old = target.with_name(target.name + ".old")
    if target.exists():
        if old.exists():
            shutil.rmtree(old)
        target.rename(old)
    new.rename(target)
    if old.exists():
        shutil.rmtree(old)
