"""Exporters to the formats annotation and evaluation tools read, and readers of their files.

Keyframes (human-editable tracks): CVAT for video 1.1 XML (`cvat`), Label Studio video JSON
(`labelstudio`). Per-frame boxes: MOTChallenge text (`mot`), COCO JSON (`coco`), YOLO labels
(`yolo`). `VideoMeta` (`meta`) names the video, its size, frame count, fps and classes.
"""

from trackannot.export.coco import format_coco, write_coco
from trackannot.export.cvat import format_cvat_video, read_cvat_video, write_cvat_video
from trackannot.export.labelstudio import format_labelstudio, read_labelstudio, write_labelstudio
from trackannot.export.meta import VideoMeta, check_keyframes, close_tracks, propagate_to_end
from trackannot.export.mot import format_mot, write_mot
from trackannot.export.yolo import write_yolo

__all__ = [
    "VideoMeta",
    "check_keyframes",
    "close_tracks",
    "format_coco",
    "format_cvat_video",
    "format_labelstudio",
    "format_mot",
    "propagate_to_end",
    "read_cvat_video",
    "read_labelstudio",
    "write_coco",
    "write_cvat_video",
    "write_labelstudio",
    "write_mot",
    "write_yolo",
]
