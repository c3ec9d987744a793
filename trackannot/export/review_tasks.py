"""Review queue exports: the queue as a task list (CSV, JSON), CVAT image tasks and Label Studio tasks.

What a reviewer sees never tells whether an item is a check: honeypots (moved boxes with known
truth) and spot checks look like any risk item, and the truth is never written. A missed-object
candidate says so: its reason reads "possible missed object" (`MISSED_LABEL`, also a `note` on
its box), and the task list gives its evidence (the frames and detections of its chain, their
mean score); accepting its hint box (or drawing the object's box) creates the object, deleting it
rejects the candidate. Every file lists the queued frames in review order; every box carries its
item id, the number a reviewer answers with (`trackannot correct STORE answers.jsonl --queue ID`,
lines like `{"item": 7, "op": "accept"}`).

* Task list: one row per item: queue_id, video, item, rank, frame, track, x1, y1, x2, y2,
  reason (label), score.
* CVAT for images 1.1 XML: one `<image>` per queued frame (name frame_%06d.png, the frame's
  decoded index zero-padded), its boxes with attributes item, track and note (the reason).
* Label Studio: one task per queued frame (data.image frame_%06d.png), its boxes as
  "rectanglelabels" predictions in percent of the frame, with meta {item, track, note} and
  region id "item<N>" (Label Studio keeps a prediction's region id when it becomes an
  annotation).

Reading answered files back (`read_cvat_answers`, `read_labelstudio_answers`) gives answer lines
for `trackannot.review.answers_from_lines`: at every frame the file answers, a box with its item
unchanged (within `UNCHANGED_PX`) is an accept, a moved one an adjust, an item whose box is gone
an absent, and a box with no item a new track (create). Frames the file leaves out stay unanswered.

Under a check policy (`ReviewQueue.check_min_risk` > 0) the box items it does not ask about
(`ReviewQueue.asked`) show the reason `NOT_ASKED_LABEL`; left unchanged they are no answer
(nobody said they checked them: they stay automatic boxes, not human keyframes), moved or
deleted they are answered like any item. Honeypots and spot checks are always asked and show an
asked item's score and reason.

Every file shows boxes clipped to the frame (a tracked box can reach a pixel or two past its
edge; the tools draw nothing there), and "unchanged" is judged against that clipped box. The
readers check every value as the store will hold it (`trackannot.validate`): numbers finite,
boxes finite in float32 with positive width and height and, given the frame size, inside the
frame; item and track numbers integers; anything else is refused with the file and line (CVAT)
or task and region (Label Studio).
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any
from xml.parsers import expat
from xml.sax.saxutils import escape, quoteattr

import numpy as np

from trackannot.corrections import load_json
from trackannot.errors import InputFormatError
from trackannot.export.meta import VideoMeta, write_text_atomic
from trackannot.review import ItemKind, ReviewQueue
from trackannot.risk import Reason
from trackannot.validate import check_box, check_frame_box, check_number, clip_to_frame

__all__ = ["FRAME_NAME", "MISSED_LABEL", "TASK_COLUMNS", "UNCHANGED_PX", "format_cvat_images",
           "format_labelstudio_tasks", "format_task_csv", "format_task_json", "item_reason",
           "NOT_ASKED_LABEL",
           "read_cvat_answers", "read_labelstudio_answers", "write_review_tasks"]

MISSED_LABEL = "possible missed object"
"""The reason a missed-object candidate shows."""
NOT_ASKED_LABEL = "low risk, not asked"
"""The reason a box item shows that the queue's check policy does not ask about
(`ReviewQueue.asked`): left unchanged it is no answer."""

FRAME_NAME = "frame_{:06d}.png"
_FRAME_RE = re.compile(r"frame_(\d{1,18})\.\w+$")
_ITEM_ID_RE = re.compile(r"^item(\d{1,18})$")
_INT_TEXT = re.compile(r"^-?[0-9]{1,19}$")
# a box within this many pixels (every coordinate) of the shown box was left as shown: CVAT
# writes two decimals, Label Studio percents round-trip to about 1e-4 px
UNCHANGED_PX = 0.01
TASK_COLUMNS = ("queue_id", "video", "item", "rank", "frame", "track", "x1", "y1", "x2", "y2",
                "reason", "score")


def shown_boxes(queue: ReviewQueue, frame_size: tuple[int, int] | None) -> np.ndarray:
    """(n, 4) float32: the box each item shows, clipped to a (width, height) frame when given."""
    if frame_size is None:
        return queue.xyxy
    return clip_to_frame(queue.xyxy, *frame_size)[0]


def item_reason(queue: ReviewQueue, i: int, asked: np.ndarray | None = None) -> str:
    """What item i shows as its reason: `MISSED_LABEL` for a candidate, `NOT_ASKED_LABEL` for a
    box the check policy does not ask about (`asked`: `queue.asked()`, computed when None),
    else its risk reason."""
    if queue.kind[i] == ItemKind.CANDIDATE:
        return MISSED_LABEL
    if not (queue.asked() if asked is None else asked)[i]:
        return NOT_ASKED_LABEL
    return Reason(int(queue.reason[i])).label


def _items(queue: ReviewQueue, video: str,
           frame_size: tuple[int, int] | None = None) -> list[dict[str, Any]]:
    """The reviewer's view of each item (no kind but candidates', no truth), in queue order."""
    shown = shown_boxes(queue, frame_size)
    asked = queue.asked()
    out = []
    for i in range(len(queue)):
        item = {
            "item": int(queue.item[i]), "rank": int(queue.rank[i]), "frame": int(queue.frame[i]),
            "track": int(queue.track_id[i]), "box": [float(v) for v in shown[i]],
            "reason": item_reason(queue, i, asked), "score": round(float(queue.score[i]), 4),
        }
        if queue.kind[i] == ItemKind.CANDIDATE:
            item["evidence"] = {
                "first_frame": int(queue.first_frame[i]), "last_frame": int(queue.last_frame[i]),
                "detections": int(queue.support[i]),
                "mean_score": round(float(queue.det_score[i]), 4),
            }
        out.append(item)
    return out


def format_task_json(queue: ReviewQueue, video: str,
                     frame_size: tuple[int, int] | None = None) -> str:
    """Task list JSON: {queue_id, video, order, frames, items: [{item, rank, frame, track, box,
    reason, score, [evidence]}]} (evidence: candidates' first_frame, last_frame, detections,
    mean_score); boxes clipped to a (width, height) `frame_size` when given."""
    doc = {"queue_id": queue.queue_id, "video": video, "order": queue.order,
           "frames": [int(f) for f in queue.frames], "items": _items(queue, video, frame_size)}
    return json.dumps(doc, indent=1) + "\n"


def format_task_csv(queue: ReviewQueue, video: str,
                    frame_size: tuple[int, int] | None = None) -> str:
    """Task list CSV, one row per item (columns `TASK_COLUMNS`); boxes clipped to a (width,
    height) `frame_size` when given."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(TASK_COLUMNS)
    for it in _items(queue, video, frame_size):
        writer.writerow([queue.queue_id, video, it["item"], it["rank"], it["frame"], it["track"],
                         *it["box"], it["reason"], it["score"]])
    return out.getvalue()


