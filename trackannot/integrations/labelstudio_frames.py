"""Label Studio's frame numbers for a stored video, on constant and variable frame rate video.

Label Studio numbers a video's frames on a uniform time grid, whatever the file holds: frame F
(1-based) is the picture its player shows at time (F - 1) / framerate, where framerate is the
labelling config's `<Video framerate="...">` (24 when the config gives none; `"$fps"` takes it
from the task's data), and a region's `framesCount` is the video's duration x framerate
(`trackannot.export.labelstudio` documents the player; label-studio PR #7027 made seeking exact).
A stored video numbers its decoded frames 0, 1, 2, ... and keeps each one's presentation time
(`VideoResult.frames`). `FrameGrid` maps between the two by time:

* store frame i is written as the first Label Studio frame that shows it: the smallest F with
  (F - 1) / framerate >= t_i, times taken from the first frame's;
* a Label Studio keyframe with a box at F is read as the store frame shown there: the last i
  with t_i <= (F - 1) / framerate; an outside keyframe at F (hidden from F on) as the first
  store frame whose first Label Studio frame is F or later (a picture still shown with the box
  before F keeps it), so a box and the outside keyframe after it never land on one frame.

When the config's framerate equals the video's constant rate this is the identity the
exporters use (store frame i <-> Label Studio frame i + 1 at time i / fps): `FrameGrid.identity`.
When the rate differs (Label Studio's default 24 on a 10 fps video) or the video has a variable
frame rate, frame numbers differ, and the mapping above keeps every keyframe on the picture a
person sees. Where two keyframes of a track land on one frame, the later one wins (a store frame
Label Studio never shows on its own, or a box hidden and shown again within one store frame).
Off the identity the box before each gap is pinned as a keyframe (`pin_before_outside`), so a
prediction sent back unchanged reads back as the same keyframes. Between keyframes Label Studio
interpolates linearly in its frames (time), trackannot in decoded frames: on variable-rate video
the boxes between two keyframes can differ, the keyframes never do.

Times within `_TIME_TOLERANCE_S` (a quarter of a grid step at most) count as equal, because
containers such as Matroska round timestamps to milliseconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from trackannot.boxes import Boxes
from trackannot.errors import InputFormatError
from trackannot.export.meta import VideoMeta
from trackannot.keyframes import Keyframes

__all__ = ["DEFAULT_FRAMERATE", "FrameGrid", "decoded_times", "pin_before_outside"]

DEFAULT_FRAMERATE = 24.0
"""Label Studio's `<Video framerate>` when the labelling config gives none."""

_TIME_TOLERANCE_S = 1e-3
# a rate this close to the video's counts as equal (a config says 29.97 for 30000/1001)
_RATE_TOLERANCE = 1e-3


def decoded_times(index: npt.NDArray[np.int64], time_s: npt.NDArray[np.float64],
                  num_frames: int, fps: float) -> npt.NDArray[np.float64]:
    """Each decoded frame's time in seconds from the first frame.

    Args:
        index: (k,) int64 decoded indices of the frames the run processed, ascending.
        time_s: (k,) float64 their presentation times.
        num_frames: decoded frames in the video.
        fps: the video's nominal rate, for frames a sampled run (`--fps`) did not process:
            their times are interpolated between processed frames, and extrapolated at 1 / fps
            per frame before the first and after the last.

    Returns:
        (num_frames,) float64, starting at 0, non-decreasing.
    """
    index = np.asarray(index, np.int64)
    time_s = np.asarray(time_s, np.float64)
    if len(index) == 0:
        return np.arange(num_frames, dtype=np.float64) / fps
    frames = np.arange(num_frames, dtype=np.float64)
    times = np.interp(frames, index, time_s)
    before, after = frames < index[0], frames > index[-1]
    times[before] = time_s[0] - (index[0] - frames[before]) / fps
    times[after] = time_s[-1] + (frames[after] - index[-1]) / fps
    return times - times[0]


