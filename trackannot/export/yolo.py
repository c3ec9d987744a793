"""YOLO detection labels of per-frame boxes: one text file per video frame, plus class lists.

Layout (ultralytics finds `labels/x.txt` for `images/x.jpg`; CVAT's YOLO 1.1 reads `obj.names`):

    directory/
      data.yaml          path, train/val image folders, nc, names {0: ..., 1: ...}
      obj.names          one class name per line, in class-id order
      labels/frame_000000.txt ...   one per frame, empty when the frame has no box

Each line is `class cx cy w h`, the box centre and size divided by the frame width / height.
YOLO wants them in [0, 1] (ultralytics drops a label file with values outside), so boxes are
clipped to the frame first; a box with no area left inside the frame is not written. Put the
frames in `directory/images/` (e.g. `ffmpeg -i video.mp4 -start_number 0 images/frame_%06d.jpg`).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import yaml

from trackannot.boxes import Boxes
from trackannot.errors import StoreInputError
from trackannot.export.coco import check_boxes
from trackannot.export.meta import VideoMeta

__all__ = ["LABEL_NAME", "write_yolo", "yolo_rows"]

LABEL_NAME = "frame_{:06d}.txt"


def yolo_rows(boxes: Boxes, meta: VideoMeta) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boxes clipped to the frame and normalised, without those that leave no area.

    Returns:
        frame: (m,) int64, class_id: (m,) int32, cxcywh: (m, 4) float64 in [0, 1].
    """
    size = np.array([meta.width, meta.height, meta.width, meta.height], dtype=np.float64)
    xyxy = np.clip(boxes.xyxy.astype(np.float64), 0.0, size)
    wh = xyxy[:, 2:] - xyxy[:, :2]
    keep = (wh > 0).all(axis=1)
    xyxy, wh = xyxy[keep], wh[keep]
    cxcywh = np.column_stack([xyxy[:, :2] + wh / 2, wh]) / size
    return boxes.frame[keep], boxes.class_id[keep], cxcywh


def write_yolo(directory: str | Path, boxes: Boxes, meta: VideoMeta, *,
               overwrite: bool = False) -> Path:
    """Write YOLO labels for every frame of the video into `directory`, atomically.

    Everything is written to `directory.partial` (a stale one from a crash is removed first) and
    renamed at the end, so `directory` is either complete or absent (with `overwrite`, the old
    directory is renamed aside first, then deleted: a crash leaves the old or the new one).

    Args:
        directory: must not exist yet, unless `overwrite`.
        boxes: per-frame boxes (all frames, e.g. the final interpolated tracks), any track ids.
        meta: the video: frame size, frame count, class names.

    Returns:
        The directory.

    Raises:
        InputFormatError: boxes that do not fit `meta` (see `trackannot.export.coco.check_boxes`).
        StoreInputError: `directory` already exists and not `overwrite`.
    """
    directory = Path(directory)
    check_boxes(boxes, meta, what="write_yolo")
    if directory.exists() and not overwrite:
        raise StoreInputError(f"{directory} exists; write_yolo would overwrite it: remove it or "
                              "choose another directory")
    partial = directory.with_name(directory.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)
    (partial / "labels").mkdir(parents=True)
    names = "\n".join(meta.class_names) + "\n"
    (partial / "obj.names").write_text(names, encoding="utf-8")
    data = {"path": ".", "train": "images", "val": "images", "nc": len(meta.class_names),
            "names": dict(enumerate(meta.class_names))}
    (partial / "data.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    frame, class_id, cxcywh = yolo_rows(boxes, meta)
    order = np.argsort(frame, kind="stable")  # Boxes are sorted already; be safe after clipping
    frame, class_id, cxcywh = frame[order], class_id[order], cxcywh[order]
    bounds = np.searchsorted(frame, np.arange(meta.num_frames + 1))
    lines = [f"{c} {x:.6f} {y:.6f} {w:.6f} {h:.6f}\n"
             for c, (x, y, w, h) in zip(class_id.tolist(), cxcywh.tolist())]
    for f in range(meta.num_frames):
        text = "".join(lines[bounds[f]:bounds[f + 1]])
        (partial / "labels" / LABEL_NAME.format(f)).write_text(text, encoding="utf-8")
    old = directory.with_name(directory.name + ".old")
    if directory.exists():
        if old.exists():
            shutil.rmtree(old)
        os.replace(directory, old)
    os.replace(partial, directory)
    if old.exists():
        shutil.rmtree(old)
    return directory
