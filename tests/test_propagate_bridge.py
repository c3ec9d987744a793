"""Bridges: a person's box beyond the end of its track (or in a hole in it), with no detection
to carry the run, joined to the track's own automatic boxes by a straight line."""

from __future__ import annotations

import numpy as np
import pytest

from trackannot.boxes import Boxes, Origin
from trackannot.config import InterpolateConfig, PropagateConfig
from trackannot.errors import ConfigError
from trackannot.corrections import Corrections, Op
from trackannot.propagate import StopReason
from trackannot.sources import MemorySource
from trackannot.state import AnnotationState

N = 60


def _path(frames: np.ndarray, x0: float = 10.0, vx: float = 3.0, y: float = 50.0) -> np.ndarray:
    x = x0 + vx * frames
    return np.stack([x, np.full(len(frames), y), x + 40, np.full(len(frames), y + 60)],
                    1).astype(np.float32)


def _state(frames: np.ndarray, bridge_frames: int, extra: Boxes | None = None,
           processed: tuple[np.ndarray, np.ndarray] | None = None,
           extra_dets: Boxes | None = None) -> AnnotationState:
    """Track 1 along `_path` at `frames`, detected there only (nothing between); `extra`
    tracks (detected), `extra_dets` detections of no track, `processed` (frames, times)."""
    tracks = Boxes.create(frame=frames, xyxy=_path(frames), track_id=1, score=0.9)
    if extra is not None:
        tracks = Boxes.create(frame=np.r_[tracks.frame, extra.frame],
                              track_id=np.r_[tracks.track_id, extra.track_id],
                              score=np.r_[tracks.score, extra.score],
                              xyxy=np.r_[tracks.xyxy, extra.xyxy], sort=True)
    dets = Boxes.create(frame=tracks.frame, xyxy=tracks.xyxy, score=0.9, sort=True)
    if extra_dets is not None:
        dets = Boxes.create(frame=np.r_[dets.frame, extra_dets.frame],
                            xyxy=np.r_[dets.xyxy, extra_dets.xyxy], score=0.9, sort=True)
    cfg = InterpolateConfig(propagate=PropagateConfig(bridge_frames=bridge_frames))
    if processed is None:
        return AnnotationState(tracks, num_frames=N, detections=dets, cfg=cfg)
    source = MemorySource(tracks, dets, None, processed)
    return AnnotationState.over(source, num_frames=N, ids=source.auto_ids(), merged_into={},
                                next_id=10, cfg=cfg)


def _key(state: AnnotationState, frame: int, track: int = 1) -> None:
    box = _path(np.array([frame]))[0]
    state.apply(Corrections.create(op=[Op.ADJUST], track_id=[track], frame=[frame], xyxy=[box],
                                   author="ana", time_ns=1))


def _stops(state: AnnotationState, track: int = 1) -> dict[int, tuple[StopReason, int]]:
    return {s.direction: (s.reason, s.frame) for s in state.propagation_stops([track])}


def test_a_box_beyond_the_tracks_end_is_joined_to_it_by_a_line() -> None:
    state = _state(np.arange(0, 21), bridge_frames=30)
    _key(state, 30)
    rows = state.track_boxes(1)
    between = rows[(rows.frame > 20) & (rows.frame < 30)]
    assert between.frame.tolist() == list(range(21, 30))
    assert (between.origin == Origin.PROPAGATED).all()
    # the line between the track's last automatic box and the person's box: here the path
    np.testing.assert_allclose(between.xyxy, _path(between.frame), atol=1e-3)
    assert _stops(state)[-1] == (StopReason.REJOINED, 20)
    assert _stops(state)[1][0] == StopReason.EVIDENCE_END  # past the box: an open end still


def test_without_bridges_the_hole_stays_and_the_queue_asks_there() -> None:
    state = _state(np.arange(0, 21), bridge_frames=0)
    _key(state, 30)
    rows = state.track_boxes(1)
    assert not ((rows.frame > 20) & (rows.frame < 30)).any()
    assert _stops(state)[-1] == (StopReason.EVIDENCE_END, 29)


def test_a_box_in_a_hole_fills_it_from_both_sides() -> None:
    state = _state(np.r_[np.arange(0, 11), np.arange(20, 40)], bridge_frames=30)
    _key(state, 15)
    rows = state.track_boxes(1)
    assert rows.frame[(rows.frame > 10) & (rows.frame < 20)].tolist() == list(range(11, 20))
    assert _stops(state) == {-1: (StopReason.REJOINED, 10), 1: (StopReason.REJOINED, 20)}


def test_no_bridge_longer_than_bridge_frames() -> None:
    state = _state(np.arange(0, 21), bridge_frames=8)
    _key(state, 30)  # 9 frames between
    rows = state.track_boxes(1)
    assert not ((rows.frame > 20) & (rows.frame < 30)).any()
    assert _stops(state)[-1][0] == StopReason.EVIDENCE_END


def test_no_bridge_over_another_tracks_box_a_video_gap_or_a_scene_cut() -> None:
    # another track's automatic box on the line at frame 22 (the run stops before it)
    other = Boxes.create(frame=[22], xyxy=_path(np.array([22])), track_id=2, score=0.9)
    state = _state(np.arange(0, 21), bridge_frames=30, extra=other)
    _key(state, 30)
    rows = state.track_boxes(1)
    assert not ((rows.frame > 20) & (rows.frame < 30)).any()
    assert _stops(state)[-1][0] == StopReason.EVIDENCE_END
    # frames were lost before frame 23: the times jump, a video gap between the two ends
    time_s = np.arange(N) / 10.0 + np.where(np.arange(N) >= 23, 0.5, 0.0)
    state = _state(np.arange(0, 21), bridge_frames=30,
                   processed=(np.arange(N, dtype=np.int64), time_s))
    _key(state, 30)
    rows = state.track_boxes(1)
    assert not ((rows.frame > 20) & (rows.frame < 30)).any()
    # a new shot from frame 23 on: eight still objects before it, eight others after
    still = [(np.arange(0, 23) if k < 8 else np.arange(23, N), k) for k in range(16)]
    shot = Boxes.create(
        frame=np.concatenate([f for f, _ in still]),
        xyxy=np.concatenate([np.tile([300.0 + 40 * (k % 8), 300 + 100 * (k // 8),
                                      330 + 40 * (k % 8), 380 + 100 * (k // 8)], (len(f), 1))
                             for f, k in still]), sort=True)
    state = _state(np.arange(0, 21), bridge_frames=30, extra_dets=shot)
    _key(state, 30)
    rows = state.track_boxes(1)
    assert not ((rows.frame > 20) & (rows.frame < 30)).any()
    assert _stops(state)[-1][0] == StopReason.EVIDENCE_END


def test_replaying_the_log_gives_the_same_bridge() -> None:
    state = _state(np.arange(0, 21), bridge_frames=30)
    batch = Corrections.create(op=[Op.ADJUST], track_id=[1], frame=[30],
                               xyxy=[_path(np.array([30]))[0]], author="ana", time_ns=1)
    state.apply(batch)
    again = _state(np.arange(0, 21), bridge_frames=30)
    again.replay(batch)
    for name in ("frame", "xyxy", "origin"):
        np.testing.assert_array_equal(getattr(again.track_boxes(1), name),
                                      getattr(state.track_boxes(1), name))


def test_bridge_frames_is_checked() -> None:
    with pytest.raises(ConfigError, match="bridge_frames"):
        PropagateConfig(bridge_frames=-1)
