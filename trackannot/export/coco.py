"""COCO detection JSON of per-frame boxes: one image per video frame, track ids kept.

The layout follows what CVAT's COCO 1.0 export (datumaro's COCO converter) writes for a video
task: `images` with 1-based ids and `frame_%06d` file names, `categories` with 1-based ids in
class order, and per box `bbox` = [x, y, width, height] in pixels, `area`, `iscrowd` 0, empty
`segmentation`, and an `attributes` object with `occluded`, `keyframe` and `track_id` (CVAT's
extension). `keyframe` is true only for a box a person drew or confirmed (origin KEYFRAME), not
for one interpolated between keyframes or propagated from one. We add a top-level `track_id`,
`score` and `origin` ("detected", "predicted", "interpolated", "keyframe", "propagated": where
the box came from) per box and a `video` object (name, size, frame count, fps), which COCO
readers ignore. Boxes are clipped to the frame (COCO boxes lie in
their image; a tracked box can reach a pixel or two past the edge), and a box with no area left
inside it is not written, as in the YOLO export.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from trackannot.boxes import Boxes, Origin
from trackannot.errors import InputFormatError
from trackannot.export.meta import VideoMeta, write_text_atomic
from trackannot.validate import clip_to_frame

__all__ = ["check_boxes", "format_coco", "write_coco"]

IMAGE_NAME = "frame_{:06d}.jpg"  # CVAT's name for the frames of a video task
_ORIGIN_NAMES = {int(o): o.name.lower() for o in Origin}  # the "origin" of each box


def check_boxes(boxes: Boxes, meta: VideoMeta, *, what: str = "boxes") -> None:
    """Raise unless every box is finite, on a frame of the video and of a known class.

    Raises:
        InputFormatError: naming the first offending row.
    """
    if len(boxes) == 0:
        return
    k = len(meta.class_names)
    problems = [
        (~np.isfinite(boxes.xyxy).all(axis=1), "a non-finite box"),
        ((boxes.frame < 0) | (boxes.frame >= meta.num_frames),
         f"a frame outside 0..{meta.num_frames - 1} (video {meta.name!r})"),
        ((boxes.class_id < 0) | (boxes.class_id >= k),
         f"a class_id outside 0..{k - 1} (class_names {list(meta.class_names)})"),
    ]
    for bad, why in problems:
        if bad.any():
            i = int(np.argmax(bad))
            raise InputFormatError(
                f"{what}: row {i} (frame {boxes.frame[i]}, track {boxes.track_id[i]}, class "
                f"{boxes.class_id[i]}, box {boxes.xyxy[i].tolist()}) has {why}"
            )


def format_coco(boxes: Boxes, meta: VideoMeta) -> dict[str, Any]:
    """The COCO dataset dict for `boxes` (all frames of the video, e.g. interpolated tracks).

    Args:
        boxes: per-frame boxes; rows with track_id -1 are written without a track id.
        meta: the video: one image per frame 0..num_frames-1, categories from class_names.

    Returns:
        A dict with info, licenses, video, categories, images, annotations.

    Raises:
        InputFormatError: see `check_boxes`.
    """
    check_boxes(boxes, meta, what="format_coco")
    images = [
        {"id": f + 1, "width": meta.width, "height": meta.height,
         "file_name": IMAGE_NAME.format(f), "license": 0, "flickr_url": "", "coco_url": "",
         "date_captured": 0}
        for f in range(meta.num_frames)
    ]
    clipped, _, empty = clip_to_frame(boxes.xyxy, meta.width, meta.height)
    xyxy = clipped.astype(np.float64)  # exact; x + width gives x2 back exactly
    wh = xyxy[:, 2:] - xyxy[:, :2]
    keyframe = (boxes.origin == Origin.KEYFRAME).tolist()
    origin = [_ORIGIN_NAMES.get(o, "unknown") for o in boxes.origin.tolist()]
    annotations = []
    for i, (frame, track, cls, score) in enumerate(zip(
        boxes.frame.tolist(), boxes.track_id.tolist(), boxes.class_id.tolist(),
        boxes.score.astype(np.float64).tolist(),
    )):
        if empty[i]:
            continue
        x, y = xyxy[i, :2].tolist()
        w, h = wh[i].tolist()
        attributes: dict[str, Any] = {"occluded": False}
        ann: dict[str, Any] = {
            "id": len(annotations) + 1, "image_id": frame + 1, "category_id": cls + 1,
            "segmentation": [],
            "area": w * h, "bbox": [x, y, w, h], "iscrowd": 0, "score": score,
            "origin": origin[i], "attributes": attributes,
        }
        if track >= 0:
            ann["track_id"] = track
            attributes.update(keyframe=keyframe[i], track_id=track)
        annotations.append(ann)
    return {
        "info": {"description": f"trackannot export of {meta.name}", "version": "1.0",
                 "contributor": "", "url": "", "date_created": "", "year": ""},
        "licenses": [{"name": "", "id": 0, "url": ""}],
        "video": {"name": meta.name, "width": meta.width, "height": meta.height,
                  "num_frames": meta.num_frames, "fps": meta.fps},
        "categories": [{"id": k + 1, "name": name, "supercategory": ""}
                       for k, name in enumerate(meta.class_names)],
        "images": images,
        "annotations": annotations,
    }


def write_coco(path: str | Path, boxes: Boxes, meta: VideoMeta) -> Path:
    """Write `format_coco(boxes, meta)` as JSON to `path`, atomically (`path.partial`, rename)."""
    return write_text_atomic(path, json.dumps(format_coco(boxes, meta)) + "\n")
