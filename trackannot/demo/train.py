"""Train the bundled demo detector: a scaled-down YOLO11 on frames of the synthetic generator.

Run (offline, CPU, one torch thread; 13.6 minutes wall for the shipped weights on a shared
two-core machine, data set rendering and final evaluation included):

    python -m trackannot.demo.train --out trackannot/demo/demo_yolo.pt

It renders a YOLO-format data set into a temporary folder (train seeds `TRAIN_SEED0 + k`,
validation seeds `VAL_SEED0 + k`; the demo clip's seed and the evaluation seeds are not among
them), trains `yolo11n-trackannot-demo.yaml` (YOLO11 at depth 0.5, width 0.125, at most 256
channels, 2 classes: 0.28 M parameters) from scratch at 320 pixels for 24 epochs of 800 images,
and writes the EMA weights in half precision without optimizer state (0.81 MB). The shipped
weights reached mAP50 0.96 on the validation images; `--eval-only` reports precision and recall
on held-out H.264 clips.

Nothing is downloaded: YOLO_OFFLINE is set before ultralytics is imported, AMP is off (its check
downloads a model), plots are off, and the data set font check (which asks the network for
Arial.ttf) is replaced by a no-op.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from trackannot.demo import DEMO_IMGSZ
from trackannot.demo.synth import DEMO_CLASSES, make_scene, write_demo_clip

__all__ = [
    "EVAL_SEED0",
    "TRAIN_SEED0",
    "VAL_SEED0",
    "build_dataset",
    "detection_quality",
    "model_yaml",
    "train",
]

LOGGER = logging.getLogger(__name__)
TRAIN_SEED0 = 10_000
VAL_SEED0 = 20_000
EVAL_SEED0 = 30_000  # held-out clips for `detection_quality`
_MATCH_IOU = 0.5
_FRAMES_PER_SCENE = 8
_SCENE_FRAMES = 90
_SCENE_SIZES = ((640, 360), (480, 360), (640, 480), (512, 288), (800, 450))
_CROP_PROB = 0.5  # share of training images that are zoomed-in crops (objects up to 2x larger)
_MIN_KEPT_AREA = 0.3  # a box cut by a crop is kept if at least this fraction of it remains
_MODEL_SCALE = (0.50, 0.125, 256)  # depth multiple, width multiple, max channels


def model_yaml(nc: int = len(DEMO_CLASSES)) -> dict[str, Any]:
    """The YOLO11 detection yaml, scaled down to one custom scale ('n' key, see module doc)."""
    import yaml
    from ultralytics.utils import ROOT

    cfg = yaml.safe_load((ROOT / "cfg" / "models" / "11" / "yolo11.yaml").read_text())
    # ultralytics takes the scale letter from the file name (yolo11n-...), so the one custom
    # scale is stored under 'n'
    cfg["scales"] = {"n": list(_MODEL_SCALE)}
    cfg["nc"] = nc
    return cfg


def _save_sample(
    image: np.ndarray, xyxy: np.ndarray, class_id: np.ndarray, root: Path, name: str,
    quality: int,
) -> None:
    """Write root/images/NAME.jpg (BGR via cv2) and root/labels/NAME.txt (class cx cy w h)."""
    import cv2

    h, w = image.shape[:2]
    cv2.imwrite(str(root / "images" / f"{name}.jpg"), image[:, :, ::-1],
                [cv2.IMWRITE_JPEG_QUALITY, quality])
    cx, cy = (xyxy[:, 0] + xyxy[:, 2]) / 2 / w, (xyxy[:, 1] + xyxy[:, 3]) / 2 / h
    bw, bh = (xyxy[:, 2] - xyxy[:, 0]) / w, (xyxy[:, 3] - xyxy[:, 1]) / h
    lines = [
        f"{c} {a:.6f} {b:.6f} {d:.6f} {e:.6f}" for c, a, b, d, e in zip(class_id, cx, cy, bw, bh)
    ]
    (root / "labels" / f"{name}.txt").write_text("\n".join(lines) + ("\n" if lines else ""))


def _random_crop(
    rng: np.random.Generator, image: np.ndarray, xyxy: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Crop 50-100% of each side; return (crop, boxes in crop pixels, mask of boxes kept)."""
    h, w = image.shape[:2]
    s = float(rng.uniform(0.5, 1.0))
    cw, ch = int(w * s), int(h * s)
    x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    moved = xyxy - np.array([x0, y0, x0, y0], dtype=np.float32)
    clipped = np.clip(moved, 0, [cw, ch, cw, ch]).astype(np.float32)
    area = (moved[:, 2] - moved[:, 0]) * (moved[:, 3] - moved[:, 1])
    kept_area = np.clip(clipped[:, 2] - clipped[:, 0], 0, None) * np.clip(
        clipped[:, 3] - clipped[:, 1], 0, None
    )
    keep = kept_area >= _MIN_KEPT_AREA * area
    return image[y0 : y0 + ch, x0 : x0 + cw], clipped, keep


