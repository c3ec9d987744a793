"""Benchmark data readers: MOT15 (SORT's Faster R-CNN detections) and KITTI tracking Car
(AB3DMOT's PointRCNN detections), as `Sequence`s of detections + ground truth in trackannot Boxes.

The files live in ../shared/data (see its SOURCES.md; non-commercial licences, never copied into
the repository). Frames are 0-based everywhere here: MOT files are 1-based and are shifted on
reading; KITTI files are already 0-based.

Scores fed to every tracker:
- MOT15 det_sort_frcnn.txt: the Faster R-CNN confidences as they are (0.5..1.0).
- KITTI PointRCNN: the raw scores are logits (-0.85..16.3 on Car 0000-0013; AB3DMOT's own Car
  threshold is 3.24). They are mapped to [0, 1] with the logistic function 1 / (1 + exp(-s)),
  monotone and the same for every tracker.

Detections with zero width or height are dropped for every tracker (boxmot rejects them): one
PointRCNN Car box in KITTI 0000 (x1 = x2 = 1241 at the image edge), none in MOT15.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from trackannot import groundtruth
from trackannot.boxes import Boxes
from trackannot.detect.from_file import read_mot_file, read_seqinfo
from trackannot.errors import InputFormatError

__all__ = [
    "KITTI_CAR_SEQUENCES",
    "MOT15_SEQUENCES",
    "Sequence",
    "load_kitti_car",
    "load_mot15",
    "read_kitti_labels",
    "read_pointrcnn",
]

# the 10 MOT15 train sequences with gt in ../shared/data (PETS09-S2L1 has no gt there)
MOT15_SEQUENCES = (
    "ADL-Rundle-6", "ADL-Rundle-8", "ETH-Bahnhof", "ETH-Pedcross2", "ETH-Sunnyday",
    "KITTI-13", "KITTI-17", "TUD-Campus", "TUD-Stadtmitte", "Venice-2",
)
KITTI_CAR_SEQUENCES = tuple(f"{i:04d}" for i in range(14))  # 0000-0013
KITTI_FPS = 10.0
KITTI_IMAGE_SIZE = (1242, 375)  # width, height (sequences vary by a few px; only peers' dummies)
POINTRCNN_CAR = 2  # AB3DMOT class column: 1 Pedestrian, 2 Car, 3 Cyclist


@dataclass(frozen=True, eq=False)
class Sequence:
    """One benchmark sequence.

    Attributes:
        name: sequence name ("KITTI-17", "0005").
        detections: per-frame detections, score in [0, 1], class_id 0, track_id -1.
        gt: ground truth with identities in track_id.
        gt_extra: per-gt-row columns for `trackannot.evaluate.evaluate` (flag/class/...).
        num_frames: sequence length (frames 0..num_frames-1).
        fps: frame rate of the sequence (seqinfo frameRate; 10 for KITTI).
        width, height: image size in pixels.
    """

    name: str
    detections: Boxes
    gt: Boxes
    gt_extra: dict[str, np.ndarray] = field(repr=False)
    num_frames: int
    fps: float
    width: int
    height: int


def _drop_degenerate(boxes: Boxes) -> Boxes:
    """Rows with x2 > x1 and y2 > y1 only."""
    xyxy = boxes.xyxy
    return boxes[(xyxy[:, 2] > xyxy[:, 0]) & (xyxy[:, 3] > xyxy[:, 1])]


def load_mot15(data_dir: Path, det_file: str = "det_sort_frcnn.txt") -> list[Sequence]:
    """The 10 MOT15 train sequences with gt, with SORT's Faster R-CNN detections."""
    out = []
    for name in MOT15_SEQUENCES:
        root = data_dir / "MOT15" / name
        info = read_seqinfo(root / "seqinfo.ini")
        dets = read_mot_file(root / "det" / det_file)
        gt, extra = read_mot_file(root / "gt" / "gt.txt", with_extra=True)
        dets = _drop_degenerate(dets.replace(track_id=-1, class_id=0))
        out.append(Sequence(name=name, detections=dets, gt=gt, gt_extra=extra,
                            num_frames=int(info["seqLength"]), fps=float(info["frameRate"]),
                            width=int(info["imWidth"]), height=int(info["imHeight"])))
    return out


def read_kitti_labels(path: Path) -> tuple[Boxes, dict[str, np.ndarray]]:
    """KITTI tracking label_02 file -> gt Boxes and {"class", "truncation", "occlusion"}.

    The library's reader (`trackannot.groundtruth.read_kitti_labels`): class_id (and
    extra["class"]) uses `trackannot.evaluate.KITTI_CLASS_IDS` (car 1, van 2, ..., dontcare 9);
    DontCare rows keep track_id -1 and serve as ignore regions.
    """
    return groundtruth.read_kitti_labels(path)


def read_pointrcnn(path: Path, class_code: int = POINTRCNN_CAR) -> Boxes:
    """AB3DMOT PointRCNN detections of one class -> Boxes, score = logistic(raw score)."""
    rows = np.loadtxt(path, delimiter=",", ndmin=2)
    if rows.shape[1] < 7:
        raise InputFormatError(
            f"{path}: expected >= 7 comma-separated columns, got {rows.shape[1]}"
        )
    rows = rows[rows[:, 1] == class_code]
    rows = rows[np.argsort(rows[:, 0], kind="stable")]
    return Boxes.create(xyxy=rows[:, 2:6], frame=rows[:, 0].astype(np.int64),
                        score=1.0 / (1.0 + np.exp(-rows[:, 6])))


def load_kitti_car(data_dir: Path, names: tuple[str, ...] = KITTI_CAR_SEQUENCES) -> list[Sequence]:
    """KITTI tracking training Car sequences with the PointRCNN Car detections."""
    root = data_dir / "KITTI-tracking"
    out = []
    for name in names:
        gt, extra = read_kitti_labels(root / "training" / "label_02" / f"{name}.txt")
        dets = read_pointrcnn(root / "detections" / "pointrcnn_Car" / f"{name}.txt")
        dets = _drop_degenerate(dets)
        num_frames = int(max(gt.frame.max(initial=-1), dets.frame.max(initial=-1))) + 1
        out.append(Sequence(name=name, detections=dets, gt=gt, gt_extra=extra,
                            num_frames=num_frames, fps=KITTI_FPS,
                            width=KITTI_IMAGE_SIZE[0], height=KITTI_IMAGE_SIZE[1]))
    return out
