"""The demo training script's pieces: data set rendering and the model definition (no training)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import yaml
from ultralytics.nn.tasks import DetectionModel

from trackannot.demo import DEMO_WEIGHTS
from trackannot.demo.synth import DEMO_CLASSES
from trackannot.demo.train import build_dataset, model_yaml


def test_dataset_images_and_labels_agree(tmp_path: Path) -> None:
    data_yaml = build_dataset(tmp_path, n_train_scenes=2, n_val_scenes=1)
    data = yaml.safe_load(data_yaml.read_text())
    assert data["names"] == dict(enumerate(DEMO_CLASSES))
    for split, n_images in (("train", 16), ("val", 8)):
        images = sorted((tmp_path / "images" / split).glob("*.jpg"))
        labels = sorted((tmp_path / "labels" / split).glob("*.txt"))
        assert len(images) == len(labels) == n_images
        assert [p.stem for p in images] == [p.stem for p in labels]
    rows = np.concatenate([
        np.loadtxt(p, ndmin=2).reshape(-1, 5) for p in (tmp_path / "labels").rglob("*.txt")
    ])
    assert len(rows) > 24  # objects in most images
    assert set(rows[:, 0].astype(int).tolist()) <= {0, 1}
    assert np.all((rows[:, 1:] >= 0) & (rows[:, 1:] <= 1))
    assert np.all(rows[:, 3:] > 0)
    # deterministic: the same call writes the same labels
    again = tmp_path / "again"
    build_dataset(again, n_train_scenes=2, n_val_scenes=1)
    first = sorted((tmp_path / "labels" / "train").glob("*.txt"))
    assert [p.read_text() for p in first] == [
        (again / "labels" / "train" / p.name).read_text() for p in first
    ]


def test_shipped_weights_have_the_training_architecture() -> None:
    built = DetectionModel(model_yaml(), verbose=False)
    shipped = torch.load(DEMO_WEIGHTS, map_location="cpu", weights_only=False)["model"]
    shapes = [tuple(p.shape) for p in shipped.parameters()]
    assert shapes == [tuple(p.shape) for p in built.parameters()]
    assert sum(int(np.prod(s)) for s in shapes) < 400_000