def _label(meta: VideoMeta) -> str:
    return meta.class_names[0] if meta.class_names else "object"


def format_cvat_images(queue: ReviewQueue, meta: VideoMeta) -> str:
    """CVAT for images 1.1 XML: one image per queued frame in review order, boxes with their item."""
    label = _label(meta)
    shown = shown_boxes(queue, (meta.width, meta.height))
    asked = queue.asked()
    lines = ['<?xml version="1.0" encoding="utf-8"?>', "<annotations>", "  <version>1.1</version>",
             "  <meta>", "    <task>", f"      <name>{queue.queue_id}</name>",
             f"      <size>{len(queue.frames)}</size>", "      <mode>annotation</mode>",
             "      <labels>", "        <label>", f"          <name>{label}</name>",
             "          <type>rectangle</type>", "          <attributes>"]
    for name, kind in (("item", "number"), ("track", "number"), ("note", "text")):
        lines += ["            <attribute>", f"              <name>{name}</name>",
                  "              <mutable>False</mutable>", f"              <input_type>{kind}</input_type>",
                  "            </attribute>"]
    lines += ["          </attributes>", "        </label>", "      </labels>", "    </task>",
              "  </meta>"]
    for i, frame in enumerate(queue.frames.tolist()):
        rows = np.flatnonzero(queue.frame == frame)
        lines.append(f'  <image id="{i}" name="{FRAME_NAME.format(frame)}" width="{meta.width}" '
                     f'height="{meta.height}">')
        for r in rows.tolist():
            x1, y1, x2, y2 = (repr(float(v)) for v in shown[r])
            lines.append(f'    <box label={quoteattr(label)} source="auto" occluded="0" xtl="{x1}" '
                         f'ytl="{y1}" xbr="{x2}" ybr="{y2}" z_order="0">')
            lines.append(f'      <attribute name="item">{int(queue.item[r])}</attribute>')
            lines.append(f'      <attribute name="track">{int(queue.track_id[r])}</attribute>')
            note = escape(item_reason(queue, r, asked))
            lines.append(f'      <attribute name="note">{note}</attribute>')
            lines.append("    </box>")
        lines.append("  </image>")
    lines.append("</annotations>")
    return "\n".join(lines) + "\n"


