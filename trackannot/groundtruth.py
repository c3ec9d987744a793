"""Ground-truth files to score a store against: a MOTChallenge gt.txt or a KITTI tracking label
file, told apart by their content, read with the rules each is scored by.

- MOTChallenge (`read_mot_file`): comma-separated `frame,id,left,top,width,height,conf[,...]`,
  1-based frames. Scored with TrackEval's MOT17 rules when the file has the class and visibility
  columns (9 fields), else MOT15's. Boxes are scaled to the video by the seqinfo.ini beside the
  gt/ folder when there is one (`gt_scale`).
- KITTI tracking labels (`read_kitti_labels`, the `label_02/NNNN.txt` files): space-separated
  `frame track_id type truncated occluded alpha x1 y1 x2 y2 h w l x y z ry` (17 fields; a tracker
  result file's 18th, the score, is allowed), 0-based frames, boxes in image pixels. Scored with
  TrackEval's KITTI rules for one class, car or pedestrian (`trackannot.evaluate`: DontCare
  regions ignored, Van a distractor for Car and Person_sitting for Pedestrian, occluded or
  truncated objects not counted); only the store's tracks of that class are scored
  (`choose_kitti_class` picks which).

`score_tracks` scores a store's tracks against a `GroundTruth` on the frames the run processed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from trackannot.boxes import Boxes
from trackannot.errors import InputFormatError, InvalidInputError, NotFoundError
from trackannot.evaluate import KITTI_CLASS_IDS, Benchmark, TrackingScores, evaluate

__all__ = [
    "KITTI_EVALUATED",
    "GroundTruth",
    "KittiClass",
    "choose_kitti_class",
    "gt_format",
    "gt_scale",
    "read_ground_truth",
    "read_kitti_labels",
    "score_tracks",
]

GtFormat = Literal["MOT", "KITTI"]
KittiEvaluated = Literal["car", "pedestrian"]
KITTI_EVALUATED: tuple[KittiEvaluated, ...] = ("car", "pedestrian")  # TrackEval's KITTI classes

_KITTI_FIELDS = "frame track_id type truncated occluded alpha x1 y1 x2 y2 h w l x y z ry"
_KITTI_MIN_FIELDS, _KITTI_MAX_FIELDS = 17, 18  # 18: a tracker result's score
# label `type` (lower case) -> `KITTI_CLASS_IDS` name: KITTI's devkit writes Person_sitting,
# TrackEval's copies of the labels Person
_KITTI_TYPES = {**{name: name for name in KITTI_CLASS_IDS}, "person_sitting": "person"}
_KITTI_TYPE_NAMES = "Car, Van, Truck, Pedestrian, Person_sitting (or Person), Cyclist, Tram, " \
                    "Misc, DontCare"
# the detector class names a KITTI class stands for (lower case)
_STORE_NAMES: dict[str, tuple[str, ...]] = {"car": ("car",), "pedestrian": ("pedestrian", "person")}


@dataclass(frozen=True, eq=False)
class GroundTruth:
    """A ground-truth file read for scoring.

    Attributes:
        path: the file.
        format: "MOT" (MOTChallenge gt.txt) or "KITTI" (tracking label file).
        boxes: the gt rows, 0-based frames, in the video's pixels (scaled by `scale`);
            `track_id` the gt identity (-1 on KITTI DontCare regions).
        extra: per-row columns for `trackannot.evaluate.evaluate`'s `gt_extra` (MOT: flag,
            conf, class, visibility, ...; KITTI: class, truncation, occlusion).
        benchmark: the TrackEval rules it is scored with: "MOT17" (9-field MOT gt), "MOT15"
            (other MOT gt) or "KITTI".
        scale: factor applied to the file's boxes (video width / seqinfo imWidth; 1.0 if none).
    """

    path: Path
    format: GtFormat
    boxes: Boxes
    extra: dict[str, np.ndarray]
    benchmark: Benchmark
    scale: float = 1.0


@dataclass(frozen=True)
class KittiClass:
    """Which KITTI class a store is scored as, and which of its tracks stand for it.

    Attributes:
        name: "car" or "pedestrian".
        class_ids: the store's class ids scored; None: every track (the store's tracks all have
            one class and its detector names none).
        why: how the choice was made, for the page ("class 'car' of the detector", ...).
    """

    name: KittiEvaluated
    class_ids: tuple[int, ...] | None
    why: str


def gt_format(path: str | Path) -> GtFormat:
    """"MOT" or "KITTI", from the file's first non-blank line (an empty file: "MOT").

    A line with a comma is MOTChallenge; a space-separated line whose third field is a word (the
    object type) is a KITTI label line.

    Raises:
        NotFoundError: no such file.
        InputFormatError: unreadable, or the first line is neither (names the file and line).
    """
    path = Path(path)
    text = _read_text(path)
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if "," in line:
            return "MOT"
        fields = line.split()
        if len(fields) >= 3 and not _is_number(fields[2]):
            return "KITTI"
        raise InputFormatError(
            f"{path.name} line {lineno}: expected a MOTChallenge gt.txt line (comma-separated "
            f"frame,id,left,top,width,height,conf[,...]) or a KITTI tracking label line "
            f"(space-separated {_KITTI_FIELDS}), got {line.strip()[:80]!r} ({path})")
    return "MOT"


def read_ground_truth(path: str | Path, *, video_width: int | None = None) -> GroundTruth:
    """Read a MOTChallenge gt.txt or a KITTI tracking label file (see the module docstring).

    Args:
        path: the file; its format is found from its content (`gt_format`).
        video_width: the store's video width in pixels: MOT boxes are scaled by video_width /
            imWidth of the seqinfo.ini beside the gt/ folder when there is one. KITTI labels
            are in the image's pixels and are not scaled.

    Raises:
        NotFoundError: no such file.
        InputFormatError: a malformed line (the message names the file, the line, what was
            expected and what was found).
    """
    from trackannot.detect.from_file import read_mot_file

    path = Path(path)
    if gt_format(path) == "KITTI":
        boxes, extra = read_kitti_labels(path)
        return GroundTruth(path, "KITTI", boxes, extra, "KITTI")
    boxes, extra = read_mot_file(path, with_extra=True)
    scale = gt_scale(path, video_width)
    if scale != 1.0:
        boxes = boxes.replace(xyxy=boxes.xyxy * scale)
    return GroundTruth(path, "MOT", boxes, extra, "MOT17" if "visibility" in extra else "MOT15",
                       scale)


def gt_scale(gt_path: str | Path, video_width: int | None) -> float:
    """Video width / seqinfo imWidth when a seqinfo.ini sits beside the gt/ folder, else 1."""
    from trackannot.seqinfo import read_seqinfo

    seqinfo = Path(gt_path).resolve().parent.parent / "seqinfo.ini"
    if video_width is None or not seqinfo.is_file():
        return 1.0
    width = read_seqinfo(seqinfo).get("imWidth")
    return float(video_width) / float(width) if width else 1.0


def read_kitti_labels(path: str | Path) -> tuple[Boxes, dict[str, np.ndarray]]:
    """A KITTI tracking label file -> gt `Boxes` and {"class", "truncation", "occlusion"}.

    Args:
        path: `label_02/NNNN.txt`: one object per line, space-separated
            `frame track_id type truncated occluded alpha x1 y1 x2 y2 h w l x y z ry` (an 18th
            field, a tracker's score, is allowed and ignored).

    Returns:
        Boxes sorted by (frame, track_id): frame as in the file (0-based), xyxy = (x1, y1, x2,
        y2) pixels, class_id = `trackannot.evaluate.KITTI_CLASS_IDS` of the type (car 1, van 2,
        ..., person_sitting 5, dontcare 9), track_id the object's id (-1 on DontCare regions).
        The dict holds (n,) int64 "class" (the same ids), "truncation" (0..2) and "occlusion"
        (0..3) in the same order, as `trackannot.evaluate.evaluate` takes them.

    Raises:
        NotFoundError: no such file.
        InputFormatError: a malformed line: wrong field count, unknown type, a frame, id,
            truncation or occlusion that is not an integer, a box that is not finite or has
            x2 < x1 or y2 < y1, an id below -1 (or -1 on an object), or an id twice in a frame.
            The message names the file, the line, what was expected and what was found.

    Example:
        >>> gt, extra = read_kitti_labels("label_02/0000.txt")  # doctest: +SKIP
        >>> evaluate(tracks, gt, gt_extra=extra, benchmark="KITTI")  # doctest: +SKIP
    """
    path = Path(path)
    text = _read_text(path)
    rows = [(lineno, *_kitti_line(path, lineno, line.split()))
            for lineno, line in enumerate(text.splitlines(), start=1) if line.strip()]
    lines, frame, track, cls, trunc, occl = (np.array([r[k] for r in rows], np.int64)
                                             for k in range(6))
    xyxy = np.array([r[6] for r in rows], np.float64).reshape(-1, 4)
    order = np.lexsort((track, frame))
    _check_unique_ids(path, frame[order], track[order], lines[order])
    boxes = Boxes.create(xyxy=xyxy[order], frame=frame[order], track_id=track[order],
                         class_id=cls[order])
    return boxes, {"class": cls[order], "truncation": trunc[order], "occlusion": occl[order]}


def _kitti_line(path: Path, lineno: int, fields: list[str]
                ) -> tuple[int, int, int, int, int, list[float]]:
    """(frame, track id, class id, truncation, occlusion, xyxy) of one label line, checked."""
    where = f"{path.name} line {lineno}"
    if not _KITTI_MIN_FIELDS <= len(fields) <= _KITTI_MAX_FIELDS:
        raise InputFormatError(
            f"{where}: expected {_KITTI_MIN_FIELDS} space-separated KITTI tracking label fields "
            f"({_KITTI_FIELDS}), got {len(fields)} ({path})")
    kind = _KITTI_TYPES.get(fields[2].lower())
    if kind is None:
        raise InputFormatError(f"{where}: field 3 (type) should be one of {_KITTI_TYPE_NAMES}, "
                               f"got {fields[2]!r} ({path})")
    names = _KITTI_FIELDS.split()
    for col in [0, 1, 3, 4] + list(range(5, len(fields))):
        if not _is_number(fields[col]):
            name = names[col] if col < len(names) else "score"
            raise InputFormatError(f"{where}: field {col + 1} ({name}) should be a number, got "
                                   f"{fields[col]!r} ({path})")
    values = [float(v) for v in fields[:2]] + [float(v) for v in fields[3:5]]
    for col, value, lo in zip((0, 1, 3, 4), values, (0, -1, -1, -1)):
        if not math.isfinite(value) or value != round(value) or value < lo:
            raise InputFormatError(f"{where}: field {col + 1} ({names[col]}) should be an integer "
                                   f">= {lo}, got {fields[col]!r} ({path})")
    frame, track, trunc, occl = (int(v) for v in values)
    if track < 0 and kind != "dontcare":
        raise InputFormatError(f"{where}: a {fields[2]} needs a track_id >= 0 (only DontCare "
                               f"regions have -1), got {track} ({path})")
    box = [float(v) for v in fields[6:10]]
    if not all(math.isfinite(v) for v in box) or box[2] < box[0] or box[3] < box[1]:
        raise InputFormatError(f"{where}: fields 7-10 (x1 y1 x2 y2) should be a finite box with "
                               f"x2 >= x1 and y2 >= y1, got {' '.join(fields[6:10])} ({path})")
    return frame, track, KITTI_CLASS_IDS[kind], trunc, occl, box


def _check_unique_ids(path: Path, frame: np.ndarray, track: np.ndarray, lines: np.ndarray) -> None:
    """No object id twice in one frame (rows sorted by frame, id; DontCare's -1 may repeat)."""
    same = (np.diff(frame) == 0) & (np.diff(track) == 0) & (track[1:] >= 0)
    if same.any():
        i = int(np.flatnonzero(same)[0])
        first, second = sorted((int(lines[i]), int(lines[i + 1])))
        raise InputFormatError(
            f"{path.name} line {second}: track_id {int(track[i])} appears twice in frame "
            f"{int(frame[i])} (also line {first}); ids must be unique within a frame ({path})")


def choose_kitti_class(spec: str | None, class_names: Sequence[str] | None,
                       class_id: npt.NDArray[np.integer], track_id: npt.NDArray[np.integer],
                       gt: GroundTruth) -> KittiClass:
    """The KITTI class to score a store as, and its tracks of that class.

    Args:
        spec: the user's choice: None (pick), "car" or "pedestrian", or "car=ID[,ID...]" to
            name the store's class ids that stand for it.
        class_names: the detector's class names by class id (the store's
            attrs["detector"]["class_names"]); None or empty: the detector names none.
        class_id, track_id: (n,) of the store's boxes.
        gt: the KITTI ground truth (its class counts pick the class when nothing else can).

    Without `spec`: with class names, the KITTI class whose names ("car"; "pedestrian" or
    "person") cover the most tracks (car on a tie); without, the class with more gt objects in
    the file, all tracks scored (they must have one class).

    Raises:
        InvalidInputError: `spec` is not one of the forms above, or names no class the store has
            tracks of; or the store's tracks cannot be told apart (several unnamed classes,
            none with a KITTI class's name): the message says to pass --gt-class NAME=ID.
    """
    name, ids = _parse_spec(spec)
    tracked = np.unique(np.asarray(class_id)[np.asarray(track_id) >= 0]).astype(int).tolist()
    names = [str(n).lower() for n in class_names or ()]
    if ids is not None:
        return KittiClass(name or "car", ids, f"--gt-class {spec}: the store's class ids "
                          f"{', '.join(map(str, ids))} scored as KITTI {(name or 'car').title()}")
    if names:
        per_class = {k: [i for i, n in enumerate(names) if n in _STORE_NAMES[k]]
                     for k in KITTI_EVALUATED}
        tracks = {k: _tracks_of(v, class_id, track_id) for k, v in per_class.items()}
        pick: KittiEvaluated = name or max(KITTI_EVALUATED, key=lambda k: tracks[k])
        if not per_class[pick] or (name is None and not tracks[pick]):
            raise InvalidInputError(
                f"the detector names no class that is KITTI {pick.title()} with tracks in the "
                f"store (its classes: {', '.join(f'{i} {n}' for i, n in enumerate(names))}): pass "
                f"--gt-class car=ID or pedestrian=ID with the store's class id")
        chosen = tuple(per_class[pick])
        how = "--gt-class" if name else "the most tracks"
        return KittiClass(pick, chosen, f"the detector's class "
                          f"{', '.join(repr(names[i]) for i in chosen)} (id "
                          f"{', '.join(map(str, chosen))}) scored as KITTI {pick.title()} ({how})")
    if len(tracked) > 1:
        raise InvalidInputError(
            f"the store's tracks have classes {', '.join(map(str, tracked))} and the detector "
            "names none: pass --gt-class car=ID or pedestrian=ID with the store's class id to "
            "score")
    if name is None:
        counts = {k: int((gt.boxes.class_id == KITTI_CLASS_IDS[k]).sum()) for k in KITTI_EVALUATED}
        name = max(KITTI_EVALUATED, key=lambda k: counts[k])
        how = f"the class with the most objects in {gt.path.name}"
    else:
        how = "--gt-class"
    return KittiClass(name, None, f"every track (the detector names no classes) scored as "
                      f"KITTI {name.title()} ({how})")


def _parse_spec(spec: str | None) -> tuple[KittiEvaluated | None, tuple[int, ...] | None]:
    if spec is None:
        return None, None
    head, _, tail = spec.partition("=")
    name = head.strip().lower()
    bad = InvalidInputError(
        f"--gt-class {spec!r}: expected car or pedestrian (the classes TrackEval's KITTI rules "
        "evaluate), optionally =ID[,ID...] naming the store's class ids, e.g. car=2")
    if name not in KITTI_EVALUATED:
        raise bad
    if not _:
        return name, None  # type: ignore[return-value]
    try:
        ids = tuple(int(v) for v in tail.split(","))
    except ValueError as err:
        raise bad from err
    if not ids or min(ids) < 0:
        raise bad
    return name, ids  # type: ignore[return-value]


def _tracks_of(ids: list[int], class_id: npt.NDArray[np.integer],
               track_id: npt.NDArray[np.integer]) -> int:
    keep = np.isin(class_id, ids) & (np.asarray(track_id) >= 0)
    return len(np.unique(np.asarray(track_id)[keep]))


def score_tracks(tracks: Boxes, gt: GroundTruth, frames: npt.NDArray[np.integer], *,
                 kitti: KittiClass | None = None,
                 benchmark: Benchmark | None = None) -> TrackingScores:
    """HOTA, MOTA, IDF1, ... of a store's tracks against `gt` on the frames the run processed.

    Args:
        tracks: the store's boxes (automatic tracks or the corrected annotation).
        gt: the ground truth (`read_ground_truth`).
        frames: the decoded frame indices the run processed; gt and tracks on other frames are
            left out (a run sampled at --fps skips frames).
        kitti: for KITTI ground truth, the class and the tracks scored (`choose_kitti_class`;
            required then).
        benchmark: the rules; default `gt.benchmark`.

    Raises:
        InvalidInputError: KITTI ground truth without `kitti`.
    """
    frames = np.asarray(frames)
    keep = np.isin(gt.boxes.frame, frames)
    truth, extra = gt.boxes[keep], {k: np.asarray(v)[keep] for k, v in gt.extra.items()}
    tracks = tracks[np.isin(tracks.frame, frames) & (tracks.track_id >= 0)]
    rules = benchmark or gt.benchmark
    kitti_class: KittiEvaluated = "car"
    if rules == "KITTI":
        if kitti is None:
            raise InvalidInputError(f"{gt.path}: KITTI ground truth is scored for one class; "
                                    "choose it with choose_kitti_class")
        kitti_class = kitti.name
        if kitti.class_ids is not None:
            tracks = tracks[np.isin(tracks.class_id, kitti.class_ids)]
    n = int(max(frames.max(initial=-1), truth.frame.max(initial=-1))) + 1
    return evaluate(tracks, truth, gt_extra=extra, benchmark=rules, num_frames=n,
                    kitti_class=kitti_class)


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise NotFoundError(f"ground truth {path}: no such file (expected a MOTChallenge gt.txt "
                            "or a KITTI tracking label file)")
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise InputFormatError(f"cannot read {path} as text: {err}") from err


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
