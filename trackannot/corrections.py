"""Human corrections: the `Corrections` table and the corrections file format (JSON Lines).

A correction is one edit a person made to the pre-labels of one video. Corrections are never applied
in place: each is appended to the video's audit log in the store (`trackannot.store`), and the current
annotation is derived by replaying the log over the automatic tracks (`trackannot.state`).

Operations (the `op` field of a line; `track` is always the track acted on):

=========  ===================================================  ==============================
op         meaning                                              fields
=========  ===================================================  ==============================
accept     the box the track has at this frame is right         track, frame, [box]
adjust     the box at this frame is `box`                       track, frame, box, [class]
absent     the object is not visible from this frame on         track, frame, [box]
create     a new track starts here with `box`                   frame, box, [track], [class]
split      frames >= `frame` become a new track                 track, frame, [new_track]
merge      `from_track` is the same object as `track`           track, from_track
class      the track's class is `class` (every frame)           track, class
=========  ===================================================  ==============================

`box` on accept is the box the person saw and accepted (pinned as is; without it, the box the track
has when the edit is applied); on absent it is the box the outside keyframe keeps, as CVAT stores
one (default: the track's box there, or its last box before). Importers of tool files give both.
Every line may also carry `author` (default: the batch's author) and `time` (ISO 8601; default: when
the batch is applied). `box` is [x1, y1, x2, y2] in pixels. Example file::

    {"op": "adjust", "track": 3, "frame": 120, "box": [10, 20, 60, 140]}
    {"op": "absent", "track": 3, "frame": 200}
    {"op": "merge", "track": 3, "from_track": 7, "author": "ana"}
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from enum import IntEnum
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import numpy.typing as npt

from trackannot.boxes import check_columns
from trackannot.errors import InputFormatError
from trackannot.validate import (
    INT32_MAX,
    INT64_MAX,
    check_box,
    check_int,
    float32_array,
    int_array,
)

__all__ = ["CORRECTION_COLUMNS", "Corrections", "Op", "check_author", "load_json", "parse_box",
           "parse_line", "parse_time", "read_corrections_file", "read_json_lines"]


class Op(IntEnum):
    """A correction's operation (the `op` column)."""

    ACCEPT = 0
    ADJUST = 1
    ABSENT = 2
    CREATE = 3
    SPLIT = 4
    MERGE = 5
    CLASS = 6


OP_NAMES = {op: op.name.lower() for op in Op}
_OPS_BY_NAME = {name: op for op, name in OP_NAMES.items()}

# fields each op requires / allows in a file line (besides op, author, time)
_REQUIRED = {
    Op.ACCEPT: ("track", "frame"),
    Op.ADJUST: ("track", "frame", "box"),
    Op.ABSENT: ("track", "frame"),
    Op.CREATE: ("frame", "box"),
    Op.SPLIT: ("track", "frame"),
    Op.MERGE: ("track", "from_track"),
    Op.CLASS: ("track", "class"),
}
_OPTIONAL = {
    Op.ACCEPT: ("box",),
    Op.ABSENT: ("box",),
    Op.ADJUST: ("class",),
    Op.CREATE: ("track", "class"),
    Op.SPLIT: ("new_track",),
}
_COMMON = ("op", "author", "time")

CORRECTION_COLUMNS: dict[str, tuple[np.dtype[Any], tuple[int, ...]]] = {
    "op": (np.dtype(np.uint8), ()),
    "track_id": (np.dtype(np.int64), ()),
    "frame": (np.dtype(np.int64), ()),
    "xyxy": (np.dtype(np.float32), (4,)),
    "class_id": (np.dtype(np.int32), ()),
    "other_id": (np.dtype(np.int64), ()),
    "time_ns": (np.dtype(np.int64), ()),
}


