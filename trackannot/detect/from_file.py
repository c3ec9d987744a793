"""Detections from a file: MOTChallenge det.txt / gt.txt reader, `FileDetector`.

`read_seqinfo` (seqinfo.ini) lives in `trackannot.seqinfo` and is importable from here too.

MOTChallenge rows are `frame,id,left,top,width,height,conf[,...]` with 1-based frames. The
extra columns depend on the field count:

| fields | layout                                                     | example              |
|--------|------------------------------------------------------------|----------------------|
| 7      | frame,id,left,top,width,height,conf                        | minimal det.txt      |
| 8      | ... conf,class                                             | some exporters       |
| 9      | ... conf(flag),class,visibility                            | MOT16/17/20 gt.txt   |
| 10     | ... conf,x,y,z (world coordinates, -1 when unknown)        | MOT15 det.txt/gt.txt |

Scores are kept raw. The official MOT15 (ACF) detections have scores of about -1..140, not
[0, 1]; rescaling them would invent a calibration the file does not have, so `score` holds the
file's `conf` value as float32 and the tracker thresholds must be chosen for that scale
(`detect.conf_floor` applies to YOLO output only, never to files).

Values are checked as they are stored (`trackannot.validate`): frames, ids and classes must be
integers a float64 holds exactly (|v| <= 2**53; classes 0..2**31 - 1, frames >= 1), and box
coordinates and conf finite after the float32 cast (a conf of 1e39 is refused with its line, not
turned into inf). `FileDetector` then applies the detector policy: boxes are clipped to the
video's frame and those with no area left inside it are dropped, and at most `detect.max_det`
boxes per frame are kept (the highest conf); `FileDetector.counts` counts each. The official
MOT15 ACF detections have 0.4-6.2% of their boxes partly outside the frame (at least 80% of each
inside, none entirely outside); SORT's Faster R-CNN detections (det_sort_frcnn.txt) none.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Literal, overload

import numpy as np
import numpy.typing as npt

from trackannot.boxes import Boxes
from trackannot.config import DetectConfig
from trackannot.detect.base import Detector, rank_within_frame
from trackannot.errors import InputFormatError
from trackannot.seqinfo import read_seqinfo
from trackannot.validate import EXACT_INT_MAX, INT32_MAX, clip_to_frame

if TYPE_CHECKING:
    from trackannot.frames import FrameBatch

__all__ = ["PEDESTRIAN", "FileDetector", "read_mot_file", "read_seqinfo"]

PEDESTRIAN = 1  # MOTChallenge class id given to rows of files without a class column
_MIN_FIELDS, _MAX_FIELDS = 7, 10
_EXTRA_COLUMNS: dict[int, tuple[str, ...]] = {
    7: (),
    8: ("class",),
    9: ("class", "visibility"),
    10: ("x", "y", "z"),
}
_EXTRA_DTYPES = {"class": np.int64, "visibility": np.float32}  # others stay float64


def _data_lines(text: str) -> list[tuple[int, str]]:
    """(1-based line number, line) of every non-blank line, as np.loadtxt counts rows."""
    return [(i, line) for i, line in enumerate(text.splitlines(), start=1) if line.strip()]


def _locate_parse_error(path: Path, text: str) -> InputFormatError:
    """The first malformed line of `text` as an error naming file, line, expected and got."""
    expected: int | None = None
    first_line = 0
    for lineno, line in _data_lines(text):
        fields = line.split(",")
        where = f"{path.name} line {lineno}"
        if not _MIN_FIELDS <= len(fields) <= _MAX_FIELDS:
            return InputFormatError(
                f"{where}: expected {_MIN_FIELDS} to {_MAX_FIELDS} comma-separated fields "
                f"(frame,id,left,top,width,height,conf[,...]), got {len(fields)} ({path})"
            )
        if expected is None:
            expected, first_line = len(fields), lineno
        elif len(fields) != expected:
            return InputFormatError(
                f"{where}: expected {expected} comma-separated fields like line {first_line}, "
                f"got {len(fields)} ({path})"
            )
        for col, field in enumerate(fields, start=1):
            try:
                float(field)
            except ValueError:
                return InputFormatError(
                    f"{where}: field {col} should be a number, got {field.strip()!r} ({path})"
                )
    return InputFormatError(f"{path}: not a comma-separated table of numbers")


def _parse(path: Path) -> npt.NDArray[np.float64]:
    """The file as an (n, k) float64 table, 7 <= k <= 10; (0, 7) for an empty file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise InputFormatError(f"detections file not found: {path}") from err
    except (OSError, UnicodeDecodeError) as err:
        raise InputFormatError(f"cannot read {path} as text: {err}") from err
    if not text.strip():
        return np.empty((0, _MIN_FIELDS), dtype=np.float64)
    try:
        # numpy >= 1.23 parses in C (about 0.3 s for MOT17-04's 108k rows); on failure the
        # slow line scan below runs only to name the bad line
        table = np.loadtxt(io.StringIO(text), delimiter=",", ndmin=2, dtype=np.float64)
    except ValueError as err:
        raise _locate_parse_error(path, text) from err
    if not _MIN_FIELDS <= table.shape[1] <= _MAX_FIELDS:
        raise _locate_parse_error(path, text)
    return table


