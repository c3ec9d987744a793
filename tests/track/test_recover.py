"""The recovery stage (`TrackConfig.recover_distance`): an object that passes fully behind an
occluder, detected by its visible part, is re-linked where it reappears; off, it is not."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from trackannot.boxes import Boxes
from trackannot.config import TrackConfig
from trackannot.errors import ConfigError
from trackannot.track import track_detections

W, H, SPEED = 60.0, 80.0, 4.0  # object size and speed (pixels per frame), moving right
BAR = (300.0, 380.0)  # occluder x range: the object is cut by it, then hidden, then reappears


def visible_part(x0: float, y0: float) -> list[float] | None:
    """The visible extent of the object at left edge x0 (None: less than 20% shows)."""
    x1 = x0 + W
    parts = [(x0, min(x1, BAR[0])), (max(x0, BAR[1]), x1)]
    parts = [(a, b) for a, b in parts if b > a]
    if not parts or sum(b - a for a, b in parts) < 0.2 * W:
        return None
    return [min(a for a, _ in parts), y0, max(b for _, b in parts), y0 + H]


def scene(y_rows: tuple[float, ...] = (100.0,), frames: int = 80) -> tuple[Boxes, int]:
    """Detections of objects crossing the bar at rows y_rows; the frames each is hidden."""
    rows, hidden = [], 0
    for f in range(frames):
        for y in y_rows:
            box = visible_part(100.0 + SPEED * f, y)
            if box is None:
                hidden += 1
                continue
            rows.append((f, *box))
    arr = np.asarray(rows, np.float64)
    dets = Boxes.create(xyxy=arr[:, 1:5], frame=arr[:, 0].astype(np.int64), score=0.9,
                        class_id=0, sort=True)
    return dets, hidden // len(y_rows)


def test_a_fully_hidden_object_is_re_linked_only_with_recovery() -> None:
    dets, hidden = scene()
    assert hidden >= 8  # the object is fully hidden for a while, as behind the demo's bar
    off = track_detections(dets, TrackConfig(), frames=range(80))
    on = track_detections(dets, replace(TrackConfig(), recover_distance=1.0), frames=range(80))
    assert len(np.unique(off.track_id)) == 2  # IoU cannot bridge the bar: the track breaks
    assert np.unique(on.track_id).tolist() == [1]
    assert len(on) == len(off) == len(dets)  # same boxes, one identity


def test_recovery_does_not_look_back_or_too_far() -> None:
    dets, _ = scene()
    # gap between the prediction and the reappearing box, in box sides, is above 0.3
    near = track_detections(dets, replace(TrackConfig(), recover_distance=0.3), frames=range(80))
    assert len(np.unique(near.track_id)) == 2
    # the object comes back where it went in (moving left again): behind the prediction
    back = dets[dets.frame < 40]
    later = Boxes.create(xyxy=back.xyxy[::-1], frame=np.arange(60, 60 + len(back)), score=0.9,
                         class_id=0)
    tracks = track_detections(Boxes.concat([back, later]),
                              replace(TrackConfig(), recover_distance=1.0),
                              frames=range(60 + len(back)))
    assert len(np.unique(tracks.track_id)) == 2


@pytest.mark.parametrize("distance", [1.0, 3.0])
def test_ambiguous_reappearance_is_not_re_linked(distance: float) -> None:
    # two objects 20 px apart, both hidden behind the bar: each reappearing box is within the
    # gate of both lost tracks, so neither is re-linked (no guess in a crowd), however wide it is
    dets, _ = scene(y_rows=(100.0, 120.0))
    tracks = track_detections(dets, replace(TrackConfig(), recover_distance=distance),
                              frames=range(80))
    assert len(np.unique(tracks.track_id)) == 4
    # far enough apart that each box is near its own track only: both re-linked, each to its own
    dets, _ = scene(y_rows=(100.0, 300.0))
    tracks = track_detections(dets, replace(TrackConfig(), recover_distance=1.0), frames=range(80))
    assert len(np.unique(tracks.track_id)) == 2
    for tid in (1, 2):
        rows = tracks[tracks.track_id == tid]
        assert np.ptp(rows.xyxy[:, 1]) == 0  # one row of the scene: never jumps to the other


def test_recover_distance_must_not_be_negative() -> None:
    with pytest.raises(ConfigError, match="recover_distance"):
        TrackConfig(recover_distance=-0.5)