@dataclass(frozen=True, slots=True, eq=False)  # a generated __eq__ breaks on arrays
class Corrections:
    """A batch of corrections in the order they were made, one row per edit.

    Attributes:
        op: (n,) uint8 `Op`.
        track_id: (n,) int64, the track acted on; for CREATE the new track's id (-1: next free id).
        frame: (n,) int64, 0-based decoded frame index; -1 for MERGE and CLASS.
        xyxy: (n, 4) float32, pixels, the box of ADJUST and CREATE; NaN otherwise.
        class_id: (n,) int32, the class of CLASS (and optionally ADJUST, CREATE); -1 when unset.
        other_id: (n,) int64, MERGE: the track merged into `track_id`; SPLIT: the new track's id
            (-1: next free id); -1 otherwise.
        time_ns: (n,) int64, when the edit was made, nanoseconds since the Unix epoch (UTC).
        author: (n,) str, who made it.
        source_line: (n,) int64, line of the edit in the file it came from (0 if none), for errors.
    """

    op: npt.NDArray[np.uint8]
    track_id: npt.NDArray[np.int64]
    frame: npt.NDArray[np.int64]
    xyxy: npt.NDArray[np.float32]
    class_id: npt.NDArray[np.int32]
    other_id: npt.NDArray[np.int64]
    time_ns: npt.NDArray[np.int64]
    author: npt.NDArray[np.str_]
    source_line: npt.NDArray[np.int64]

    def __post_init__(self) -> None:
        n = len(self.op)
        check_columns(self, CORRECTION_COLUMNS, n, "Corrections")
        for name in ("author", "source_line"):
            if len(getattr(self, name)) != n:
                raise InputFormatError(f"Corrections.{name} must have {n} rows")
        if n and int(self.op.max()) > max(Op):
            raise InputFormatError(f"Corrections.op has unknown operation {int(self.op.max())}")

    @classmethod
    def create(
        cls,
        *,
        op: npt.ArrayLike,
        track_id: npt.ArrayLike,
        frame: npt.ArrayLike | None = None,
        xyxy: npt.ArrayLike | None = None,
        class_id: npt.ArrayLike | None = None,
        other_id: npt.ArrayLike | None = None,
        time_ns: npt.ArrayLike | None = None,
        author: npt.ArrayLike | str = "",
        source_line: npt.ArrayLike | None = None,
    ) -> Corrections:
        """Build from array-likes; omitted columns get their "unset" value.

        Integer columns must hold integers that fit their dtype (checked before the cast, so
        2**70 or 1e23 is refused, never wrapped); `xyxy` must fit float32 (1e300 is refused
        here; `trackannot.validate.check_corrections` checks the boxes themselves).

        Raises:
            InputFormatError: a value that does not fit its column, or columns whose lengths
                differ.
        """
        ops = int_array(op, "Corrections.op", np.uint8).reshape(-1)
        n = len(ops)

        def col(value: Any, dtype: Any, fill: Any, tail: tuple[int, ...] = (),
                name: str = "") -> np.ndarray:
            if value is None:
                return np.full((n, *tail), fill, dtype=dtype)
            arr = (float32_array(value, f"Corrections.{name}") if np.dtype(dtype).kind == "f"
                   else int_array(value, f"Corrections.{name}", dtype))
            try:
                return np.broadcast_to(arr, (n, *tail)).copy()
            except ValueError as err:
                raise InputFormatError(f"Corrections.{name} has shape {arr.shape}, expected "
                                       f"{(n, *tail)} (one row per op)") from err

        try:
            authors = np.broadcast_to(np.asarray(author, dtype=str), (n,)).copy()
        except ValueError as err:
            raise InputFormatError(f"Corrections.author must be one string or {n} strings") from err
        return cls(
            op=ops,
            track_id=col(track_id, np.int64, -1, name="track_id"),
            frame=col(frame, np.int64, -1, name="frame"),
            xyxy=col(xyxy, np.float32, np.nan, (4,), name="xyxy"),
            class_id=col(class_id, np.int32, -1, name="class_id"),
            other_id=col(other_id, np.int64, -1, name="other_id"),
            time_ns=col(time_ns, np.int64, 0, name="time_ns"),
            author=authors,
            source_line=col(source_line, np.int64, 0, name="source_line"),
        )

    @classmethod
    def empty(cls) -> Corrections:
        return cls.create(op=[], track_id=[])

    @classmethod
    def concat(cls, parts: Iterable[Corrections]) -> Corrections:
        parts = list(parts)
        if not parts:
            return cls.empty()
        return cls(**{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)})

    def __len__(self) -> int:
        return len(self.op)

    def __getitem__(self, index: npt.NDArray[np.bool_] | npt.NDArray[np.integer] | slice) -> Corrections:
        return Corrections(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    def __repr__(self) -> str:
        counts = {OP_NAMES[Op(o)]: int(c) for o, c in zip(*np.unique(self.op, return_counts=True))}
        return f"Corrections({len(self)} rows, {counts})"

    def where(self, i: int, source: str = "") -> str:
        """'file line 7' (or 'correction 7') for messages about row i."""
        line = int(self.source_line[i])
        if line > 0:
            return f"{source} line {line}" if source else f"line {line}"
        return f"{source} correction {i + 1}" if source else f"correction {i + 1}"


def parse_time(text: str, where: str) -> int:
    """ISO 8601 time -> nanoseconds since the epoch, UTC (naive times are taken as UTC).

    Raises:
        InputFormatError: not a string in ISO 8601, or a time int64 nanoseconds cannot hold
            (before 1677 or after 2262).
    """
    if not isinstance(text, str):
        raise InputFormatError(f"{where}: 'time' must be an ISO 8601 string (e.g. "
                               f"2026-11-23T10:15:00Z), got {text!r:.80}")
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as err:
        raise InputFormatError(
            f"{where}: time {text!r:.80} is not ISO 8601 (e.g. 2026-11-23T10:15:00Z)"
        ) from err
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    try:
        ns = int(round(t.timestamp() * 1e9))
    except (OverflowError, ValueError) as err:
        raise InputFormatError(f"{where}: time {text!r:.80} is out of range") from err
    if not -INT64_MAX <= ns <= INT64_MAX:
        raise InputFormatError(f"{where}: time {text!r:.80} is outside 1677..2262, the range "
                               "stored as int64 nanoseconds")
    return ns


def _int(line: dict[str, Any], key: str, where: str, minimum: int = 0,
         maximum: int = INT64_MAX) -> int:
    return check_int(line[key], where, key, minimum=minimum, maximum=maximum)


def parse_box(line: dict[str, Any], where: str) -> list[float]:
    """The line's 'box' as it will be stored: four float32 values (as Python floats), finite,
    x2 > x1 and y2 > y1 (`trackannot.validate.check_box`)."""
    return [float(v) for v in check_box(line["box"], where, "box")]


def check_author(value: Any, where: str) -> str:
    """A non-empty string the store can write (UTF-8: no lone surrogates)."""
    if not isinstance(value, str) or not value:
        raise InputFormatError(f"{where}: 'author' must be a non-empty string, got {value!r:.80}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as err:
        raise InputFormatError(f"{where}: 'author' {value!r:.80} is not valid Unicode text") from err
    return value


def parse_line(line: Any, where: str, author: str, time_ns: int) -> dict[str, Any]:
    if not isinstance(line, dict):
        raise InputFormatError(f"{where}: expected a JSON object, got {type(line).__name__}")
    name = line.get("op")
    if not isinstance(name, str) or name not in _OPS_BY_NAME:
        raise InputFormatError(f"{where}: 'op' must be one of {', '.join(_OPS_BY_NAME)}; "
                               f"got {name!r:.80}")
    op = _OPS_BY_NAME[name]
    missing = [k for k in _REQUIRED[op] if k not in line]
    if missing:
        raise InputFormatError(f"{where}: op '{name}' needs {', '.join(missing)}")
    allowed = set(_REQUIRED[op]) | set(_OPTIONAL.get(op, ())) | set(_COMMON)
    unknown = sorted(set(line) - allowed)
    if unknown:
        raise InputFormatError(
            f"{where}: unknown field(s) {', '.join(unknown)} for op '{name}'; allowed: {', '.join(sorted(allowed))}"
        )
    who = check_author(line.get("author", author), where)
    row = {
        "op": int(op),
        "track_id": _int(line, "track", where) if "track" in line else -1,
        "frame": _int(line, "frame", where) if "frame" in line else -1,
        "xyxy": parse_box(line, where) if "box" in line else [math.nan] * 4,
        "class_id": _int(line, "class", where, maximum=INT32_MAX) if "class" in line else -1,
        "other_id": -1,
        "time_ns": parse_time(line["time"], where) if "time" in line else time_ns,
        "author": who,
    }
    if op == Op.MERGE:
        row["other_id"] = _int(line, "from_track", where)
        if row["other_id"] == row["track_id"]:
            raise InputFormatError(f"{where}: cannot merge track {row['track_id']} into itself")
    if op == Op.SPLIT and "new_track" in line:
        row["other_id"] = _int(line, "new_track", where)
    return row


def read_json_lines(path: str | Path) -> list[tuple[str, int, Any]]:
    """(where, line number, JSON value) of each line of a JSON Lines file; blank lines and lines
    starting with # are skipped; `where` is "FILE line N" for messages.

    Raises:
        InputFormatError: the file is unreadable or not UTF-8, a line is not JSON (file, line,
            column), holds NaN or Infinity (not JSON), nests deeper than Python can parse, or
            an integer of more than 4300 digits; or no line holds anything.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise InputFormatError(f"{path}: not UTF-8 text ({err})") from err
    except OSError as err:
        raise InputFormatError(f"cannot read {path}: {err.strerror or err}") from err
    out = []
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        where = f"{path} line {number}"
        out.append((where, number, load_json(stripped, where)))
    if not out:
        raise InputFormatError(f"{path}: no corrections in the file")
    return out


def _no_constant(name: str) -> Any:
    raise InputFormatError(f"{name} is not a JSON number (JSON has no NaN or Infinity); give a "
                           "finite number")


def load_json(text: str, where: str, *, document: bool = False) -> Any:
    """`json.loads` for input files: every failure is an `InputFormatError` naming `where`.

    Refuses what Python's json module would otherwise accept or crash on: the NaN, Infinity and
    -Infinity literals (not JSON), nesting deeper than the interpreter's recursion limit
    (RecursionError), and integers of more than 4300 digits (ValueError).

    Args:
        text: the JSON text.
        where: "FILE line N" for one line of a JSON Lines file, or "FILE" for a whole document.
        document: `text` is a whole file: errors name its line and column.
    """
    try:
        return json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as err:
        at = (f"{where}: malformed JSON at line {err.lineno}, column {err.colno}" if document
              else f"{where} column {err.colno}: invalid JSON")
        raise InputFormatError(f"{at}: {err.msg}") from err
    except InputFormatError as err:
        raise InputFormatError(f"{where}: {err}") from err
    except RecursionError as err:
        raise InputFormatError(f"{where}: JSON nested too deeply to read (more than about "
                               f"{sys.getrecursionlimit()} levels)") from err
    except ValueError as err:  # int('1' * 5000): the interpreter's digit limit
        raise InputFormatError(f"{where}: {err}") from err


def read_corrections_file(path: str | Path, author: str, time_ns: int | None = None) -> Corrections:
    """Parse a JSON Lines corrections file (one object per line; blank lines and # comments skipped).

    Args:
        path: the file.
        author: author of lines that name none.
        time_ns: time of lines that give none (default: now).

    Raises:
        InputFormatError: naming the file and line, for the first line that is not a valid correction.
    """
    path = Path(path)
    now = time_ns if time_ns is not None else int(datetime.now(timezone.utc).timestamp() * 1e9)
    rows, lines = [], []
    for where, number, obj in read_json_lines(path):
        rows.append(parse_line(obj, where, author, now))
        lines.append(number)
    if not rows:
        raise InputFormatError(f"{path}: no corrections in the file")
    cols = {k: [r[k] for r in rows] for k in rows[0]}
    return Corrections.create(**cols, source_line=lines)


def format_corrections(corrections: Corrections) -> str:
    """JSON Lines text of a batch (the inverse of `read_corrections_file`, times in UTC ISO 8601)."""
    out = []
    for i in range(len(corrections)):
        op = Op(int(corrections.op[i]))
        line: dict[str, Any] = {"op": OP_NAMES[op]}
        if corrections.track_id[i] >= 0:
            line["track"] = int(corrections.track_id[i])
        if corrections.frame[i] >= 0:
            line["frame"] = int(corrections.frame[i])
        if not np.isnan(corrections.xyxy[i]).any():
            line["box"] = [float(v) for v in corrections.xyxy[i]]
        if corrections.class_id[i] >= 0:
            line["class"] = int(corrections.class_id[i])
        if op == Op.MERGE:
            line["from_track"] = int(corrections.other_id[i])
        elif op == Op.SPLIT and corrections.other_id[i] >= 0:
            line["new_track"] = int(corrections.other_id[i])
        line["author"] = str(corrections.author[i])
        t = datetime.fromtimestamp(int(corrections.time_ns[i]) / 1e9, tz=timezone.utc)
        line["time"] = t.isoformat().replace("+00:00", "Z")
        out.append(json.dumps(line))
    return "\n".join(out) + "\n"
