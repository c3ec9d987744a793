"""interpolate / interpolate_linear: Boxes wrapping, CVAT semantics, guided vs linear rows,
subset and window consistency (incremental recompute), and a real-data check."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from trackannot.boxes import Boxes, Origin
from trackannot.config import InterpolateConfig
from trackannot.detect.from_file import read_mot_file
from trackannot.errors import InputFormatError
from trackannot.interpolate import detections_by_frame, interpolate, interpolate_linear
from trackannot.keyframes import Keyframes

GUIDED = InterpolateConfig()


def small_keyframes() -> Keyframes:
    """Track 3: 0 -> 4 (present), outside at 6, back at 9 (last). Track 1: one keyframe at 2."""
    return Keyframes.create(
        track_id=[3, 3, 3, 3, 1],
        frame=[0, 4, 6, 9, 2],
        xyxy=[[0, 0, 10, 10], [40, 0, 50, 10], [60, 0, 70, 10], [90, 0, 100, 10], [5, 5, 6, 6]],
        outside=[False, False, True, False, False],
        class_id=[2, 5, 2, 7, 4],
    )


def test_linear_rows_and_columns() -> None:
    out = interpolate_linear(small_keyframes())
    assert out.frame.tolist() == [0, 1, 2, 2, 3, 4, 5, 9]
    assert out.track_id.tolist() == [3, 3, 1, 3, 3, 3, 3, 3]
    # frame 5 heads toward the outside keyframe's box; nothing from 6 until 9, nothing after 9
    assert out.xyxy[:, 0].tolist() == [0, 10, 5, 20, 30, 40, 50, 90]
    key = Origin.KEYFRAME
    assert out.origin.tolist() == [key, Origin.INTERPOLATED, key, Origin.INTERPOLATED,
                                   Origin.INTERPOLATED, key, Origin.INTERPOLATED, key]
    # class of the keyframe that opens each row's segment
    assert out.class_id.tolist() == [2, 2, 4, 2, 2, 5, 5, 7]
    assert (out.score == 1.0).all() and (out.det_index == -1).all()
    Boxes(**out.columns())  # sorted and typed as every Boxes


def test_empty_keyframes() -> None:
    out = interpolate(Keyframes.empty(), None, GUIDED)
    assert len(out) == 0 and out.xyxy.shape == (0, 4)


def test_rejects_other_input() -> None:
    with pytest.raises(InputFormatError, match="expects trackannot.keyframes.Keyframes"):
        interpolate_linear(Boxes.empty())  # type: ignore[arg-type]


def test_linear_method_and_missing_detections_give_linear(data_dir: Path) -> None:
    keys, dets = tud_campus(data_dir, step=10)
    want = interpolate_linear(keys)
    for got in (interpolate(keys, dets, InterpolateConfig(method="linear")),
                interpolate(keys, None, GUIDED)):
        assert all(np.array_equal(a, b) for a, b in zip(got.columns().values(),
                                                        want.columns().values()))


def tud_campus(data_dir: Path, step: int) -> tuple[Keyframes, Boxes]:
    """Every `step`-th gt box of each TUD-Campus track (and its last) as keyframes, SORT's
    Faster R-CNN detections."""
    root = data_dir / "MOT15" / "TUD-Campus"
    gt = read_mot_file(root / "gt" / "gt.txt")
    order = np.lexsort((gt.frame, gt.track_id))
    tid, frame = gt.track_id[order], gt.frame[order]
    first = np.r_[True, tid[1:] != tid[:-1]]
    last = np.r_[tid[1:] != tid[:-1], True]
    rank = np.arange(len(tid)) - np.maximum.accumulate(np.where(first, np.arange(len(tid)), 0))
    pick = (rank % step == 0) | last
    keys = Keyframes.create(track_id=tid[pick], frame=frame[pick], xyxy=gt.xyxy[order][pick])
    return keys, read_mot_file(root / "det" / "det_sort_frcnn.txt")


def same_rows(a: Boxes, b: Boxes) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a.columns().values(), b.columns().values()))


def test_guided_keeps_linear_rows_and_keyframes(data_dir: Path) -> None:
    keys, dets = tud_campus(data_dir, step=12)
    lin, got = interpolate_linear(keys), interpolate(keys, dets, GUIDED)
    for name in ("frame", "track_id", "origin", "class_id", "score"):
        np.testing.assert_array_equal(getattr(got, name), getattr(lin, name), err_msg=name)
    is_key = got.origin == Origin.KEYFRAME
    np.testing.assert_array_equal(got.xyxy[is_key], lin.xyxy[is_key])
    assert np.any(got.xyxy[~is_key] != lin.xyxy[~is_key])


def test_subset_of_tracks_and_window_of_keyframes_give_the_same_rows(data_dir: Path) -> None:
    keys, dets = tud_campus(data_dir, step=7)
    full = interpolate(keys, dets, GUIDED)
    ids = np.unique(keys.track_id)
    subset = np.isin(keys.track_id, ids[::2])
    part = interpolate(keys[subset], dets, GUIDED)
    assert same_rows(part, full[np.isin(full.track_id, ids[::2])])
    # a window kf_a..kf_b of one track's keyframes: the rows of frames f_a..f_b
    track = keys.for_track(int(ids[1]))
    assert len(track) >= 5
    for a, b in ((1, 4), (0, 2), (2, len(track) - 1)):
        window = interpolate(track[a:b + 1], dets, GUIDED)
        f_a, f_b = track.frame[a], track.frame[b]
        want = full[(full.track_id == ids[1]) & (full.frame >= f_a) & (full.frame <= f_b)]
        assert same_rows(window, want), (a, b)


def test_guided_beats_linear_on_real_sequence(data_dir: Path) -> None:
    """KITTI tracking 0001 Car gt, keyframes every 10 frames (1 s), PointRCNN detections."""
    root = data_dir / "KITTI-tracking"
    rows = [r.split() for r in (root / "training" / "label_02" / "0001.txt").read_text()
            .splitlines() if r.split()[2] == "Car"]
    gt = Boxes.create(xyxy=[[float(v) for v in r[6:10]] for r in rows],
                      frame=[int(r[0]) for r in rows], track_id=[int(r[1]) for r in rows],
                      sort=True)
    det = np.loadtxt(root / "detections" / "pointrcnn_Car" / "0001.txt", delimiter=",")
    det = det[np.argsort(det[:, 0], kind="stable")]
    dets = Boxes.create(xyxy=det[:, 2:6], frame=det[:, 0].astype(np.int64),
                        score=1 / (1 + np.exp(-det[:, 6])))
    order = np.lexsort((gt.frame, gt.track_id))
    tid, frame = gt.track_id[order], gt.frame[order]
    new_run = np.r_[True, (tid[1:] != tid[:-1]) | (frame[1:] != frame[:-1] + 1)]
    run_first = frame[new_run][np.cumsum(new_run) - 1]
    is_key = ((frame - run_first) % 10 == 0) | np.r_[new_run[1:], True]
    keys = Keyframes.create(track_id=tid[is_key], frame=frame[is_key],
                            xyxy=gt.xyxy[order][is_key])
    shares = {}
    for name, out in (("linear", interpolate_linear(keys)), ("guided", interpolate(keys, dets,
                                                                                    GUIDED))):
        o = np.lexsort((out.frame, out.track_id))
        code = out.track_id[o] * 10_000 + out.frame[o]
        pos = np.searchsorted(code, tid[~is_key] * 10_000 + frame[~is_key])
        a, b = out.xyxy[o][pos].astype(np.float64), gt.xyxy[order][~is_key].astype(np.float64)
        iw = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
        ih = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
        inter = iw * ih
        iou = inter / ((a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
                       + (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) - inter)
        shares[name] = float((iou < 0.7).mean())
    assert shares["linear"] > 0.2
    assert shares["guided"] < 0.5 * shares["linear"], shares


def test_detections_by_frame_layout() -> None:
    dets = Boxes.create(xyxy=np.arange(12).reshape(3, 4), frame=[1, 1, 4], score=[.5, .6, .7])
    start, xyxy, score = detections_by_frame(dets)
    assert start.tolist() == [0, 0, 2, 2, 2, 3]
    assert xyxy.dtype == np.float32 and score.tolist() == pytest.approx([.5, .6, .7])
    assert detections_by_frame(dets, num_frames=7)[0].tolist() == [0, 0, 2, 2, 2, 3, 3, 3]
    assert detections_by_frame(Boxes.empty())[0].tolist() == [0]
    # from frame 2 on: the same offsets, the rows of frames before 2 never referenced
    assert detections_by_frame(dets, num_frames=7, first=2)[0].tolist() == [2, 2, 2, 3, 3, 3]
    assert detections_by_frame(dets, first=9)[0].tolist() == [3]


def test_guided_kernel_gives_the_same_rows_counted_from_the_first_keyframe(
        data_dir: Path) -> None:
    """`interpolate` gives the kernel frames less the first keyframe's (det_start spans the
    keyframes, not the video before them); the rows equal those of absolute frames."""
    from trackannot.interpolate import _params
    from trackannot.kernels.guided import guided_fill
    from trackannot.kernels.interp import linear_counts

    keys, dets = tud_campus(data_dir, step=7)
    track = keys.for_track(int(np.unique(keys.track_id)[1]))[2:]
    first = int(track.frame[0])
    assert first > 0 and len(track) >= 3
    _, seg_start = track.track_bounds()
    counts = linear_counts(track.frame, track.outside, seg_start)
    out_start = np.r_[0, np.cumsum(counts)].astype(np.int64)
    outputs = []
    for shift in (0, first):
        det_start, det_xyxy, det_score = detections_by_frame(dets, first=shift)
        out = (np.empty(out_start[-1], np.int64), np.empty((out_start[-1], 4), np.float32),
               np.empty(out_start[-1], np.int64))
        guided_fill(track.frame - shift, np.ascontiguousarray(track.xyxy), track.outside,
                    seg_start, out_start, det_start, det_xyxy, det_score, _params(GUIDED), *out)
        outputs.append((out[0] + shift, *out[1:]))
    for a, b in zip(*outputs):
        np.testing.assert_array_equal(a, b)
    got = interpolate(track, dets, GUIDED)
    order = np.argsort(outputs[0][0])
    np.testing.assert_array_equal(got.xyxy, outputs[0][1][order])
