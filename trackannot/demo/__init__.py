"""The bundled demo: a synthetic scene generator with known truth and a tiny detector for it.

`DEMO_WEIGHTS` is a scaled-down YOLO11 (2 classes, "disc" and "block"; about 0.3 M parameters)
trained by `trackannot.demo.train` on frames of `trackannot.demo.synth` scenes only. It finds
the demo's shapes and nothing useful in real footage.
"""

from __future__ import annotations

from pathlib import Path

from trackannot.demo.synth import DEMO_CLASSES, make_scene, write_demo_clip

__all__ = ["DEMO_CLASSES", "DEMO_IMGSZ", "DEMO_WEIGHTS", "make_scene", "write_demo_clip"]

DEMO_WEIGHTS: Path = Path(__file__).resolve().parent / "demo_yolo.pt"
# inference size the demo model was trained at (it also works at 640, 4x slower)
DEMO_IMGSZ = 320
