"""The one columnar type: `Boxes`, parallel NumPy columns over many frames.

Every stage takes and returns `Boxes`: the detector emits them per batch, the tracker per frame,
the store writes one zarr array per column. Instances are immutable; every operation returns a
new `Boxes`.

The other columnar tables (`Keyframes`, `Corrections`, `ReviewQueue`, `Answers`) describe their
columns the same way (a `Schema`) and validate them with the same check (`check_columns`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, Any, Iterable, Mapping

import numpy as np
import numpy.typing as npt

from trackannot.errors import InputFormatError

if TYPE_CHECKING:
    import supervision as sv

__all__ = ["COLUMNS", "Boxes", "Origin", "Schema", "check_columns", "pair_iou"]

Schema = Mapping[str, tuple[np.dtype[Any], tuple[int, ...]]]
"""A columnar table's columns: name -> (dtype, trailing shape); a column holds (n, *shape)."""


def check_columns(table: object, schema: Schema, n: int, owner: str, n_is: str = "") -> None:
    """Check that every column of `schema` on `table` is an ndarray of its dtype and shape
    (n, *trailing shape), as each columnar table does when it is built.

    Args:
        table: the table (its columns are attributes).
        schema: the columns to check.
        n: the table's rows.
        owner: the table's name in messages ("Boxes").
        n_is: what n is, for messages ("len(frame) = ").

    Raises:
        InputFormatError: naming the column, what it must be and what it is, e.g.
            `Boxes.xyxy must be (n, 4) float32 with n = len(frame) = 12, got (12, 5) float64`.
    """
    for name, (dtype, tail) in schema.items():
        col = getattr(table, name)
        if not isinstance(col, np.ndarray) or col.dtype != dtype or col.shape != (n, *tail):
            got = f"{col.shape} {col.dtype}" if isinstance(col, np.ndarray) else \
                type(col).__name__
            want = ", ".join(["n", *map(str, tail)])
            raise InputFormatError(f"{owner}.{name} must be ({want}) {dtype} with n = {n_is}{n}, "
                                   f"got {got}")


class Origin(IntEnum):
    """Where a box came from (the `origin` column)."""

    DETECTED = 0  # a detector output (matched to a track, or untracked)
    PREDICTED = 1  # the Kalman prediction of a track with no matching detection
    INTERPOLATED = 2  # filled in between human keyframes
    KEYFRAME = 3  # drawn or confirmed by a person
    PROPAGATED = 4  # carried from a person's edit along the object's detections (not pinned)


# column name -> (dtype, trailing shape); the order is the on-disk order of the store
COLUMNS: dict[str, tuple[np.dtype[Any], tuple[int, ...]]] = {
    "frame": (np.dtype(np.int64), ()),
    "xyxy": (np.dtype(np.float32), (4,)),
    "score": (np.dtype(np.float32), ()),
    "class_id": (np.dtype(np.int32), ()),
    "track_id": (np.dtype(np.int64), ()),
    "origin": (np.dtype(np.uint8), ()),
    "det_index": (np.dtype(np.int64), ()),
    "pos_std": (np.dtype(np.float32), ()),
}

# values `Boxes.create` fills in for columns the caller leaves out
_DEFAULTS: dict[str, float | int] = {
    "score": 1.0,
    "class_id": 0,
    "track_id": -1,
    "origin": int(Origin.DETECTED),
    "det_index": -1,
    "pos_std": 0.0,
}


