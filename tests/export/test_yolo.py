"""YOLO export: one label file per frame, class lists, clipping, atomic directory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.export.keyframe_cases import META, mot17_gt, tracks_and_untracked
from trackannot.boxes import Boxes
from trackannot.errors import InputFormatError, StoreError
from trackannot.export.yolo import write_yolo


def _read(directory: Path, num_frames: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    frames, classes, rows = [], [], []
    for f in range(num_frames):
        for line in (directory / "labels" / f"frame_{f:06d}.txt").read_text().splitlines():
            c, *vals = line.split()
            frames.append(f), classes.append(int(c)), rows.append([float(v) for v in vals])
    return np.array(frames), np.array(classes), np.array(rows).reshape(-1, 4)


def test_labels_read_back(tmp_path: Path) -> None:
    boxes = tracks_and_untracked()
    out = write_yolo(tmp_path / "yolo", boxes, META)
    assert sorted(p.name for p in out.iterdir()) == ["data.yaml", "labels", "obj.names"]
    assert len(list((out / "labels").iterdir())) == META.num_frames  # empty frames too
    assert (out / "obj.names").read_text().splitlines() == list(META.class_names)
    data = yaml.safe_load((out / "data.yaml").read_text())
    assert data["nc"] == 3 and data["names"] == {0: "person", 1: "car", 2: "bicycle"}
    assert data["train"] == "images"
    frames, classes, cxcywh = _read(out, META.num_frames)
    # every test box lies inside the frame: all are written, in Boxes order
    np.testing.assert_array_equal(frames, boxes.frame)
    np.testing.assert_array_equal(classes, boxes.class_id)
    x1, y1, x2, y2 = boxes.xyxy.astype(np.float64).T
    want = np.column_stack([(x1 + x2) / 2 / 1280, (y1 + y2) / 2 / 720, (x2 - x1) / 1280,
                            (y2 - y1) / 720])
    np.testing.assert_allclose(cxcywh, want, rtol=0, atol=5e-7)  # six decimals


def test_boxes_are_clipped_to_the_frame(tmp_path: Path) -> None:
    boxes = Boxes.create(
        xyxy=[[-20, 100, 60, 200], [1200, 700, 1400, 800], [1300, 0, 1400, 50], [0, 0, 64, 72]],
        frame=[1, 1, 1, 2], class_id=[0, 1, 2, 0],
    )
    frames, classes, cxcywh = _read(write_yolo(tmp_path / "y", boxes, META), META.num_frames)
    np.testing.assert_array_equal(frames, [1, 1, 2])  # the box right of the frame is dropped
    np.testing.assert_array_equal(classes, [0, 1, 0])
    np.testing.assert_allclose(cxcywh, [[30 / 1280, 150 / 720, 60 / 1280, 100 / 720],
                                        [1240 / 1280, 710 / 720, 80 / 1280, 20 / 720],
                                        [0.025, 0.05, 0.05, 0.1]], atol=5e-7)
    assert (cxcywh >= 0).all() and (cxcywh <= 1).all()


def test_real_ground_truth_per_frame_counts(tmp_path: Path, data_dir: Path) -> None:
    boxes, meta = mot17_gt(data_dir)  # 1920x1080, some boxes stick out of the frame
    frames, classes, cxcywh = _read(write_yolo(tmp_path / "gt", boxes, meta), meta.num_frames)
    x1, y1, x2, y2 = boxes.xyxy.T
    inside = (np.minimum(x2, 1920) > np.maximum(x1, 0)) & (np.minimum(y2, 1080) > np.maximum(y1, 0))
    np.testing.assert_array_equal(np.bincount(frames, minlength=525),
                                  np.bincount(boxes.frame[inside], minlength=525))
    assert (classes == 0).all() and (cxcywh >= 0).all() and (cxcywh <= 1).all()


def test_directory_is_written_whole_or_not_at_all(tmp_path: Path) -> None:
    target = tmp_path / "y"
    (tmp_path / "y.partial" / "labels").mkdir(parents=True)  # left by a crash
    (tmp_path / "y.partial" / "labels" / "junk.txt").write_text("x")
    write_yolo(target, Boxes.empty(), META)
    assert not (tmp_path / "y.partial").exists()
    assert not (target / "labels" / "junk.txt").exists()
    with pytest.raises(StoreError, match="exists; write_yolo would overwrite it"):
        write_yolo(target, Boxes.empty(), META)
    bad = Boxes.create(xyxy=[[0, 0, 1, 1]], frame=[99])
    with pytest.raises(InputFormatError, match="frame outside"):
        write_yolo(tmp_path / "z", bad, META)
    assert not (tmp_path / "z").exists() and not (tmp_path / "z.partial").exists()
