"""Track smoothing: take the frame-to-frame jitter of detector boxes out of automatic tracks.

An automatic track reports the detector's box on every frame it matched. Those boxes jitter by a
few percent of their size from frame to frame, so a track that moves smoothly still needs nearly
one keyframe per frame to be reproduced by linear interpolation (`trackannot.sparse`), and
annotation tools show a person a box that trembles. `smooth_tracks` replaces each track's boxes
by a fixed-interval (Rauch-Tung-Striebel) smoother's estimate over each run of consecutive
frames: a constant-velocity Kalman filter run forward, then backward, in (cx, cy, w, h) with
noise proportional to the box size (`trackannot.kernels.smooth`). The result is the cubic
smoothing spline through the boxes, with an equivalent bandwidth of `strength` frames: it has no
lag (it looks both ways) and keeps the boxes where the detector put them on average.

Which rows move:
- DETECTED rows are measurements and get the smoothed box.
- PREDICTED rows (the tracker's extrapolation while a detection was missing) are not
  measurements: they get the smoothed box of the run around them.
- KEYFRAME rows (drawn or confirmed by a person) and INTERPOLATED rows (filled in between
  keyframes) are exact: the smoothed curve passes through them and they come back unchanged,
  bit for bit.
- Untracked rows (track_id -1) are not smoothed.
Only `xyxy` changes; every other column and the row order stay as they are.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from trackannot.boxes import Boxes, Origin
from trackannot.errors import ConfigError, InputFormatError
from trackannot.kernels.smooth import (
    MISSING, OBSERVED, PARALLEL_MIN_ROWS, PINNED, smooth_runs, smooth_runs_serial,
)

__all__ = [
    "DEFAULT_SMOOTH_SECONDS",
    "DEFAULT_SMOOTH_STRENGTH",
    "MAX_SMOOTH_STRENGTH",
    "smooth_tracks",
    "strength_for_fps",
]

# Bandwidth in frames when the frame rate is not known. Chosen on the automatic tracks of MOT15
# (10 train sequences, SORT's Faster R-CNN detections, 10-30 fps) and KITTI Car 0000-0013
# (PointRCNN, 10 fps) by the largest smaller-of-the-two HOTA gain over strengths 0.5-6: HOTA
# +0.0085 and +0.0066; 1.5 frames gives +0.011 and +0.003, 2 frames already costs KITTI 0.004
# (benchmarks/bench_sparse.py --sweep).
DEFAULT_SMOOTH_STRENGTH = 1.0
# Bandwidth in seconds for `strength_for_fps`: the best strength grows with the frame rate (per
# sequence: about 1 frame at 10 fps, 2 at 14 fps, 4-6 at 25-30 fps), i.e. it is a time scale of
# the objects' motion. 0.1 s: MOT15 HOTA +0.0136, KITTI Car +0.0066.
DEFAULT_SMOOTH_SECONDS = 0.1
# beyond this the spline is nearly a straight line per run and the float64 algebra loses digits
MAX_SMOOTH_STRENGTH = 100.0

# origin -> kernel row mode
_MODE = np.full(256, OBSERVED, dtype=np.uint8)
_MODE[int(Origin.PREDICTED)] = MISSING
_MODE[int(Origin.INTERPOLATED)] = PINNED
_MODE[int(Origin.KEYFRAME)] = PINNED


def smooth_tracks(tracks: Boxes, strength: float = DEFAULT_SMOOTH_STRENGTH) -> Boxes:
    """Tracks with jitter removed: RTS-smoothed boxes per run of consecutive frames.

    Args:
        tracks: boxes sorted by (frame, track_id) as `Boxes` are, at most one row per
            (track, frame). Rows with track_id -1 pass through unchanged.
        strength: smoothing bandwidth in frames, in [0, MAX_SMOOTH_STRENGTH]; 0 returns the
            tracks unchanged. Higher: steadier boxes that compress into fewer keyframes, but
            fast turns, sudden stops and quick size changes are rounded off (a box can trail
            the object by a fraction of its size for about `strength` frames around a sharp
            change). Lower: closer to the raw detections, jitter included. The best value is
            a time scale: use `strength_for_fps(fps)` when the frame rate is known. The
            default (1 frame) raises HOTA and the mean IoU with ground truth on the automatic
            tracks of MOT15 and KITTI Car, and cuts the keyframes `sparse_keyframes` needs at
            IoU tolerance 0.9 from 71% to 27% of the boxes (MOT15) and from 43% to 29% (KITTI).

    Returns:
        A new `Boxes` with the same rows in the same order; only `xyxy` differs. KEYFRAME and
        INTERPOLATED rows, one-row runs and untracked rows keep their boxes exactly.

    Raises:
        ConfigError: strength is not a number in [0, MAX_SMOOTH_STRENGTH].
        InputFormatError: a track has two rows on one frame.

    Example:
        >>> b = Boxes.create(xyxy=[[0, 0, 10, 10], [3, 0, 13, 10], [2, 0, 12, 10],
        ...                        [3, 0, 13, 10]], frame=[0, 1, 2, 3], track_id=5)
        >>> s = smooth_tracks(b, strength=1.0)
        >>> bool(np.all(np.diff(s.xyxy[:, 0]) > 0))  # the jitter is gone: steady motion
        True
    """
    if not (_is_number(strength) and 0.0 <= strength <= MAX_SMOOTH_STRENGTH):
        raise ConfigError(
            f"strength must be a number of frames in [0, {MAX_SMOOTH_STRENGTH:g}], got "
            f"{strength!r}; 0 turns smoothing off"
        )
    tracked = np.flatnonzero(tracks.track_id >= 0)
    if strength == 0.0 or len(tracked) < 2:
        return tracks.replace(xyxy=tracks.xyxy.copy())
    # tracked rows in (track_id, frame) order; runs are stretches of consecutive frames
    order = tracked[np.lexsort((tracks.frame[tracked], tracks.track_id[tracked]))]
    track_id, frame = tracks.track_id[order], tracks.frame[order]
    same_track = track_id[1:] == track_id[:-1]
    repeated = same_track & (frame[1:] == frame[:-1])
    if np.any(repeated):
        i = int(np.argmax(repeated))
        raise InputFormatError(
            f"smooth_tracks: track {track_id[i]} has two boxes on frame {frame[i]}; expected "
            f"one row per (track, frame)"
        )
    continues = same_track & (frame[1:] == frame[:-1] + 1)
    run_start = np.r_[np.flatnonzero(np.r_[True, ~continues]), len(order)].astype(np.int64)
    xyxy = np.ascontiguousarray(tracks.xyxy[order])
    mode = _MODE[tracks.origin[order]]
    bad = ~np.isfinite(xyxy).all(axis=1)
    if np.any(bad):
        i = int(order[np.argmax(bad)])
        raise InputFormatError(
            f"smooth_tracks: row {i} (track {tracks.track_id[i]}, frame {tracks.frame[i]}) has a "
            f"non-finite box {tracks.xyxy[i].tolist()}; expected finite pixel coordinates"
        )
    smoothed = np.empty_like(xyxy)
    # few rows (a track of a read or an edit): threads would cost more than they save
    (smooth_runs_serial if len(order) < PARALLEL_MIN_ROWS else smooth_runs)(
        xyxy, mode, run_start, float(strength), smoothed)
    out = tracks.xyxy.copy()
    out[order] = smoothed
    return tracks.replace(xyxy=out)


def strength_for_fps(fps: float, seconds: float = DEFAULT_SMOOTH_SECONDS) -> float:
    """The `smooth_tracks` strength (frames) that smooths over `seconds` of a video at `fps`.

    Args:
        fps: frame rate of the video, frames per second, > 0.
        seconds: bandwidth in seconds, >= 0. Higher: see `smooth_tracks`' strength.

    Returns:
        fps * seconds, capped at MAX_SMOOTH_STRENGTH.

    Raises:
        ConfigError: fps is not a positive number or seconds is negative.

    Example:
        >>> strength_for_fps(30.0), strength_for_fps(10.0)
        (3.0, 1.0)
    """
    if not (_is_number(fps) and fps > 0.0):
        raise ConfigError(f"fps must be a positive number of frames per second, got {fps!r}")
    if not (_is_number(seconds) and seconds >= 0.0):
        raise ConfigError(f"seconds must be a number >= 0, got {seconds!r}")
    return min(float(fps) * float(seconds), MAX_SMOOTH_STRENGTH)


def _is_number(value: object) -> bool:
    """A finite real number (bool excluded)."""
    return (isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
            and math.isfinite(float(value)))
