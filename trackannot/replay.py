"""Replay: a stored video's current annotation, its tracks with its corrections log replayed.

Two ways in:

* `load_state(result)`: the whole video (exports, review queues, evaluation, audit). The
  automatic tracks and detections are read whole; the log's edits come from the state cache
  when it reflects this log (`trackannot.statecache`), and only the batches the cache lacks are
  replayed; without a usable cache the whole log is replayed (without interpolating until the
  tracks are read).
* `StateWriter(result)`: for a writer holding the video's lock (`trackannot correct`, review
  answers). The state reads only the tracks a batch touches, by track and frame range; the cache
  is caught up (or built, once, from the whole log) first, and after the batch is committed to
  the log `StateWriter.saved` writes the tracks it changed. A batch's cost is then that of the
  tracks it touches, whatever the length of the log or the video.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from trackannot.boxes import Boxes
from trackannot.config import InterpolateConfig, PropagateConfig
from trackannot.corrections import Corrections
from trackannot.errors import ConfigError, CorruptStoreError, InputFormatError, RunIncompleteError
from trackannot.results import read_log
from trackannot.smooth import smooth_tracks, strength_for_fps
from trackannot.sources import (
    MemorySource, StoreSource, StoreTables, keys_in_edits, track_extents,
)
from trackannot.state import AnnotationState
from trackannot.statecache import StateCache, cache_identity
from trackannot.store import VideoGroup

__all__ = ["StateWriter", "interpolate_config", "load_state", "read_state", "replay_log",
           "video_fps"]


def interpolate_config(result: VideoGroup, cfg: InterpolateConfig | None) -> InterpolateConfig:
    """`cfg`, else the interpolation settings the video was tracked with."""
    if cfg is not None:
        return cfg
    stored = (result.attrs.get("config") or {}).get("interpolate")
    if not stored:
        # a store made before interpolation settings existed: its log was written (and its
        # boxes reviewed) without propagation, so it replays without it
        return InterpolateConfig(propagate=PropagateConfig(enabled=False))
    try:
        settings = dict(stored)
        # settings recorded before propagation existed: replay as they were written
        propagate = settings.pop("propagate", {"enabled": False})
        return InterpolateConfig(**settings, propagate=PropagateConfig(**propagate))
    except (TypeError, ConfigError) as err:  # an unknown key, or a value out of range
        raise CorruptStoreError(f"{result.key}: stored interpolate settings {stored} do not "
                                f"load: {err}") from err


def video_fps(result: VideoGroup) -> float:
    """Frames per second of a stored video: the header's, else measured from frame times."""
    fps = float((result.attrs.get("video") or {}).get("fps") or 0.0)
    if fps > 0:
        return fps
    index, time_s = result.frames()
    steps = np.diff(time_s) / np.maximum(np.diff(index), 1)
    return 1.0 / float(np.median(steps)) if len(steps) and np.median(steps) > 0 else 25.0


def _strength(result: VideoGroup, cfg: InterpolateConfig) -> float:
    return strength_for_fps(video_fps(result), cfg.smooth_seconds) if cfg.smooth_seconds > 0 \
        else 0.0


def _require_complete(result: VideoGroup) -> None:
    if not result.complete:
        raise RunIncompleteError(f"{result.key}: the tracking run did not complete; rerun "
                                 "`trackannot track`")


def load_state(result: VideoGroup, cfg: InterpolateConfig | None = None) -> AnnotationState:
    """The current annotation of one stored video: its tracks with the corrections log replayed.

    Args:
        result: the video's group (`open_store(path)[key]`).
        cfg: interpolation settings; default: those the store was made with.

    Raises:
        StoreError: the video's run did not complete, or its log does not replay.
    """
    _require_complete(result)
    cfg = interpolate_config(result, cfg)
    tracks, detections, raw = _whole(result, cfg)
    info = result.log_info()
    cache = StateCache.open(result, write=False) if info.rows else None
    held = None
    if cache is not None:
        with cache, cache.snapshot():  # one state of the cache, whatever a writer does
            held = cache.behind(cache_identity(result, cfg), info, result.digest_at)
            if held is not None:
                source = MemorySource(tracks, detections, cache.all_edits(), result.frames(),
                                      raw)
                state = AnnotationState.over(source, num_frames=result.num_frames,
                                             ids=cache.ids(source.auto_ids()),
                                             merged_into=cache.merged(),
                                             next_id=cache.next_id(), cfg=cfg)
        if held is not None:
            replay_log(result, state, held)
            return state
    state = _memory_state(result, tracks, detections, raw, cfg)
    replay_log(result, state, 0)
    return state


def _memory_state(result: VideoGroup, tracks: Boxes, detections: Boxes, raw: Boxes,
                  cfg: InterpolateConfig) -> AnnotationState:
    """A state of the whole video in memory, no persisted edits."""
    source = MemorySource(tracks, detections, None, result.frames(), raw)
    ids = source.auto_ids()
    return AnnotationState.over(source, num_frames=result.num_frames, ids=ids, merged_into={},
                                next_id=max(ids) + 1 if ids else 0, cfg=cfg)


