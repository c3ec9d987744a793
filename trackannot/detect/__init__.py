"""Detection stage: the `Detector` protocol, YOLO (ultralytics) and detections-file sources.

`make_detector` picks the source from the configuration: a MOTChallenge detections file when one
is given, else a YOLO model (`cfg.weights`, or the bundled demo model when that is None).
"""

from __future__ import annotations

from pathlib import Path

from trackannot.config import DetectConfig
from trackannot.detect.base import Detector, rank_within_frame
from trackannot.detect.from_file import FileDetector, read_mot_file, read_seqinfo

__all__ = [
    "Detector",
    "FileDetector",
    "make_detector",
    "rank_within_frame",
    "read_mot_file",
    "read_seqinfo",
]


def make_detector(cfg: DetectConfig, detections: str | Path | None = None) -> Detector:
    """The detector for a run.

    Args:
        cfg: detection settings.
        detections: a MOTChallenge det.txt/gt.txt to replay instead of running a model.

    Returns:
        `FileDetector(detections, cfg)` when `detections` is given, else a YOLO model:
        `DeviceYoloDetector(cfg)` (batch prepared on the device) when cfg.preprocess is "device",
        or "auto" on CUDA; `YoloDetector(cfg)` (ultralytics' predict) otherwise. ultralytics is
        imported only for a model.

    Raises:
        WeightsNotFoundError: the YOLO weights cannot be found (or downloaded).
        InputFormatError: the detections file or the weights file is malformed.
        ConfigError: cfg.device names a device this machine does not have.
    """
    if detections is not None:
        return FileDetector(detections, cfg)
    from trackannot.detect.ultralytics import YoloDetector, resolve_device

    on_device = cfg.preprocess == "device" or (
        cfg.preprocess == "auto" and resolve_device(cfg.device).startswith("cuda"))
    if on_device:
        from trackannot.detect.device import DeviceYoloDetector

        return DeviceYoloDetector(cfg)
    return YoloDetector(cfg)
