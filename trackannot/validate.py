"""Input validation: the checks every value passes on its way into the store, in its stored dtype.

Every door into a store uses these checks: detections files (`trackannot.detect.from_file`),
corrections files (`trackannot.corrections`), CVAT and Label Studio imports
(`trackannot.export.cvat`, `trackannot.export.labelstudio`), review-queue answers
(`trackannot.review`, `trackannot.export.review_tasks`) and the Python API
(`trackannot.state.AnnotationState.apply`). The policy:

* **Integers** (frames, track ids, queue items, classes) are checked as Python integers before any
  NumPy cast, which would wrap or raise: frames and ids in 0..2**63 - 1 (int64), classes in
  0..2**31 - 1 (int32). A detections file is parsed as float64, which holds integers exactly
  only up to 2**53, so its frames, ids and classes must be integers of at most that size.
* **Numbers** are cast to the stored dtype first (float32 for boxes and scores) and checked after
  the cast: finite (1e300 is a float64 but inf as a float32), and boxes with x2 > x1 and y2 > y1
  (a width that rounds away in float32 is no width).
* **The frame.** A box a person gave (a correction, a CVAT or Label Studio keyframe, a queue
  answer) must lie inside the frame, 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height; one that
  does not is refused, naming the file and line (or the correction's index) and the frame size,
  and nothing is written. Annotation tools cannot draw outside the frame, and our exporters clip
  what they write to it, so only a hand-made or foreign file meets this. Boxes from a detector
  (a detections file) are machine output: they are clipped to the frame, and those with no
  area left inside it are dropped; `FileDetector.counts` counts both.

Messages say what, where, what was expected, what was got and the fix (STYLE.md, section 6).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from trackannot.errors import InputFormatError

if TYPE_CHECKING:
    from trackannot.corrections import Corrections

__all__ = [
    "EXACT_INT_MAX",
    "INT32_MAX",
    "INT64_MAX",
    "check_box",
    "check_corrections",
    "check_int",
    "check_number",
    "clip_to_frame",
    "float32_array",
    "int_array",
    "outside_frame",
]

INT64_MAX = 2**63 - 1
INT32_MAX = 2**31 - 1
EXACT_INT_MAX = 2**53  # the largest integer range a float64 holds exactly
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def check_int(value: Any, where: str, name: str, *, minimum: int = 0,
              maximum: int = INT64_MAX) -> int:
    """A Python or NumPy integer (not a bool) in [minimum, maximum], checked before any cast.

    Raises:
        InputFormatError: "WHERE: 'NAME' must be an integer in MIN..MAX, got VALUE".
    """
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
    if ok and minimum <= int(value) <= maximum:
        return int(value)
    raise InputFormatError(f"{where}: '{name}' must be an integer in {minimum}..{maximum}, "
                           f"got {_show(value)}")


def check_number(value: Any, where: str, name: str) -> float:
    """A JSON/Python number (int or float, not a bool) that is finite as a float64.

    Integers too large for a float64 (JSON allows 1e400 written as digits) are refused here rather
    than raising OverflowError later.

    Raises:
        InputFormatError: not a number, NaN, infinite, or beyond the float64 range.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise InputFormatError(f"{where}: '{name}' must be a number, got {_show(value)}")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise InputFormatError(f"{where}: '{name}' must be a finite number, got {_show(value)}")
    return number


def check_box(values: Any, where: str, name: str = "box") -> npt.NDArray[np.float32]:
    """[x1, y1, x2, y2] as it will be stored: float32, finite, x2 > x1 and y2 > y1 after the cast.

    Args:
        values: four numbers (a list, tuple or array).
        where: "FILE line N" (or any prefix) for the message.
        name: what the box is called in the input ("box", "xtl/ytl/xbr/ybr", ...).

    Returns:
        (4,) float32.

    Raises:
        InputFormatError: not four numbers, a value that is not finite in float32 (e.g. 1e300),
            or an empty or inverted box.
    """
    if isinstance(values, np.ndarray):
        values = values.tolist()
    if not isinstance(values, (list, tuple)) or len(values) != 4:
        raise InputFormatError(f"{where}: '{name}' must be [x1, y1, x2, y2], four numbers; got "
                               f"{_show(values)}")
    numbers = [check_number(v, where, name) for v in values]
    if any(abs(v) > _FLOAT32_MAX for v in numbers):
        raise InputFormatError(f"{where}: '{name}' {_show(values)} is beyond the float32 range "
                               f"boxes are stored in (|v| <= {_FLOAT32_MAX:.3g}); give pixels")
    box = np.asarray(numbers, dtype=np.float32)
    problem = _box_problem(box)
    if problem:
        raise InputFormatError(f"{where}: '{name}' {_show(values)} is {problem}")
    return box


