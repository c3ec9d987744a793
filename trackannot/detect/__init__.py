"""Detection stage: the `Detector` protocol, YOLO (ultralytics) and detections-file sources.

`make_detector` picks the source from the configuration: a MOTChallenge detections file when one
is given, else a YOLO model (`cfg.weights`, or the bundled demo model when that is None).
"""

from __future__ import annotations

from pathlib import Path

from trackannot.config import DetectConfig
from trackannot.detect.base import Detector, rank_within_frame
from trackannot.detect.from_file import FileDetector, read_mot_file, read_seqinfo
from trackannot.errors import ConfigError

# weights the on-device path loads as a PyTorch module; anything else is an exported model
_TORCH_SUFFIXES = (".pt", ".pth")

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
        or "auto" on CUDA with PyTorch weights; `YoloDetector(cfg)` (ultralytics' predict)
        otherwise, which also runs models exported by `yolo export` (ONNX, TensorRT .engine,
        OpenVINO, ...) through ultralytics' own runtime for each. ultralytics is imported only
        for a model.

    Raises:
        WeightsNotFoundError: the YOLO weights cannot be found (or downloaded).
        InputFormatError: the detections file or the weights file is malformed.
        ConfigError: cfg.device names a device this machine does not have, or cfg.preprocess
            is "device" for an exported model.
    """
    if detections is not None:
        return FileDetector(detections, cfg)
    from trackannot.detect.ultralytics import YoloDetector, resolve_device

    if _on_device(cfg, resolve_device(cfg.device)):
        from trackannot.detect.device import DeviceYoloDetector

        return DeviceYoloDetector(cfg)
    return YoloDetector(cfg)


def _on_device(cfg: DetectConfig, device: str) -> bool:
    """Whether batches are prepared on the model's device (`trackannot.detect.device`)."""
    exported = cfg.weights is not None and not cfg.weights.lower().endswith(_TORCH_SUFFIXES)
    if cfg.preprocess == "device":
        if exported:
            raise ConfigError(
                f"detect.preprocess 'device' runs PyTorch weights (.pt); {cfg.weights!r} is an "
                "exported model: set detect.preprocess to auto or ultralytics to run it through "
                "ultralytics' runtime for its format")
        return True
    return cfg.preprocess == "auto" and device.startswith("cuda") and not exported
