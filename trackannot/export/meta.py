"""What exporters need to know about the video (`VideoMeta`), and the checks they share.

Annotation tools key their files to a video: CVAT writes the task's frame count and frame size,
Label Studio the frame count and duration, COCO and YOLO one image per frame. `VideoMeta` carries
those facts and the class names (`class_id` k is `class_names[k]`). `check_keyframes` rejects
keyframes a tool could not hold, and `close_tracks` adds the outside keyframe after each track's
last box, because both CVAT and Label Studio propagate a track's last box to the end of the video
while `trackannot.interpolate` emits nothing after a track's last keyframe. `fit_to_frame` clips
what the exporters write to the frame: the tools draw nothing outside it, and the importers refuse
a box that is not inside it (`trackannot.validate`), so an exported file always reads back.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trackannot.errors import InputFormatError
from trackannot.keyframes import Keyframes
from trackannot.validate import clip_to_frame

__all__ = [
    "VideoMeta",
    "check_keyframes",
    "close_tracks",
    "fit_to_frame",
    "propagate_to_end",
    "write_text_atomic",
]


@dataclass(frozen=True)
class VideoMeta:
    """The video an annotation file belongs to.

    Attributes:
        name: video file name (CVAT `<source>`, Label Studio's task data, COCO `video.name`).
        width, height: frame size in pixels, > 0.
        num_frames: decoded frames in the video, >= 1; keyframes live in [0, num_frames).
        fps: frames per second, > 0 (Label Studio times, COCO video info).
        class_names: distinct non-empty names, one per class id.

    Example:
        >>> VideoMeta("a.mp4", 1920, 1080, 250, 25.0, ("person", "car")).class_names[1]
        'car'
    """

    name: str
    width: int
    height: int
    num_frames: int
    fps: float
    class_names: tuple[str, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise InputFormatError(f"VideoMeta.name must be a non-empty string, got {self.name!r}")
        for key in ("width", "height", "num_frames"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise InputFormatError(f"VideoMeta.{key} must be an int >= 1, got {value!r}")
            object.__setattr__(self, key, int(value))
        fps = self.fps
        if isinstance(fps, bool) or not isinstance(fps, (int, float, np.number)) or not (
            math.isfinite(float(fps)) and float(fps) > 0
        ):
            raise InputFormatError(f"VideoMeta.fps must be a finite number > 0, got {fps!r}")
        object.__setattr__(self, "fps", float(fps))
        names = self.class_names
        if isinstance(names, str) or not all(isinstance(n, str) and n for n in names):
            raise InputFormatError(
                f"VideoMeta.class_names must be a sequence of non-empty strings, got {names!r}"
            )
        names = tuple(names)
        if not names or len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise InputFormatError(
                f"VideoMeta.class_names must be at least one distinct name, got {names!r}"
                + (f" (repeated: {dup})" if dup else "")
            )
        object.__setattr__(self, "class_names", names)


def check_keyframes(keyframes: Keyframes, meta: VideoMeta, *, what: str = "keyframes") -> None:
    """Raise unless every keyframe fits the video and each track keeps one class.

    CVAT tracks and Label Studio regions carry a single label, so a track whose class changes
    cannot be written; split it into two tracks first.

    Raises:
        InputFormatError: a non-finite box, a frame outside [0, meta.num_frames), a class id outside
            [0, len(meta.class_names)), or a track with more than one class id.
    """
    if len(keyframes) == 0:
        return
    bad = np.flatnonzero(~np.isfinite(keyframes.xyxy).all(axis=1))
    if len(bad):
        i = int(bad[0])
        raise InputFormatError(
            f"{what}: track {keyframes.track_id[i]} frame {keyframes.frame[i]} has a non-finite "
            f"box {keyframes.xyxy[i].tolist()}"
        )
    bad = np.flatnonzero(keyframes.frame >= meta.num_frames)
    if len(bad):
        i = int(bad[0])
        raise InputFormatError(
            f"{what}: track {keyframes.track_id[i]} has a keyframe at frame {keyframes.frame[i]}, "
            f"but video {meta.name!r} has {meta.num_frames} frames (0..{meta.num_frames - 1})"
        )
    k = len(meta.class_names)
    bad = np.flatnonzero((keyframes.class_id < 0) | (keyframes.class_id >= k))
    if len(bad):
        i = int(bad[0])
        raise InputFormatError(
            f"{what}: track {keyframes.track_id[i]} frame {keyframes.frame[i]} has class_id "
            f"{keyframes.class_id[i]}; expected 0..{k - 1} for class_names {list(meta.class_names)}"
        )
    same_track = keyframes.track_id[1:] == keyframes.track_id[:-1]
    bad = np.flatnonzero(same_track & (keyframes.class_id[1:] != keyframes.class_id[:-1]))
    if len(bad):
        i = int(bad[0])
        raise InputFormatError(
            f"{what}: track {keyframes.track_id[i]} changes class from "
            f"{meta.class_names[keyframes.class_id[i]]!r} (frame {keyframes.frame[i]}) to "
            f"{meta.class_names[keyframes.class_id[i + 1]]!r} (frame {keyframes.frame[i + 1]}); "
            "annotation tools give a track one label: split it into two tracks"
        )


def fit_to_frame(keyframes: Keyframes, meta: VideoMeta) -> Keyframes:
    """Keyframes as a tool can hold them: every box clipped to the meta.width x meta.height frame.

    Automatic tracks can reach a little past the frame (the Kalman estimate of an object at the
    edge, up to about 2 px on MOT15 PETS09-S2L1); annotation tools draw nothing there. A present
    keyframe with no area left inside the frame (e.g. a predicted box that left it) becomes an
    outside keyframe (nothing to show there); an outside keyframe keeps a drawable box, its own
    clipped or else the nearest drawable box of its track, since the tools interpolate toward
    it; a track with no drawable box at all is left out.

    Args:
        keyframes: finite boxes (see `check_keyframes`).
        meta: the video.

    Returns:
        The keyframes (the input itself when every box is inside the frame).
    """
    if len(keyframes) == 0:
        return keyframes
    xyxy, changed, empty = clip_to_frame(keyframes.xyxy, meta.width, meta.height)
    if not changed.any() and not empty.any():
        return keyframes
    outside = keyframes.outside | empty
    keep = np.ones(len(keyframes), bool)
    _, starts = keyframes.track_bounds()
    for lo, hi in zip(starts[:-1].tolist(), starts[1:].tolist()):
        drawable = np.flatnonzero(~empty[lo:hi]) + lo
        if not len(drawable):
            keep[lo:hi] = False  # nothing of this track can be shown
            continue
        for i in np.flatnonzero(empty[lo:hi]) + lo:
            before = drawable[drawable < i]
            xyxy[i] = xyxy[before[-1] if len(before) else drawable[0]]
    return Keyframes(track_id=keyframes.track_id[keep], frame=keyframes.frame[keep],
                     xyxy=xyxy[keep], outside=outside[keep], class_id=keyframes.class_id[keep])


def close_tracks(keyframes: Keyframes, num_frames: int) -> Keyframes:
    """Add an outside keyframe after each track whose last keyframe is a box.

    The added keyframe sits at last_frame + 1 with the last box and class (none when
    last_frame + 1 == num_frames). Interpolation of the result emits exactly the same boxes, and
    CVAT and Label Studio, which carry a track's last box on to the end of the video, then show
    the same boxes as `trackannot.interpolate` does.

    Args:
        keyframes: any keyframes.
        num_frames: frames in the video.

    Returns:
        The keyframes plus the closing rows (the input itself when none is needed).
    """
    _, starts = keyframes.track_bounds()
    last = starts[1:] - 1
    need = last[~keyframes.outside[last] & (keyframes.frame[last] + 1 < num_frames)]
    if len(need) == 0:
        return keyframes
    closing = Keyframes(
        track_id=keyframes.track_id[need],
        frame=keyframes.frame[need] + 1,
        xyxy=keyframes.xyxy[need],
        outside=np.ones(len(need), dtype=bool),
        class_id=keyframes.class_id[need],
    )
    return Keyframes.concat([keyframes, closing])


def propagate_to_end(keys: Keyframes, num_frames: int) -> Keyframes:
    """Add a keyframe at the video's last frame after each track that ends on a box.

    CVAT and Label Studio show a track's last box until the end of the video; our keyframes stop
    at the last keyframe, so the same box at frame num_frames - 1 makes both agree.
    """
    _, starts = keys.track_bounds()
    last = starts[1:] - 1
    need = last[~keys.outside[last] & (keys.frame[last] < num_frames - 1)]
    if len(need) == 0:
        return keys
    tail = Keyframes(
        track_id=keys.track_id[need], frame=np.full(len(need), num_frames - 1, np.int64),
        xyxy=keys.xyxy[need], outside=np.zeros(len(need), bool), class_id=keys.class_id[need],
    )
    return Keyframes.concat([keys, tail])


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write `text` to `path` via `path.partial` and a rename, so no half file is ever seen."""
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)
    return path
