"""Test oracle: what CVAT shows for the box tracks of a CVAT for video 1.1 XML file.

Written from reading CVAT's server code (cvat-ai/cvat: `formats/cvat.py` `load_anno`, which keeps
the keyframe="1" rows of each track; `annotation.py` `TrackManager.get_interpolated_shapes`, which
rebuilds every frame on export), not copied from it. Rules for rectangles:

* keyframes are taken in frame order; each keyframe is itself a shape (outside ones too, flagged);
* from a keyframe that is not outside to the next keyframe, every frame in between gets
  p0 + (p1 - p0) * ((f - f0) / (f1 - f0)) in float64 (numpy), whether or not the next is outside;
* from an outside keyframe to the next keyframe, nothing;
* after the last keyframe, if it is not outside, its box is repeated on every frame up to the end
  of the task (`end_frame` = task size, exclusive);
* shapes outside [first keyframe frame, end_frame) are dropped, and exports skip outside shapes.

`dump_like_cvat` writes a file the way CVAT's "CVAT for video 1.1" export does (every frame of a
track, interpolated rows with keyframe="0", two-decimal coordinates, CVAT's meta layout), to test
that the reader accepts CVAT's own files.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np


def load_tracks(path: str | Path) -> tuple[dict[int, dict], int]:
    """Tracks as CVAT's importer sees them: {id: {"label", "shapes": [keyframe dicts]}}, size."""
    root = ET.parse(path).getroot()
    size = int(root.findtext("meta/task/size"))
    tracks = {}
    for track in root.iter("track"):
        shapes = []
        for box in track.findall("box"):
            if box.get("keyframe") != "1":
                continue  # CVAT recomputes interpolated rows
            shapes.append({
                "frame": int(box.get("frame")),
                "outside": box.get("outside", "0") == "1",
                "points": [float(box.get(k)) for k in ("xtl", "ytl", "xbr", "ybr")],
            })
        tracks[int(track.get("id"))] = {"label": track.get("label"), "shapes": shapes}
    return tracks, size


def interpolated_shapes(shapes: list[dict], end_frame: int) -> list[dict]:
    """Every shape CVAT derives from a track's keyframes: dicts with frame, outside, keyframe,
    points (float64 list)."""
    keys = sorted(shapes, key=lambda s: s["frame"])
    out: list[dict] = []
    prev = None
    for shape in keys:
        if prev is not None and not prev["outside"]:
            out.extend(_between(prev, shape))
        out.append({**shape, "keyframe": True})
        prev = shape
    if prev is not None and not prev["outside"]:
        for f in range(prev["frame"] + 1, end_frame):
            out.append({"frame": f, "outside": False, "keyframe": False,
                        "points": list(prev["points"])})
    first = keys[0]["frame"] if keys else 0
    return [s for s in out if first <= s["frame"] < end_frame]


def _between(a: dict, b: dict) -> list[dict]:
    p0 = np.asarray(a["points"], dtype=np.float64)
    d = np.asarray(b["points"], dtype=np.float64) - p0
    span = b["frame"] - a["frame"]
    rows = []
    for f in range(a["frame"] + 1, b["frame"]):
        off = (f - a["frame"]) / span
        rows.append({"frame": f, "outside": False, "keyframe": False,
                     "points": (p0 + d * off).tolist()})
    return rows


def visible_boxes(path: str | Path) -> dict[tuple[int, int], np.ndarray]:
    """{(track id, frame): float64 xyxy} of every box CVAT shows for the file."""
    tracks, size = load_tracks(path)
    boxes = {}
    for track_id, track in tracks.items():
        for s in interpolated_shapes(track["shapes"], size):
            if not s["outside"]:
                boxes[(track_id, s["frame"])] = np.asarray(s["points"], dtype=np.float64)
    return boxes


def dump_like_cvat(
    tracks: dict[int, dict], size: int, width: int, height: int, labels: list[str]
) -> str:
    """A CVAT for video 1.1 export of `tracks` ({id: {"label", "shapes"}}), as CVAT writes it."""
    out = [
        '<?xml version="1.0" encoding="utf-8"?>', "<annotations>", "  <version>1.1</version>",
        "  <meta>", "    <task>", "      <id>17</id>", "      <name>clip</name>",
        f"      <size>{size}</size>", "      <mode>interpolation</mode>",
        "      <overlap>5</overlap>", "      <bugtracker></bugtracker>",
        "      <created>2024-05-01 10:00:00.000000+00:00</created>",
        "      <updated>2024-05-01 11:00:00.000000+00:00</updated>",
        "      <subset>default</subset>", "      <start_frame>0</start_frame>",
        f"      <stop_frame>{size - 1}</stop_frame>", "      <frame_filter></frame_filter>",
        "      <segments>", "        <segment>", "          <id>3</id>",
        "          <start>0</start>", f"          <stop>{size - 1}</stop>",
        "          <url>http://localhost:8080/api/jobs/3</url>", "        </segment>",
        "      </segments>", "      <owner>", "        <username>admin</username>",
        "        <email></email>", "      </owner>", "      <assignee></assignee>",
        "      <labels>",
    ]
    for name in labels:
        out += ["        <label>", f"          <name>{name}</name>",
                "          <color>#fa3253</color>", "          <type>any</type>",
                "          <attributes>", "            <attribute>",
                "              <name>moving</name>", "              <mutable>True</mutable>",
                "              <input_type>checkbox</input_type>",
                "              <default_value>false</default_value>",
                "              <values>false\ntrue</values>", "            </attribute>",
                "          </attributes>", "        </label>"]
    out += ["      </labels>", "      <original_size>", f"        <width>{width}</width>",
            f"        <height>{height}</height>", "      </original_size>",
            "      <source>clip.mp4</source>", "    </task>",
            "    <dumped>2024-05-02 09:00:00.000000+00:00</dumped>", "  </meta>"]
    for idx, (_, track) in enumerate(sorted(tracks.items())):
        out.append(f'  <track id="{idx}" label="{track["label"]}" source="manual">')
        for s in interpolated_shapes(track["shapes"], size):
            x1, y1, x2, y2 = s["points"]
            out += [
                f'    <box frame="{s["frame"]}" keyframe="{int(s["keyframe"])}" '
                f'outside="{int(s["outside"])}" occluded="0" xtl="{x1:.2f}" ytl="{y1:.2f}" '
                f'xbr="{x2:.2f}" ybr="{y2:.2f}" z_order="0">',
                '      <attribute name="moving">false</attribute>', "    </box>",
            ]
        out.append("  </track>")
    out.append("</annotations>")
    return "\n".join(out) + "\n"
