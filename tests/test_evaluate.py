"""trackannot.evaluate: TrackEval's metrics on Boxes, checked against TrackEval on files and
against py-motmetrics, on real MOT15/MOT17/KITTI ground truth and detections."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from trackannot.boxes import Boxes
from trackannot.detect.from_file import read_mot_file
from trackannot.errors import InputFormatError
from trackannot.evaluate import (
    KITTI_CLASS_IDS,
    EvalSequence,
    build_sequence_data,
    combine_scores,
    evaluate,
    evaluate_dataset,
)

# -- helpers: a KITTI reader and a tiny linker (independent of trackannot's own tracker) -----------


_KITTI_NAMES = {name.lower(): cid for name, cid in KITTI_CLASS_IDS.items()}


def _read_kitti_labels(path: Path) -> tuple[Boxes, dict[str, np.ndarray]]:
    rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
    frame = np.array([int(r[0]) for r in rows])
    tid = np.array([int(r[1]) for r in rows])
    order = np.lexsort((tid, frame))
    cls = np.array([_KITTI_NAMES[r[2].lower()] for r in rows])
    xyxy = np.array([[float(v) for v in r[6:10]] for r in rows])
    gt = Boxes.create(xyxy=xyxy[order], frame=frame[order], track_id=tid[order],
                      class_id=cls[order])
    extra = {"class": cls[order],
             "truncation": np.array([int(float(r[3])) for r in rows])[order],
             "occlusion": np.array([int(float(r[4])) for r in rows])[order]}
    return gt, extra


def _link(dets: Boxes, min_iou: float = 0.3) -> Boxes:
    """Give detections ids by Hungarian IoU matching to the previous frame (a crude tracker)."""
    from trackannot.evaluate import _box_iou

    next_id, prev_xyxy, prev_ids = 0, np.empty((0, 4)), np.empty(0, np.int64)
    ids = np.empty(len(dets), np.int64)
    for f in np.unique(dets.frame):
        idx = np.flatnonzero(dets.frame == f)
        cur = np.full(len(idx), -1, np.int64)
        iou = _box_iou(prev_xyxy, dets.xyxy[idx])
        if iou.size:
            r, c = linear_sum_assignment(-iou)
            ok = iou[r, c] >= min_iou
            cur[c[ok]] = prev_ids[r[ok]]
        for j in np.flatnonzero(cur < 0):
            cur[j], next_id = next_id, next_id + 1
        ids[idx] = cur
        prev_xyxy, prev_ids = dets.xyxy[idx], cur
    return Boxes.create(xyxy=dets.xyxy, frame=dets.frame, track_id=ids, score=dets.score,
                        sort=True)


def _swap_ids_after(boxes: Boxes, a: int, b: int, frame: int) -> Boxes:
    tid = boxes.track_id.copy()
    late = boxes.frame >= frame
    tid[late & (boxes.track_id == a)], tid[late & (boxes.track_id == b)] = b, a
    return Boxes.create(xyxy=boxes.xyxy, frame=boxes.frame, track_id=tid, sort=True)


# -- behaviour on real ground truth ----------------------------------------------------------------


def test_perfect_tracks_score_one(data_dir: Path) -> None:
    gt, extra = read_mot_file(data_dir / "MOT15/KITTI-17/gt/gt.txt", with_extra=True)
    tracks = gt[extra["flag"] != 0]
    s = evaluate(tracks, gt, gt_extra=extra, benchmark="MOT15", num_frames=145)
    assert (s.hota, s.deta, s.assa, s.mota, s.idf1) == (1.0, 1.0, 1.0, 1.0, 1.0)
    assert (s.fp, s.fn, s.idsw, s.num_gt_dets) == (0, 0, 0, 683)  # 683 rows with flag 1


def test_perfect_tracks_score_one_mot17(data_dir: Path) -> None:
    gt, extra = read_mot_file(data_dir / "MOT17/MOT17-09-FRCNN/gt/gt.txt", with_extra=True)
    # all gt rows as tracks: pedestrians score, distractor matches are removed, others are FP
    peds = gt[(extra["flag"] == 1) & (extra["class"] == 1)]
    s = evaluate(peds, gt, gt_extra=extra, benchmark="MOT17")
    assert (s.hota, s.mota, s.idf1, s.num_gt_dets) == (1.0, 1.0, 1.0, 5325)


def test_swapped_identity_lowers_idf1_and_assa(data_dir: Path) -> None:
    gt, extra = read_mot_file(data_dir / "MOT15/TUD-Campus/gt/gt.txt", with_extra=True)
    perfect = evaluate(gt, gt, gt_extra=extra)
    a, b = np.unique(gt.track_id)[:2]
    both = np.intersect1d(gt.frame[gt.track_id == a], gt.frame[gt.track_id == b])
    swapped = evaluate(_swap_ids_after(gt, a, b, int(both[len(both) // 2])), gt, gt_extra=extra)
    assert perfect.idf1 == 1.0 and swapped.idf1 < 1.0
    assert perfect.assa == 1.0 and swapped.assa < 1.0
    assert swapped.deta == 1.0 and swapped.idsw == 2 and swapped.mota < 1.0


def test_empty_tracks(data_dir: Path) -> None:
    gt, extra = read_mot_file(data_dir / "MOT15/TUD-Campus/gt/gt.txt", with_extra=True)
    s = evaluate(Boxes.empty(), gt, gt_extra=extra)
    assert s.mota <= 0.0 and s.hota == 0.0 and s.idf1 == 0.0
    assert (s.fn, s.tp, s.ml) == (359, 0, 8)


def test_tracks_without_gt_are_all_false_positives() -> None:
    tracks = Boxes.create(xyxy=[[0, 0, 10, 10]] * 2, frame=[0, 1], track_id=[3, 3])
    s = evaluate(tracks, Boxes.empty())
    assert (s.fp, s.tp, s.hota, s.mota) == (2, 0, 0.0, 0.0)


# -- cross-checks ----------------------------------------------------------------------------------


def test_mota_idf1_match_py_motmetrics(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """MOTA, IDF1 and the counts agree with py-motmetrics (an independent implementation)."""
    import motmetrics as mm

    # motmetrics 1.4.0 calls np.asfarray, which numpy 2 removed
    monkeypatch.setattr(np, "asfarray", lambda a, dtype=float: np.asarray(a, dtype=dtype),
                        raising=False)
    gt, extra = read_mot_file(data_dir / "MOT15/KITTI-17/gt/gt.txt", with_extra=True)
    dets = read_mot_file(data_dir / "MOT15/KITTI-17/det/det_sort_frcnn.txt")
    tracks = _link(dets)
    ours = evaluate(tracks, gt, gt_extra=extra, benchmark="MOT15", num_frames=145)

    gt_eval = gt[extra["flag"] != 0]  # motmetrics has no flags: drop the ignored rows first
    acc = mm.MOTAccumulator(auto_id=True)
    def to_xywh(b: Boxes) -> np.ndarray:
        return np.c_[b.xyxy[:, :2], b.xyxy[:, 2:] - b.xyxy[:, :2]].astype(float)

    for f in range(145):
        g, t = gt_eval.for_frame(f), tracks.for_frame(f)
        dist = mm.distances.iou_matrix(to_xywh(g), to_xywh(t), max_iou=0.5)
        acc.update(g.track_id.tolist(), t.track_id.tolist(), dist)
    names = ["mota", "idf1", "num_false_positives", "num_misses", "num_switches"]
    ref = mm.metrics.create().compute(acc, metrics=names, name="x").iloc[0]
    assert ours.mota == pytest.approx(ref["mota"], abs=1e-6)
    assert ours.idf1 == pytest.approx(ref["idf1"], abs=1e-6)
    assert (ours.fp, ours.fn, ours.idsw) == (
        ref["num_false_positives"], ref["num_misses"], ref["num_switches"])
    assert ours.idsw > 0 and 0.0 < ours.mota < 1.0  # a real, imperfect tracking result


def _trackeval_on_files(dataset: object, tracker: str, seq: str, cls: str) -> dict[str, dict]:
    """Run TrackEval's own dataset reader + preprocessing + metrics on files."""
    from trackeval.metrics import CLEAR, HOTA, Identity

    data = dataset.get_preprocessed_seq_data(  # type: ignore[attr-defined]
        dataset.get_raw_seq_data(tracker, seq), cls)  # type: ignore[attr-defined]
    quiet = {"THRESHOLD": 0.5, "PRINT_CONFIG": False}
    return {"HOTA": HOTA().eval_sequence(data), "CLEAR": CLEAR(dict(quiet)).eval_sequence(data),
            "Identity": Identity(dict(quiet)).eval_sequence(data), "data": data}