def _box_problem(box: npt.NDArray[np.float32]) -> str:
    """Why a float32 box is not a box ("" if it is one)."""
    if not np.isfinite(box).all():
        return "not finite in float32"
    if not (box[2] > box[0] and box[3] > box[1]):
        return "empty or inverted after the float32 cast: need x2 > x1 and y2 > y1"
    return ""


def outside_frame(xyxy: npt.NDArray[np.float32], width: int, height: int) -> npt.NDArray[np.bool_]:
    """(n,) bool: rows of an (n, 4) float32 box array not inside [0, width] x [0, height].

    NaN rows (no box) are not outside.
    """
    with np.errstate(invalid="ignore"):
        return ((xyxy[:, 0] < 0) | (xyxy[:, 1] < 0) | (xyxy[:, 2] > width)
                | (xyxy[:, 3] > height))


def clip_to_frame(xyxy: npt.NDArray[np.float32], width: int, height: int
                  ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Boxes clipped to [0, width] x [0, height] (the detector policy, and what exporters write).

    Args:
        xyxy: (n, 4) float32 boxes, finite.
        width, height: the frame, pixels.

    Returns:
        clipped: (n, 4) float32.
        changed: (n,) bool, rows that were not inside the frame.
        empty: (n,) bool, rows with no area left inside the frame.
    """
    changed = outside_frame(xyxy, width, height)
    limit = np.array([width, height, width, height], dtype=np.float32)
    clipped = np.clip(xyxy, np.float32(0), limit).astype(np.float32)
    empty = ~((clipped[:, 2] > clipped[:, 0]) & (clipped[:, 3] > clipped[:, 1]))
    return clipped, changed, empty


def check_frame_box(box: npt.NDArray[np.float32], frame_size: tuple[int, int], where: str,
                    name: str = "box") -> None:
    """Refuse a person's box that is not inside a width x height frame (the policy above)."""
    width, height = frame_size
    if outside_frame(box.reshape(1, 4), width, height)[0]:
        raise InputFormatError(_outside_message(where, name, box, width, height))


def _outside_message(where: str, name: str, box: npt.NDArray[np.float32], width: int,
                     height: int) -> str:
    return (f"{where}: '{name}' {[float(v) for v in box]} is not inside the {width}x{height} "
            f"frame: need 0 <= x1 < x2 <= {width} and 0 <= y1 < y2 <= {height}; draw it inside "
            "the frame (or mark the object absent)")


# ------------------------------------------------------------------------------ arrays


def int_array(value: Any, what: str, dtype: Any) -> np.ndarray:
    """An array-like of integers as `dtype`, refused (never wrapped, never an OverflowError) when a
    value is not an integer that fits; `what` names it in the message ("Corrections.frame")."""
    info = np.iinfo(dtype)
    try:
        arr = np.asarray(value)
    except (ValueError, OverflowError) as err:
        raise InputFormatError(f"{what} must be integers, got {value!r:.80}") from err
    if arr.dtype.kind == "O" and arr.size:  # Python ints too large for int64, or other objects
        flat = arr.reshape(-1).tolist()
        bad = [v for v in flat if isinstance(v, bool) or not isinstance(v, int)
               or not info.min <= v <= info.max]
        if bad:
            raise InputFormatError(f"{what} must be integers in {info.min}.."
                                   f"{info.max} ({np.dtype(dtype)}), got {bad[0]!r:.80}")
        return np.asarray(flat, dtype=dtype).reshape(arr.shape)
    if arr.size == 0:
        return arr.astype(dtype)
    if arr.dtype.kind == "f":
        with np.errstate(invalid="ignore"):
            bad = ~np.isfinite(arr) | (arr != np.round(arr)) | (arr < info.min) | (arr > info.max)
        if bad.any():
            raise InputFormatError(f"{what} must be integers in {info.min}.."
                                   f"{info.max} ({np.dtype(dtype)}), got {arr[bad].flat[0].item()!r}")
    elif arr.dtype.kind not in "iu":
        raise InputFormatError(f"{what} must be integers, got {arr.dtype} values")
    elif (arr.min() < info.min) or (arr.max() > info.max):
        worst = arr.min() if arr.min() < info.min else arr.max()
        raise InputFormatError(f"{what} must be integers in {info.min}..{info.max} "
                               f"({np.dtype(dtype)}), got {worst.item()}")
    return arr.astype(dtype)


def float32_array(value: Any, what: str) -> np.ndarray:
    """An array-like of numbers as float32; finite values beyond float32 are refused, not turned
    into inf (NaN and inf pass: callers that need finite boxes check them with their row)."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (ValueError, OverflowError, TypeError) as err:
        raise InputFormatError(f"{what} must be numbers, got {value!r:.80}") from err
    with np.errstate(invalid="ignore"):  # NaN and inf pass: check_corrections names their row
        big = np.isfinite(arr) & (np.abs(arr) > np.finfo(np.float32).max)
    if big.any():
        raise InputFormatError(f"{what} value {arr[big].flat[0].item()!r} is beyond "
                               "the float32 range boxes are stored in")
    return arr.astype(np.float32)


# ------------------------------------------------------------------------------ corrections


def check_corrections(corrections: Corrections, source: str = "",
                      frame_size: tuple[int, int] | None = None) -> None:
    """Refuse a batch with a value the store cannot hold as given (the policy above).

    Every row: a known op; track ids in -1..2**63 - 1 (>= 0 except a CREATE's, where -1 means
    the next free id); frames >= 0 for the ops that take one, -1 otherwise; classes in
    -1..2**31 - 1 (a CLASS edit needs one >= 0); MERGE's other track >= 0 and not the track
    itself, SPLIT's >= -1; a box (four finite float32 values, x2 > x1, y2 > y1) where the op needs
    one (ADJUST, CREATE), none or one for ACCEPT and ABSENT, none for the others; with
    `frame_size`, every box inside the frame. Vectorised: cheap for a whole log.

    Args:
        corrections: the batch (any source: a file reader, an importer, the Python API).
        source: the file name for messages ("FILE line N"; rows without a line are named
            "correction i", 1-based).
        frame_size: (width, height) of the video, when known (where a batch meets a store).

    Raises:
        InputFormatError: naming the first bad row.
    """
    from trackannot.corrections import OP_NAMES, Op

    c, n = corrections, len(corrections)
    if n == 0:
        return
    op = c.op.astype(np.int64)
    has_box = np.isfinite(c.xyxy).all(axis=1)
    no_box = np.isnan(c.xyxy).all(axis=1)
    box_ops = np.isin(op, [Op.ADJUST, Op.CREATE])
    maybe_box_ops = np.isin(op, [Op.ACCEPT, Op.ABSENT])
    frame_ops = np.isin(op, [Op.ACCEPT, Op.ADJUST, Op.ABSENT, Op.CREATE, Op.SPLIT])
    with np.errstate(invalid="ignore"):
        valid_box = has_box & (c.xyxy[:, 2] > c.xyxy[:, 0]) & (c.xyxy[:, 3] > c.xyxy[:, 1])
    checks: list[tuple[npt.NDArray[np.bool_], Any]] = [
        ((op == Op.CREATE) & (c.track_id < -1), lambda i: f"track {c.track_id[i]} must be >= 0 "
         "(or -1: the next free id)"),
        ((op != Op.CREATE) & (c.track_id < 0), lambda i: f"track {c.track_id[i]} must be >= 0"),
        (frame_ops & (c.frame < 0), lambda i: f"frame {c.frame[i]} must be >= 0"),
        (~frame_ops & (c.frame != -1), lambda i: f"op '{OP_NAMES[Op(int(op[i]))]}' takes no "
         f"frame, got {c.frame[i]} (expected -1)"),
        (c.class_id < -1, lambda i: f"class {c.class_id[i]} must be >= 0 (or -1: unset)"),
        ((op == Op.CLASS) & (c.class_id < 0), lambda i: "op 'class' needs a class >= 0"),
        ((op == Op.MERGE) & ((c.other_id < 0) | (c.other_id == c.track_id)),
         lambda i: f"cannot merge track {c.other_id[i]} into track {c.track_id[i]}"),
        ((op != Op.MERGE) & (c.other_id < -1), lambda i: f"other track {c.other_id[i]} must be "
         ">= 0 (or -1)"),
        ((box_ops | maybe_box_ops) & ~no_box & ~valid_box, lambda i: f"'box' "
         f"{c.xyxy[i].tolist()} is {_box_problem(c.xyxy[i]) or 'not four finite numbers'}"),
        (box_ops & no_box, lambda i: f"op '{OP_NAMES[Op(int(op[i]))]}' needs a box"),
        (~box_ops & ~maybe_box_ops & ~no_box, lambda i: f"op '{OP_NAMES[Op(int(op[i]))]}' takes "
         f"no box, got {c.xyxy[i].tolist()}"),
    ]
    if frame_size is not None:
        width, height = frame_size
        outside = valid_box & outside_frame(c.xyxy, width, height)
        checks.append((outside, None))
    for bad, message in checks:
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            where = c.where(i, source)
            if message is None:
                raise InputFormatError(_outside_message(where, "box", c.xyxy[i], width, height))
            raise InputFormatError(f"{where}: {message(i)}")


def _show(value: Any, limit: int = 80) -> str:
    """repr of a value for a message, shortened (a hostile file can hold megabytes)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
