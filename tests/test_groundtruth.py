"""trackannot.groundtruth: MOT or KITTI ground truth told apart by content, the KITTI label reader
and its errors, and the choice of the KITTI class a store is scored as."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from trackannot.boxes import Boxes
from trackannot.errors import InputFormatError, InvalidInputError, NotFoundError
from trackannot.evaluate import KITTI_CLASS_IDS, evaluate
from trackannot.groundtruth import (
    choose_kitti_class, gt_format, read_ground_truth, read_kitti_labels, score_tracks,
)

LABELS = "KITTI-tracking/training/label_02/0000.txt"
GOOD = ("0 -1 DontCare -1 -1 -10 10 20 30 40 -1000 -1000 -1000 -10 -1 -1 -1\n"
        "0 0 Van 0 0 -1.79 296.7 161.7 455.2 292.4 2.0 1.8 4.4 -4.5 1.9 13.4 -2.1\n"
        "1 3 Car 0 0 -1.5 100 100 200 180 1.5 1.6 3.9 1 1 10 0.1\n"
        "1 0 Person_sitting 1 2 0.2 5 6 25 60 1.2 0.5 0.8 2 1 8 0.3\n")


def test_kitti_labels_read_as_the_file_says(data_dir: Path) -> None:
    path = data_dir / LABELS
    gt, extra = read_kitti_labels(path)
    rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
    assert len(gt) == len(rows) == 1089
    names = {"person_sitting": "person"}
    kind = [names.get(r[2].lower(), r[2].lower()) for r in rows]
    expected = sorted((int(r[0]), int(r[1]), KITTI_CLASS_IDS[k], int(r[3]), int(r[4]),
                       *map(float, r[6:10])) for r, k in zip(rows, kind))
    got = sorted(zip(gt.frame.tolist(), gt.track_id.tolist(), gt.class_id.tolist(),
                     extra["truncation"].tolist(), extra["occlusion"].tolist(),
                     *gt.xyxy.astype(np.float64).T.tolist()))
    assert [g[:5] for g in got] == [e[:5] for e in expected]
    assert np.allclose([g[5:] for g in got], [e[5:] for e in expected], atol=1e-4)
    assert (np.diff(gt.frame) >= 0).all() and np.array_equal(extra["class"], gt.class_id)
    assert set(gt.track_id[gt.class_id == KITTI_CLASS_IDS["dontcare"]].tolist()) == {-1}
    assert gt_format(path) == "KITTI" and read_ground_truth(path).benchmark == "KITTI"


def test_person_sitting_and_a_tracker_score_column(tmp_path: Path) -> None:
    path = tmp_path / "labels.txt"
    path.write_text(GOOD.replace("0.3\n", "0.3 0.97\n"))  # 18 fields on the last line
    gt, extra = read_kitti_labels(path)
    assert gt.class_id.tolist() == [9, 2, 5, 1]  # sorted by (frame, id)
    assert gt.track_id.tolist() == [-1, 0, 0, 3]
    assert extra["truncation"].tolist() == [-1, 0, 1, 0]
    assert extra["occlusion"].tolist() == [-1, 0, 2, 0]


_REST = "-1.5 100 100 200 180 1.5 1.6 3.9 1 1 10 0.1"  # alpha, box and the 3D fields


@pytest.mark.parametrize("line, message", [
    ("1 4 Car 0 0 -1.5 100 100 200", "expected 17 space-separated KITTI tracking label fields"),
    (f"1 4 Bus 0 0 {_REST}", "field 3 (type) should be one of"),
    (f"1.5 4 Car 0 0 {_REST}", "field 1 (frame) should be an integer"),
    (f"-1 4 Car 0 0 {_REST}", "field 1 (frame) should be an integer >= 0"),
    (f"1 -1 Car 0 0 {_REST}", "a Car needs a track_id >= 0"),
    (f"1 4 Car 0 x {_REST}", "field 5 (occluded) should be a number, got 'x'"),
    ("1 4 Car 0 0 -1.5 300 100 200 180 1.5 1.6 3.9 1 1 10 0.1",
     "x2 >= x1 and y2 >= y1, got 300 100 200 180"),
    ("1 4 Car 0 0 -1.5 100 nan 200 180 1.5 1.6 3.9 1 1 10 0.1", "should be a finite box"),
    (f"1 3 Van 0 0 {_REST}", "track_id 3 appears twice in frame 1"),
], ids=["fields", "type", "frame-float", "frame-negative", "object-without-id", "not-a-number",
        "box-order", "box-nan", "id-twice"])
def test_a_damaged_kitti_line_names_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "bad.txt"
    lines = GOOD.splitlines()
    path.write_text("\n".join(lines[:3] + [""] + [line] + lines[3:]) + "\n")  # a blank line 4
    with pytest.raises(InputFormatError, match="bad.txt line 5") as err:
        read_ground_truth(path)
    assert message in str(err.value) and str(path) in str(err.value)


def test_the_format_is_found_from_the_content(data_dir: Path, tmp_path: Path) -> None:
    mot = data_dir / "MOT15" / "TUD-Campus" / "gt" / "gt.txt"
    assert gt_format(mot) == "MOT"
    truth = read_ground_truth(mot)
    assert truth.format == "MOT" and truth.benchmark == "MOT15" and truth.scale == 1.0
    neither = tmp_path / "x.txt"
    neither.write_text("\n1 2 3 4 5 6 7\n")
    with pytest.raises(InputFormatError, match=r"x.txt line 2: expected a MOTChallenge gt.txt "
                       r"line .* or a KITTI tracking label line"):
        read_ground_truth(neither)
    with pytest.raises(NotFoundError, match="none.txt: no such file"):
        read_ground_truth(tmp_path / "none.txt")


def _kitti(tmp_path: Path) -> object:
    path = tmp_path / "labels.txt"
    path.write_text(GOOD)
    return read_ground_truth(path)


COCO = ["person", "bicycle", "car"]
# store boxes: tracks 1, 2 cars (class 2), track 3 a person (class 0)
CLASS_ID = np.array([2, 2, 0, 2])
TRACK_ID = np.array([1, 2, 3, 1])


@pytest.mark.parametrize("spec, names, name, ids", [
    (None, COCO, "car", (2,)),
    ("pedestrian", COCO, "pedestrian", (0,)),
    ("Car", COCO, "car", (2,)),
    ("car=0,2", None, "car", (0, 2)),
    ("pedestrian=7", COCO, "pedestrian", (7,)),
], ids=["most-tracks", "chosen", "any-case", "ids-named", "ids-over-names"])
def test_the_kitti_class_of_a_store(tmp_path: Path, spec, names, name, ids) -> None:
    chosen = choose_kitti_class(spec, names, CLASS_ID, TRACK_ID, _kitti(tmp_path))
    assert (chosen.name, chosen.class_ids) == (name, ids) and chosen.why


def test_an_unnamed_store_is_scored_whole_as_the_labels_main_class(tmp_path: Path) -> None:
    gt = _kitti(tmp_path)  # one car, no pedestrian (Person_sitting is not one)
    chosen = choose_kitti_class(None, None, np.array([0, 0]), np.array([1, 2]), gt)
    assert (chosen.name, chosen.class_ids) == ("car", None) and "labels.txt" in chosen.why
    chosen = choose_kitti_class("pedestrian", [], np.array([0, 0]), np.array([1, 2]), gt)
    assert (chosen.name, chosen.class_ids) == ("pedestrian", None)


@pytest.mark.parametrize("spec, names, class_id, message", [
    ("truck", COCO, CLASS_ID, "expected car or pedestrian"),
    ("car=x", COCO, CLASS_ID, "expected car or pedestrian"),
    (None, None, CLASS_ID, "classes 0, 2 and the detector names none: pass --gt-class car=ID"),
    ("pedestrian", ["car", "truck"], CLASS_ID, "names no class that is KITTI Pedestrian"),
    (None, ["dog", "cat", "bird"], CLASS_ID, "names no class that is KITTI Car"),
], ids=["unknown-class", "bad-id", "unnamed-classes", "no-such-name", "no-kitti-names"])
def test_a_kitti_class_that_fits_nothing_says_what_to_pass(tmp_path: Path, spec, names, class_id,
                                                           message) -> None:
    with pytest.raises(InvalidInputError, match=message):
        choose_kitti_class(spec, names, class_id, TRACK_ID, _kitti(tmp_path))


def test_score_tracks_keeps_the_class_and_the_frames_processed(tmp_path: Path) -> None:
    gt = _kitti(tmp_path)
    car = gt.boxes[gt.boxes.class_id == KITTI_CLASS_IDS["car"]]  # frame 1, id 3
    tracks = Boxes.concat([car.replace(track_id=[8], class_id=[0], frame=[0]),
                           car.replace(track_id=[7], class_id=[2])])
    chosen = choose_kitti_class("car", COCO, tracks.class_id, tracks.track_id, gt)
    scores = score_tracks(tracks, gt, np.array([0, 1]), kitti=chosen)
    direct = evaluate(tracks[tracks.class_id == 2], gt.boxes, gt_extra=gt.extra,
                      benchmark="KITTI", num_frames=2)
    assert scores.hota == direct.hota == 1.0 and scores.num_tracker_dets == 1
    with pytest.raises(InvalidInputError, match="scored for one class"):
        score_tracks(tracks, gt, np.array([0, 1]))
    # frames the run did not process are left out of both sides
    only0 = score_tracks(tracks, gt, np.array([0]), kitti=chosen)
    assert only0.num_gt_dets == 0 and only0.num_tracker_dets == 0