def format_labelstudio_tasks(queue: ReviewQueue, meta: VideoMeta) -> list[dict[str, Any]]:
    """Label Studio tasks, one per queued frame in review order, boxes as percent predictions."""
    label = _label(meta)
    shown = shown_boxes(queue, (meta.width, meta.height))
    asked = queue.asked()
    tasks = []
    for frame in queue.frames.tolist():
        rows = np.flatnonzero(queue.frame == frame).tolist()
        result = []
        for r in rows:
            x1, y1, x2, y2 = (float(v) for v in shown[r])
            result.append({
                "id": f"item{int(queue.item[r])}", "type": "rectanglelabels", "from_name": "label",
                "to_name": "image", "original_width": meta.width, "original_height": meta.height,
                "value": {"x": 100 * x1 / meta.width, "y": 100 * y1 / meta.height,
                          "width": 100 * (x2 - x1) / meta.width,
                          "height": 100 * (y2 - y1) / meta.height, "rotation": 0,
                          "rectanglelabels": [label]},
                "meta": {"item": int(queue.item[r]), "track": int(queue.track_id[r]),
                         "note": item_reason(queue, r, asked)},
            })
        tasks.append({
            "data": {"image": FRAME_NAME.format(frame), "frame": frame, "video": meta.name,
                     "queue_id": queue.queue_id},
            "predictions": [{"model_version": queue.queue_id, "result": result}],
        })
    return tasks