def build_dataset(root: Path, n_train_scenes: int, n_val_scenes: int) -> Path:
    """Render the YOLO data set under `root`; return the path of its data yaml.

    Each scene contributes `_FRAMES_PER_SCENE` random frames. Training images are JPEG at random
    quality 70-95 (the demo clip is H.264), half of them zoomed-in crops.
    """
    import yaml

    splits = (("train", TRAIN_SEED0, n_train_scenes), ("val", VAL_SEED0, n_val_scenes))
    for split, seed0, n_scenes in splits:
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
        for k in range(n_scenes):
            rng = np.random.default_rng((seed0, k))
            width, height = _SCENE_SIZES[int(rng.integers(len(_SCENE_SIZES)))]
            n_objects = int(rng.integers(3, 11))
            frame, truth = make_scene(seed0 + k, _SCENE_FRAMES, width, height, n_objects)
            for t in rng.choice(_SCENE_FRAMES, size=_FRAMES_PER_SCENE, replace=False).tolist():
                image, rows = frame(t), truth.for_frame(t)
                xyxy, class_id = rows.xyxy, rows.class_id
                if split == "train" and rng.random() < _CROP_PROB:
                    image, xyxy, keep = _random_crop(rng, image, xyxy)
                    xyxy, class_id = xyxy[keep], class_id[keep]
                name = f"{split}/s{seed0 + k}_f{t:03d}"
                _save_sample(image, xyxy, class_id, root, name, int(rng.integers(70, 96)))
    data = {
        "path": str(root),
        "train": "images/train",
        "val": "images/val",
        "names": dict(enumerate(DEMO_CLASSES)),
    }
    data_yaml = root / "data.yaml"
    data_yaml.write_text(yaml.safe_dump(data))
    return data_yaml


def _quiet_offline_ultralytics(threads: int) -> None:
    """Keep ultralytics off the network and on `threads` CPU threads (call before training)."""
    os.environ["YOLO_OFFLINE"] = "1"
    import torch
    import ultralytics.data.utils as data_utils
    import ultralytics.utils.torch_utils as torch_utils

    # the data set check asks the network for a font used only by plots
    data_utils.check_font = lambda *args, **kwargs: None
    # select_device() resets torch's thread count to this module constant
    torch_utils.NUM_THREADS = threads
    torch.set_num_threads(threads)


