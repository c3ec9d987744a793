"""The shipped demo weights: small, load offline, find the demo's objects in a real H.264 clip."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from trackannot.config import DecodeConfig, DetectConfig
from trackannot.decode import decode_frames
from trackannot.demo import DEMO_IMGSZ, DEMO_WEIGHTS, write_demo_clip
from trackannot.detect import make_detector

MAX_BYTES = 2_000_000  # package data budget
SCORE = 0.5
IOU = 0.5


def _matches(truth_xyxy: np.ndarray, found_xyxy: np.ndarray) -> int:
    if not len(truth_xyxy) or not len(found_xyxy):
        return 0
    a, b = truth_xyxy[:, None], found_xyxy[None]
    inter = np.prod(np.clip(np.minimum(a[..., 2:], b[..., 2:]) - np.maximum(a[..., :2], b[..., :2]),
                            0, None), axis=2)
    area_a = np.prod(a[..., 2:] - a[..., :2], axis=2)
    area_b = np.prod(b[..., 2:] - b[..., :2], axis=2)
    iou = inter / (area_a + area_b - inter)
    rows, cols = linear_sum_assignment(-iou)
    return int(np.sum(iou[rows, cols] >= IOU))


def test_weights_are_small_half_precision_and_optimizer_free() -> None:
    assert DEMO_WEIGHTS.is_file()
    assert DEMO_WEIGHTS.stat().st_size < MAX_BYTES
    ckpt = torch.load(DEMO_WEIGHTS, map_location="cpu", weights_only=False)
    assert ckpt["optimizer"] is None and ckpt["ema"] is None
    assert all(p.dtype == torch.float16 for p in ckpt["model"].parameters())
    assert ckpt["model"].names == {0: "disc", 1: "block"}


def test_demo_clip_objects_are_detected_offline(tmp_path: Path) -> None:
    assert os.environ.get("YOLO_OFFLINE") == "1"  # conftest: nothing may be downloaded
    clip = tmp_path / "demo.mp4"
    truth = write_demo_clip(clip, seed=7, seconds=2.0, fps=15)  # the demo's own seed
    detector = make_detector(DetectConfig(weights=None, device="cpu", imgsz=DEMO_IMGSZ))
    tp = n_truth = n_found = 0
    for batch in decode_frames(clip, DecodeConfig(batch_size=10)):
        boxes = detector.detect(batch)
        boxes = boxes[boxes.score >= SCORE]
        for t in batch.index.tolist():
            want, got = truth.for_frame(t), boxes.for_frame(t)
            tp += _matches(want.xyxy, got.xyxy)
            n_truth, n_found = n_truth + len(want), n_found + len(got)
    assert n_truth >= 100
    assert tp / n_truth >= 0.85, f"recall {tp}/{n_truth}"
    assert tp / max(n_found, 1) >= 0.85, f"precision {tp}/{n_found}"