_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _check_values(path: Path, text_rows: npt.NDArray[np.float64]) -> None:
    """Every value as it will be stored (module docstring): integers exact in float64, the
    first 7 fields finite, box and conf finite in float32, width and height >= 0."""
    frame, ident, box = text_rows[:, 0], text_rows[:, 1], text_rows[:, 2:6]
    with np.errstate(invalid="ignore", over="ignore"):
        corner = np.concatenate([box[:, :2], box[:, :2] + box[:, 2:]], axis=1)
        problems = [
            (~np.isfinite(text_rows[:, :7]).all(axis=1), "frame, id, box and conf must be finite"),
            ((frame < 1) | (frame != np.round(frame)) | (frame > EXACT_INT_MAX),
             f"frame should be an integer in 1..{EXACT_INT_MAX} (1-based)"),
            ((ident != np.round(ident)) | (np.abs(ident) > EXACT_INT_MAX),
             f"id should be an integer of at most {EXACT_INT_MAX} (or -1)"),
            ((np.abs(corner) > _FLOAT32_MAX).any(axis=1) | (np.abs(text_rows[:, 6]) > _FLOAT32_MAX),
             "box (left + width, top + height) and conf must be finite as float32 "
             f"(|v| <= {_FLOAT32_MAX:.3g})"),
            (box[:, 2] < 0, "width should be >= 0"),
            (box[:, 3] < 0, "height should be >= 0"),
        ]
        if "class" in _EXTRA_COLUMNS[text_rows.shape[1]]:
            cls = text_rows[:, 7]
            problems.append(((cls < 0) | (cls > INT32_MAX) | (cls != np.round(cls)),
                             f"class should be an integer in 0..{INT32_MAX}"))
        if "visibility" in _EXTRA_COLUMNS[text_rows.shape[1]]:
            problems.append((~np.isfinite(text_rows[:, 8]), "visibility must be finite"))
    for bad, message in problems:
        if np.any(bad):
            row = int(np.flatnonzero(bad)[0])
            lineno = _data_lines(path.read_text(encoding="utf-8"))[row][0]
            got = ",".join(f"{v:g}" for v in text_rows[row, :7])
            raise InputFormatError(f"{path.name} line {lineno}: {message}, got {got} ({path})")


@overload
def read_mot_file(path: str | Path, *, with_extra: Literal[False] = ...) -> Boxes: ...


@overload
def read_mot_file(
    path: str | Path, *, with_extra: Literal[True]
) -> tuple[Boxes, dict[str, np.ndarray]]: ...


def read_mot_file(
    path: str | Path, *, with_extra: bool = False
) -> Boxes | tuple[Boxes, dict[str, np.ndarray]]:
    """Read a MOTChallenge det.txt or gt.txt (see the module docstring for the layouts).

    Args:
        path: the text file.
        with_extra: also return the columns `Boxes` has no place for.

    Returns:
        `Boxes` sorted by (frame, track_id), file order kept among equal keys: frame = file
        frame - 1 (0-based), xyxy = (left, top, left + width, top + height) in the file's pixels,
        score = conf (raw, see the module docstring), class_id = the class column when there is
        one else `PEDESTRIAN`, track_id = id (ids < 0, as in det files, become -1), origin
        DETECTED, det_index = row number within its frame. With `with_extra`, also a dict of
        (n,) arrays in the same row order: "flag" (int64, 1 where conf != 0, as TrackEval marks
        evaluated gt rows), "conf" (float64, raw) and, by field count, "class" (int64),
        "visibility" (float32), "x", "y", "z" (float64).

    Raises:
        InputFormatError: the file is missing or unreadable, or a line is malformed; the
            message names the file, the line, what was expected and what was found.

    Example:
        >>> gt, extra = read_mot_file("MOT17-02-FRCNN/gt/gt.txt", with_extra=True)  # doctest: +SKIP
        >>> gt[extra["flag"] == 1]  # doctest: +SKIP
    """
    path = Path(path)
    table = _parse(path)
    _check_values(path, table)
    n_fields = table.shape[1]
    names = _EXTRA_COLUMNS[n_fields]
    frame = table[:, 0].astype(np.int64) - 1
    track_id = np.where(table[:, 1] >= 0, table[:, 1], -1).astype(np.int64)
    order = np.lexsort((track_id, frame))  # stable: equal keys keep file order
    table, frame, track_id = table[order], frame[order], track_id[order]
    extra: dict[str, np.ndarray] = {
        "flag": (table[:, 6] != 0).astype(np.int64),
        "conf": table[:, 6].copy(),
    }
    for j, name in enumerate(names):
        extra[name] = table[:, 7 + j].astype(_EXTRA_DTYPES.get(name, np.float64))
    left_top, size = table[:, 2:4], table[:, 4:6]
    boxes = Boxes.create(
        xyxy=np.concatenate([left_top, left_top + size], axis=1),
        frame=frame,
        score=table[:, 6],
        class_id=extra["class"] if "class" in extra else PEDESTRIAN,
        track_id=track_id,
        det_index=rank_within_frame(frame),
    )
    return (boxes, extra) if with_extra else boxes