def _assert_same_as_trackeval(ours: object, ref: dict[str, dict]) -> None:
    raw = ours.trackeval  # type: ignore[attr-defined]
    for metric, fields in {"HOTA": ("HOTA", "DetA", "AssA", "LocA"),
                           "CLEAR": ("MOTA", "MOTP", "CLR_FP", "CLR_FN", "IDSW", "MT", "ML"),
                           "Identity": ("IDF1", "IDTP")}.items():
        for name in fields:
            np.testing.assert_allclose(raw[metric][name], ref[metric][name], atol=1e-6,
                                       err_msg=f"{metric}.{name}")


def _fmt(v: float) -> str:
    return repr(float(v))  # float32 -> shortest float64 text that reads back exactly


def _perturbed(gt: Boxes, rng: np.random.Generator, n_fp: int) -> Boxes:
    """gt rows (all classes) jittered to 1/4 px, 10% dropped, plus n_fp random boxes."""
    keep = rng.random(len(gt)) > 0.1
    xyxy = gt.xyxy[keep] + np.round(rng.normal(0, 3, (keep.sum(), 4)) * 4) / 4
    frame, tid = gt.frame[keep], gt.track_id[keep]
    fp_frame = rng.integers(0, gt.frame.max() + 1, n_fp)
    fp_xy = np.round(rng.uniform(0, 1500, (n_fp, 2)))
    xyxy = np.r_[xyxy, np.c_[fp_xy, fp_xy + np.round(rng.uniform(20, 200, (n_fp, 2)))]]
    return Boxes.create(xyxy=xyxy, frame=np.r_[frame, fp_frame],
                        track_id=np.r_[tid, 10_000 + np.arange(n_fp)], sort=True)


