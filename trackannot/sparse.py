"""Sparse keyframes: the fewest keyframes whose linear interpolation reproduces a set of tracks.

Automatic tracks have a box on every frame; a person reviews keyframes. `sparse_keyframes` keeps,
per track and per run of consecutive frames, the fewest boxes such that CVAT-style linear
interpolation (`trackannot.kernels.interp`) gives back every box with IoU >= a tolerance, exactly
at the kept boxes, and nothing where the track had no box: each run is closed by an outside
keyframe one frame after its last box (carrying that box, as CVAT does), except at the end of the
video. The choice is exact per run (see `trackannot.kernels.sparse`).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from trackannot.boxes import Boxes
from trackannot.errors import ConfigError, InputFormatError
from trackannot.keyframes import Keyframes
from trackannot.kernels.sparse import select_keyframes

__all__ = ["DEFAULT_IOU_TOLERANCE", "sparse_keyframes"]

# every interpolated box overlaps its original by at least this IoU: a box that looks the same to
# an annotator (0.9 is about 2.5% of the box size per edge)
DEFAULT_IOU_TOLERANCE = 0.9


def sparse_keyframes(
    tracks: Boxes,
    iou_tolerance: float = DEFAULT_IOU_TOLERANCE,
    keep: npt.NDArray[np.bool_] | None = None,
    num_frames: int | None = None,
) -> Keyframes:
    """The fewest keyframes that reproduce `tracks` under linear interpolation.

    Args:
        tracks: tracked boxes (track_id >= 0 on every row), one row per (track, frame), sorted by
            (frame, track_id) as `Boxes` are.
        iou_tolerance: each box must come back with IoU >= this, in (0, 1]. Higher: more
            keyframes, closer boxes; 1.0 keeps every box that is not exactly on a line.
        keep: (n,) bool rows of `tracks` that must be keyframes (e.g. low-confidence boxes a
            person should look at). A row whose class differs from the previous row of its run
            is always kept, so interpolation (class of the segment's start) keeps every class.
        num_frames: frames in the video. A run ending on the last frame (num_frames - 1) is not
            closed by an outside keyframe. None: every run is closed.

    Returns:
        Keyframes sorted by (track_id, frame): the kept rows (present, their exact box and
        class) and one outside keyframe at run_end + 1 per run (box and class of its last row).

    Raises:
        ConfigError: iou_tolerance is not in (0, 1].
        InputFormatError: untracked rows, a repeated (track, frame), a `keep` mask of the wrong
            shape, or a frame >= num_frames.

    Example:
        >>> b = Boxes.create(xyxy=[[0, 0, 10, 10], [1, 0, 11, 10], [2, 0, 12, 10]],
        ...                  frame=[0, 1, 2], track_id=3)
        >>> k = sparse_keyframes(b, num_frames=3)
        >>> k.frame.tolist(), k.outside.tolist()
        ([0, 2], [False, False])
    """
    keep_mask = _check(tracks, iou_tolerance, keep, num_frames)
    if len(tracks) == 0:
        return Keyframes.empty()
    order = np.lexsort((tracks.frame, tracks.track_id))
    track_id, frame = tracks.track_id[order], tracks.frame[order]
    xyxy = np.ascontiguousarray(tracks.xyxy[order])
    class_id = tracks.class_id[order]
    same_track = track_id[1:] == track_id[:-1]
    if np.any(same_track & (frame[1:] == frame[:-1])):
        i = int(np.argmax(same_track & (frame[1:] == frame[:-1])))
        raise InputFormatError(
            f"sparse_keyframes: track {track_id[i]} has two boxes on frame {frame[i]}; "
            f"expected one row per (track, frame)"
        )
    # a run continues while the track and the next frame continue
    continues = same_track & (frame[1:] == frame[:-1] + 1)
    run_start = np.flatnonzero(np.r_[True, ~continues]).astype(np.int64)
    run_end = np.r_[run_start[1:], len(frame)].astype(np.int64)  # exclusive
    run_start = np.r_[run_start, len(frame)].astype(np.int64)
    last_frame = frame[run_end - 1]
    closed = np.ones(len(run_end), dtype=bool)
    if num_frames is not None:
        closed = last_frame + 1 != num_frames
    forced = keep_mask[order] | np.r_[False, continues & (class_id[1:] != class_id[:-1])]
    selected = select_keyframes(xyxy, run_start, closed, forced, float(iou_tolerance))
    ends = run_end[closed] - 1
    return Keyframes.create(
        track_id=np.r_[track_id[selected], track_id[ends]],
        frame=np.r_[frame[selected], frame[ends] + 1],
        xyxy=np.r_[xyxy[selected], xyxy[ends]],
        outside=np.r_[np.zeros(int(selected.sum()), bool), np.ones(len(ends), bool)],
        class_id=np.r_[class_id[selected], class_id[ends]],
    )


def _check(tracks: Boxes, iou_tolerance: float, keep: npt.NDArray[np.bool_] | None,
           num_frames: int | None) -> npt.NDArray[np.bool_]:
    """Validate the arguments; returns the keep mask (all False when None)."""
    if not 0.0 < iou_tolerance <= 1.0:
        raise ConfigError(f"iou_tolerance must be in (0, 1], got {iou_tolerance}")
    n = len(tracks)
    if np.any(tracks.track_id < 0):
        raise InputFormatError(
            f"sparse_keyframes needs tracked boxes, got {int((tracks.track_id < 0).sum())} rows "
            f"with track_id -1; drop them first: tracks[tracks.track_id >= 0]"
        )
    if num_frames is not None and n and int(tracks.frame.max()) >= num_frames:
        raise InputFormatError(
            f"tracks have a box on frame {int(tracks.frame.max())} but num_frames={num_frames}; "
            f"pass the video's frame count"
        )
    if keep is None:
        return np.zeros(n, dtype=bool)
    keep_arr = np.asarray(keep)
    if keep_arr.dtype != np.bool_ or keep_arr.shape != (n,):
        raise InputFormatError(
            f"keep must be a ({n},) bool mask over the rows of tracks, got {keep_arr.shape} "
            f"{keep_arr.dtype}"
        )
    return keep_arr
