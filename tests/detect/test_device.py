"""Batch pre-processing on the model's device gives ultralytics' boxes (run here on the CPU)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from trackannot.config import DecodeConfig, DetectConfig
from trackannot.decode import FrameBatch, decode_frames
from trackannot.demo import DEMO_IMGSZ, make_scene
import trackannot.detect as detect_module
from trackannot.detect import make_detector
from trackannot.detect.device import DeviceYoloDetector, letterbox_shape
from trackannot.detect.ultralytics import YoloDetector
from trackannot.errors import ConfigError
from tests._devices import DEVICES
from tests._video import write_clip


def _batch(frames: list[np.ndarray], index: list[int]) -> FrameBatch:
    return FrameBatch(frames=np.stack(frames), index=np.asarray(index, np.int64),
                      time_s=np.asarray(index, np.float64) / 10.0)


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area = lambda x: np.prod(x[:, 2:] - x[:, :2], axis=1)  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None, :] - inter)


def test_letterbox_shape_scales_the_long_side_and_pads_to_the_stride() -> None:
    assert letterbox_shape(360, 640, 640, 32) == (1.0, 360, 640, 384, 640)
    assert letterbox_shape(1080, 1920, 640, 32) == (1 / 3, 360, 640, 384, 640)
    r, h, w, ph, pw = letterbox_shape(240, 320, 640, 32)
    assert (r, h, w, ph, pw) == (2.0, 480, 640, 480, 640)


@pytest.mark.parametrize("size", [(360, 640), (250, 330)])  # a stride-padded and an odd size
def test_device_batches_give_ultralytics_boxes(size: tuple[int, int]) -> None:
    h, w = size
    frame, _truth = make_scene(seed=424_242, n_frames=60, width=w, height=h, n_objects=6)
    index = list(range(3, 60, 8))
    batch = _batch([frame(t) for t in index], index)
    cfg = DetectConfig(weights=None, device="cpu", imgsz=DEMO_IMGSZ)
    ref, got = YoloDetector(cfg).detect(batch), DeviceYoloDetector(cfg).detect(batch)
    confident = ref[ref.score >= 0.25]
    assert len(confident) >= 20
    assert np.all(np.diff(got.frame) >= 0) and np.all(got.track_id == -1)
    for t in index:
        want, have = confident.for_frame(t), got.for_frame(t)
        assert have.det_index.tolist() == list(range(len(have)))
        if not len(want):
            continue
        iou = _iou(want.xyxy, have.xyxy)
        best = iou.argmax(axis=1)
        assert (iou.max(axis=1) > 0.95).all()  # the same boxes, to within the resize kernels
        np.testing.assert_array_equal(have.class_id[best], want.class_id)
        np.testing.assert_allclose(have.score[best], want.score, atol=0.05)
    assert abs(len(got[got.score >= 0.25]) - len(confident)) <= 0.05 * len(confident) + 1


def test_make_detector_picks_the_path_by_preprocess() -> None:
    assert isinstance(make_detector(DetectConfig(device="cpu", preprocess="device")), DeviceYoloDetector)
    assert isinstance(make_detector(DetectConfig(device="cpu", preprocess="auto")), YoloDetector)
    with pytest.raises(ConfigError, match="detect.preprocess"):
        DetectConfig(preprocess="gpu")


@pytest.mark.parametrize("detector_cls", [DeviceYoloDetector, YoloDetector],
                         ids=["device", "ultralytics"])
def test_yuv_batches_give_the_boxes_of_rgb_batches(detector_cls: type, tmp_path: Path) -> None:
    frame, _truth = make_scene(seed=424_242, n_frames=60, width=640, height=360, n_objects=6)
    clip = write_clip(tmp_path / "scene.mp4", np.stack([frame(t) for t in range(0, 60, 3)]),
                      fps=10)
    rgb = next(decode_frames(clip, DecodeConfig(pixel_format="rgb24", batch_size=20)))
    yuv = next(decode_frames(clip, DecodeConfig(pixel_format="yuv420p", batch_size=20)))
    detector = detector_cls(DetectConfig(weights=None, device="cpu", imgsz=DEMO_IMGSZ))
    want, got = detector.detect(rgb), detector.detect(yuv)
    want = want[want.score >= 0.25]
    assert len(want) >= 50
    matched = 0
    for t in rgb.index.tolist():
        a, b = want.for_frame(t), got.for_frame(t)
        if len(a):
            iou = _iou(a.xyxy, b.xyxy)
            matched += int((iou.max(axis=1) > 0.9).sum())
    assert matched >= 0.95 * len(want)  # the colour conversions differ by a level or so


@pytest.mark.parametrize("device", DEVICES)
def test_device_detector_allocates_batches_the_decoder_fills(device: str) -> None:
    import torch

    detector = DeviceYoloDetector(DetectConfig(weights=None, device=device, imgsz=DEMO_IMGSZ))
    assert detector.pixel_format == "yuv420p" and YoloDetector.pixel_format == "rgb24"
    frames = detector.allocate((4, 54, 64))
    assert frames.shape == (4, 54, 64) and frames.dtype == np.uint8 and frames.flags.writeable
    # pinned (page-locked) host memory where batches go to a GPU, so no copy is needed first
    assert torch.from_numpy(frames).is_pinned() == device.startswith("cuda")


@pytest.mark.parametrize("device", DEVICES)
def test_each_device_and_precision_finds_the_cpu_float32_boxes(device: str, tmp_path: Path) -> None:
    frame, _truth = make_scene(seed=424_242, n_frames=60, width=640, height=360, n_objects=6)
    clip = write_clip(tmp_path / "scene.mp4", np.stack([frame(t) for t in range(0, 60, 3)]),
                      fps=10)
    cpu = DeviceYoloDetector(DetectConfig(weights=None, device="cpu", imgsz=DEMO_IMGSZ))
    on_device = DeviceYoloDetector(DetectConfig(weights=None, device=device, imgsz=DEMO_IMGSZ))
    assert on_device.half == device.startswith("cuda")  # half precision on CUDA only
    decode = DecodeConfig(pixel_format="yuv420p", batch_size=20)
    yuv = next(decode_frames(clip, decode, on_device.allocate))  # pinned memory on CUDA
    want, got = cpu.detect(yuv), on_device.detect(yuv)
    want = want[want.score >= 0.25]
    assert len(want) >= 50
    matched = sum(int((_iou(want.for_frame(t).xyxy, got.for_frame(t).xyxy).max(axis=1) > 0.9)
                      .sum()) for t in yuv.index.tolist() if len(want.for_frame(t)))
    assert matched >= 0.95 * len(want)


@pytest.mark.parametrize(
    ("weights", "preprocess", "device", "on_device"),
    [
        (None, "auto", "cuda:0", True),
        ("/m/yolo11n.pt", "auto", "cuda:0", True),
        ("/m/yolo11n.pt", "auto", "cpu", False),
        ("/m/yolo11n.onnx", "auto", "cuda:0", False),
        ("/m/yolo11n.engine", "auto", "cuda:0", False),
        ("/m/yolo11n.engine", "ultralytics", "cuda:0", False),
        ("/m/yolo11n.pt", "device", "cpu", True),
    ],
    ids=["demo-cuda", "pt-cuda", "pt-cpu", "onnx-cuda", "tensorrt-cuda", "tensorrt-ultralytics",
         "pt-forced"],
)
def test_exported_models_run_through_ultralytics(weights: str | None, preprocess: str,
                                                 device: str, on_device: bool) -> None:
    cfg = DetectConfig(weights=weights, preprocess=preprocess)
    assert detect_module._on_device(cfg, device) is on_device


def test_device_preprocessing_refuses_an_exported_model() -> None:
    with pytest.raises(ConfigError, match=r"'/m/yolo11n.engine' is an exported model: set "
                                          r"detect.preprocess to auto or ultralytics"):
        make_detector(DetectConfig(weights="/m/yolo11n.engine", preprocess="device",
                                   device="cpu"))