def write_review_tasks(out_dir: str | Path, queue: ReviewQueue, meta: VideoMeta) -> list[Path]:
    """Write DIR/<video>.<queue>.{csv, json, cvat.xml, labelstudio.json}, each atomically.

    Returns:
        The four paths, in that order.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{meta.name}.{queue.queue_id}"
    texts = {
        f"{stem}.csv": format_task_csv(queue, meta.name, (meta.width, meta.height)),
        f"{stem}.json": format_task_json(queue, meta.name, (meta.width, meta.height)),
        f"{stem}.cvat.xml": format_cvat_images(queue, meta),
        f"{stem}.labelstudio.json": json.dumps(format_labelstudio_tasks(queue, meta), indent=1) + "\n",
    }
    return [write_text_atomic(out / name, text) for name, text in texts.items()]


# ------------------------------------------------------------------------------ reading answers

AnswerLine = tuple[str, int, dict[str, Any]]


def _frame_of(name: str, where: str, queue: ReviewQueue) -> int:
    match = _FRAME_RE.search(name.replace("\\", "/").rsplit("/", 1)[-1])
    if not match:
        raise InputFormatError(f"{where}: image name {name!r:.80} is not frame_NNNNNN.png")
    frame = int(match.group(1))
    if frame not in set(queue.frames.tolist()):
        raise InputFormatError(f"{where}: frame {frame} is not in queue {queue.queue_id}; was the "
                               "file exported for another queue?")
    return frame


def _frame_answers(frame: int, boxes: list[tuple[str, int | None, int | None, list[float]]],
                   queue: ReviewQueue, shown: np.ndarray, asked: np.ndarray) -> list[AnswerLine]:
    """Answer lines of one frame: (where, item or None, track or None, box) of each box in it;
    `shown` is what each item showed (`shown_boxes`), `asked` which items the check policy
    asks about (`queue.asked()`: one left unchanged that was not asked is no answer)."""
    lines: list[AnswerLine] = []
    seen: set[int] = set()
    for where, item, track, box in boxes:
        if item is None:
            lines.append((where, 0, {"op": "create", "frame": frame, "box": box}))
            continue
        line: dict[str, Any] = {"item": item, "frame": frame}
        if track is not None:
            line["track"] = track
        if 0 <= item < len(queue):
            if item in seen:
                raise InputFormatError(f"{where}: item {item} has two boxes in the frame")
            seen.add(item)
            same = np.abs(np.asarray(box) - shown[item]).max() <= UNCHANGED_PX
            if same and not asked[item]:
                continue
            line.update({"op": "accept"} if same else {"op": "adjust", "box": box})
        else:
            line["op"] = "accept"  # answers_from_lines names the unknown item
        lines.append((where, 0, line))
    gone = [int(i) for i in queue.item[queue.frame == frame] if int(i) not in seen]
    lines += [(f"frame {frame} item {i}", 0, {"item": i, "op": "absent"}) for i in gone]
    return lines


def _checked_box(values: list[float], where: str, frame_size: tuple[int, int] | None
                 ) -> list[float]:
    """A reviewer's box as the store will hold it (finite float32, non-empty, in the frame)."""
    box = check_box(values, where, "box")
    if frame_size is not None:
        check_frame_box(box, frame_size, where, "box")
    return box.tolist()


def read_cvat_answers(path: str | Path, queue: ReviewQueue,
                      frame_size: tuple[int, int] | None = None) -> list[AnswerLine]:
    """Answer lines of a CVAT for images 1.1 file made from `format_cvat_images` and edited.

    Args:
        path: the file.
        queue: the queue it answers.
        frame_size: (width, height) of the video: boxes must lie inside it, and an unchanged box
            is judged against the shown box clipped to it (as the file showed it).

    Raises:
        InputFormatError: malformed XML, a bad box (not finite in float32, empty, inverted, not
            inside the frame), a non-integer item or track, an image that is not a frame of the
            queue (file and line).
    """
    path = Path(path)
    shown, asked = shown_boxes(queue, frame_size), queue.asked()
    images: list[tuple[int, list[tuple[str, int | None, int | None, list[float]]]]] = []
    state: dict[str, Any] = {"box": None, "attr": None, "chars": []}
    parser = expat.ParserCreate()

    def where() -> str:
        return f"{path} line {parser.CurrentLineNumber}"

    def start(tag: str, attrs: dict[str, str]) -> None:
        state["chars"] = []
        if tag == "image":
            images.append((_frame_of(attrs.get("name", ""), where(), queue), []))
        elif tag == "box" and images:
            try:
                values = [float(attrs[k]) for k in ("xtl", "ytl", "xbr", "ybr")]
            except (KeyError, ValueError) as err:
                raise InputFormatError(f"{where()}: <box> needs numeric xtl, ytl, xbr, ybr") from err
            box = _checked_box(values, where(), frame_size)
            state["box"] = {"where": where(), "box": box, "item": None, "track": None}
        elif tag == "attribute" and state["box"] is not None:
            state["attr"] = attrs.get("name")

    def end(tag: str) -> None:
        box = state["box"]
        if tag == "attribute" and box is not None and state["attr"] in ("item", "track"):
            text = "".join(state["chars"]).strip()
            if not _INT_TEXT.match(text):
                raise InputFormatError(f"{where()}: attribute {state['attr']} must be an integer, "
                                       f"got {text!r:.80}")
            box[state["attr"]] = int(text)
        elif tag == "box" and box is not None:
            images[-1][1].append((box["where"], box["item"], box["track"], box["box"]))
            state["box"] = None

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = lambda data: state["chars"].append(data)
    try:
        parser.Parse(path.read_bytes(), True)
    except OSError as err:
        raise InputFormatError(f"cannot read {path}: {err.strerror or err}") from err
    except expat.ExpatError as err:
        raise InputFormatError(f"{path}: malformed XML at line {err.lineno}, column "
                               f"{err.offset + 1}: {expat.ErrorString(err.code)}") from err
    except InputFormatError:
        raise
    except (LookupError, UnicodeError, ValueError) as err:  # <?xml encoding="..."?> that expat
        # cannot use: unknown, wrong, or multi-byte (utf-32, shift_jis, ...)
        raise InputFormatError(f"{path}: cannot decode the XML ({err}); save it as UTF-8") from err
    if not images:
        raise InputFormatError(f"{path}: no <image> in the file; expected a CVAT for images 1.1 "
                               "export of a review queue")
    return [line for frame, boxes in images
            for line in _frame_answers(frame, boxes, queue, shown, asked)]


