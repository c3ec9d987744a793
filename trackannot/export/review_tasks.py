"""Review queue exports: the queue as a task list (CSV, JSON), CVAT image tasks and Label Studio tasks.

What a reviewer sees never tells an item's kind: honeypots (moved boxes with known truth) and spot
checks look like any risk item, and the truth is never written. Every file lists the queued frames
in review order; every box carries its item id, the number a reviewer answers with
(`trackannot correct STORE answers.jsonl --queue ID`, lines like `{"item": 7, "op": "accept"}`).

* Task list: one row per item: queue_id, video, item, rank, frame, track, x1, y1, x2, y2,
  reason (label), score.
* CVAT for images 1.1 XML: one `<image>` per queued frame (name frame_%06d.png, the frame's
  decoded index zero-padded), its boxes with attributes item and track.
* Label Studio: one task per queued frame (data.image frame_%06d.png), its boxes as
  "rectanglelabels" predictions in percent of the frame, with meta {item, track}.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

import numpy as np

from trackannot.export.meta import VideoMeta, write_text_atomic
from trackannot.review import ReviewQueue
from trackannot.risk import Reason

__all__ = ["FRAME_NAME", "TASK_COLUMNS", "format_task_csv", "format_task_json", "format_cvat_images",
           "format_labelstudio_tasks", "write_review_tasks"]

FRAME_NAME = "frame_{:06d}.png"
TASK_COLUMNS = ("queue_id", "video", "item", "rank", "frame", "track", "x1", "y1", "x2", "y2",
                "reason", "score")


def _items(queue: ReviewQueue, video: str) -> list[dict[str, Any]]:
    """The reviewer's view of each item (no kind, no truth), in queue order."""
    return [
        {
            "item": int(queue.item[i]), "rank": int(queue.rank[i]), "frame": int(queue.frame[i]),
            "track": int(queue.track_id[i]), "box": [float(v) for v in queue.xyxy[i]],
            "reason": Reason(int(queue.reason[i])).label, "score": round(float(queue.score[i]), 4),
        }
        for i in range(len(queue))
    ]


def format_task_json(queue: ReviewQueue, video: str) -> str:
    """Task list JSON: {queue_id, video, frames, items: [{item, rank, frame, track, box, reason,
    score}]}."""
    doc = {"queue_id": queue.queue_id, "video": video,
           "frames": [int(f) for f in queue.frames], "items": _items(queue, video)}
    return json.dumps(doc, indent=1) + "\n"


def format_task_csv(queue: ReviewQueue, video: str) -> str:
    """Task list CSV, one row per item (columns `TASK_COLUMNS`)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(TASK_COLUMNS)
    for it in _items(queue, video):
        writer.writerow([queue.queue_id, video, it["item"], it["rank"], it["frame"], it["track"],
                         *it["box"], it["reason"], it["score"]])
    return out.getvalue()


def _label(meta: VideoMeta) -> str:
    return meta.class_names[0] if meta.class_names else "object"


def format_cvat_images(queue: ReviewQueue, meta: VideoMeta) -> str:
    """CVAT for images 1.1 XML: one image per queued frame in review order, boxes with their item."""
    label = _label(meta)
    lines = ['<?xml version="1.0" encoding="utf-8"?>', "<annotations>", "  <version>1.1</version>",
             "  <meta>", "    <task>", f"      <name>{queue.queue_id}</name>",
             f"      <size>{len(queue.frames)}</size>", "      <mode>annotation</mode>",
             "      <labels>", "        <label>", f"          <name>{label}</name>",
             "          <type>rectangle</type>", "          <attributes>"]
    for name in ("item", "track"):
        lines += ["            <attribute>", f"              <name>{name}</name>",
                  "              <mutable>False</mutable>", "              <input_type>number</input_type>",
                  "            </attribute>"]
    lines += ["          </attributes>", "        </label>", "      </labels>", "    </task>",
              "  </meta>"]
    for i, frame in enumerate(queue.frames.tolist()):
        rows = np.flatnonzero(queue.frame == frame)
        lines.append(f'  <image id="{i}" name="{FRAME_NAME.format(frame)}" width="{meta.width}" '
                     f'height="{meta.height}">')
        for r in rows.tolist():
            x1, y1, x2, y2 = (repr(float(v)) for v in queue.xyxy[r])
            lines.append(f'    <box label={quoteattr(label)} source="auto" occluded="0" xtl="{x1}" '
                         f'ytl="{y1}" xbr="{x2}" ybr="{y2}" z_order="0">')
            lines.append(f'      <attribute name="item">{int(queue.item[r])}</attribute>')
            lines.append(f'      <attribute name="track">{int(queue.track_id[r])}</attribute>')
            lines.append("    </box>")
        lines.append("  </image>")
    lines.append("</annotations>")
    return "\n".join(lines) + "\n"


def format_labelstudio_tasks(queue: ReviewQueue, meta: VideoMeta) -> list[dict[str, Any]]:
    """Label Studio tasks, one per queued frame in review order, boxes as percent predictions."""
    label = _label(meta)
    tasks = []
    for frame in queue.frames.tolist():
        rows = np.flatnonzero(queue.frame == frame).tolist()
        result = []
        for r in rows:
            x1, y1, x2, y2 = (float(v) for v in queue.xyxy[r])
            result.append({
                "id": f"item{int(queue.item[r])}", "type": "rectanglelabels", "from_name": "label",
                "to_name": "image", "original_width": meta.width, "original_height": meta.height,
                "value": {"x": 100 * x1 / meta.width, "y": 100 * y1 / meta.height,
                          "width": 100 * (x2 - x1) / meta.width,
                          "height": 100 * (y2 - y1) / meta.height, "rotation": 0,
                          "rectanglelabels": [label]},
                "meta": {"item": int(queue.item[r]), "track": int(queue.track_id[r])},
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
        f"{stem}.csv": format_task_csv(queue, meta.name),
        f"{stem}.json": format_task_json(queue, meta.name),
        f"{stem}.cvat.xml": format_cvat_images(queue, meta),
        f"{stem}.labelstudio.json": json.dumps(format_labelstudio_tasks(queue, meta), indent=1) + "\n",
    }
    return [write_text_atomic(out / name, text) for name, text in texts.items()]
