"""YOLO detection through ultralytics: offline-safe weights lookup, batched inference, adapter.

`YoloDetector` runs one `model.predict` call per `FrameBatch`. Weights are found before
ultralytics sees them, so that an offline machine fails at once with the fix in the message
instead of ultralytics retrying downloads for minutes, and nothing is ever downloaded unless the
user named an ultralytics model (such as `yolo11n.pt`) and the machine is online.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import numpy.typing as npt

from trackannot.boxes import Boxes, Origin
from trackannot.config import DetectConfig
from trackannot.detect.base import Detector, rank_within_frame
from trackannot.detect.pixels import batch_rgb
from trackannot.errors import ConfigError, InputFormatError, WeightsNotFoundError

if TYPE_CHECKING:
    from ultralytics.engine.results import Results

    from trackannot.frames import FrameBatch

__all__ = ["YoloDetector", "load_model", "resolve_device", "resolve_weights", "results_to_boxes"]

_TRUTHY = frozenset({"1", "true", "yes", "on"})
_DOWNLOAD_RETRIES = 1  # ultralytics' default of 3 retries with 30 s timeouts takes minutes
_BOX_TASKS = frozenset({"detect", "segment", "pose"})  # tasks whose results carry xyxy boxes
# what a weights file that torch/ultralytics cannot load raises, depending on how it is damaged
_LOAD_ERRORS = (TypeError, RuntimeError, ValueError, KeyError, AttributeError, EOFError,
                ModuleNotFoundError, pickle.UnpicklingError)


def _offline() -> bool:
    """True when YOLO_OFFLINE is set or ultralytics found no network when it was imported."""
    if os.environ.get("YOLO_OFFLINE", "").strip().lower() in _TRUTHY:
        return True
    from ultralytics.utils import ONLINE

    return not ONLINE


def _download(name: str, target: Path) -> Path:
    """Download the ultralytics asset `name` to `target` (online only), chaining failures."""
    from ultralytics.utils.downloads import attempt_download_asset

    fix = f"pass --weights /path/to/{name} (a local YOLO weights file)"
    try:
        path = Path(attempt_download_asset(target, retry=_DOWNLOAD_RETRIES))
    except (OSError, RuntimeError, ValueError) as err:  # ConnectionError, requests errors, ...
        raise WeightsNotFoundError(f"cannot download {name!r}: {err}; {fix}") from err
    if not path.is_file():
        raise WeightsNotFoundError(f"cannot download {name!r} (no file arrived); {fix}")
    return path


def resolve_weights(weights: str | None) -> Path:
    """The local weights file to load, downloading a known ultralytics name only when online.

    Args:
        weights: a path to a weights file; an ultralytics model name such as "yolo11n.pt"
            (looked up in ultralytics' weights_dir, else downloaded there); or None for the
            bundled demo model.

    Raises:
        WeightsNotFoundError: the file does not exist, the name is not an ultralytics asset, or
            it would need a download while offline (YOLO_OFFLINE set, or no network). The
            message names what was asked for and how to fix it.
    """
    if weights is None:
        from trackannot.demo import DEMO_WEIGHTS

        if not DEMO_WEIGHTS.is_file():
            raise WeightsNotFoundError(
                f"bundled demo weights missing at {DEMO_WEIGHTS}; reinstall trackannot or pass "
                "--weights /path/to/weights.pt"
            )
        return DEMO_WEIGHTS
    path = Path(weights).expanduser()
    if path.is_file():
        return path
    if path.exists():
        raise WeightsNotFoundError(f"weights {weights!r} is a folder; expected a YOLO weights file")
    if path.name != weights:  # a path with folders: the user meant a local file
        raise WeightsNotFoundError(
            f"weights file not found: {weights!r}; pass --weights /path/to/weights.pt "
            "(an existing local YOLO weights file)"
        )
    from ultralytics.utils import SETTINGS
    from ultralytics.utils.downloads import GITHUB_ASSETS_NAMES

    cached = Path(SETTINGS["weights_dir"]) / weights
    if cached.is_file():
        return cached
    if weights not in GITHUB_ASSETS_NAMES:
        raise WeightsNotFoundError(
            f"weights file not found: {weights!r} is neither a local file nor an ultralytics "
            "model name (such as 'yolo11n.pt'); pass --weights /path/to/weights.pt"
        )
    if _offline():
        raise WeightsNotFoundError(
            f"cannot download {weights!r} offline; pass --weights /path/to/{weights} "
            "(a local YOLO weights file)"
        )
    return _download(weights, cached)


def resolve_device(device: str) -> str:
    """"auto" -> "cuda:0" when CUDA is available else "cpu"; checks explicit CUDA devices.

    Raises:
        ConfigError: CUDA asked for but not available, a device index out of range, or an
            unknown device string.
    """
    import torch

    if device == "auto":
        return "cuda:0" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        return "cpu"
    kind, _, index = device.partition(":")
    if kind != "cuda" or not (index == "" or index.isdigit()):
        raise ConfigError(
            f"detect.device should be 'auto', 'cpu', 'cuda' or 'cuda:N'. The selected value is "
            f"{device!r}."
        )
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if int(index or 0) >= count:
        raise ConfigError(
            f"detect.device should be 'auto' or 'cpu' here: this machine has {count} CUDA "
            f"device(s). The selected value is {device!r}."
        )
    return f"cuda:{int(index or 0)}"


def results_to_boxes(results: Sequence[Results], frame: npt.NDArray[np.int64]) -> Boxes:
    """Adapt ultralytics results (one per frame, in order) to one `Boxes`.

    Args:
        results: `model.predict` output for the frames of one batch.
        frame: (len(results),) int64, the frame index of each result, increasing.

    Returns:
        One row per detected box: frame from `frame`, xyxy in input-image pixels, score =
        confidence, class_id = the model's class, track_id -1, origin DETECTED, det_index = row
        within its frame (ultralytics' order: by decreasing confidence).
    """
    import torch

    counts = [0 if r.boxes is None else len(r.boxes) for r in results]
    if sum(counts) == 0:
        return Boxes.empty()
    # one device -> host copy for the whole batch
    table = torch.cat(
        [torch.cat([r.boxes.xyxy, r.boxes.conf[:, None], r.boxes.cls[:, None]], dim=1)
         for r, c in zip(results, counts) if c]
    ).float().cpu().numpy()
    frames = np.repeat(np.asarray(frame, dtype=np.int64), counts)
    return Boxes.create(
        xyxy=table[:, :4],
        frame=frames,
        score=table[:, 4],
        class_id=table[:, 5].astype(np.int32),
        track_id=-1,
        origin=int(Origin.DETECTED),
        det_index=rank_within_frame(frames),
    )


def _precision_kwargs(half: bool) -> dict[str, Any]:
    """predict() arguments for fp16/fp32: `quantize` (ultralytics >= 8.4), else legacy `half`."""
    from ultralytics.cfg import DEFAULT_CFG_DICT

    if "quantize" in DEFAULT_CFG_DICT:  # `half` still works there but warns on every call
        return {"quantize": 16 if half else None}
    return {"half": half}


def load_model(path: Path) -> Any:
    """The ultralytics YOLO model of the weights at `path` (for `YoloDetector` and
    `trackannot.detect.device.DeviceYoloDetector`).

    Raises:
        InputFormatError: the file is not a loadable YOLO weights file (names the file).
    """
    from ultralytics import YOLO

    try:
        model = YOLO(str(path))
    except _LOAD_ERRORS as err:
        raise InputFormatError(
            f"{path}: not a loadable YOLO weights file ({type(err).__name__}: {err}); pass "
            "--weights /path/to/weights.pt (an ultralytics detection model)"
        ) from err
    if model.task not in _BOX_TASKS:
        raise InputFormatError(
            f"{path}: a YOLO '{model.task}' model; expected a detection model (task 'detect', "
            "or 'segment'/'pose', whose boxes are used)"
        )
    return model


class YoloDetector(Detector):
    """A `Detector` running an ultralytics YOLO model on each `FrameBatch` in one call.

    Attributes:
        weights: the weights file loaded.
        device: "cpu" or "cuda:N" (cfg.device "auto" picks CUDA when available).
        half: half precision (on CUDA only, when cfg.half).
        names: class id -> class name of the model.
        pixel_format: "rgb24", the batches it takes without converting them itself.

    Example:
        >>> cfg = DetectConfig(weights="/models/yolo11n.pt", classes=(0,))
        >>> det = YoloDetector(cfg)  # doctest: +SKIP
        >>> boxes = det.detect(batch)  # doctest: +SKIP
    """

    pixel_format = "rgb24"

    def __init__(self, cfg: DetectConfig) -> None:
        self._cfg = cfg
        self.device = resolve_device(cfg.device)
        self.half = bool(cfg.half and self.device.startswith("cuda"))
        self.weights = resolve_weights(cfg.weights)
        self._model = load_model(self.weights)
        self.names: dict[int, str] = dict(self._model.names)
        self._precision = _precision_kwargs(self.half)

    def detect(self, batch: FrameBatch) -> Boxes:
        """Detections in every frame of `batch`, filtered by cfg.classes and cfg.conf_floor."""
        if len(batch.index) == 0:
            return Boxes.empty()
        cfg = self._cfg
        # ultralytics takes BGR uint8 arrays (cv2 order) and flips them to RGB on the device
        bgr = np.ascontiguousarray(batch_rgb(batch)[..., ::-1])
        results = self._model.predict(
            list(bgr), imgsz=cfg.imgsz, conf=cfg.conf_floor, iou=cfg.nms_iou,
            classes=list(cfg.classes) if cfg.classes is not None else None,
            max_det=cfg.max_det, device=self.device, batch=len(bgr), verbose=False,
            stream=False, **self._precision,
        )
        return results_to_boxes(results, batch.index)
