"""The detector protocol: decoded frames in, one `Boxes` of untracked detections out."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from trackannot.boxes import Boxes
    from trackannot.frames import FrameBatch

__all__ = ["Detector", "rank_within_frame"]


@runtime_checkable
class Detector(Protocol):
    """Anything with `detect(batch) -> Boxes`.

    The output holds the detections of every frame of the batch, sorted by frame, with
    `frame` = the batch's `index` values, `track_id` -1, `origin` DETECTED and `det_index` = the
    row number of the detection within its frame (0..k-1), so the tracker's provenance column
    points back into `boxes.for_frame(f)`.

    Optional attributes the pipeline uses when a detector has them:
        pixel_format: "rgb24" or "yuv420p", the `FrameBatch` form it takes without a colour
            conversion on the CPU (`DecodeConfig.pixel_format` "auto" picks it; else rgb24).
            Every detector must accept both forms.
        allocate(shape) -> uint8 ndarray: memory for the decoder to write batches into (pinned
            memory for a detector on CUDA).
    """

    def detect(self, batch: FrameBatch) -> Boxes:
        """Detections in the frames of `batch` (see the class docstring)."""
        ...


def rank_within_frame(frame: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Row number of each row within its frame, for a frame column sorted ascending.

    Args:
        frame: (n,) int64, non-decreasing.

    Returns:
        (n,) int64: 0, 1, ... restarting at every new frame value.

    Example:
        >>> rank_within_frame(np.array([3, 3, 5, 5, 5])).tolist()
        [0, 1, 0, 1, 2]
    """
    n = frame.shape[0]
    if n == 0:
        return np.empty(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, frame[1:] != frame[:-1]])
    lengths = np.diff(np.r_[starts, n])
    return np.arange(n, dtype=np.int64) - np.repeat(starts, lengths).astype(np.int64)
