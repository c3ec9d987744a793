"""Label Studio video JSON: `Keyframes` as "videorectangle" regions of one task, and back.

What Label Studio does with a videorectangle region (read from HumanSignal/label-studio,
`web/libs/editor/src/regions/VideoRectangleRegion.js` (`getShape`), `regions/VideoRegion.js`
(`isInLifespan`, `closestKeypoint`, `serialize`, `toggleLifespan`), `utils/props.ts`
(`interpolateProp`), `tags/object/Video/VideoRegions.jsx` (a region is drawn when
`isInLifespan(frame) && getShape(frame)`), `tags/object/Video/Video.js` and
`components/VideoCanvas/VideoCanvas.tsx` (frames); HumanSignal/label-studio-ml-backend,
`label_studio_ml/examples/yolo/control_models/video_rectangle.py` (predictions from a tracker)):

* `value.sequence` holds keyframes `{frame, enabled, x, y, width, height, rotation, time}`; x, y,
  width, height are percent of the frame width / height. Frames are 1-based: the player clamps
  its position to [1, framesCount], the first frame is frame 1, and the ML backend writes decoded
  frame i as frame i + 1; with FF_VIDEO_FRAME_SEEK_PRECISION (label-studio PR #7027) frame F
  seeks to time (F - 1) / framerate, i.e. decoded frame F - 1 (before it, to F / framerate, which
  could show the next frame). `time` is `frame / framerate` (LS's own `serialize`); LS reads only
  `frame`. `value.framesCount` and `value.duration` (s) describe the video; `value.labels` the
  region's one label.
* Box at frame F: the keyframe's own box at a keyframe; between keyframes
  v = v0 + (v1 - v0) * (F - F0) / (F1 - F0) per value, in percent (float64 JavaScript numbers),
  whatever the keyframes' `enabled`; after the last keyframe its box is kept to the end of the
  video; before the first keyframe nothing.
* Visibility at F: the closest keyframe at or before F decides: shown if it is `enabled`, or if
  it sits exactly at F. So `enabled: false` marks the last frame before a gap: the box shows on
  that keyframe and not after it, until the next keyframe.

Our outside keyframe at frame f therefore becomes `enabled: false` on the keyframe at f - 1 (one
is added there, with the box interpolated toward the outside keyframe's box, when f - 1 is not a
keyframe), and a track's last box gets `enabled: false` unless it is on the last frame. Reading
reverses this: `enabled: false` followed by a gap gives an outside keyframe on the next frame,
and a region whose last keyframe is enabled gets its box repeated on the video's last frame.
Percent values are written with full float64 precision, so keyframe boxes read back equal after
float32 rounding; boxes added before an outside keyframe are interpolated in float64 and agree
with `trackannot.interpolate` to within two float32 ulps. Importing recognises such an added
keyframe (`trackannot.annotate.keyframe_corrections`): it is the file's rendering of the outside
keyframe, not a person's edit.

Writing clips boxes to the frame (`fit_to_frame`), so percentages stay in 0..100. Reading checks
every value as it will be stored (`trackannot.validate`): frames and region ids as integers
before any cast, percentages finite, boxes finite in float32 with positive width and height and
inside the frame (0 <= x, x + width <= 100, the same for y); anything else is refused with the
file and the JSON path of the value.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from trackannot.corrections import load_json
from trackannot.errors import InputFormatError
from trackannot.export.meta import (
    VideoMeta,
    check_keyframes,
    fit_to_frame,
    propagate_to_end,
    write_text_atomic,
)
from trackannot.keyframes import Keyframes
from trackannot.validate import INT64_MAX, check_box, check_frame_box, check_number

__all__ = [
    "format_labelstudio", "labelstudio_keyframes", "read_labelstudio", "region_revision",
    "region_track_id", "write_labelstudio",
]

# LS measures framesCount in the browser as ceil (or round) of duration x framerate, which can
# differ by one from the decoded frame count; a larger difference means another video or a wrong
# framerate in the labeling config.
FRAMES_COUNT_SLACK = 1
# t<track id>, or t<track id>-r<revision> (`format_labelstudio(..., revision=...)`); int64 ids
_REGION_ID = re.compile(r"^t(\d{1,19})(?:-r(\d{1,19}))?$")


def format_labelstudio(
    keyframes: Keyframes,
    meta: VideoMeta,
    *,
    as_predictions: bool = False,
    model_version: str = "trackannot",
    video_url: str | None = None,
    from_name: str = "box",
    to_name: str = "video",
    data_key: str = "video",
    revision: int | None = None,
) -> list[dict[str, Any]]:
    """One Label Studio task with a videorectangle region per track.

    Args:
        keyframes: the keyframes (every row becomes a Label Studio keyframe, see the module
            docstring for outside keyframes); boxes are clipped to the frame (`fit_to_frame`).
        meta: the video; labels are `meta.class_names`.
        as_predictions: put the regions in `predictions` (the ML-backend format, shown as
            pre-annotations) instead of `annotations`.
        model_version: the predictions' `model_version`.
        video_url: the task's video URL (`data[data_key]`); default `meta.name`.
        from_name, to_name, data_key: names from the labeling config (`<VideoRectangle
            name="box" toName="video"/>`, `<Video name="video" value="$video"/>`).
        revision: the store revision the keyframes show; region ids become
            "t<track>-r<revision>" instead of "t<track>". Label Studio keeps region ids in the
            annotations people make from these regions, so an ML backend reads back what the
            reviewer was shown (`region_revision`).

    Returns:
        `[task]`, ready for `json.dump` and Label Studio's import.

    Raises:
        InputFormatError: keyframes that do not fit `meta` (see `check_keyframes`).
    """
    check_keyframes(keyframes, meta, what="format_labelstudio")
    keyframes = fit_to_frame(keyframes, meta)
    ids, starts = keyframes.track_bounds()
    origin = "prediction" if as_predictions else "manual"
    result = []
    for t, track_id in enumerate(ids.tolist()):
        lo, hi = int(starts[t]), int(starts[t + 1])
        sequence = _sequence(keyframes[lo:hi], meta)
        if not sequence:
            continue  # only outside keyframes: nothing to show
        label = meta.class_names[int(keyframes.class_id[lo])]
        value = {
            "framesCount": meta.num_frames,
            "duration": meta.num_frames / meta.fps,
            "sequence": sequence,
            "labels": [label],
        }
        result.append({
            "id": f"t{track_id}" + (f"-r{revision}" if revision is not None else ""),
            "type": "videorectangle", "from_name": from_name,
            "to_name": to_name, "origin": origin, "value": value,
        })
    task: dict[str, Any] = {"data": {data_key: video_url or meta.name}}
    if as_predictions:
        task["predictions"] = [{"model_version": model_version, "score": 1.0, "result": result}]
    else:
        task["annotations"] = [{"result": result}]
    return [task]


def write_labelstudio(
    path: str | Path, keyframes: Keyframes, meta: VideoMeta, **options: Any
) -> Path:
    """Write `format_labelstudio(keyframes, meta, **options)` as JSON, atomically."""
    tasks = format_labelstudio(keyframes, meta, **options)
    return write_text_atomic(path, json.dumps(tasks, indent=1) + "\n")


def _sequence(track: Keyframes, meta: VideoMeta) -> list[dict[str, Any]]:
    """Label Studio keyframes of one track (rows of one track_id, in frame order)."""
    frames = track.frame.tolist()
    boxes = track.xyxy.astype(np.float64)
    outside = track.outside.tolist()
    keys: list[list[Any]] = []  # [frame, float64 box, enabled]
    for i, f in enumerate(frames):
        if not outside[i]:
            keys.append([f, boxes[i], True])
        elif i > 0 and not outside[i - 1]:
            prev = frames[i - 1]
            if prev == f - 1:
                keys[-1][2] = False
            else:
                t = (f - 1 - prev) / (f - prev)  # the box at f - 1 on the way to the outside box
                keys.append([f - 1, boxes[i - 1] + (boxes[i] - boxes[i - 1]) * t, False])
    if keys and not outside[-1] and frames[-1] < meta.num_frames - 1:
        keys[-1][2] = False  # our tracks end at their last keyframe; LS would carry it on
    return [_ls_keyframe(f, box, enabled, meta) for f, box, enabled in keys]


def _ls_keyframe(frame: int, box: np.ndarray, enabled: bool, meta: VideoMeta) -> dict[str, Any]:
    x1, y1, x2, y2 = box.tolist()
    return {
        "frame": frame + 1,
        "enabled": enabled,
        "rotation": 0,
        "x": 100.0 * x1 / meta.width,
        "y": 100.0 * y1 / meta.height,
        "width": 100.0 * (x2 - x1) / meta.width,
        "height": 100.0 * (y2 - y1) / meta.height,
        "time": (frame + 1) / meta.fps,
    }


def read_labelstudio(
    path: str | Path, meta: VideoMeta, *, annotation: int | None = None
) -> Keyframes:
    """Read the videorectangle regions of a Label Studio task (JSON export or our own file).

    Args:
        path: a JSON file holding one task (a list of tasks is searched for the one whose data
            names `meta.name`).
        meta: the video: Label Studio stores boxes in percent of a frame size it does not write,
            so `meta.width` / `meta.height` are needed; labels map through `meta.class_names`.
        annotation: which of the task's annotations to read; by default its only annotation, or,
            when it has none, its only prediction.

    Returns:
        Keyframes; track ids from region ids "t<id>" or "t<id>-r<revision>" (as written
        here), else new ids.

    Raises:
        InputFormatError: malformed JSON (line, column) or JSON Python cannot hold (NaN,
            Infinity, nesting too deep, huge integers), a missing or bad field (its path in the
            JSON), an unknown label, a rotated box, a box that is empty, inverted, not finite in
            float32 or not inside the frame, a frame outside the video, or a framesCount for
            another video.
    """
    path = Path(path)
    data = load_json(_read_text(path, "Label Studio file"), str(path), document=True)
    where, task = _pick_task(data, path, meta)
    where, result = _pick_result(task, where, annotation)
    return labelstudio_keyframes(result, meta, where)


def labelstudio_keyframes(result: Any, meta: VideoMeta, where: str = "result") -> Keyframes:
    """The videorectangle regions of one annotation's (or prediction's) `result` list, in memory
    (what `read_labelstudio` reads from a file; an ML backend gets it in a webhook).

    Args:
        result: the annotation's `result`: a list of regions; regions of other types are
            ignored.
        meta: the video, as for `read_labelstudio`.
        where: how messages name the list (e.g. "webhook annotation 12 result").

    Returns:
        Keyframes, as `read_labelstudio` returns them.

    Raises:
        InputFormatError: as `read_labelstudio`, naming `where` and the JSON path of the value.
    """
    if not isinstance(result, list):
        raise InputFormatError(f"{where} is {result!r:.80}, expected a list of regions")
    regions = [
        (f"{where}[{i}]", r) for i, r in enumerate(result)
        if isinstance(r, dict) and r.get("type") == "videorectangle"
    ]
    parts = [_read_region(r, w, meta) for w, r in regions]
    ids = [_region_id(r) for _, r in regions]
    taken = {int(m.group(1)) for m in ids if m}
    fresh = iter(i for i in range(len(regions) + len(taken) + 1) if i not in taken)
    tables, seen = [], {}
    for (rows, class_id), m, (w, _) in zip(parts, ids, regions):
        if not rows:
            continue
        track_id = int(m.group(1)) if m else next(fresh)
        if track_id in seen:
            raise InputFormatError(f"{w}: region id 't{track_id}' repeats {seen[track_id]}")
        seen[track_id] = w
        tables.append(_to_keyframes(rows, class_id, track_id))
    return propagate_to_end(Keyframes.concat(tables), meta.num_frames)


def _read_text(path: Path, what: str) -> str:
    """A JSON file's text; every failure an `InputFormatError`."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise InputFormatError(f"{what} not found: {path}") from err
    except UnicodeDecodeError as err:
        raise InputFormatError(f"{path}: not UTF-8 text ({err})") from err
    except OSError as err:
        raise InputFormatError(f"cannot read {path}: {err.strerror or err}") from err