@dataclass(frozen=True)
class FrameGrid:
    """Label Studio's frames of one stored video (module docstring).

    Attributes:
        framerate: the labelling config's `<Video framerate>`, frames per second, > 0.
        start_s: (num_frames,) float64, each decoded frame's time from the first frame.
        duration_s: the video's duration (the last frame's time plus one frame interval).
        identity: Label Studio frame F is store frame F - 1 (constant rate equal to framerate).
    """

    framerate: float
    start_s: npt.NDArray[np.float64]
    duration_s: float
    identity: bool

    @classmethod
    def for_video(cls, index: npt.NDArray[np.int64], time_s: npt.NDArray[np.float64],
                  num_frames: int, fps: float, framerate: float) -> FrameGrid:
        """The grid of a stored video (`VideoResult.frames()`, `num_frames`, its rate `fps`)
        shown at the config's `framerate`."""
        if not (isinstance(framerate, (int, float)) and math.isfinite(framerate)
                and framerate > 0):
            raise InputFormatError(f"Video framerate must be a number > 0, got {framerate!r}")
        start = decoded_times(index, time_s, num_frames, fps)
        steps = np.diff(start)
        constant = len(steps) == 0 or bool(np.allclose(steps, 1.0 / fps, rtol=0,
                                                        atol=_tolerance(fps)))
        same_rate = abs(framerate - fps) <= _RATE_TOLERANCE * fps
        duration = float(start[-1]) + 1.0 / fps if num_frames else 0.0
        return cls(float(framerate), start, duration, identity=constant and same_rate)

    @property
    def num_frames(self) -> int:
        """Decoded frames of the stored video."""
        return len(self.start_s)

    @property
    def frames_count(self) -> int:
        """Label Studio's frames of the video (its `framesCount`): duration x framerate."""
        if self.identity:
            return self.num_frames
        return max(1, math.ceil(self.duration_s * self.framerate - self._tol * self.framerate))

    @property
    def _tol(self) -> float:
        return _tolerance(self.framerate)

    def meta(self, meta: VideoMeta) -> VideoMeta:
        """`meta` as Label Studio counts the video: framesCount frames at framerate."""
        return replace(meta, num_frames=self.frames_count, fps=self.framerate)

    def to_grid(self, frame: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """0-based Label Studio frames (F - 1) that first show these store frames."""
        frame = np.asarray(frame, np.int64)
        if self.identity:
            return frame.copy()
        grid = np.ceil((self.start_s[frame] - self._tol) * self.framerate).astype(np.int64)
        return np.clip(grid, 0, self.frames_count - 1)

    def from_grid(self, grid: npt.NDArray[np.int64],
                  outside: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
        """Store frames of 0-based Label Studio frames: the frame shown there for a box; for
        an outside keyframe the first frame Label Studio first shows there or later."""
        grid = np.asarray(grid, np.int64)
        if self.identity:
            return grid.copy()
        first = self.to_grid(np.arange(self.num_frames))  # non-decreasing
        shown = np.searchsorted(first, grid, side="right") - 1
        after = np.searchsorted(first, grid, side="left")
        frame = np.where(np.asarray(outside, bool), after, shown)
        return np.clip(frame, 0, self.num_frames - 1).astype(np.int64)

    def keyframes_to_grid(self, keys: Keyframes, shown: Boxes | None = None) -> Keyframes:
        """Store keyframes on Label Studio's frames (0-based), for `format_labelstudio`.

        Off the identity, the last box before each outside keyframe is pinned first (a
        keyframe at f - 1 holding the box `shown` has there, and the outside keyframe takes
        that box): Label Studio's writer otherwise adds a keyframe on its own frame before the
        gap, interpolated in its frames, which maps back to a box the store does not show.
        """
        if self.identity:
            return keys
        keys = pin_before_outside(keys, shown)
        return _last_per_frame(keys, self.to_grid(keys.frame))

    def keyframes_from_grid(self, keys: Keyframes) -> Keyframes:
        """Keyframes read from Label Studio (0-based grid frames) on the store's frames."""
        if self.identity:
            return keys
        return _last_per_frame(keys, self.from_grid(keys.frame, keys.outside))


def pin_before_outside(keys: Keyframes, shown: Boxes | None) -> Keyframes:
    """`keys` with a present keyframe at f - 1 before each outside keyframe at f that follows
    a box at p < f - 1, holding the box `shown` has at (track, f - 1) (the linear
    interpolation toward the outside keyframe where `shown` has none), and each outside
    keyframe right after a box given that box (it draws nothing: only the interpolation
    toward it did)."""
    if len(keys) == 0 or not keys.outside.any():
        return keys
    lookup: dict[tuple[int, int], npt.NDArray[np.float32]] = {}
    if shown is not None:
        lookup = {(t, f): b for t, f, b in zip(shown.track_id.tolist(), shown.frame.tolist(),
                                               shown.xyxy)}
    xyxy = keys.xyxy.copy()
    added: list[tuple[int, int, npt.NDArray[np.float32], int]] = []
    same_track = np.r_[False, keys.track_id[1:] == keys.track_id[:-1]]
    for i in np.flatnonzero(keys.outside & same_track).tolist():
        if keys.outside[i - 1]:
            continue
        track, frame, prev = int(keys.track_id[i]), int(keys.frame[i]), int(keys.frame[i - 1])
        box = keys.xyxy[i - 1]
        if prev < frame - 1:
            box = lookup.get((track, frame - 1))
            if box is None:
                t = (frame - 1 - prev) / (frame - prev)
                box = (keys.xyxy[i - 1].astype(np.float64) * (1 - t)
                       + keys.xyxy[i].astype(np.float64) * t).astype(np.float32)
            added.append((track, frame - 1, box, int(keys.class_id[i - 1])))
        xyxy[i] = box
    keys = keys.replace(xyxy=xyxy)
    if not added:
        return keys
    track_id, frame, boxes, class_id = zip(*added)
    return Keyframes.concat([keys, Keyframes.create(
        track_id=track_id, frame=frame, xyxy=np.array(boxes, np.float32), class_id=class_id)])


def _tolerance(rate: float) -> float:
    return min(_TIME_TOLERANCE_S, 0.25 / rate)


def _last_per_frame(keys: Keyframes, frame: npt.NDArray[np.int64]) -> Keyframes:
    """`keys` (sorted by track, then Label Studio or store frame) moved to `frame`, keeping a
    row only when every later row of its track lands on a later frame: the later keyframe wins
    where two land on one frame, or where an outside keyframe moves past the box after it (a
    box hidden and shown again within one store frame)."""
    if len(keys) == 0:
        return keys
    keep = np.ones(len(keys), bool)
    _, starts = keys.track_bounds()
    for lo, hi in zip(starts[:-1].tolist(), starts[1:].tolist()):
        later = np.minimum.accumulate(frame[lo:hi][::-1])[::-1]  # min of rows j.. of the track
        keep[lo:hi - 1] = frame[lo:hi - 1] < later[1:]
    kept = keys[keep]
    return Keyframes(track_id=kept.track_id, frame=frame[keep], xyxy=kept.xyxy,
                     outside=kept.outside, class_id=kept.class_id)
