"""COCO export: a real file per video, parsed back with json, counts and coordinates checked."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.export.keyframe_cases import META, mot17_gt, tracks_and_untracked
from trackannot.boxes import Boxes, Origin
from trackannot.errors import InputFormatError
from trackannot.export.coco import format_coco, write_coco
from trackannot.export.meta import VideoMeta


def test_every_box_reads_back(tmp_path: Path) -> None:
    boxes = tracks_and_untracked()
    data = json.loads(write_coco(tmp_path / "coco.json", boxes, META).read_text())
    assert not list(tmp_path.glob("*.partial"))
    assert data["video"] == {"name": "clip.mp4", "width": 1280, "height": 720, "num_frames": 60,
                             "fps": 30.0}
    assert [c["name"] for c in data["categories"]] == list(META.class_names)
    assert [c["id"] for c in data["categories"]] == [1, 2, 3]
    images = data["images"]
    assert [im["id"] for im in images] == list(range(1, 61))
    assert images[7]["file_name"] == "frame_000007.jpg"
    assert all(im["width"] == 1280 and im["height"] == 720 for im in images)
    anns = data["annotations"]
    assert len(anns) == len(boxes) and len({a["id"] for a in anns}) == len(anns)
    for i, a in enumerate(anns):
        x, y, w, h = a["bbox"]
        np.testing.assert_array_equal(np.float32([x, y, x + w, y + h]), boxes.xyxy[i])
        assert a["area"] == pytest.approx(w * h)
        assert a["image_id"] == boxes.frame[i] + 1
        assert a["category_id"] == boxes.class_id[i] + 1
        assert a["score"] == pytest.approx(float(boxes.score[i]))
        assert a["iscrowd"] == 0 and a["segmentation"] == []
        if boxes.track_id[i] >= 0:
            assert a["track_id"] == a["attributes"]["track_id"] == boxes.track_id[i]
            assert a["attributes"]["keyframe"] == (boxes.origin[i] == Origin.KEYFRAME)
        else:
            assert "track_id" not in a and "track_id" not in a["attributes"]
    assert sum("track_id" not in a for a in anns) == 2


def test_real_ground_truth_counts_per_image(tmp_path: Path, data_dir: Path) -> None:
    boxes, meta = mot17_gt(data_dir)
    data = json.loads(write_coco(tmp_path / "gt.json", boxes, meta).read_text())
    per_image = np.bincount([a["image_id"] for a in data["annotations"]],
                            minlength=meta.num_frames + 1)
    np.testing.assert_array_equal(per_image[1:], np.bincount(boxes.frame,
                                                             minlength=meta.num_frames))
    assert len({a["track_id"] for a in data["annotations"]}) == len(np.unique(boxes.track_id))
    assert len(data["images"]) == 525 and data["images"][0]["width"] == 1920


@pytest.mark.parametrize(
    ("change", "pattern"),
    [({"frame": 60}, r"frame outside 0\.\.59"), ({"class_id": 3}, r"class_id outside 0\.\.2"),
     ({"xyxy": [[0, 0, np.inf, 1]]}, r"non-finite box")],
    ids=["frame-past-end", "unknown-class", "non-finite"],
)
def test_boxes_outside_the_video_are_refused(tmp_path: Path, change: dict, pattern: str) -> None:
    boxes = Boxes.create(xyxy=[[0, 0, 1, 1]], frame=0).replace(**change)
    with pytest.raises(InputFormatError, match=pattern):
        write_coco(tmp_path / "c.json", boxes, META)
    assert not list(tmp_path.iterdir())


def test_boxes_are_clipped_to_the_image(tmp_path: Path) -> None:
    """A tracked box reaching past the frame edge is written clipped (x >= 0); one with no
    area in the frame is left out, as the YOLO export does."""
    meta = VideoMeta("clip", 480, 360, 3, 10.0, ("person",))
    boxes = Boxes.create(xyxy=[[-36, 10, 20, 90], [470, 350, 490, 370], [500, 10, 520, 90]],
                         frame=[0, 1, 2], track_id=[1, 1, 1])
    coco = format_coco(boxes, meta)
    assert [a["bbox"] for a in coco["annotations"]] == [[0, 10, 20, 80], [470, 350, 10, 10]]
    assert [a["id"] for a in coco["annotations"]] == [1, 2]
