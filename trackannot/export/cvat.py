"""CVAT for video 1.1 XML: write `Keyframes` as box tracks, read them back (CVAT's exports too).

What CVAT does with a track (read from cvat-ai/cvat, `cvat/apps/dataset_manager/formats/cvat.py`:
`load_anno`, `dump_as_cvat_interpolation`; `cvat/apps/dataset_manager/annotation.py`:
`TrackManager.get_interpolated_shapes`; `cvat/apps/dataset_manager/bindings.py`:
`TaskData.meta_for_task`; docs.cvat.ai "XML annotation format", version 1.1):

* Frames are the task's 0-based frame numbers (start_frame + i * step; we require start 0 and
  step 1, so they are decoded frame indices).
* A `<track id label source>` holds `<box frame keyframe outside occluded xtl ytl xbr ybr
  z_order>` rows. On import CVAT keeps only rows with keyframe="1" (the others it recomputes), needs
  `label` on the track and `frame`, `keyframe`, `xtl`..`ybr` on each box (`outside`, `occluded`,
  `z_order`, `rotation` default to 0), ignores the track id, and drops tracks whose label is not
  one of the task's labels (matched by name).
* Between a keyframe that is not outside and the next keyframe, box = b0 + (b1 - b0) * t with
  t = (f - f0) / (f1 - f0) in float64, also when the next keyframe is outside (it keeps a box).
  After an outside keyframe nothing is shown until the next keyframe. After a track's last
  keyframe, if it is not outside, its box is propagated to the end of the task. This module
  therefore closes every track with an outside keyframe (`close_tracks`), so CVAT shows exactly the
  boxes `trackannot.interpolate` computes.
* CVAT exports coordinates with two decimals; we write the float32 value exactly (the shortest
  decimal of its float64 value), so a file reads back bit for bit and CVAT interpolates from the
  very same numbers.
* `<meta><task>` has `<size>` (frames), `<start_frame>`, `<stop_frame>`, `<frame_filter>`,
  `<labels>`, `<original_size><width><height>` and `<source>` (the video file); job exports use
  `<meta><job>` with `<original_size>` directly under `<meta>`.

Reading a CVAT export keeps the keyframe="1" rows and the outside rows; a track whose last
keyframe is a box gets a keyframe with that box at the video's last frame, so interpolation
reproduces CVAT's propagation to the end. Values are checked as they will be stored
(`trackannot.validate`): ids and frames as integers before any cast, boxes finite in float32 with
xbr > xtl and ybr > ytl, and inside the frame (the video's, or the file's `<original_size>`);
anything else is refused with the file and line. Writing clips boxes to the frame
(`fit_to_frame`), as CVAT itself does, so every file we write reads back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from xml.parsers import expat
from xml.sax.saxutils import escape, quoteattr

import numpy as np

from trackannot.errors import InputFormatError
from trackannot.export.meta import (
    VideoMeta,
    check_keyframes,
    close_tracks,
    fit_to_frame,
    propagate_to_end,
    write_text_atomic,
)
from trackannot.keyframes import Keyframes
from trackannot.validate import check_box, check_frame_box, check_int

__all__ = ["format_cvat_video", "read_cvat_video", "write_cvat_video"]

CVAT_SOURCES = ("auto", "semi-auto", "manual", "file", "consensus")  # CVAT's SourceType values
_OTHER_SHAPES = ("polygon", "polyline", "points", "cuboid", "ellipse", "mask", "skeleton")
_BOX_REQUIRED = ("frame", "keyframe", "xtl", "ytl", "xbr", "ybr")


def format_cvat_video(keyframes: Keyframes, meta: VideoMeta, *, source: str = "auto") -> str:
    """CVAT for video 1.1 XML: one box track per track, one `<box keyframe="1">` per keyframe.

    Args:
        keyframes: the keyframes to write (already sparse: every row becomes a CVAT keyframe).
            Boxes are clipped to the frame (`fit_to_frame`), then tracks are closed
            (`close_tracks`).
        meta: the video; labels are `meta.class_names`, which must equal the CVAT task's labels.
        source: the tracks' `source` attribute, one of `CVAT_SOURCES` (CVAT sets "file" on import).

    Raises:
        InputFormatError: keyframes that do not fit `meta` (see `check_keyframes`) or an unknown
            source.
    """
    check_keyframes(keyframes, meta, what="format_cvat_video")
    if source not in CVAT_SOURCES:
        raise InputFormatError(f"CVAT track source must be one of {CVAT_SOURCES}, got {source!r}")
    keys = close_tracks(fit_to_frame(keyframes, meta), meta.num_frames)
    lines = _meta_lines(meta)
    ids, starts = keys.track_bounds()
    coords = keys.xyxy.astype(np.float64).tolist()  # float32 -> float64 is exact; repr round-trips
    frames = keys.frame.tolist()
    outside = keys.outside.tolist()
    for t, track_id in enumerate(ids.tolist()):
        lo, hi = int(starts[t]), int(starts[t + 1])
        label = quoteattr(meta.class_names[int(keys.class_id[lo])])
        lines.append(f'  <track id="{track_id}" label={label} source="{source}">')
        for i in range(lo, hi):
            x1, y1, x2, y2 = coords[i]
            lines.append(
                f'    <box frame="{frames[i]}" keyframe="1" outside="{int(outside[i])}" '
                f'occluded="0" xtl="{x1!r}" ytl="{y1!r}" xbr="{x2!r}" ybr="{y2!r}" z_order="0"/>'
            )
        lines.append("  </track>")
    lines.append("</annotations>")
    return "\n".join(lines) + "\n"


def write_cvat_video(
    path: str | Path, keyframes: Keyframes, meta: VideoMeta, *, source: str = "auto"
) -> Path:
    """Write `format_cvat_video(keyframes, meta)` to `path` atomically (`path.partial`, rename)."""
    return write_text_atomic(path, format_cvat_video(keyframes, meta, source=source))


def _meta_lines(meta: VideoMeta) -> list[str]:
    labels = [
        f"        <label>\n          <name>{escape(name)}</name>\n          <type>rectangle</type>"
        "\n          <attributes>\n          </attributes>\n        </label>"
        for name in meta.class_names
    ]
    return [
        '<?xml version="1.0" encoding="utf-8"?>',
        "<annotations>",
        "  <version>1.1</version>",
        "  <meta>",
        "    <task>",
        f"      <name>{escape(meta.name)}</name>",
        f"      <size>{meta.num_frames}</size>",
        "      <mode>interpolation</mode>",
        "      <overlap>0</overlap>",
        "      <start_frame>0</start_frame>",
        f"      <stop_frame>{meta.num_frames - 1}</stop_frame>",
        "      <frame_filter></frame_filter>",
        "      <labels>",
        *labels,
        "      </labels>",
        "      <original_size>",
        f"        <width>{meta.width}</width>",
        f"        <height>{meta.height}</height>",
        "      </original_size>",
        f"      <source>{escape(meta.name)}</source>",
        "    </task>",
        "  </meta>",
    ]


def read_cvat_video(path: str | Path, meta: VideoMeta | None = None) -> Keyframes:
    """Read the box tracks of a CVAT for video 1.1 XML file (ours or exported by CVAT).

    Args:
        path: the annotations.xml.
        meta: the video the file must belong to; labels map to class ids through
            `meta.class_names`. Without it, the file's own `<labels>` (in order) and `<size>`.

    Returns:
        Keyframes: one row per keyframe="1" or outside row, track ids from the id attribute.

    Raises:
        InputFormatError: malformed XML (file, line, column), a missing or bad attribute (line),
            an id or frame beyond int64, a box that is not finite in float32, empty or inverted,
            or not inside the frame, an unknown label, a frame outside the video, a track that is
            not a box track, a CVAT for images file, or a file made for another video (frame
            count or frame size).
    """
    path = Path(path)
    reader = _CvatReader(path, meta)
    parser = expat.ParserCreate()
    parser.StartElementHandler = reader.start
    parser.EndElementHandler = reader.end
    parser.CharacterDataHandler = reader.text
    reader.parser = parser
    try:
        with open(path, "rb") as f:
            parser.ParseFile(f)
    except FileNotFoundError as err:
        raise InputFormatError(f"CVAT file not found: {path}") from err
    except OSError as err:
        raise InputFormatError(f"cannot read {path}: {err.strerror or err}") from err
    except expat.ExpatError as err:
        raise InputFormatError(
            f"{path}: malformed XML at line {err.lineno}, column {err.offset + 1}: "
            f"{expat.ErrorString(err.code)}"
        ) from err
    except InputFormatError:
        raise
    except (LookupError, UnicodeError, ValueError) as err:  # <?xml encoding="..."?> that expat
        # cannot use: unknown, wrong, or multi-byte (utf-32, shift_jis, ...)
        raise InputFormatError(f"{path}: cannot decode the XML ({err}); save it as UTF-8") from err
    return reader.finish()


class _CvatReader:
    """expat handlers: collect `<meta>` values, then box rows track by track."""

    def __init__(self, path: Path, meta: VideoMeta | None) -> None:
        self.path = path
        self.meta = meta
        self.parser: Any = None
        self.stack: list[str] = []
        self.chars: list[str] = []
        self.values: dict[str, str] = {}  # "task/size" -> "250", ...
        self.file_labels: list[str] = []
        self.class_names: tuple[str, ...] | None = None
        self.num_frames = 0
        self.frame_size: tuple[int, int] | None = None  # (width, height) boxes must lie in
        self.meta_checked = False
        self.track: tuple[int, int, int] | None = None  # (id, class, line)
        self.track_frames: dict[int, int] = {}  # frame -> line, within the open track
        self.seen_ids: dict[int, int] = {}  # track id -> line
        self.rows: list[tuple[int, int, bool, int, float, float, float, float]] = []

    def where(self) -> str:
        return f"{self.path} line {self.parser.CurrentLineNumber}"

    # expat callbacks ----------------------------------------------------------------------------

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        self.stack.append(tag)
        self.chars = []
        depth = len(self.stack)
        if depth == 1 and tag != "annotations":
            raise InputFormatError(f"{self.where()}: root element <{tag}>, expected <annotations>")
        if depth == 3 and self.stack[1] == "meta" and tag == "project":
            raise InputFormatError(
                f"{self.where()}: a CVAT project export; export the task made from this video "
                "(format 'CVAT for video 1.1')"
            )
        if depth == 2 and tag == "image":
            raise InputFormatError(
                f"{self.where()}: <image> elements are 'CVAT for images'; export the task as "
                "'CVAT for video 1.1'"
            )
        if depth == 2 and tag == "track":
            self._start_track(attrs)
        elif depth == 3 and self.track is not None:
            if tag == "box":
                self._box(attrs, self.track)
            elif tag in _OTHER_SHAPES:
                raise InputFormatError(
                    f"{self.where()}: <{tag}> in track {self.track[0]}; trackannot reads box "
                    "(rectangle) tracks only"
                )

    def text(self, data: str) -> None:
        self.chars.append(data)

    def end(self, tag: str) -> None:
        if len(self.stack) >= 3 and self.stack[1] == "meta":
            key = "/".join(self.stack[2:])
            text = "".join(self.chars).strip()
            if key.endswith("labels/label/name"):
                self.file_labels.append(text)
            else:
                self.values.setdefault(key, text)
        elif len(self.stack) == 2 and tag == "meta":
            self._check_meta()
        elif len(self.stack) == 2 and tag == "track":
            self.track = None
        self.stack.pop()
        self.chars = []

    # meta ----------------------------------------------------------------------------------------

    def _check_meta(self) -> None:
        v, meta, path = self.values, self.meta, self.path
        self.meta_checked = True
        kind = "job" if "job/size" in v or "job/id" in v else "task"
        self.class_names = meta.class_names if meta else tuple(self.file_labels) or None
        start, step = v.get(f"{kind}/start_frame", "0"), v.get(f"{kind}/frame_filter", "")
        if (kind == "task" and start not in ("", "0")) or step not in ("", "step=1"):
            raise InputFormatError(
                f"{path}: the CVAT task starts at frame {start!r} with frame filter {step!r}; "
                "trackannot needs a task of every frame of the video from frame 0"
            )
        size = _int_or_none(v.get(f"{kind}/size"))
        # tasks keep <original_size> in <task>, jobs directly in <meta>
        width = _int_or_none(v.get(f"{kind}/original_size/width", v.get("original_size/width")))
        height = _int_or_none(v.get(f"{kind}/original_size/height", v.get("original_size/height")))
        if meta is None:
            if kind == "job" or size is None:
                raise InputFormatError(
                    f"{path}: no task <size> in <meta> (a job export?); pass meta=VideoMeta(...)"
                )
            self.num_frames = size
            if width is not None and height is not None and width > 0 and height > 0:
                self.frame_size = (width, height)
            return
        self.num_frames = meta.num_frames
        self.frame_size = (meta.width, meta.height)
        if kind == "task" and size is not None and size != meta.num_frames:
            raise InputFormatError(
                f"{path}: made for a task of {size} frames, but video {meta.name!r} has "
                f"{meta.num_frames} frames; export the CVAT task made from this video"
            )
        size_known = width is not None and height is not None
        if size_known and (width, height) != (meta.width, meta.height):
            raise InputFormatError(
                f"{path}: made for {width}x{height} frames (<original_size>), but video "
                f"{meta.name!r} is {meta.width}x{meta.height}; export the CVAT task made from "
                "this video"
            )

    # tracks and boxes ----------------------------------------------------------------------------

    def _start_track(self, attrs: dict[str, str]) -> None:
        if not self.meta_checked:
            self._check_meta()  # no <meta> at all: fall back on `meta`
        if self.class_names is None:
            raise InputFormatError(
                f"{self.where()}: no <labels> in <meta>; pass meta=VideoMeta(...) to name them"
            )
        for key in ("id", "label"):
            if key not in attrs:
                raise InputFormatError(f"{self.where()}: <track> has no '{key}' attribute")
        track_id = check_int(_parse(attrs, "id", int, self.where), self.where(), "id")
        if track_id in self.seen_ids:
            raise InputFormatError(
                f"{self.where()}: track id {track_id} repeats the track at line "
                f"{self.seen_ids[track_id]}"
            )
        label = attrs["label"]
        if label not in self.class_names:
            raise InputFormatError(
                f"{self.where()}: unknown label {label!r}; labels allowed: "
                f"{list(self.class_names)}"
            )
        line = self.parser.CurrentLineNumber
        self.seen_ids[track_id] = line
        self.track = (track_id, self.class_names.index(label), line)
        self.track_frames = {}

    def _box(self, attrs: dict[str, str], track: tuple[int, int, int]) -> None:
        missing = [k for k in _BOX_REQUIRED if k not in attrs]
        if missing:
            raise InputFormatError(
                f"{self.where()}: <box> has no {', '.join(repr(k) for k in missing)} attribute; "
                f"a track box needs {list(_BOX_REQUIRED)}"
            )
        keyframe = attrs["keyframe"] == "1"
        outside = attrs.get("outside", "0") == "1"
        frame = _parse(attrs, "frame", int, self.where)
        if not 0 <= frame < self.num_frames:
            raise InputFormatError(
                f"{self.where()}: box frame {frame} is outside the video's frames "
                f"0..{self.num_frames - 1}"
            )
        values = [_parse(attrs, k, float, self.where) for k in ("xtl", "ytl", "xbr", "ybr")]
        if "rotation" in attrs and _parse(attrs, "rotation", float, self.where) != 0.0:
            raise InputFormatError(
                f"{self.where()}: rotated box (rotation={attrs['rotation'][:40]}); trackannot "
                "reads axis-aligned boxes only"
            )
        if not (keyframe or outside):
            return  # an interpolated row: CVAT recomputes it, so do we
        frame = check_int(frame, self.where(), "frame")
        box = check_box(values, self.where(), "xtl, ytl, xbr, ybr")
        if self.frame_size is not None:
            check_frame_box(box, self.frame_size, self.where(), "xtl, ytl, xbr, ybr")
        if frame in self.track_frames:
            raise InputFormatError(
                f"{self.where()}: track {track[0]} has two keyframes at frame {frame} "
                f"(also line {self.track_frames[frame]})"
            )
        self.track_frames[frame] = self.parser.CurrentLineNumber
        self.rows.append((track[0], frame, outside, track[1], *box.tolist()))

    def finish(self) -> Keyframes:
        if not self.rows:
            return Keyframes.empty()
        track_id, frame, outside, class_id, *xyxy = zip(*self.rows)
        keys = Keyframes.create(
            track_id=track_id, frame=frame, outside=outside, class_id=class_id,
            xyxy=np.array(xyxy, dtype=np.float64).T.astype(np.float32),
        )
        return propagate_to_end(keys, self.num_frames)


def _int_or_none(text: str | None) -> int | None:
    try:
        return int(text) if text not in (None, "") else None
    except ValueError:  # not an int, or more digits than int() converts
        return None


def _parse(attrs: dict[str, str], key: str, kind: type, where: Any) -> Any:
    try:
        value = kind(attrs[key])
    except ValueError as err:
        expected = "an int" if kind is int else "a number"
        raise InputFormatError(
            f"{where()}: attribute {key}={attrs[key]!r:.80} is not {expected}"
        ) from err
    if kind is float and not np.isfinite(value):
        raise InputFormatError(f"{where()}: attribute {key}={attrs[key]!r:.80} is not finite")
    return value