def test_mot17_preprocessing_matches_trackeval_on_files(data_dir: Path, tmp_path: Path) -> None:
    """Distractor removal and class/flag filtering give TrackEval's numbers exactly."""
    from trackeval.datasets import MotChallenge2DBox

    seq = "MOT17-09-FRCNN"
    gt, extra = read_mot_file(data_dir / "MOT17" / seq / "gt/gt.txt", with_extra=True)
    tracks = _perturbed(gt, np.random.default_rng(0), n_fp=300)
    ours = evaluate(tracks, gt, gt_extra=extra, benchmark="MOT17", num_frames=525)

    (tmp_path / "trk/data").mkdir(parents=True)
    lines = [f"{f + 1},{i},{_fmt(x1)},{_fmt(y1)},{_fmt(x2 - x1)},{_fmt(y2 - y1)},1,-1,-1,-1"
             for f, i, (x1, y1, x2, y2) in zip(tracks.frame, tracks.track_id,
                                                tracks.xyxy.astype(np.float64))]
    (tmp_path / "trk/data" / f"{seq}.txt").write_text("\n".join(lines) + "\n")
    dataset = MotChallenge2DBox({
        "GT_FOLDER": str(data_dir / "MOT17"), "TRACKERS_FOLDER": str(tmp_path),
        "SEQ_INFO": {seq: 525}, "SKIP_SPLIT_FOL": True, "BENCHMARK": "MOT17",
        "TRACKERS_TO_EVAL": ["trk"], "PRINT_CONFIG": False})
    ref = _trackeval_on_files(dataset, "trk", seq, "pedestrian")
    assert ours.num_tracker_dets == ref["data"]["num_tracker_dets"] < len(tracks)  # some removed
    assert ours.num_gt_dets == ref["data"]["num_gt_dets"] == 5325
    _assert_same_as_trackeval(ours, ref)


