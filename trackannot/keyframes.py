"""Human keyframes: `Keyframes`, the columnar table of boxes a person drew or confirmed.

A keyframe pins one track at one frame: either a box, or "outside" (the object is not visible from
this frame until the track's next keyframe). This is the data model of CVAT's track shapes, so
interpolation and export follow the annotation tools exactly:

* between a present keyframe and the next keyframe of its track, boxes are interpolated toward the
  next keyframe's box (an outside keyframe keeps the box it had when it was marked, as in CVAT);
* from an outside keyframe to the next keyframe, the track has no boxes;
* after a track's last keyframe, interpolation adds nothing (tools propagate the last box to the end
  of the video; exporters close every track with an outside keyframe so both agree).

Who made a keyframe and when lives in the corrections log (`trackannot.corrections`), not here.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Iterable

import numpy as np
import numpy.typing as npt

from trackannot.boxes import check_columns
from trackannot.errors import InputFormatError
from trackannot.validate import float32_array, int_array

__all__ = ["KEYFRAME_COLUMNS", "Keyframes"]

# column name -> (dtype, trailing shape)
KEYFRAME_COLUMNS: dict[str, tuple[np.dtype[Any], tuple[int, ...]]] = {
    "track_id": (np.dtype(np.int64), ()),
    "frame": (np.dtype(np.int64), ()),
    "xyxy": (np.dtype(np.float32), (4,)),
    "outside": (np.dtype(np.bool_), ()),
    "class_id": (np.dtype(np.int32), ()),
}


@dataclass(frozen=True, slots=True, eq=False)  # a generated __eq__ breaks on arrays
class Keyframes:
    """Keyframes of many tracks, one row per (track, frame), sorted by (track_id, frame).

    Attributes:
        track_id: (n,) int64, >= 0.
        frame: (n,) int64, 0-based decoded frame index; unique within a track.
        xyxy: (n, 4) float32, pixels. For an outside keyframe, the box the track had when it was
            marked outside (interpolation from the previous keyframe heads toward it, as in CVAT).
        outside: (n,) bool, the object is not visible from this frame until the next keyframe.
        class_id: (n,) int32.

    Example:
        >>> k = Keyframes.create(track_id=[1, 1], frame=[0, 10],
        ...                      xyxy=[[0, 0, 10, 10], [10, 0, 20, 10]])
        >>> len(k), k.track_bounds()[0].tolist(), k.track_bounds()[1].tolist()
        (2, [1], [0, 2])
    """

    track_id: npt.NDArray[np.int64]
    frame: npt.NDArray[np.int64]
    xyxy: npt.NDArray[np.float32]
    outside: npt.NDArray[np.bool_]
    class_id: npt.NDArray[np.int32]

    def __post_init__(self) -> None:
        n = len(self.track_id)
        check_columns(self, KEYFRAME_COLUMNS, n, "Keyframes")
        if n > 1:
            step_track = np.diff(self.track_id)
            step_frame = np.diff(self.frame)
            bad = (step_track < 0) | ((step_track == 0) & (step_frame <= 0))
            if bad.any():
                i = int(np.argmax(bad))
                raise InputFormatError(
                    f"Keyframes must be sorted by (track_id, frame) with one row per (track, frame); "
                    f"rows {i} and {i + 1} are (track {self.track_id[i]}, frame {self.frame[i]}) and "
                    f"(track {self.track_id[i + 1]}, frame {self.frame[i + 1]})"
                )
        if n and (self.track_id.min() < 0 or self.frame.min() < 0):
            raise InputFormatError("Keyframes track_id and frame must be >= 0")

    @classmethod
    def create(
        cls,
        *,
        track_id: npt.ArrayLike,
        frame: npt.ArrayLike,
        xyxy: npt.ArrayLike,
        outside: npt.ArrayLike | None = None,
        class_id: npt.ArrayLike | None = None,
        sort: bool = True,
    ) -> Keyframes:
        """Build from array-likes, casting dtypes; `sort=True` orders rows by (track_id, frame).

        Raises:
            InputFormatError: an id, frame or class that is not an integer fitting its column
                (checked before the cast: 2**70 is refused, never wrapped), a box value beyond
                float32, or columns whose lengths differ.
        """
        track = int_array(track_id, "Keyframes.track_id", np.int64).reshape(-1)
        n = len(track)
        try:
            boxes = float32_array(xyxy, "Keyframes.xyxy").reshape(n, 4)
        except ValueError as err:
            if isinstance(err, InputFormatError):
                raise
            raise InputFormatError(f"Keyframes.xyxy must be ({n}, 4) boxes, one per track_id") from err
        cols = {
            "track_id": track,
            "frame": int_array(frame, "Keyframes.frame", np.int64).reshape(-1),
            "xyxy": boxes,
            "outside": (
                np.zeros(n, bool) if outside is None else np.asarray(outside, dtype=bool).reshape(-1)
            ),
            "class_id": (
                np.zeros(n, np.int32)
                if class_id is None
                else np.broadcast_to(int_array(class_id, "Keyframes.class_id", np.int32),
                                     (n,)).copy()
            ),
        }
        if sort and n > 1:
            order = np.lexsort((cols["frame"], cols["track_id"]))
            cols = {k: v[order] for k, v in cols.items()}
        return cls(**cols)

    @classmethod
    def empty(cls) -> Keyframes:
        return cls.create(track_id=[], frame=[], xyxy=np.zeros((0, 4)))

    @classmethod
    def concat(cls, parts: Iterable[Keyframes]) -> Keyframes:
        """Rows of all parts, re-sorted; (track, frame) pairs must not repeat across parts."""
        parts = list(parts)
        if not parts:
            return cls.empty()
        cols = {name: np.concatenate([getattr(p, name) for p in parts]) for name in KEYFRAME_COLUMNS}
        return cls.create(**cols)

    def __len__(self) -> int:
        return len(self.track_id)

    def __getitem__(self, index: npt.NDArray[np.bool_] | npt.NDArray[np.integer] | slice) -> Keyframes:
        """Rows selected by a mask, sorted indices or a slice (order must stay sorted)."""
        return Keyframes(**{name: getattr(self, name)[index] for name in KEYFRAME_COLUMNS})

    def __repr__(self) -> str:
        return f"Keyframes({len(self)} rows, {len(np.unique(self.track_id))} tracks)"

    def columns(self) -> dict[str, np.ndarray]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def replace(self, **columns: npt.ArrayLike) -> Keyframes:
        """A copy with some columns replaced (re-sorted and re-validated)."""
        cols = self.columns()
        cols.update(columns)
        return Keyframes.create(**cols)

    def track_bounds(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Track ids and CSR offsets: rows of track `ids[t]` are `starts[t]:starts[t + 1]`.

        Returns:
            ids: (t,) int64 distinct track ids, ascending.
            starts: (t + 1,) int64 row offsets.
        """
        if len(self) == 0:
            return np.zeros(0, np.int64), np.zeros(1, np.int64)
        first = np.flatnonzero(np.r_[True, self.track_id[1:] != self.track_id[:-1]])
        starts = np.r_[first, len(self)].astype(np.int64)
        return self.track_id[first], starts

    def for_track(self, track_id: int) -> Keyframes:
        lo, hi = np.searchsorted(self.track_id, [track_id, track_id + 1])
        return self[lo:hi]

    def equals(self, other: Keyframes) -> bool:
        """Same rows and values (boxes compared exactly, as float32)."""
        return len(self) == len(other) and all(
            np.array_equal(getattr(self, n), getattr(other, n)) for n in KEYFRAME_COLUMNS
        )
