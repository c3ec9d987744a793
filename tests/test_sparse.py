"""sparse_keyframes: interpolating its keyframes gives back every tracked box, and nothing else."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from trackannot.boxes import Boxes
from trackannot.config import TrackConfig
from trackannot.detect.from_file import read_mot_file, read_seqinfo
from trackannot.errors import ConfigError, InputFormatError
from trackannot.keyframes import Keyframes
from trackannot.kernels.interp import linear_counts, linear_fill
from trackannot.sparse import sparse_keyframes
from trackannot.track import track_detections


def interpolate(keyframes: Keyframes) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(track_id, frame, xyxy, key row) of every interpolated row, through the linear kernel."""
    ids, seg_start = keyframes.track_bounds()
    counts = linear_counts(keyframes.frame, keyframes.outside, seg_start)
    out_start = np.r_[0, np.cumsum(counts)].astype(np.int64)
    m = int(out_start[-1])
    frame, xyxy, key = np.empty(m, np.int64), np.empty((m, 4), np.float32), np.empty(m, np.int64)
    linear_fill(keyframes.frame, keyframes.xyxy, keyframes.outside, seg_start, out_start,
                frame, xyxy, key)
    return np.repeat(ids, counts), frame, xyxy, key


def iou_or_same(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise IoU in float64, 1.0 where the boxes are identical."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    iw = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    union = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]) + (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union -= iw * ih
    iou = np.divide(iw * ih, union, out=np.zeros_like(union), where=union > 0)
    return np.where((a == b).all(axis=1), 1.0, iou)


def check_reproduces(tracks: Boxes, keyframes: Keyframes, tol: float,
                     keep: np.ndarray | None = None) -> None:
    """Every (track, frame) row comes back once, none extra; IoU >= tol; exact at keyframes."""
    tid, frame, xyxy, key = interpolate(keyframes)
    order = np.lexsort((tracks.frame, tracks.track_id))
    assert np.array_equal(tid, tracks.track_id[order]), "rows differ (track)"
    assert np.array_equal(frame, tracks.frame[order]), "rows differ (frame)"
    ok = iou_or_same(xyxy, tracks.xyxy[order]) >= tol
    assert ok.all(), f"{(~ok).sum()} boxes below IoU {tol}"
    at_key = key >= 0
    np.testing.assert_array_equal(xyxy[at_key], tracks.xyxy[order][at_key])
    # each present keyframe is a row of tracks with that row's class
    present = ~keyframes.outside
    assert at_key.sum() == present.sum()
    np.testing.assert_array_equal(keyframes.class_id[key[at_key]], tracks.class_id[order][at_key])
    if keep is not None:
        assert at_key[np.argsort(order)][keep].all(), "a forced row is not a keyframe"


def random_tracks(seed: int, n_tracks: int = 40, num_frames: int = 120) -> Boxes:
    """Drifting, jittering boxes with gaps (each track visible on a few random spans)."""
    rng = np.random.default_rng(seed)
    parts = []
    for tid in range(n_tracks):
        frames = np.arange(num_frames)
        visible = np.zeros(num_frames, bool)
        for _ in range(rng.integers(1, 4)):
            lo = rng.integers(0, num_frames)
            visible[lo: lo + rng.integers(1, 60)] = True
        f = frames[visible]
        centre = rng.uniform(100, 900, 2) + f[:, None] * rng.normal(0, 2, 2) + rng.normal(
            0, 1.0, (len(f), 2))
        size = rng.uniform(20, 120, 2) * (1 + 0.002 * f[:, None])
        parts.append(Boxes.create(xyxy=np.c_[centre - size / 2, centre + size / 2], frame=f,
                                  track_id=tid, class_id=rng.integers(0, 3) + (f > 100)))
    names = ("xyxy", "frame", "track_id", "class_id")
    cols = {name: np.concatenate([getattr(p, name) for p in parts]) for name in names}
    return Boxes.create(**cols, sort=True)


@pytest.mark.parametrize("tol", [0.8, 0.9, 0.95])
@pytest.mark.parametrize("num_frames", [None, 120], ids=["open", "num_frames"])
def test_random_tracks_reproduced(tol: float, num_frames: int | None) -> None:
    tracks = random_tracks(int(tol * 100))
    keyframes = sparse_keyframes(tracks, tol, num_frames=num_frames)
    check_reproduces(tracks, keyframes, tol)
    assert (~keyframes.outside).sum() < 0.8 * len(tracks)
    if num_frames is not None:
        assert keyframes.frame.max() <= num_frames - 1  # no outside keyframe past the video


def test_keep_rows_are_keyframes() -> None:
    tracks = random_tracks(5)
    keep = np.random.default_rng(5).random(len(tracks)) < 0.05
    keyframes = sparse_keyframes(tracks, 0.9, keep=keep)
    check_reproduces(tracks, keyframes, 0.9, keep=keep)


def test_runs_closed_by_outside_keyframes() -> None:
    # track 7: a still box on frames 2-5 and 9-9 of a 10-frame video
    box = [[10, 10, 50, 90]]
    tracks = Boxes.create(xyxy=box * 5, frame=[2, 3, 4, 5, 9], track_id=7, class_id=2)
    k = sparse_keyframes(tracks, 0.9, num_frames=10)
    assert k.frame.tolist() == [2, 6, 9]
    assert k.outside.tolist() == [False, True, False]
    assert k.class_id.tolist() == [2, 2, 2]
    np.testing.assert_array_equal(k.xyxy, np.float32(box * 3))
    open_end = sparse_keyframes(tracks, 0.9)
    assert open_end.frame.tolist() == [2, 6, 9, 10]
    check_reproduces(tracks, open_end, 0.9)


def test_class_change_starts_a_keyframe() -> None:
    tracks = Boxes.create(xyxy=[[0, 0, 10, 10]] * 6, frame=np.arange(6), track_id=1,
                          class_id=[0, 0, 0, 4, 4, 4])
    k = sparse_keyframes(tracks, 0.5, num_frames=6)
    assert k.frame.tolist() == [0, 3, 5] and k.class_id.tolist() == [0, 4, 4]


def test_empty() -> None:
    assert len(sparse_keyframes(Boxes.empty())) == 0


@pytest.mark.parametrize("kwargs,error,match", [
    ({"iou_tolerance": 0.0}, ConfigError, "iou_tolerance"),
    ({"iou_tolerance": 1.5}, ConfigError, "got 1.5"),
    ({"keep": np.ones(2, bool)}, InputFormatError, r"\(3,\) bool"),
    ({"keep": np.ones(3, int)}, InputFormatError, "int64"),
    ({"num_frames": 2}, InputFormatError, "frame 2 but num_frames=2"),
], ids=["tol-zero", "tol-above-one", "keep-shape", "keep-dtype", "past-video"])
def test_bad_arguments(kwargs: dict, error: type, match: str) -> None:
    tracks = Boxes.create(xyxy=[[0, 0, 1, 1]] * 3, frame=[0, 1, 2], track_id=0)
    with pytest.raises(error, match=match):
        sparse_keyframes(tracks, **kwargs)


@pytest.mark.parametrize("tracks,match", [
    (Boxes.create(xyxy=[[0, 0, 1, 1]] * 2, frame=[0, 1]), "track_id -1"),
    (Boxes.create(xyxy=[[0, 0, 1, 1]] * 2, frame=[4, 4], track_id=[3, 3]), "two boxes on frame 4"),
], ids=["untracked", "repeated"])
def test_bad_tracks(tracks: Boxes, match: str) -> None:
    with pytest.raises(InputFormatError, match=match):
        sparse_keyframes(tracks)


@pytest.mark.parametrize("name", ["TUD-Stadtmitte", "KITTI-17"])
@pytest.mark.parametrize("tol", [0.8, 0.9, 0.95])
def test_real_automatic_tracks_reproduced(data_dir: Path, name: str, tol: float) -> None:
    root = data_dir / "MOT15" / name
    num_frames = int(read_seqinfo(root / "seqinfo.ini")["seqLength"])
    dets = read_mot_file(root / "det" / "det_sort_frcnn.txt").replace(track_id=-1, class_id=0)
    tracks = track_detections(dets, TrackConfig(), frames=range(num_frames))
    tracks = tracks[tracks.track_id >= 0]
    assert len(tracks) > 500
    keyframes = sparse_keyframes(tracks, tol, num_frames=num_frames)
    check_reproduces(tracks, keyframes, tol)
    # real tracks compress, much more at lower tolerances (tracker boxes jitter by a few pixels:
    # at 0.95 most boxes are keyframes)
    assert (~keyframes.outside).sum() < {0.8: 0.5, 0.9: 0.9, 0.95: 1.0}[tol] * len(tracks)
