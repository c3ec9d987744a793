"""The detector protocol: decoded frames in, one `Boxes` of untracked detections out."""

from __future__ import annotations

from abc import abstractmethod
from types import MappingProxyType
from typing import TYPE_CHECKING, Mapping, Protocol

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from trackannot.boxes import Boxes
    from trackannot.frames import FrameBatch

__all__ = ["Detector", "rank_within_frame"]


class Detector(Protocol):
    """What every detector offers: `detect(batch) -> Boxes`, and what the pipeline asks of it.

    The output of `detect` holds the detections of every frame of the batch, sorted by frame,
    with `frame` = the batch's `index` values, `track_id` -1, `origin` DETECTED and `det_index` =
    the row number of the detection within its frame (0..k-1), so the tracker's provenance column
    points back into `boxes.for_frame(f)`.

    Every member below is part of the protocol; a detector subclasses `Detector` and inherits
    the defaults of those it does not set (callers never probe with `getattr`).

    Attributes:
        pixel_format: "rgb24" or "yuv420p", the `FrameBatch` form it takes without a colour
            conversion on the CPU (`DecodeConfig.pixel_format` "auto" picks it). Every detector
            must accept both forms. Default "rgb24".
        names: class id -> class name (recorded in the store, used by exports and the CVAT
            functions); empty when the detector names no classes (a detections file).

    Example:
        >>> class Nothing(Detector):
        ...     def detect(self, batch):
        ...         return Boxes.empty()
        >>> Nothing().pixel_format, dict(Nothing().names)
        ('rgb24', {})
    """

    pixel_format: str = "rgb24"
    names: Mapping[int, str] = MappingProxyType({})

    @abstractmethod
    def detect(self, batch: FrameBatch) -> Boxes:
        """Detections in the frames of `batch` (see the class docstring)."""
        ...

    def allocate(self, shape: tuple[int, ...]) -> npt.NDArray[np.uint8]:
        """Memory for the decoder to write a batch of `shape` into: a uint8 array. Default:
        plain memory; a detector on CUDA gives pinned memory (no extra copy to the device)."""
        return np.empty(shape, np.uint8)


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