def test_kitti_preprocessing_matches_trackeval_on_files(data_dir: Path, tmp_path: Path) -> None:
    """Van/occluded/truncated removal, DontCare regions and the 25 px rule match TrackEval."""
    from trackeval.datasets import Kitti2DBox

    kitti = data_dir / "KITTI-tracking"
    gt, extra = _read_kitti_labels(kitti / "training/label_02/0000.txt")
    raw = np.loadtxt(kitti / "detections/pointrcnn_Car/0000.txt", delimiter=",", ndmin=2)
    order = np.argsort(raw[:, 0], kind="stable")
    dets = Boxes.create(xyxy=raw[order, 2:6], frame=raw[order, 0].astype(np.int64))
    tracks = _link(dets)
    ours = evaluate(tracks, gt, gt_extra=extra, benchmark="KITTI", num_frames=154)

    gt_dir = tmp_path / "gt"
    gt_dir.mkdir()
    (gt_dir / "label_02").symlink_to(kitti / "training/label_02")
    (gt_dir / "evaluate_tracking.seqmap.training").write_text("0000 empty 000000 000154\n")
    (tmp_path / "trk/trk/data").mkdir(parents=True)
    lines = [f"{f} {i} Car -1 -1 -10 {' '.join(map(_fmt, b))} -1 -1 -1 -1000 -1000 -1000 -10 1"
             for f, i, b in zip(tracks.frame, tracks.track_id, tracks.xyxy.astype(np.float64))]
    (tmp_path / "trk/trk/data/0000.txt").write_text("\n".join(lines) + "\n")
    dataset = Kitti2DBox({"GT_FOLDER": str(gt_dir), "TRACKERS_FOLDER": str(tmp_path / "trk"),
                          "CLASSES_TO_EVAL": ["car"], "TRACKERS_TO_EVAL": ["trk"],
                          "PRINT_CONFIG": False})
    ref = _trackeval_on_files(dataset, "trk", "0000", "car")
    assert ours.num_tracker_dets == ref["data"]["num_tracker_dets"] < len(tracks)
    assert ours.num_gt_dets == ref["data"]["num_gt_dets"]
    _assert_same_as_trackeval(ours, ref)


# -- combining sequences ---------------------------------------------------------------------------


def test_dataset_combination_is_trackeval_weighting(data_dir: Path) -> None:
    seqs = []
    for name in ("TUD-Campus", "KITTI-17"):
        gt, extra = read_mot_file(data_dir / "MOT15" / name / "gt/gt.txt", with_extra=True)
        dets = read_mot_file(data_dir / "MOT15" / name / "det/det_sort_frcnn.txt")
        seqs.append(EvalSequence(tracks=_link(dets), gt=gt, gt_extra=extra, name=name))
    result = evaluate_dataset(seqs, benchmark="MOT15")
    a, b = result.per_sequence["TUD-Campus"], result.per_sequence["KITTI-17"]
    c = result.combined
    assert (c.tp, c.fp, c.fn, c.idsw) == (a.tp + b.tp, a.fp + b.fp, a.fn + b.fn, a.idsw + b.idsw)
    assert c.mota == pytest.approx((c.tp - c.fp - c.idsw) / (c.tp + c.fn))
    assert min(a.hota, b.hota) < c.hota < max(a.hota, b.hota)
    assert c.hota != pytest.approx((a.hota + b.hota) / 2)  # weighted by detections, not averaged
    same = combine_scores([a, a])
    assert (same.hota, same.mota, same.idf1) == pytest.approx((a.hota, a.mota, a.idf1))
    tuples = evaluate_dataset([(s.tracks, s.gt, s.gt_extra) for s in seqs]).combined
    assert tuples.hota == c.hota


# -- synthetic edge cases and errors ---------------------------------------------------------------


def _box(x: float, h: float = 40.0) -> list[float]:
    return [x, 0.0, x + 20.0, h]


@pytest.mark.parametrize(
    ("protocol", "gt_class", "expected_fp"),
    [("MOT17", 7, 0), ("MOT17", 1, 0), ("MOT17", 3, 1), ("MOT20", 6, 0), ("MOT17", 6, 1)],
    ids=["static-person-removed", "pedestrian-tp", "car-is-fp", "mot20-vehicle", "mot17-vehicle"],
)
def test_mot_distractor_rules(protocol: str, gt_class: int, expected_fp: int) -> None:
    gt = Boxes.create(xyxy=[_box(0)], frame=0, track_id=[1])
    tracks = Boxes.create(xyxy=[_box(1)], frame=0, track_id=[5])
    s = evaluate(tracks, gt, gt_extra={"class": [gt_class], "flag": [1]}, benchmark=protocol)
    assert s.fp == expected_fp
    assert s.tp == (1 if gt_class == 1 else 0)