def read_state(result: VideoGroup, cfg: InterpolateConfig | None = None, *,
               until: int | None = None, tables: StoreTables | None = None) -> AnnotationState:
    """A reader's state of one video that reads tracks from the store only when first needed
    (for frame-range reads, `trackannot.session`): the edits of the first batches come from the
    state cache when it is usable (read once, in one snapshot), the rest of the log is replayed.

    Args:
        result: the video's group.
        cfg: interpolation settings; default: those the store was made with.
        until: replay the first `until` batches only (the annotation at that revision);
            default: every committed batch.
        tables: the video's tracking tables, shared with the session's other states
            (`trackannot.sources.StoreTables`); None: read anew.
    """
    _require_complete(result)
    cfg = interpolate_config(result, cfg)
    info = result.log_info()
    until = info.batches if until is None else min(until, info.batches)
    held, edits, extents, ids, merged, next_id = 0, None, None, None, {}, None
    cache = StateCache.open(result, write=False) if info.rows else None
    if cache is not None:
        with cache, cache.snapshot():
            behind = cache.behind(cache_identity(result, cfg), info, result.digest_at)
            if behind is not None and behind <= until:
                held, edits = behind, cache.all_edits()
                extents = cache.auto_extents()
                ids, merged, next_id = cache.ids(extents), cache.merged(), cache.next_id()
    if extents is None:
        extents = track_extents(result)
        ids, next_id = set(extents), max(extents, default=-1) + 1
    source = StoreSource(result, extents, edits.get if edits is not None else None,
                         _strength(result, cfg),
                         partial(keys_in_edits, edits) if edits is not None else None, tables)
    state = AnnotationState.over(source, num_frames=result.num_frames, ids=ids,
                                 merged_into=merged, next_id=next_id, cfg=cfg)
    replay_log(result, state, held, until)
    return state


def _whole(result: VideoGroup, cfg: InterpolateConfig) -> tuple[Boxes, Boxes, Boxes]:
    """Every automatic box (smoothed as the settings say), every detection of a video, and
    the automatic boxes as tracked (what propagation checks other tracks' evidence against,
    as `StoreSource.auto_window` reads them)."""
    raw = tracks = result.read(table="tracks")
    strength = _strength(result, cfg)
    if strength > 0:
        tracks = smooth_tracks(tracks, strength)
    return tracks, result.read(table="detections"), raw


def replay_log(result: VideoGroup, state: AnnotationState, start: int = 0,
               stop: int | None = None) -> Corrections | None:
    """Replay the video's committed batches start..stop-1 (default: to the last) into `state`.

    Returns:
        The corrections replayed (the log's rows of those batches), None when there were none.

    Raises:
        StoreError: a batch does not replay (the log does not fit the tracks).
    """
    records = result.batches(start, stop)
    if not records:
        return None
    first, last = records[0]["rows"][0], records[-1]["rows"][1]
    corrections, _ = read_log(result, first, last)
    for batch in records:
        a, b = batch["rows"]
        try:
            state.replay(corrections[a - first:b - first])
        except InputFormatError as err:
            raise CorruptStoreError(
                f"{result.key}: the corrections log does not replay at batch "
                f"{batch['number']}: {err}; run `trackannot check STORE`") from err
    return corrections


class StateWriter:
    """The current annotation of a video for a writer that holds its lock (module docstring).

    Args:
        result: the video (from `TrackStore.writer(key)`: its lock held).
        cfg: interpolation settings; default: those the store was made with.
        tables: the video's tracking tables as the caller's session read them
            (`trackannot.sources.StoreTables`: the blocks it holds are not read again); None,
            or the tables of another run: read anew.

    Attributes:
        state: the annotation, reading tracks from the store as they are touched.

    Example:
        >>> with store.writer("clip") as video, StateWriter(video) as writer:  # doctest: +SKIP
        ...     previous = writer.state.apply(batch)
        ...     video.append_log(...)
        ...     writer.saved()
    """

    def __init__(self, result: VideoGroup, cfg: InterpolateConfig | None = None,
                 tables: StoreTables | None = None) -> None:
        _require_complete(result)
        self._result = result
        cfg = interpolate_config(result, cfg)
        info = result.log_info()
        self._cache = StateCache.open(result, write=True)
        identity = cache_identity(result, cfg)
        strength = _strength(result, cfg)
        cache = self._cache
        held = cache.behind(identity, info, result.digest_at) if cache is not None else None
        if cache is not None and held is None:
            self._build(cache, identity, cfg)
            held = info.batches
        extents = cache.auto_extents() if cache is not None else track_extents(result)
        source = StoreSource(result, extents, cache.edits if cache is not None else None,
                             strength, cache.keys_in if cache is not None else None, tables)
        self.state = AnnotationState.over(
            source, num_frames=result.num_frames,
            ids=cache.ids(extents) if cache is not None else set(extents),
            merged_into=cache.merged() if cache is not None else {},
            next_id=cache.next_id() if cache is not None else max(extents, default=-1) + 1,
            cfg=cfg)
        replay_log(result, self.state, held or 0)
        if held is not None and held < info.batches:
            self.saved()  # caught up: one batch a crash kept from the cache, or several

    def _build(self, cache: StateCache, identity: str, cfg: InterpolateConfig) -> None:
        """The cache from the whole log (once: the first writer of a video, or another log)."""
        full = load_state_uncached(self._result, cfg)
        cache.rebuild(identity, track_extents(self._result))
        cache.save(full, self._result.log_info(), full.changed())

    def saved(self) -> None:
        """Write what the state changed since it was opened (or last saved) to the cache, with
        the log extent it now reflects. Call after the batch is committed to the log."""
        if self._cache is None:
            return
        self._cache.save(self.state, self._result.log_info(), self.state.changed())
        self.state.saved()

    def close(self) -> None:
        if self._cache is not None:
            self._cache.close()

    def __enter__(self) -> StateWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def load_state_uncached(result: VideoGroup, cfg: InterpolateConfig) -> AnnotationState:
    """The whole video's state from its tracks and its whole log, no cache involved."""
    tracks, detections, raw = _whole(result, cfg)
    state = _memory_state(result, tracks, detections, raw, cfg)
    replay_log(result, state, 0)
    return state
