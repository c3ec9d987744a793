"""LaggedTracker: frames released complete, exactly min_hits - 1 processed frames late, equal to
track_detections; a resumed LaggedTracker (written_through) releases the rest unchanged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from trackannot.boxes import COLUMNS, Boxes, Origin
from trackannot.config import TrackConfig
from trackannot.detect.from_file import read_mot_file
from trackannot.errors import InputFormatError
from trackannot.track import FinalFrame, LaggedTracker, Tracker, track_detections

CONFIGS = [
    TrackConfig(),
    TrackConfig(min_hits=1, report_predicted=3, max_lost_frames=5),
    TrackConfig(min_hits=2, report_predicted=2),
    TrackConfig(min_hits=6, new_track_score=0.6, min_iou_tentative=0.1),
]
CONFIG_IDS = ["defaults", "hits1-predicted", "hits2-predicted", "hits6"]


def _scene(seed: int, frames: int = 80, objects: int = 15) -> Boxes:
    """Objects that appear at seeded frames and flicker (tentative tracks that die, tracks
    confirmed at every frame), weak detections and clutter; frames 30-32 hold nothing."""
    rng = np.random.default_rng(seed)
    born = rng.integers(0, frames - 10, objects)
    start, velocity = rng.uniform(0, 600, (objects, 2)), rng.normal(0, 5, (objects, 2))
    size = rng.uniform(30, 90, (objects, 2))
    parts = []
    for f in range(frames):
        seen = (born <= f) & (rng.random(objects) > (0.2 if not 30 <= f < 33 else 1.0))
        centre = start + (f - born)[:, None] * velocity
        xyxy = np.c_[centre - size / 2, centre + size / 2] + rng.normal(0, 2, (objects, 4))
        score = rng.choice([0.95, 0.85, 0.65, 0.3], objects)
        clutter = rng.uniform(0, 600, (int(rng.integers(0, 3)), 2))
        xyxy = np.r_[xyxy[seen], np.c_[clutter, clutter + 40]]
        score = np.r_[score[seen], rng.uniform(0.5, 0.95, len(clutter))]
        order = rng.permutation(len(score))
        parts.append(Boxes.create(xyxy=xyxy[order], frame=f, score=score[order]))
    return Boxes.concat(parts)


def _lagged(dets: Boxes, cfg: TrackConfig, frames: list[int], written_through: int = -1,
            ) -> tuple[list[FinalFrame], list[int]]:
    """Every frame `LaggedTracker` releases, and how many it released after each update."""
    lagged = LaggedTracker(cfg, written_through)
    out, released = [], []
    for f in frames:
        got = lagged.update(dets.for_frame(f), frame=f)
        released.append(len(got))
        out += got
    return out + lagged.finish(), released


def _as_offline(final: list[FinalFrame], dets: Boxes) -> Boxes:
    """Released tracks with det_index as track_detections numbers it (a row of `dets`)."""
    tracks = Boxes.concat([f.tracks for f in final])
    first = np.searchsorted(dets.frame, tracks.frame)
    return tracks.replace(det_index=np.where(tracks.det_index >= 0, tracks.det_index + first, -1))


def _assert_equal(got: Boxes, want: Boxes) -> None:
    assert len(got) == len(want)
    for name in COLUMNS:
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)


@pytest.mark.parametrize("cfg", CONFIGS, ids=CONFIG_IDS)
@pytest.mark.parametrize("seed", [1, 2])
def test_released_frames_equal_track_detections(cfg: TrackConfig, seed: int) -> None:
    skipped = (20, 21, 50)  # frames not processed (as a sampled --fps run skips frames)
    dets = _scene(seed)
    dets = dets[~np.isin(dets.frame, skipped)]
    frames = [f for f in range(85) if f not in skipped]  # 80-84: no detections
    final, released = _lagged(dets, cfg, frames)
    assert [f.frame for f in final] == frames  # every frame once, in order
    lag = cfg.min_hits - 1
    assert released == [0] * lag + [1] * (len(frames) - lag)  # one frame out per frame in
    for f in final:
        np.testing.assert_array_equal(f.detections.xyxy, dets.for_frame(f.frame).xyxy)
    want = track_detections(dets, cfg, frames=frames)
    _assert_equal(_as_offline(final, dets), want)
    if cfg.min_hits > 1:  # backfill rows are there: more than the online output
        online = Tracker(cfg)
        n_online = sum(len(online.update(dets.for_frame(f), frame=f)) for f in frames)
        assert len(want) > n_online


@pytest.mark.parametrize("cfg", CONFIGS, ids=CONFIG_IDS)
def test_resumed_tracker_releases_the_rest_unchanged(cfg: TrackConfig) -> None:
    """A LaggedTracker fed frames 0..k again with written_through = k (a resume from a commit
    at k) releases exactly the full run's frames after k, at every k; backfill for frames <= k
    is dropped (and the test meets such rows)."""
    dets = _scene(3, frames=60)
    frames = list(range(60))
    full = {f.frame: f.tracks for f in _lagged(dets, cfg, frames)[0]}
    dropped = 0
    for k in range(-1, 60):
        resumed, _ = _lagged(dets, cfg, frames, written_through=k)
        assert [f.frame for f in resumed] == frames[k + 1:]
        for f in resumed:
            _assert_equal(f.tracks, full[f.frame])
        tracker = Tracker(cfg)  # the backfill rows for frames <= k met after k
        for f in frames:
            tracker.update(dets.for_frame(f), frame=f)
            if f > k:
                dropped += int((tracker.backfill().frame <= k).sum())
    assert (dropped > 0) == (cfg.min_hits > 1)


def test_backfill_rows_are_the_frames_before_confirmation() -> None:
    cfg = TrackConfig(min_hits=3)
    tracker = Tracker(cfg)
    assert tracker.backfill().frame.size == 0
    box = [[10.0, 10.0, 50.0, 90.0]]
    got = []
    for f in (0, 2, 5):  # processed frames, not consecutive indices
        tracker.update(Boxes.create(xyxy=box, frame=f, score=0.9), frame=f)
        got.append(tracker.backfill())
    assert [g.frame.tolist() for g in got] == [[], [], [0, 2]]
    assert got[2].track_id.tolist() == [1, 1] and got[2].det_index.tolist() == [0, 0]
    assert got[2].pos_std.dtype == np.float32 and np.all(got[2].pos_std > 0)


def test_backfill_rows_are_the_detections() -> None:
    cfg = TrackConfig(min_hits=3)
    lagged = LaggedTracker(cfg)
    boxes = [Boxes.create(xyxy=[[0, 0, 5, 5], [10.0 + f, 10, 50 + f, 90]], frame=f,
                          score=[0.3, 0.9]) for f in range(3)]
    out = [r for b in boxes for r in lagged.update(b)] + lagged.finish()
    first = out[0].tracks
    assert first.origin.tolist() == [Origin.DETECTED] and first.det_index.tolist() == [1]
    np.testing.assert_array_equal(first.xyxy, boxes[0].xyxy[1:])  # the raw detection
    assert out[2].tracks.xyxy.tolist() != boxes[2].xyxy[1:].tolist()  # the filtered box


def test_empty_input_and_bad_frames() -> None:
    lagged = LaggedTracker(TrackConfig())
    assert lagged.finish() == []
    assert lagged.update(Boxes.empty(), frame=4) == []
    with pytest.raises(InputFormatError, match="not after the previous frame"):
        lagged.update(Boxes.empty(), frame=4)
    assert [f.frame for f in lagged.finish()] == [4]
    assert lagged.finish() == []


def test_real_detections_equal_track_detections(data_dir: Path) -> None:
    """MOT15 TUD-Stadtmitte (SORT's Faster R-CNN detections), default settings."""
    dets = read_mot_file(data_dir / "MOT15" / "TUD-Stadtmitte" / "det" / "det_sort_frcnn.txt")
    frames = list(range(179))
    final, _ = _lagged(dets, TrackConfig(), frames)
    _assert_equal(_as_offline(final, dets), track_detections(dets, TrackConfig(), frames=frames))