@pytest.mark.parametrize(
    ("gt_rows", "track_box", "expected"),
    [
        ([("car", 0, 0, _box(0))], _box(1), (1, 0, 0)),
        ([("van", 0, 0, _box(0))], _box(1), (0, 0, 0)),  # distractor: neither TP nor FP
        ([("car", 0, 3, _box(0))], _box(1), (0, 0, 0)),  # heavily occluded gt: ignored
        ([("car", 1, 0, _box(0))], _box(1), (0, 0, 0)),  # truncated gt: ignored
        ([("car", 0, 0, _box(0))], _box(200), (0, 1, 1)),  # unmatched: FP
        ([("car", 0, 0, _box(0))], _box(200, h=25), (0, 0, 1)),  # unmatched, <= 25 px tall
        ([("dontcare", 0, 0, [190, 0, 230, 50]), ("car", 0, 0, _box(0))], _box(200), (0, 0, 1)),
    ],
    ids=["car-tp", "van", "occluded", "truncated", "fp", "too-small", "in-dontcare"],
)
def test_kitti_rules(gt_rows: list, track_box: list, expected: tuple[int, int, int]) -> None:
    """(tp, fp, fn) of one tracker box against one frame of KITTI gt (rows in sorted order)."""
    gt = Boxes.create(xyxy=[r[3] for r in gt_rows], frame=0,
                      track_id=[-1 if r[0] == "dontcare" else i for i, r in enumerate(gt_rows)],
                      class_id=[KITTI_CLASS_IDS[r[0]] for r in gt_rows])
    extra = {"truncation": [r[1] for r in gt_rows], "occlusion": [r[2] for r in gt_rows]}
    tracks = Boxes.create(xyxy=[track_box], frame=0, track_id=[0])
    s = evaluate(tracks, gt, gt_extra=extra, benchmark="KITTI")
    assert (s.tp, s.fp, s.fn) == expected


def test_untracked_rows_are_ignored() -> None:
    gt = Boxes.create(xyxy=[_box(0)], frame=0, track_id=[1])
    tracks = Boxes.create(xyxy=[_box(0), _box(100)], frame=0, track_id=[-1, 4])
    s = evaluate(tracks, gt)
    assert (s.tp, s.fp, s.num_tracker_dets) == (0, 1, 1)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"benchmark": "MOT99"}, "benchmark must be one of"),
        ({"gt_extra": {"flag": [1, 1, 1]}}, r"gt_extra\['flag'\] must have one value per gt row"),
        ({"num_frames": 1}, "frame 1 is outside the sequence of num_frames=1"),
        ({"benchmark": "KITTI", "kitti_class": "truck"}, "kitti_class must be one of"),
    ],
    ids=["benchmark", "extra-length", "num-frames", "kitti-class"],
)
def test_errors(kwargs: dict, match: str) -> None:
    gt = Boxes.create(xyxy=[_box(0)] * 2, frame=[0, 1], track_id=[1, 1])
    with pytest.raises(InputFormatError, match=match):
        evaluate(gt, gt, **kwargs)


def test_duplicate_ids_in_a_frame_raise() -> None:
    gt = Boxes.create(xyxy=[_box(0)], frame=0, track_id=[1])
    tracks = Boxes.create(xyxy=[_box(0), _box(50)], frame=[3, 3], track_id=[2, 2])
    with pytest.raises(InputFormatError, match="track_id 2 appears 2 times in frame 3"):
        evaluate(tracks, gt)
    with pytest.raises(InputFormatError, match="gt row 0 .*track_id -1"):
        evaluate(tracks, Boxes.create(xyxy=[_box(0)], frame=0))


def test_build_sequence_data_relabels_ids() -> None:
    gt = Boxes.create(xyxy=[_box(0), _box(50), _box(0)], frame=[0, 0, 2], track_id=[40, 90, 40])
    data = build_sequence_data(gt, gt)
    assert data["num_timesteps"] == 3 and data["num_gt_ids"] == 2
    assert [x.tolist() for x in data["gt_ids"]] == [[0, 1], [], [0]]
    assert data["similarity_scores"][0].shape == (2, 2)