class FileDetector(Detector):
    """A `Detector` that replays a MOTChallenge detections file instead of running a model.

    Boxes are scaled to the video: by `cfg.file_scale` when set; otherwise, when a seqinfo.ini
    sits beside the file's folder (`<seq>/det/det.txt` -> `<seq>/seqinfo.ini`), by
    (video width / imWidth, video height / imHeight) of the decoded frames; otherwise not at
    all. File frame f (1-based) is decoded frame f - 1. Scores are the file's, unfiltered
    (`cfg.conf_floor` is for YOLO only; see the module docstring).

    Example:
        >>> det = FileDetector("MOT15/PETS09-S2L1/det/det.txt", DetectConfig())  # doctest: +SKIP
        >>> det.detect(batch)  # 768x576 boxes x 0.625 on a 480x360 video  # doctest: +SKIP

    Attributes:
        pixel_format: "yuv420p": the pixels are never looked at, so batches take the cheapest
            form (no colour conversion while decoding).
        names: none (a detections file names no classes).
        counts: what the detector policy did so far, over every `detect` call: "clipped" (boxes
            partly outside the frame, clipped to it), "dropped" (boxes with no area inside the
            frame: entirely outside, or zero width or height), "over_max_det" (boxes beyond
            `max_det` in their frame, the lowest conf first).
    """

    pixel_format = "yuv420p"

    def __init__(self, path: str | Path, cfg: DetectConfig) -> None:
        self.path = Path(path)
        self._boxes = read_mot_file(self.path).replace(track_id=-1)
        self._file_scale = cfg.file_scale
        self._max_det = cfg.max_det
        self.counts = {"clipped": 0, "dropped": 0, "over_max_det": 0}
        self._source_wh: tuple[float, float] | None = None
        seqinfo = self.path.resolve().parent.parent / "seqinfo.ini"
        if cfg.file_scale is None and seqinfo.is_file():
            info = read_seqinfo(seqinfo)
            try:
                self._source_wh = (float(info["imWidth"]), float(info["imHeight"]))
            except KeyError as err:
                raise InputFormatError(
                    f"{seqinfo}: expected imWidth and imHeight to scale {self.path.name} to "
                    f"the video; add them or set detect.file_scale"
                ) from err

    def scale(self, width: int, height: int) -> tuple[float, float]:
        """(x, y) factors from file pixels to the pixels of a width x height video."""
        if self._file_scale is not None:
            return self._file_scale, self._file_scale
        if self._source_wh is not None:
            return width / self._source_wh[0], height / self._source_wh[1]
        return 1.0, 1.0

    def detect(self, batch: FrameBatch) -> Boxes:
        """The file's rows for the frames of `batch`, scaled to its frame size, clipped to the
        frame, without boxes that have no area in it, at most `max_det` per frame (the
        highest conf, file order kept); `counts` adds up what was clipped and dropped."""
        index = batch.index
        if index.shape[0] == 0:
            return Boxes.empty()
        rows = self._boxes.frame_range(int(index.min()), int(index.max()) + 1)
        rows = rows[np.isin(rows.frame, index)]
        sx, sy = self.scale(batch.width, batch.height)
        factors = np.array([sx, sy, sx, sy], dtype=np.float32)
        with np.errstate(over="ignore"):  # a scaled box beyond float32 is clipped to the frame
            scaled = (rows.xyxy * factors).astype(np.float32)
        xyxy, changed, empty = clip_to_frame(scaled, batch.width, batch.height)
        self.counts["clipped"] += int((changed & ~empty).sum())
        self.counts["dropped"] += int(empty.sum())
        rows = rows.replace(xyxy=xyxy)[~empty]
        keep = _top_per_frame(rows.frame, rows.score, self._max_det)
        self.counts["over_max_det"] += int((~keep).sum())
        rows = rows[keep]
        return rows.replace(det_index=rank_within_frame(rows.frame))


def _top_per_frame(frame: npt.NDArray[np.int64], score: npt.NDArray[np.float32],
                   max_det: int) -> npt.NDArray[np.bool_]:
    """(n,) bool: the `max_det` highest scores of each frame (ties: file order) of rows sorted
    by frame."""
    order = np.lexsort((np.arange(len(frame)), -score.astype(np.float64), frame))
    rank = np.empty(len(frame), np.int64)
    rank[order] = rank_within_frame(frame[order])
    return rank < max_det
