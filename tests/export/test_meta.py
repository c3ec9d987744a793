"""VideoMeta validation, keyframe checks, and the track closing/propagation both tools need."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from trackannot.errors import InputFormatError
from trackannot.export.meta import (
    VideoMeta,
    close_tracks,
    propagate_to_end,
    write_text_atomic,
)
from trackannot.interpolate import interpolate_linear
from trackannot.keyframes import Keyframes

GOOD: dict[str, Any] = dict(name="v.mp4", width=640, height=480, num_frames=100, fps=25.0,
                            class_names=("person", "car"))


def test_good_meta_normalises_types() -> None:
    meta = VideoMeta(**(GOOD | {"width": np.int64(640), "fps": 30, "class_names": ["a", "b"]}))
    assert meta.width == 640 and type(meta.width) is int
    assert meta.fps == 30.0 and type(meta.fps) is float
    assert meta.class_names == ("a", "b")
    with pytest.raises(AttributeError):
        meta.width = 5  # type: ignore[misc]


BAD_META = [
    ("empty-name", {"name": ""}, r"name must be a non-empty string, got ''"),
    ("zero-width", {"width": 0}, r"width must be an int >= 1, got 0"),
    ("float-height", {"height": 480.0}, r"height must be an int >= 1, got 480\.0"),
    ("bool-frames", {"num_frames": True}, r"num_frames must be an int >= 1, got True"),
    ("zero-fps", {"fps": 0.0}, r"fps must be a finite number > 0, got 0\.0"),
    ("nan-fps", {"fps": float("nan")}, r"fps must be a finite number > 0, got nan"),
    ("no-classes", {"class_names": ()}, r"at least one distinct name, got \(\)"),
    ("repeated-class", {"class_names": ("a", "b", "a")}, r"\(repeated: \['a'\]\)"),
    ("string-classes", {"class_names": "person"}, r"sequence of non-empty strings"),
    ("empty-class", {"class_names": ("a", "")}, r"sequence of non-empty strings"),
]


@pytest.mark.parametrize(("change", "pattern"), [c[1:] for c in BAD_META],
                         ids=[c[0] for c in BAD_META])
def test_bad_meta_quotes_the_value(change: dict, pattern: str) -> None:
    with pytest.raises(InputFormatError, match=pattern):
        VideoMeta(**(GOOD | change))


KEYS = Keyframes.create(
    track_id=[1, 1, 2, 2, 3, 4], frame=[0, 5, 3, 9, 99, 7], outside=[0, 0, 0, 1, 0, 0],
    xyxy=np.arange(24).reshape(6, 4),
)


def test_close_tracks_adds_an_outside_keyframe_after_each_last_box() -> None:
    closed = close_tracks(KEYS, 100)
    assert closed.track_id.tolist() == [1, 1, 1, 2, 2, 3, 4, 4]
    assert closed.frame.tolist() == [0, 5, 6, 3, 9, 99, 7, 8]
    assert closed.outside.tolist() == [0, 0, 1, 0, 1, 0, 0, 1]
    np.testing.assert_array_equal(closed.xyxy[2], KEYS.xyxy[1])
    # interpolation does not see the difference
    a, b = interpolate_linear(KEYS), interpolate_linear(closed)
    assert a.frame.tolist() == b.frame.tolist() and np.array_equal(a.xyxy, b.xyxy)
    assert close_tracks(closed, 100) is closed  # nothing left to close
    assert len(close_tracks(Keyframes.empty(), 10)) == 0


def test_propagate_to_end_repeats_the_last_box_on_the_last_frame() -> None:
    full = propagate_to_end(KEYS, 100)
    assert full.frame.tolist() == [0, 5, 99, 3, 9, 99, 7, 99]
    assert full.outside.tolist() == [0, 0, 0, 0, 1, 0, 0, 0]
    np.testing.assert_array_equal(full.xyxy[7], KEYS.xyxy[5])
    boxes = interpolate_linear(full)
    assert boxes.frame[boxes.track_id == 4].tolist() == list(range(7, 100))


def test_write_text_atomic_replaces_whole_files(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("old")
    assert write_text_atomic(path, "new") == path
    assert path.read_text() == "new" and not (tmp_path / "a.txt.partial").exists()
