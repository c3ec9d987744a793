"""Tracker.update skips Boxes validation on its hot path: its output must still be valid."""

from __future__ import annotations

from pathlib import Path

from trackannot.boxes import Boxes
from trackannot.config import TrackConfig
from trackannot.detect.from_file import read_mot_file
from trackannot.track import Tracker


def test_update_output_passes_validation(data_dir: Path) -> None:
    dets = read_mot_file(data_dir / "MOT15" / "TUD-Campus" / "det" / "det_sort_frcnn.txt")
    tracker = Tracker(TrackConfig(report_predicted=5))
    rows = 0
    for frame in range(int(dets.frame.max()) + 2):  # one frame past the end: no detections
        out = tracker.update(dets.for_frame(frame), frame=frame)
        checked = Boxes(**out.columns())  # raises on a wrong dtype, shape or order
        assert (checked.frame == frame).all()
        rows += len(out)
    assert rows > 200