def region_track_id(region: Any) -> int | None:
    """The track id a region's id "t<id>" (or "t<id>-r<revision>") names, as
    `format_labelstudio` writes it, or None for a region drawn in Label Studio (its ids are
    random strings): a new track."""
    match = _region_id(region) if isinstance(region, dict) else None
    return int(match.group(1)) if match else None


def region_revision(region: Any) -> int | None:
    """The revision a region's id "t<id>-r<revision>" names (`format_labelstudio(...,
    revision=...)`), else None."""
    match = _region_id(region) if isinstance(region, dict) else None
    return int(match.group(2)) if match and match.group(2) is not None else None


def _region_id(region: dict[str, Any]) -> re.Match[str] | None:
    """The match of a region id "t<track id>[-r<revision>]" naming int64s (as written here)."""
    match = _REGION_ID.match(str(region.get("id", ""))[:48])
    return match if match and int(match.group(1)) <= INT64_MAX and (
        match.group(2) is None or int(match.group(2)) <= INT64_MAX) else None


def _pick_task(data: Any, path: Path, meta: VideoMeta) -> tuple[str, dict[str, Any]]:
    if isinstance(data, dict):
        return f"{path}: task", data
    if not isinstance(data, list) or not all(isinstance(t, dict) for t in data):
        raise InputFormatError(f"{path}: expected a Label Studio task or a list of tasks")
    if len(data) == 1:
        return f"{path}: task 0", data[0]
    hits = [
        i for i, t in enumerate(data) if isinstance(t.get("data"), dict)
        and any(isinstance(v, str) and v.endswith(meta.name) for v in t["data"].values())
    ]
    if len(hits) != 1:
        raise InputFormatError(
            f"{path}: {len(data)} tasks, {len(hits)} of them with data naming {meta.name!r}; "
            "export the one task of this video"
        )
    return f"{path}: task {hits[0]}", data[hits[0]]