@dataclass(frozen=True, slots=True, eq=False)  # a generated __eq__ breaks on arrays
class Boxes:
    """Boxes over many frames, one row per box, sorted by (frame, track_id).

    Attributes:
        frame: (n,) int64, 0-based index of the decoded frame in its video.
        xyxy: (n, 4) float32, pixels, (x1, y1, x2, y2).
        score: (n,) float32 in [0, 1]; 1.0 for human keyframes.
        class_id: (n,) int32.
        track_id: (n,) int64; -1 means not tracked yet.
        origin: (n,) uint8 `Origin`.
        det_index: (n,) int64, row of the detection this box came from, counted within the
            `Boxes` passed to the stage that produced it (the tracker's input frame); -1 if none.
        pos_std: (n,) float32, pixels, standard deviation of the box centre estimated by the
            track's Kalman filter (0.0 where no filter was involved).

    Example:
        >>> b = Boxes.create(xyxy=[[0, 0, 10, 10], [5, 5, 20, 20]], frame=[0, 1])
        >>> len(b), b.for_frame(1).xyxy.tolist()
        (2, [[5.0, 5.0, 20.0, 20.0]])
    """

    frame: npt.NDArray[np.int64]
    xyxy: npt.NDArray[np.float32]
    score: npt.NDArray[np.float32]
    class_id: npt.NDArray[np.int32]
    track_id: npt.NDArray[np.int64]
    origin: npt.NDArray[np.uint8]
    det_index: npt.NDArray[np.int64]
    pos_std: npt.NDArray[np.float32]

    def __post_init__(self) -> None:
        n = self.frame.shape[0] if isinstance(self.frame, np.ndarray) and self.frame.ndim else -1
        check_columns(self, COLUMNS, max(n, 0), "Boxes", "len(frame) = ")
        if n > 1:
            df = np.diff(self.frame)
            same = df == 0
            if np.any(df < 0) or np.any(np.diff(self.track_id)[same] < 0):
                raise InputFormatError(
                    "Boxes rows must be sorted by (frame, track_id); use Boxes.create(..., "
                    "sort=True) to sort them"
                )

    # construction -----------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        *,
        xyxy: npt.ArrayLike,
        frame: npt.ArrayLike | int = 0,
        sort: bool = False,
        **columns: npt.ArrayLike | float | int,
    ) -> Boxes:
        """Build `Boxes` from array-likes, casting dtypes and filling left-out columns.

        Args:
            xyxy: (n, 4) boxes in pixels.
            frame: (n,) frame indices, or one frame index for all rows.
            sort: sort rows by (frame, track_id) (stable); otherwise unsorted input raises.
            **columns: any other column of `COLUMNS`, as an (n,) array-like or a scalar.

        Raises:
            InputFormatError: a column has the wrong shape or an unknown name.
        """
        unknown = set(columns) - set(COLUMNS)
        if unknown:
            raise InputFormatError(
                f"unknown Boxes column(s) {sorted(unknown)}; allowed: {list(COLUMNS)}"
            )
        xyxy_arr = np.asarray(xyxy, dtype=np.float32)
        if xyxy_arr.size == 0:
            xyxy_arr = xyxy_arr.reshape(0, 4)
        if xyxy_arr.ndim != 2 or xyxy_arr.shape[1] != 4:
            raise InputFormatError(f"xyxy must be (n, 4), got {xyxy_arr.shape}")
        n = xyxy_arr.shape[0]
        cols: dict[str, np.ndarray] = {"xyxy": np.ascontiguousarray(xyxy_arr)}
        given: dict[str, Any] = {"frame": frame, **columns}
        for name, (dtype, _tail) in COLUMNS.items():
            if name == "xyxy":
                continue
            value = given.get(name, _DEFAULTS.get(name))
            arr = np.asarray(value, dtype=dtype)
            cols[name] = np.full(n, arr, dtype=dtype) if arr.ndim == 0 else arr
        if sort and n > 1:
            order = np.lexsort((cols["track_id"], cols["frame"]))
            cols = {k: v[order] for k, v in cols.items()}
        return cls(**cols)

    @classmethod
    def _trusted(cls, **columns: np.ndarray) -> Boxes:
        """Wrap columns that the caller built with the right dtypes, shapes and order.

        Skips `__post_init__`: for stages whose output is correct by construction (the
        tracker's per-frame output), where validation would cost more than the work. Tests
        check those stages' output through the validating constructor.
        """
        obj = object.__new__(cls)
        for name in COLUMNS:
            object.__setattr__(obj, name, columns[name])
        return obj

    @classmethod
    def empty(cls) -> Boxes:
        """Zero rows, every column with its proper dtype and shape."""
        return cls(**{k: np.empty((0, *tail), dtype=dt) for k, (dt, tail) in COLUMNS.items()})

    @classmethod
    def concat(cls, parts: Iterable[Boxes]) -> Boxes:
        """Stack `parts` row-wise; they must already be in (frame, track_id) order."""
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        if len(parts) == 1:
            return parts[0]
        return cls(**{k: np.concatenate([getattr(p, k) for p in parts]) for k in COLUMNS})

    # access -----------------------------------------------------------------------------------

    def __len__(self) -> int:
        return int(self.frame.shape[0])

    def __getitem__(self, index: npt.NDArray[np.bool_] | npt.NDArray[np.integer] | slice) -> Boxes:
        """Rows selected by a boolean mask, a slice or an increasing integer index array."""
        if isinstance(index, (int, np.integer)):
            i = int(index) % max(len(self), 1)
            index = slice(i, i + 1)
        rows = {k: getattr(self, k)[index] for k in COLUMNS}
        if (isinstance(index, slice) and index.step in (None, 1)) or (
                isinstance(index, np.ndarray) and index.dtype == np.bool_):
            return Boxes._trusted(**rows)  # rows of sorted rows, in order: sorted (per frame hot)
        return Boxes(**rows)

    def __repr__(self) -> str:
        frames = f"frames {self.frame[0]}..{self.frame[-1]}" if len(self) else "no frames"
        return f"Boxes(n={len(self)}, {frames})"

    def columns(self) -> dict[str, np.ndarray]:
        """The columns by name, in `COLUMNS` order (no copies)."""
        return {k: getattr(self, k) for k in COLUMNS}

    def replace(self, **columns: npt.ArrayLike) -> Boxes:
        """A copy with some columns replaced; values are cast to the column dtypes."""
        unknown = set(columns) - set(COLUMNS)
        if unknown:
            raise InputFormatError(
                f"unknown Boxes column(s) {sorted(unknown)}; allowed: {list(COLUMNS)}"
            )
        new = self.columns()
        for name, value in columns.items():
            dtype, _ = COLUMNS[name]
            arr = np.asarray(value, dtype=dtype)
            new[name] = np.full(len(self), arr, dtype=dtype) if arr.ndim == 0 else arr
        return Boxes(**new)

    def frame_range(self, start: int, stop: int) -> Boxes:
        """Rows with start <= frame < stop (binary search on the sorted frame column)."""
        lo, hi = np.searchsorted(self.frame, [start, stop], side="left")
        return self[slice(int(lo), int(hi))]

    def for_frame(self, frame: int) -> Boxes:
        """Rows of one frame."""
        return self.frame_range(frame, frame + 1)

    def split_frames(self) -> Iterable[tuple[int, Boxes]]:
        """Yield (frame, rows of that frame) for each frame that has rows, in order."""
        if not len(self):
            return
        starts = np.flatnonzero(np.r_[True, self.frame[1:] != self.frame[:-1]])
        ends = np.r_[starts[1:], len(self)]
        for s, e in zip(starts.tolist(), ends.tolist()):
            yield int(self.frame[s]), self[slice(s, e)]

    # supervision ------------------------------------------------------------------------------

    def to_supervision(self) -> sv.Detections:
        """Convert to `supervision.Detections` (frame, origin, det_index, pos_std go to `data`)."""
        import supervision as sv

        return sv.Detections(
            xyxy=self.xyxy.astype(np.float32),
            confidence=self.score.copy(),
            class_id=self.class_id.astype(int),
            tracker_id=np.where(self.track_id >= 0, self.track_id, -1).astype(int),
            data={
                "frame": self.frame.copy(),
                "origin": self.origin.copy(),
                "det_index": self.det_index.copy(),
                "pos_std": self.pos_std.copy(),
            },
        )

    @classmethod
    def from_supervision(cls, detections: sv.Detections, frame: int | None = None) -> Boxes:
        """Convert `supervision.Detections` of one frame (or with a `frame` data column).

        Args:
            detections: xyxy required; confidence, class_id and tracker_id optional.
            frame: the frame of every row; required unless `detections.data["frame"]` exists.
        """
        n = len(detections)
        data = detections.data or {}
        if frame is None:
            if "frame" not in data:
                raise InputFormatError(
                    "from_supervision needs frame=... or a 'frame' entry in detections.data"
                )
            frame_col: Any = data["frame"]
        else:
            frame_col = frame
        tracker_id = detections.tracker_id
        extra = {k: data[k] for k in ("origin", "det_index", "pos_std") if k in data}
        if "det_index" not in extra:
            extra["det_index"] = np.arange(n)
        return cls.create(
            xyxy=detections.xyxy,
            frame=frame_col,
            score=detections.confidence if detections.confidence is not None else 1.0,
            class_id=detections.class_id if detections.class_id is not None else 0,
            track_id=tracker_id if tracker_id is not None else -1,
            sort=True,
            **extra,
        )


def pair_iou(a_xyxy: npt.ArrayLike, b_xyxy: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """(n,) IoU of box i of `a_xyxy` with box i of `b_xyxy`, both (n, 4) xyxy.

    0 where the union is empty or either box has a NaN coordinate.
    """
    a, b = np.asarray(a_xyxy, np.float64), np.asarray(b_xyxy, np.float64)
    iw = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = iw * ih
    union = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]) + (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) - inter
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(union) & np.isfinite(inter) & (union > 0)
    return np.divide(inter, union, out=np.zeros(len(a), np.float64), where=ok)
