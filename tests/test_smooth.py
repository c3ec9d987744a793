"""smooth_tracks: jitter removed, human rows untouched, runs and gaps, bad input, real tracks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from trackannot.boxes import Boxes, Origin
from trackannot.config import TrackConfig
from trackannot.detect.from_file import read_mot_file, read_seqinfo
from trackannot.errors import ConfigError, InputFormatError
from trackannot.evaluate import EvalSequence, evaluate_dataset
from trackannot.smooth import (
    DEFAULT_SMOOTH_STRENGTH,
    MAX_SMOOTH_STRENGTH,
    smooth_tracks,
    strength_for_fps,
)
from trackannot.sparse import sparse_keyframes
from trackannot.track import track_detections


def row_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a.astype(np.float64), b.astype(np.float64)
    iw = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = iw * ih
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])  # noqa: E731
    return inter / (area(a) + area(b) - inter)


def jittery_tracks(seed: int, n_tracks: int = 6, n_frames: int = 80,
                   jitter: float = 0.04) -> tuple[Boxes, np.ndarray]:
    """Straight constant-velocity tracks (centre and size) with Gaussian jitter of `jitter` x
    the box side on every coordinate; returns (jittered tracks, true xyxy per row)."""
    rng = np.random.default_rng(seed)
    f = np.arange(n_frames)[:, None]
    truth, frames, ids = [], [], []
    for k in range(n_tracks):
        start = np.r_[rng.uniform(100, 900, 2), rng.uniform(30, 150, 2)]
        speed = np.r_[rng.normal(0, 3, 2), rng.normal(0, 0.2, 2)]
        c = start + speed * f
        truth.append(np.c_[c[:, :2] - c[:, 2:] / 2, c[:, :2] + c[:, 2:] / 2])
        frames.append(f[:, 0])
        ids.append(np.full(n_frames, k))
    true_xyxy = np.concatenate(truth)
    side = np.repeat(true_xyxy[:, 2:] - true_xyxy[:, :2], 2, axis=1)[:, [0, 2, 1, 3]]
    noisy = true_xyxy + rng.normal(0, jitter, true_xyxy.shape) * side
    frame, track_id = np.concatenate(frames), np.concatenate(ids)
    order = np.lexsort((track_id, frame))
    tracks = Boxes.create(xyxy=noisy[order], frame=frame[order], track_id=track_id[order],
                          score=0.9, det_index=np.arange(len(order)) % 7)
    return tracks, true_xyxy[order].astype(np.float32)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("strength", [DEFAULT_SMOOTH_STRENGTH, 3.0])
def test_jittery_straight_tracks_get_closer_to_truth(seed: int, strength: float) -> None:
    tracks, truth = jittery_tracks(seed)
    out = smooth_tracks(tracks, strength)
    err_before = np.abs(tracks.xyxy - truth).mean()
    err_after = np.abs(out.xyxy - truth).mean()
    assert err_after < 0.7 * err_before
    assert row_iou(out.xyxy, truth).mean() > row_iou(tracks.xyxy, truth).mean() + 0.01
    # and they compress: far fewer keyframes reproduce them at IoU 0.9
    kept_before = (~sparse_keyframes(tracks, 0.9).outside).sum()
    kept_after = (~sparse_keyframes(out, 0.9).outside).sum()
    assert kept_after < 0.6 * kept_before


def test_only_xyxy_changes() -> None:
    tracks, _ = jittery_tracks(3)
    out = smooth_tracks(tracks)
    for name, col in tracks.columns().items():
        if name != "xyxy":
            np.testing.assert_array_equal(getattr(out, name), col, err_msg=name)
    assert not np.array_equal(out.xyxy, tracks.xyxy)
    assert out.xyxy.dtype == np.float32


def test_keyframe_and_interpolated_rows_unchanged_exactly() -> None:
    tracks, truth = jittery_tracks(4)
    rng = np.random.default_rng(4)
    origin = rng.choice([Origin.DETECTED, Origin.KEYFRAME, Origin.INTERPOLATED], len(tracks),
                        p=[0.8, 0.1, 0.1]).astype(np.uint8)
    # a person's boxes sit off the detector's (here: on the truth)
    xyxy = np.where((origin != Origin.DETECTED)[:, None], truth, tracks.xyxy)
    tracks = tracks.replace(origin=origin, xyxy=xyxy)
    out = smooth_tracks(tracks, 2.0)
    human = origin != Origin.DETECTED
    np.testing.assert_array_equal(out.xyxy[human], tracks.xyxy[human])
    assert not np.array_equal(out.xyxy[~human], tracks.xyxy[~human])
    # the exact keyframes pull their neighbours toward the truth too
    assert np.abs(out.xyxy[~human] - truth[~human]).mean() < 0.7 * np.abs(
        tracks.xyxy[~human] - truth[~human]).mean()


def test_predicted_rows_are_filled_from_neighbours() -> None:
    tracks, truth = jittery_tracks(5, n_tracks=1, n_frames=30, jitter=0.01)
    wild = np.array([10, 20])  # the tracker's predictions, far off the object
    xyxy, origin = tracks.xyxy.copy(), tracks.origin.copy()
    xyxy[wild] += np.float32(60.0)
    origin[wild] = Origin.PREDICTED
    out = smooth_tracks(tracks.replace(xyxy=xyxy, origin=origin))
    assert row_iou(out.xyxy[wild], truth[wild]).min() > 0.9
    assert row_iou(xyxy[wild], truth[wild]).max() < 0.5


def test_runs_split_at_gaps_and_single_rows_kept() -> None:
    """A gap splits a track into runs smoothed independently; a one-frame run is unchanged."""
    tracks, _ = jittery_tracks(6, n_tracks=2, n_frames=40)
    # track 0 loses frames 15-19 and keeps frame 30 alone (29 and 31 gone)
    drop = (tracks.track_id == 0) & (((tracks.frame >= 15) & (tracks.frame < 20))
                                     | np.isin(tracks.frame, [29, 31]))
    gappy = tracks[~drop]
    out = smooth_tracks(gappy)
    t0 = gappy.track_id == 0
    pieces = [(0, 15), (20, 29), (30, 31), (32, 40)]
    for lo, hi in pieces:
        piece = t0 & (gappy.frame >= lo) & (gappy.frame < hi)
        alone = smooth_tracks(gappy[piece])
        np.testing.assert_array_equal(out.xyxy[piece], alone.xyxy, err_msg=f"frames {lo}-{hi}")
    single = t0 & (gappy.frame == 30)
    np.testing.assert_array_equal(out.xyxy[single], gappy.xyxy[single])
    # track 1 is not affected by track 0's gaps
    t1 = tracks.track_id == 1
    np.testing.assert_array_equal(out.xyxy[gappy.track_id == 1], smooth_tracks(tracks).xyxy[t1])


def test_untracked_rows_pass_through() -> None:
    tracks, _ = jittery_tracks(7, n_tracks=2, n_frames=20)
    untracked = Boxes.create(xyxy=[[1, 2, 30, 40]] * 3, frame=[2, 5, 6], track_id=-1)
    mixed = Boxes.create(**{k: np.concatenate([getattr(tracks, k), getattr(untracked, k)])
                            for k in tracks.columns()}, sort=True)
    out = smooth_tracks(mixed)
    loose = mixed.track_id < 0
    np.testing.assert_array_equal(out.xyxy[loose], mixed.xyxy[loose])
    np.testing.assert_array_equal(out.xyxy[~loose], smooth_tracks(tracks).xyxy)


def test_empty_and_strength_zero() -> None:
    assert len(smooth_tracks(Boxes.empty())) == 0
    tracks, _ = jittery_tracks(8, n_tracks=1, n_frames=10)
    np.testing.assert_array_equal(smooth_tracks(tracks, 0).xyxy, tracks.xyxy)
    one = tracks[np.array([3])]
    np.testing.assert_array_equal(smooth_tracks(one).xyxy, one.xyxy)


@pytest.mark.parametrize(
    "strength", [-1.0, float("nan"), float("inf"), MAX_SMOOTH_STRENGTH + 1, True, "2"],
    ids=["negative", "nan", "inf", "too-large", "bool", "str"],
)
def test_bad_strength(strength: object) -> None:
    with pytest.raises(ConfigError, match="strength must be"):
        smooth_tracks(Boxes.empty(), strength)  # type: ignore[arg-type]


def test_bad_tracks() -> None:
    twice = Boxes.create(xyxy=[[0, 0, 10, 10], [1, 1, 11, 11]], frame=[4, 4], track_id=[2, 2])
    with pytest.raises(InputFormatError, match="track 2 has two boxes on frame 4"):
        smooth_tracks(twice)
    nan = Boxes.create(xyxy=[[0, 0, 10, 10], [np.nan, 1, 11, 11]], frame=[0, 1], track_id=3)
    with pytest.raises(InputFormatError, match="row 1 .*non-finite"):
        smooth_tracks(nan)


def test_strength_for_fps() -> None:
    assert strength_for_fps(30.0) == pytest.approx(3.0)
    assert strength_for_fps(14.0, seconds=0.5) == pytest.approx(7.0)
    assert strength_for_fps(1e6) == MAX_SMOOTH_STRENGTH
    for bad in ({"fps": 0.0}, {"fps": 25.0, "seconds": -0.1}):
        with pytest.raises(ConfigError):
            strength_for_fps(**bad)  # type: ignore[arg-type]


MOT15 = ("ADL-Rundle-6", "ADL-Rundle-8", "ETH-Bahnhof", "ETH-Pedcross2", "ETH-Sunnyday",
         "KITTI-13", "KITTI-17", "TUD-Campus", "TUD-Stadtmitte", "Venice-2")


def test_real_tracks_more_accurate_and_sparser(data_dir: Path) -> None:
    """MOT15 (10 train sequences, SORT's Faster R-CNN detections, TrackConfig defaults): the
    default smoothing raises HOTA and LocA (benchmarks/bench_sparse.py: 0.3925 -> 0.4010,
    0.7648 -> 0.7720) and cuts the keyframes needed at IoU 0.9 from 71% to 27% of the boxes."""
    raw, smooth, boxes, kept = [], [], 0, [0, 0]
    for name in MOT15:
        root = data_dir / "MOT15" / name
        num_frames = int(read_seqinfo(root / "seqinfo.ini")["seqLength"])
        dets = read_mot_file(root / "det" / "det_sort_frcnn.txt").replace(track_id=-1,
                                                                            class_id=0)
        gt, extra = read_mot_file(root / "gt" / "gt.txt", with_extra=True)
        tracks = track_detections(dets, TrackConfig(), frames=range(num_frames))
        tracks = tracks[tracks.track_id >= 0]
        smoothed = smooth_tracks(tracks)
        for out, t in ((raw, tracks), (smooth, smoothed)):
            out.append(EvalSequence(tracks=t, gt=gt, gt_extra=extra, num_frames=num_frames,
                                    name=name))
        boxes += len(tracks)
        for i, t in enumerate((tracks, smoothed)):
            kept[i] += int((~sparse_keyframes(t, 0.9, num_frames=num_frames).outside).sum())
    before = evaluate_dataset(raw, benchmark="MOT15").combined
    after = evaluate_dataset(smooth, benchmark="MOT15").combined
    assert after.hota > before.hota + 0.005
    assert after.loca > before.loca + 0.005
    assert kept[0] > 0.6 * boxes and kept[1] < 0.35 * boxes