def _pick_result(task: dict[str, Any], where: str, annotation: int | None) -> tuple[str, list]:
    anns, preds = task.get("annotations") or [], task.get("predictions") or []
    for key, value in (("annotations", anns), ("predictions", preds)):
        if not isinstance(value, list):
            raise InputFormatError(f"{where}.{key} is {value!r:.80}, expected a list")
    if annotation is not None:
        if not 0 <= annotation < len(anns):
            raise InputFormatError(
                f"{where} has {len(anns)} annotations; annotation={annotation} does not exist"
            )
        key, chosen = f"annotations[{annotation}]", anns[annotation]
    elif len(anns) == 1 or (not anns and len(preds) == 1):
        key, chosen = ("annotations[0]", anns[0]) if anns else ("predictions[0]", preds[0])
    else:
        raise InputFormatError(
            f"{where} has {len(anns)} annotations and {len(preds)} predictions; pass "
            "annotation=<index> to choose one"
        )
    if not isinstance(chosen, dict) or not isinstance(chosen.get("result"), list):
        raise InputFormatError(f"{where}, {key}: missing 'result' list")
    return f"{where}, {key}.result", chosen["result"]


def _read_region(
    region: dict[str, Any], where: str, meta: VideoMeta
) -> tuple[list[tuple[int, bool, list[float]]], int]:
    """Our rows (frame, outside, xyxy) of one region, and its class id."""
    value = _field(region, "value", dict, where)
    where = f"{where} (id {region.get('id')!r}).value"
    count = _field(value, "framesCount", int, where)
    if abs(count - meta.num_frames) > FRAMES_COUNT_SLACK:
        raise InputFormatError(
            f"{where}.framesCount is {count}, but video {meta.name!r} has {meta.num_frames} "
            "frames; a task of another video, or a Video framerate in the labeling config "
            f"(LS default 24) other than the video's {meta.fps:g} fps"
        )
    labels = _field(value, "labels", list, where)
    if len(labels) != 1 or not isinstance(labels[0], str) or labels[0] not in meta.class_names:
        raise InputFormatError(
            f"{where}.labels is {labels!r:.80}; expected one label of {list(meta.class_names)}"
        )
    keys = []
    for j, item in enumerate(_field(value, "sequence", list, where)):
        at = f"{where}.sequence[{j}]"
        if not isinstance(item, dict):
            raise InputFormatError(f"{at}: expected an object, got {item!r:.80}")
        frame = _field(item, "frame", int, at)
        if not 1 <= frame <= meta.num_frames:
            raise InputFormatError(
                f"{at}: frame {frame} is outside 1..{meta.num_frames} (Label Studio frames "
                "are 1-based)"
            )
        x, y, w, h = (_field(item, k, float, at) for k in ("x", "y", "width", "height"))
        rotation = item.get("rotation", 0)
        if isinstance(rotation, bool) or rotation not in (0, 0.0):
            raise InputFormatError(f"{at}: rotation {rotation!r:.40}; only 0 is supported")
        enabled = item.get("enabled", True)
        if not isinstance(enabled, bool):
            raise InputFormatError(f"{at}.enabled is {enabled!r:.40}, expected true or false")
        box = check_box([x * meta.width / 100, y * meta.height / 100,
                         (x + w) * meta.width / 100, (y + h) * meta.height / 100],
                        at, "x, y, width, height")
        check_frame_box(box, (meta.width, meta.height), at, "x, y, width, height")
        keys.append((frame - 1, enabled, box.tolist(), at))
    keys.sort(key=lambda k: k[0])
    rows: list[tuple[int, bool, list[float]]] = []
    for j, (frame, enabled, box, at) in enumerate(keys):
        nxt = keys[j + 1][0] if j + 1 < len(keys) else meta.num_frames
        if rows and rows[-1][0] == frame:
            raise InputFormatError(f"{at}: a second keyframe at frame {frame + 1}")
        rows.append((frame, False, box))
        if not enabled and nxt > frame + 1:
            rows.append((frame + 1, True, box))  # hidden from the next frame on
    return rows, meta.class_names.index(labels[0])


def _to_keyframes(
    rows: list[tuple[int, bool, list[float]]], class_id: int, track_id: int
) -> Keyframes:
    frame, outside, xyxy = zip(*rows)
    return Keyframes.create(
        track_id=np.full(len(rows), track_id), frame=frame, outside=outside, class_id=class_id,
        xyxy=np.array(xyxy, dtype=np.float64).astype(np.float32),
    )


def _field(obj: dict[str, Any], key: str, kind: type, where: str) -> Any:
    if key not in obj:
        raise InputFormatError(f"{where}: missing field {key!r}")
    value = obj[key]
    if kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok:
            return check_number(value, where, key)
    elif kind is int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, kind)
    if not ok:
        raise InputFormatError(f"{where}.{key} is {value!r:.80}, expected {kind.__name__}")
    return value