def train(
    out: Path,
    *,
    epochs: int = 24,
    n_train_scenes: int = 100,
    n_val_scenes: int = 15,
    batch: int = 16,
    threads: int = 2,
    workdir: Path | None = None,
) -> dict[str, float]:
    """Build the data set, train from scratch on CPU, write the stripped weights to `out`.

    Returns:
        Validation metrics of the final weights: "precision", "recall", "mAP50", "mAP50-95",
        and "seconds" (wall time of the training run, data set rendering excluded).
    """
    _quiet_offline_ultralytics(threads)
    import yaml
    from ultralytics import YOLO

    tmp = Path(tempfile.mkdtemp(prefix="trackannot-demo-train-", dir=workdir))
    try:
        data_yaml = build_dataset(tmp / "data", n_train_scenes, n_val_scenes)
        model_file = tmp / "yolo11n-trackannot-demo.yaml"
        model_file.write_text(yaml.safe_dump(model_yaml()))
        model = YOLO(str(model_file), task="detect")
        start = time.perf_counter()
        model.train(
            data=str(data_yaml), epochs=epochs, imgsz=DEMO_IMGSZ, batch=batch, device="cpu",
            # nbs=batch: step the optimizer every batch (ultralytics' default nominal batch of
            # 64 would accumulate 4 batches per step, a quarter of the updates in the budget)
            nbs=batch, workers=0, amp=False, plots=False, val=False, pretrained=False, seed=0,
            deterministic=True, project=str(tmp / "runs"), name="demo", exist_ok=True,
            close_mosaic=max(1, epochs // 5), patience=epochs, verbose=False,
        )
        seconds = time.perf_counter() - start
        best = tmp / "runs" / "demo" / "weights" / "best.pt"
        metrics = YOLO(str(best)).val(
            data=str(data_yaml), imgsz=DEMO_IMGSZ, batch=batch, device="cpu", workers=0,
            plots=False, verbose=False, project=str(tmp / "runs"), name="val", exist_ok=True,
        )
        _write_weights(best, out)
        p, r, map50, map5095 = (float(v) for v in metrics.mean_results())
        return {
            "precision": p, "recall": r, "mAP50": map50, "mAP50-95": map5095, "seconds": seconds,
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _write_weights(best: Path, out: Path) -> None:
    """Re-save the (already stripped, fp16) checkpoint without machine-specific training paths."""
    from ultralytics.utils.torch_utils import strip_optimizer

    partial = out.with_name(out.name + ".partial")
    ckpt = strip_optimizer(best, str(partial))
    args = dict(ckpt.get("train_args", {}))
    args.update(data=None, project=None, name=None, model="yolo11n-trackannot-demo.yaml")
    strip_optimizer(partial, str(partial), updates={"train_args": args})
    partial.replace(out)


def _match_count(truth: Any, found: Any) -> int:
    """Same-class truth/detection pairs with IoU >= 0.5 in one frame (optimal assignment)."""
    from scipy.optimize import linear_sum_assignment

    if not len(truth) or not len(found):
        return 0
    a, b = truth.xyxy[:, None, :], found.xyxy[None, :, :]
    overlap = np.minimum(a[..., 2:], b[..., 2:]) - np.maximum(a[..., :2], b[..., :2])
    inter = np.prod(np.clip(overlap, 0, None), axis=2)
    area_a = np.prod(a[..., 2:] - a[..., :2], axis=2)
    area_b = np.prod(b[..., 2:] - b[..., :2], axis=2)
    iou = inter / (area_a + area_b - inter)
    iou = np.where(truth.class_id[:, None] == found.class_id[None, :], iou, 0.0)
    rows, cols = linear_sum_assignment(-iou)
    return int(np.sum(iou[rows, cols] >= _MATCH_IOU))


def detection_quality(
    weights: Path, *, n_clips: int = 3, seconds: float = 6.0, conf: float = 0.5,
    imgsz: int = DEMO_IMGSZ,
) -> dict[str, float]:
    """Precision and recall (IoU >= 0.5, same class) on held-out H.264 demo clips.

    The clips (seeds `EVAL_SEED0 + k`, 640x360, 15 fps, 6 objects) go through the real decode
    and `YoloDetector` path; detections with score >= `conf` count.
    """
    from trackannot.config import DecodeConfig, DetectConfig
    from trackannot.decode import decode_frames
    from trackannot.detect.ultralytics import YoloDetector

    detector = YoloDetector(DetectConfig(weights=str(weights), device="cpu", imgsz=imgsz))
    tp = n_truth = n_found = 0
    with tempfile.TemporaryDirectory(prefix="trackannot-demo-eval-") as tmp:
        for k in range(n_clips):
            clip = Path(tmp) / f"clip{k}.mp4"
            truth = write_demo_clip(clip, seed=EVAL_SEED0 + k, seconds=seconds)
            for batch in decode_frames(clip, DecodeConfig(batch_size=16)):
                found = detector.detect(batch)
                found = found[found.score >= conf]
                for t in batch.index.tolist():
                    want, got = truth.for_frame(t), found.for_frame(t)
                    tp += _match_count(want, got)
                    n_truth += len(want)
                    n_found += len(got)
    return {
        "precision": tp / max(n_found, 1), "recall": tp / max(n_truth, 1),
        "truth_boxes": float(n_truth), "detections": float(n_found),
    }


def main(argv: list[str] | None = None) -> None:
    """Command line entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="weights file to write (.pt)")
    parser.add_argument("--epochs", type=int, default=24)
    parser.add_argument("--train-scenes", type=int, default=100, help="8 images per scene")
    parser.add_argument("--val-scenes", type=int, default=15)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--workdir", type=Path, default=None, help="parent of the temp folder")
    parser.add_argument("--eval-only", action="store_true",
                        help="skip training; report detection_quality of --out")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    os.environ["YOLO_OFFLINE"] = "1"
    if args.eval_only:
        quality = detection_quality(args.out)
        LOGGER.info("held-out clips: %s", ", ".join(f"{k} {v:.3f}" for k, v in quality.items()))
        return
    result = train(
        args.out, epochs=args.epochs, n_train_scenes=args.train_scenes,
        n_val_scenes=args.val_scenes, batch=args.batch, threads=args.threads, workdir=args.workdir,
    )
    size_mb = args.out.stat().st_size / 1e6
    LOGGER.info("wrote %s (%.2f MB) in %.0f s of training", args.out, size_mb, result["seconds"])
    LOGGER.info("validation: %s", ", ".join(f"{k} {v:.3f}" for k, v in result.items()))
    quality = detection_quality(args.out)
    LOGGER.info("held-out clips: %s", ", ".join(f"{k} {v:.3f}" for k, v in quality.items()))


if __name__ == "__main__":
    main()
