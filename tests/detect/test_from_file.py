"""MOTChallenge detections files: parsing, errors naming the line, seqinfo, FileDetector scaling."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from trackannot.boxes import Boxes, Origin
from trackannot.config import DecodeConfig, DetectConfig
from trackannot.decode import FrameBatch, decode_frames
from trackannot.detect import FileDetector, make_detector, read_mot_file, read_seqinfo
from trackannot.errors import InputFormatError

# rows, first and last 1-based frame, frames with rows: SOURCES.md, MOT15 official det.txt
MOT15_DET = {
    "ETH-Sunnyday": (1123, 1, 354, 348),
    "KITTI-13": (1040, 4, 340, 308),
    "KITTI-17": (552, 1, 145, 145),
    "PETS09-S2L1": (5578, 1, 795, 795),
    "TUD-Campus": (322, 1, 71, 71),
    "TUD-Stadtmitte": (1129, 1, 179, 179),
    "Venice-2": (7313, 1, 600, 600),
}
PETS_VIDEO = "video/vtest_PETS09-S2L1_480x360_h264.avi"


def _batch(index: list[int], height: int = 360, width: int = 480) -> FrameBatch:
    n = len(index)
    return FrameBatch(
        frames=np.zeros((n, height, width, 3), dtype=np.uint8),
        index=np.asarray(index, dtype=np.int64),
        time_s=np.asarray(index, dtype=np.float64) / 10.0,
    )


@pytest.mark.parametrize("seq", sorted(MOT15_DET), ids=sorted(MOT15_DET))
def test_mot15_det_matches_sources(data_dir: Path, seq: str) -> None:
    rows, first, last, n_frames = MOT15_DET[seq]
    boxes, extra = read_mot_file(data_dir / "MOT15" / seq / "det" / "det.txt", with_extra=True)
    assert len(boxes) == rows
    assert (int(boxes.frame[0]), int(boxes.frame[-1])) == (first - 1, last - 1)
    assert len(np.unique(boxes.frame)) == n_frames
    assert np.all(boxes.track_id == -1)
    assert np.all(boxes.class_id == 1)
    assert np.all(boxes.origin == Origin.DETECTED)
    assert np.all(boxes.xyxy[:, 2:] >= boxes.xyxy[:, :2])
    assert set(extra) == {"flag", "conf", "x", "y", "z"}
    np.testing.assert_array_equal(boxes.score, extra["conf"].astype(np.float32))


def test_acf_scores_are_kept_raw(data_dir: Path) -> None:
    boxes = read_mot_file(data_dir / "MOT15" / "ETH-Sunnyday" / "det" / "det.txt")
    # SOURCES.md: score -0.719..69.3; no clipping to [0, 1]
    assert boxes.score.min() == pytest.approx(-0.719, abs=1e-3)
    assert boxes.score.max() == pytest.approx(69.3, abs=0.05)


@pytest.mark.parametrize(
    ("seq", "pedestrians"),
    [("MOT17-02-FRCNN", 18581), ("MOT17-04-FRCNN", 47557), ("MOT17-05-FRCNN", 6917),
     ("MOT17-09-FRCNN", 5325)],
    ids=["02", "04", "05", "09"],
)
def test_mot17_gt_extra_columns(data_dir: Path, seq: str, pedestrians: int) -> None:
    gt, extra = read_mot_file(data_dir / "MOT17" / seq / "gt" / "gt.txt", with_extra=True)
    assert set(extra) == {"flag", "conf", "class", "visibility"}
    assert all(v.shape == (len(gt),) for v in extra.values())
    # published MOT17 pedestrian counts (flag 1, class 1), as in SOURCES.md
    assert int(np.sum((extra["flag"] == 1) & (extra["class"] == 1))) == pedestrians
    np.testing.assert_array_equal(gt.class_id, extra["class"])
    assert np.all(gt.track_id >= 1)
    assert np.all((extra["visibility"] >= 0) & (extra["visibility"] <= 1))


def test_rows_are_converted_and_sorted(tmp_path: Path) -> None:
    path = tmp_path / "det.txt"
    path.write_text(
        "3,-1,10,20,30,40,45.5,-1,-1,-1\n"
        "1,-1,0,0,5,5,-0.25,-1,-1,-1\n"
        "3,-1,1.5,2,3,4,0.5,-1,-1,-1\n"
    )
    boxes = read_mot_file(path)
    assert boxes.frame.tolist() == [0, 2, 2]
    np.testing.assert_allclose(
        boxes.xyxy, [[0, 0, 5, 5], [10, 20, 40, 60], [1.5, 2, 4.5, 6]]
    )
    assert boxes.score.tolist() == [-0.25, 45.5, 0.5]  # raw, file order kept within a frame
    assert boxes.det_index.tolist() == [0, 0, 1]
    assert boxes.track_id.tolist() == [-1, -1, -1]


def test_gt_ids_sort_within_frame(tmp_path: Path) -> None:
    path = tmp_path / "gt.txt"
    path.write_text("1,5,0,0,1,1,1,2,0.5\n1,2,0,0,1,1,0,7,1\n")
    gt, extra = read_mot_file(path, with_extra=True)
    assert gt.track_id.tolist() == [2, 5]
    assert gt.class_id.tolist() == [7, 2]
    assert extra["flag"].tolist() == [0, 1]
    np.testing.assert_allclose(extra["visibility"], [1.0, 0.5])


def test_empty_file_gives_empty_boxes(tmp_path: Path) -> None:
    path = tmp_path / "det.txt"
    path.write_text("\n")
    boxes, extra = read_mot_file(path, with_extra=True)
    assert len(boxes) == 0 and boxes.xyxy.shape == (0, 4)
    assert len(extra["flag"]) == 0


GOOD = "1,-1,10,20,30,40,0.9\n"


@pytest.mark.parametrize(
    ("third_line", "match"),
    [
        ("2,-1,10,20,30\n", r"det\.txt line 3: expected 7 to 10 comma-separated fields.*got 5"),
        ("2,-1,10,abc,30,40,0.9\n", r"det\.txt line 3: field 4 should be a number, got 'abc'"),
        ("2,-1,10,20,-30,40,0.9\n", r"det\.txt line 3: width should be >= 0, got 2,-1,10,20,-30"),
        ("2,-1,10,20,30,-4,0.9\n", r"det\.txt line 3: height should be >= 0"),
        ("2,-1,10,20,30,40,0.9,1\n", r"det\.txt line 3: expected 7 comma-separated fields like "
         r"line 1, got 8"),
        ("0,-1,10,20,30,40,0.9\n", r"det\.txt line 3: frame should be an integer in 1\.\."),
        ("2.5,-1,10,20,30,40,0.9\n", r"det\.txt line 3: frame should be an integer in 1\.\."),
        ("2,-1,nan,20,30,40,0.9\n", r"det\.txt line 3: frame, id, box and conf must be finite"),
    ],
    ids=["too-few-fields", "non-numeric", "negative-width", "negative-height",
         "field-count-changes", "frame-zero", "frame-fraction", "nan"],
)
def test_malformed_line_is_named(tmp_path: Path, third_line: str, match: str) -> None:
    path = tmp_path / "det.txt"
    path.write_text(GOOD + GOOD + third_line + GOOD)
    with pytest.raises(InputFormatError, match=match):
        read_mot_file(path)


def test_line_numbers_count_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "det.txt"
    path.write_text(GOOD + "\n" + GOOD + "1,2,3\n")
    with pytest.raises(InputFormatError, match="line 4"):
        read_mot_file(path)


def test_eleven_fields_rejected(tmp_path: Path) -> None:
    path = tmp_path / "det.txt"
    path.write_text("1,-1,10,20,30,40,0.9,1,1,1,1\n")
    with pytest.raises(InputFormatError, match="line 1: expected 7 to 10 .* got 11"):
        read_mot_file(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputFormatError, match="detections file not found"):
        read_mot_file(tmp_path / "nope.txt")


def test_read_seqinfo(data_dir: Path) -> None:
    info = read_seqinfo(data_dir / "MOT15" / "PETS09-S2L1" / "seqinfo.ini")
    assert info["name"] == "PETS09-S2L1"
    assert (info["imWidth"], info["imHeight"], info["frameRate"], info["seqLength"]) == (
        768, 576, 7, 795
    )


@pytest.mark.parametrize(
    ("text", "match"),
    [(None, "seqinfo.ini not found"), ("[Other]\na=1\n", r"expected a \[Sequence\] section"),
     ("[Sequence]\nimWidth=wide\n", "imWidth should be a number, got 'wide'")],
    ids=["missing", "no-section", "not-a-number"],
)
def test_read_seqinfo_errors(tmp_path: Path, text: str | None, match: str) -> None:
    path = tmp_path / "seqinfo.ini"
    if text is not None:
        path.write_text(text)
    with pytest.raises(InputFormatError, match=match):
        read_seqinfo(path)


def test_file_detector_scales_pets_onto_the_reencode(data_dir: Path) -> None:
    det_path = data_dir / "MOT15" / "PETS09-S2L1" / "det" / "det.txt"
    detector = make_detector(DetectConfig(), detections=det_path)
    assert isinstance(detector, FileDetector)
    batch = next(iter(decode_frames(data_dir / PETS_VIDEO, DecodeConfig(batch_size=4))))
    assert batch.index.tolist() == [0, 1, 2, 3]
    boxes = detector.detect(batch)
    raw = read_mot_file(det_path).frame_range(0, 4)  # MOT frames 1..4
    assert detector.scale(480, 360) == (0.625, 0.625)  # 480 / 768 and 360 / 576
    np.testing.assert_array_equal(boxes.frame, raw.frame)
    np.testing.assert_allclose(boxes.xyxy, raw.xyxy * 0.625, rtol=1e-6)
    np.testing.assert_array_equal(boxes.score, raw.score)
    for frame in range(4):
        assert boxes.for_frame(frame).det_index.tolist() == list(range(len(raw.for_frame(frame))))


def test_file_detector_returns_only_batch_frames(data_dir: Path) -> None:
    gt_path = data_dir / "MOT15" / "TUD-Campus" / "gt" / "gt.txt"  # 640x480 seqinfo
    detector = FileDetector(gt_path, DetectConfig())
    boxes = detector.detect(_batch([2, 5, 9], height=480, width=640))
    gt = read_mot_file(gt_path)
    assert sorted(set(boxes.frame.tolist())) == [2, 5, 9]
    assert len(boxes) == sum(len(gt.for_frame(f)) for f in (2, 5, 9))
    assert np.all(boxes.track_id == -1)  # detector output is untracked, even from a gt file
    np.testing.assert_allclose(boxes.for_frame(5).xyxy, gt.for_frame(5).xyxy)


def test_file_scale_overrides_seqinfo_and_default_is_one(tmp_path: Path, data_dir: Path) -> None:
    det_path = data_dir / "MOT15" / "PETS09-S2L1" / "det" / "det.txt"
    explicit = FileDetector(det_path, DetectConfig(file_scale=0.5))
    assert explicit.scale(480, 360) == (0.5, 0.5)
    lonely = tmp_path / "det.txt"  # no seqinfo.ini beside a det/ folder
    lonely.write_text("1,-1,10,20,30,40,0.9\n")
    plain = FileDetector(lonely, DetectConfig())
    boxes = plain.detect(_batch([0]))
    np.testing.assert_allclose(boxes.xyxy, [[10, 20, 40, 60]])


def test_file_detector_empty_batch_and_frames_without_rows(data_dir: Path) -> None:
    det_path = data_dir / "MOT15" / "KITTI-13" / "det" / "det.txt"  # first rows in MOT frame 4
    detector = FileDetector(det_path, DetectConfig())
    assert len(detector.detect(_batch([]))) == 0
    assert len(detector.detect(_batch([0, 1, 2], height=375, width=1242))) == 0


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ("2,-1,10,20,30,40,1e39\n", r"line 2: box .* and conf must be finite as float32"),
        ("2,-1,1e300,20,30,40,0.9\n", r"line 2: box .* and conf must be finite as float32"),
        ("2,-1,3e38,20,3e38,40,0.9\n", r"line 2: box .* and conf must be finite as float32"),
        ("1e23,-1,10,20,30,40,0.9\n", r"line 2: frame should be an integer in 1\.\."),
        ("2,1e23,10,20,30,40,0.9\n", r"line 2: id should be an integer of at most"),
        ("2,1.5,10,20,30,40,0.9\n", r"line 2: id should be an integer"),
        ("2,-1,10,20,30,40,0.9,1e12\n", r"line 2: class should be an integer in 0\.\."),
        ("2,-1,10,20,30,40,0.9,-3\n", r"line 2: class should be an integer in 0\.\."),
        ("2,-1,10,20,30,40,0.9,1,nan\n", r"line 2: visibility must be finite"),
    ],
    ids=["conf-1e39", "x-1e300", "right-edge-overflows", "frame-1e23", "id-1e23", "id-fraction",
         "class-huge", "class-negative", "visibility-nan"],
)
def test_values_are_checked_as_stored(tmp_path: Path, line: str, match: str) -> None:
    """float32 for boxes and conf, exact integers for frames, ids and classes: no inf reaches
    the tracker, no OverflowError."""
    path = tmp_path / "det.txt"
    first = "1,-1,10,20,30,40,0.9" + ",1" * (line.count(",") - 6) + "\n"
    path.write_text(first + line)
    with pytest.raises(InputFormatError, match=match) as info:
        read_mot_file(path)
    assert str(path) in str(info.value)


def test_file_detector_clips_to_the_frame_drops_empty_boxes_and_counts(tmp_path: Path) -> None:
    path = tmp_path / "det.txt"  # no seqinfo.ini: scale 1; a 480x360 frame
    path.write_text(
        "1,-1,-20,10,40,50,0.9\n"     # partly left of the frame: clipped to x1 = 0
        "1,-1,470,350,30,30,0.8\n"    # partly right and below: clipped to 480, 360
        "1,-1,500,10,40,50,0.7\n"     # entirely outside: dropped
        "1,-1,100,100,0,50,0.6\n"     # zero width: dropped
        "1,-1,100,100,20,20,0.5\n"    # inside: as is
    )
    detector = FileDetector(path, DetectConfig())
    boxes = detector.detect(_batch([0]))
    np.testing.assert_array_equal(boxes.xyxy, [[0, 10, 20, 60], [470, 350, 480, 360],
                                               [100, 100, 120, 120]])
    assert boxes.score.tolist() == pytest.approx([0.9, 0.8, 0.5])
    assert boxes.det_index.tolist() == [0, 1, 2]
    assert detector.counts == {"clipped": 2, "dropped": 2, "over_max_det": 0}


def test_file_detector_keeps_max_det_boxes_per_frame_by_conf(tmp_path: Path) -> None:
    path = tmp_path / "det.txt"
    rows = [f"1,-1,{10 * i},0,5,5,{s}" for i, s in enumerate([0.2, 0.9, 0.5, 0.9, 0.1])]
    path.write_text("\n".join(rows + ["2,-1,0,0,5,5,0.3"]) + "\n")
    detector = FileDetector(path, DetectConfig(max_det=2))
    boxes = detector.detect(_batch([0, 1]))
    # frame 0: the two 0.9 boxes (file order kept), frame 1 untouched
    assert boxes.frame.tolist() == [0, 0, 1]
    assert boxes.xyxy[:, 0].tolist() == [10, 30, 0]
    assert boxes.det_index.tolist() == [0, 1, 0]
    assert detector.counts["over_max_det"] == 3


@pytest.mark.parametrize(("seq", "clipped"), [("PETS09-S2L1", 76), ("TUD-Campus", 20)],
                         ids=["PETS09-S2L1", "TUD-Campus"])
def test_real_acf_detections_are_clipped_not_refused(data_dir: Path, seq: str,
                                                     clipped: int) -> None:
    """The official MOT15 detections: some boxes reach past the frame (none lies entirely
    outside): every box is kept, clipped to the frame; the counts say how many."""
    root = data_dir / "MOT15" / seq
    info = read_seqinfo(root / "seqinfo.ini")
    width, height = int(info["imWidth"]), int(info["imHeight"])
    raw = read_mot_file(root / "det" / "det.txt")
    detector = FileDetector(root / "det" / "det.txt", DetectConfig(file_scale=1.0))
    frames = sorted(set(raw.frame.tolist()))
    boxes = Boxes.concat([detector.detect(_batch(frames[i:i + 16], height=height, width=width))
                          for i in range(0, len(frames), 16)])
    assert len(boxes) == len(raw)
    assert detector.counts == {"clipped": clipped, "dropped": 0, "over_max_det": 0}
    assert boxes.xyxy[:, :2].min() >= 0
    assert (boxes.xyxy[:, 2] <= width).all() and (boxes.xyxy[:, 3] <= height).all()
