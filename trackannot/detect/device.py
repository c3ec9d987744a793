"""Batched YOLO inference with every per-pixel step on the model's device.

`DeviceYoloDetector` runs an ultralytics detection network on a whole `FrameBatch` without
ultralytics' per-image CPU pre-processing: the uint8 batch (YUV planes by preference, or RGB)
goes to the device in one copy (from pinned memory on CUDA: the decoder writes batches straight
into pinned buffers that `allocate` hands out), and colour conversion, letterboxing (one resize
of the whole batch, then padding to a stride multiple), normalisation, half precision, the
forward pass and non-maximum suppression all run there (`trackannot.detect.pixels`). Only the
boxes come back. On a CPU it runs the same steps, so its output can be tested here against
`YoloDetector` (ultralytics' `predict`): the boxes agree to within the difference of the two
resize kernels (torch's bilinear vs OpenCV's INTER_LINEAR) and of the colour conversions.

Letterbox (as ultralytics' `LetterBox(auto=True)` for a batch of one frame size): scale
r = min(imgsz / h, imgsz / w) (never enlarging past imgsz), resize to (round(h r), round(w r)),
pad each side to the next multiple of the network stride with grey 114, centred. Boxes are mapped
back by subtracting the padding and dividing by r, then clipped to the frame.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from trackannot.boxes import Boxes, Origin
from trackannot.config import DetectConfig
from trackannot.detect.base import Detector, rank_within_frame
from trackannot.detect.pixels import batch_to_device
from trackannot.detect.ultralytics import load_model, resolve_device, resolve_weights
from trackannot.frames import FrameBatch

__all__ = ["DeviceYoloDetector", "letterbox_shape"]

_PAD_VALUE = 114 / 255.0  # ultralytics' letterbox grey


def letterbox_shape(height: int, width: int, imgsz: int, stride: int) -> tuple[float, int, int, int, int]:
    """(scale, resized h, resized w, padded h, padded w) of a frame letterboxed to `imgsz`."""
    r = min(imgsz / height, imgsz / width)
    new_h, new_w = int(round(height * r)), int(round(width * r))
    pad_h = int(math.ceil(new_h / stride) * stride)
    pad_w = int(math.ceil(new_w / stride) * stride)
    return r, new_h, new_w, pad_h, pad_w


class DeviceYoloDetector(Detector):
    """A `Detector`: an ultralytics YOLO network fed whole batches prepared on its device.

    Attributes:
        weights: the weights file loaded.
        device: "cpu" or "cuda:N".
        half: half precision (CUDA only, when cfg.half).
        names: class id -> class name of the model.
        pixel_format: "yuv420p", the batches it takes best (converted on the device).
    """

    pixel_format = "yuv420p"

    def __init__(self, cfg: DetectConfig) -> None:
        import torch

        self._cfg = cfg
        self.device = resolve_device(cfg.device)
        self.half = bool(cfg.half and self.device.startswith("cuda"))
        self.weights = resolve_weights(cfg.weights)
        model = load_model(self.weights)
        self.names: dict[int, str] = dict(model.names)
        net = model.model
        if hasattr(net, "fuse"):
            net = net.fuse(verbose=False)
        net = net.to(self.device).eval()
        self._net = net.half() if self.half else net.float()
        self._stride = int(max(int(torch.as_tensor(getattr(net, "stride", 32)).max()), 32))
        self._torch = torch

    def detect(self, batch: FrameBatch) -> Boxes:
        """Detections in every frame of `batch`, filtered by cfg.classes and cfg.conf_floor."""
        if len(batch.index) == 0:
            return Boxes.empty()
        with self._torch.inference_mode():
            x, r, (top, left) = self._prepare(batch)
            out = self._net(x)
            preds = out[0] if isinstance(out, (list, tuple)) else out
            kept = self._nms(preds)
            return self._to_boxes(kept, r, top, left, batch)

    def allocate(self, shape: tuple[int, ...]) -> np.ndarray:
        """A uint8 array for the decoder to fill: pinned host memory when the model is on CUDA
        (so a batch goes to the GPU without another copy), plain memory otherwise. A pinned
        block returns to torch's pinned-memory cache when its batch is dropped."""
        if not self.device.startswith("cuda"):
            return np.empty(shape, np.uint8)
        torch = self._torch
        return torch.empty(shape, dtype=torch.uint8, pin_memory=True).numpy()

    def _prepare(self, batch: FrameBatch) -> tuple[Any, float, tuple[int, int]]:
        """A batch -> letterboxed (n, 3, H, W) RGB in [0, 1] on the device, scale, padding."""
        torch = self._torch
        import torch.nn.functional as F

        h, w = batch.height, batch.width
        r, new_h, new_w, pad_h, pad_w = letterbox_shape(h, w, self._cfg.imgsz, self._stride)
        x = batch_to_device(batch, self.device, torch.float16 if self.half else torch.float32,
                            (new_h, new_w))
        top, left = (pad_h - new_h) // 2, (pad_w - new_w) // 2
        if (pad_h, pad_w) != (new_h, new_w):
            x = F.pad(x, (left, pad_w - new_w - left, top, pad_h - new_h - top), value=_PAD_VALUE)
        return x.contiguous(), r, (top, left)

    def _nms(self, preds: Any) -> list[Any]:
        from ultralytics.utils.nms import non_max_suppression

        cfg = self._cfg
        return non_max_suppression(
            preds, conf_thres=cfg.conf_floor, iou_thres=cfg.nms_iou,
            classes=list(cfg.classes) if cfg.classes is not None else None,
            max_det=cfg.max_det, nc=len(self.names),
        )

    def _to_boxes(self, kept: list[Any], r: float, top: int, left: int, batch: FrameBatch) -> Boxes:
        torch = self._torch
        counts = [int(k.shape[0]) for k in kept]
        if sum(counts) == 0:
            return Boxes.empty()
        table = torch.cat([k[:, :6] for k in kept]).float()
        h, w = batch.height, batch.width
        offset = torch.tensor([left, top, left, top], dtype=table.dtype, device=table.device)
        xyxy = (table[:, :4] - offset) / r
        xyxy[:, 0::2] = xyxy[:, 0::2].clamp(0, w)
        xyxy[:, 1::2] = xyxy[:, 1::2].clamp(0, h)
        host = torch.cat([xyxy, table[:, 4:6]], dim=1).cpu().numpy()  # one device -> host copy
        frames = np.repeat(np.asarray(batch.index, dtype=np.int64), counts)
        return Boxes.create(
            xyxy=host[:, :4], frame=frames, score=host[:, 4], class_id=host[:, 5].astype(np.int32),
            track_id=-1, origin=int(Origin.DETECTED), det_index=rank_within_frame(frames),
        )