def _region_item(region: dict[str, Any]) -> int | None:
    meta = region.get("meta")
    item = meta.get("item") if isinstance(meta, dict) else None
    if isinstance(item, int) and not isinstance(item, bool):
        return item
    match = _ITEM_ID_RE.match(str(region.get("id", "")))
    return int(match.group(1)) if match else None


def read_labelstudio_answers(path: str | Path, queue: ReviewQueue,
                             frame_size: tuple[int, int]) -> list[AnswerLine]:
    """Answer lines of Label Studio tasks made from `format_labelstudio_tasks` and annotated.

    A task's latest annotation that was not cancelled answers its frame; tasks without one stay
    unanswered. Percent boxes are turned back into pixels of a `frame_size` (width, height) frame.

    Raises:
        InputFormatError: not JSON (or JSON Python cannot hold: NaN, Infinity, nesting too deep,
            huge integers), not a list of tasks, a task that is not a frame of the queue, a
            region without a rectangle, a box not finite in float32, empty, inverted or not
            inside the frame (file, task and region).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError) as err:
        raise InputFormatError(f"{path}: not readable as UTF-8 text ({err})") from err
    data = load_json(text, str(path), document=True)
    tasks = data if isinstance(data, list) else [data]
    width, height = frame_size
    shown, asked = shown_boxes(queue, frame_size), queue.asked()
    lines: list[AnswerLine] = []
    for k, task in enumerate(tasks):
        where = f"{path} task {k}"
        if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
            raise InputFormatError(f"{where}: expected a task object with 'data'")
        frame = _frame_of(str(task["data"].get("image", "")), where, queue)
        annotations = task.get("annotations") or []
        if not isinstance(annotations, list):
            raise InputFormatError(f"{where}: 'annotations' must be a list, got "
                                   f"{annotations!r:.80}")
        done = [a for a in annotations if isinstance(a, dict) and not a.get("was_cancelled")]
        if not done:
            continue
        result = done[-1].get("result") or []
        if not isinstance(result, list):
            raise InputFormatError(f"{where}: the annotation's 'result' must be a list, got "
                                   f"{result!r:.80}")
        boxes = []
        for j, region in enumerate(result):
            here = f"{where} region {j}"
            value = region.get("value") if isinstance(region, dict) else None
            if not isinstance(value, dict) or not all(k in value for k in ("x", "y", "width",
                                                                          "height")):
                raise InputFormatError(f"{here}: expected a rectangle value with x, y, width, "
                                       "height in percent")
            x, y, w, h = (check_number(value[k], here, k) for k in ("x", "y", "width", "height"))
            box = _checked_box([x * width / 100, y * height / 100, (x + w) * width / 100,
                                (y + h) * height / 100], here, frame_size)
            meta = region.get("meta") if isinstance(region.get("meta"), dict) else {}
            track = meta.get("track")
            track = track if isinstance(track, int) and not isinstance(track, bool) else None
            boxes.append((here, _region_item(region), track, box))
        lines += _frame_answers(frame, boxes, queue, shown, asked)
    return lines
