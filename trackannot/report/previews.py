"""Preview thumbnails: the riskiest frames and every queued frame, decoded from the video at
report time, with the current boxes drawn and each box's reason written beside it.

Frames are found by their recorded time (`frames/time_s`): the decoder seeks to the keyframe
before a frame more than a few seconds ahead and decodes forward to it, so a handful of frames
of a 2-hour video cost a few seeks, not a full decode. Thumbnails are JPEG files beside the
pages (``assets/previews/<key>/f<frame>.jpg``), so a page stays small.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from trackannot.boxes import Origin

if TYPE_CHECKING:
    from trackannot.report.gather import VideoData

__all__ = ["Preview", "Previews", "preview_frames", "write_previews"]

RISKIEST = 8
"""Riskiest frames previewed besides the queued ones."""
THUMB_WIDTH = 480
_SEEK_AHEAD_S = 4.0  # decode forward rather than seek when the next frame is this close
_COLOURS = {  # origin -> outline (the timeline's colours)
    int(Origin.DETECTED): (76, 175, 255), int(Origin.PREDICTED): (255, 183, 77),
    int(Origin.INTERPOLATED): (186, 104, 200), int(Origin.KEYFRAME): (102, 255, 153),
    int(Origin.PROPAGATED): (0, 229, 204),
}


@dataclass(frozen=True)
class Preview:
    """One thumbnail: the frame, why it is shown, the file (relative to the report's folder),
    and the boxes on it as (track, reason) text."""

    frame: int
    why: str
    file: str
    boxes: list[str]


@dataclass(frozen=True)
class Previews:
    """The thumbnails of a video, or a note saying why there are none."""

    items: list[Preview]
    note: str = ""


def preview_frames(video: VideoData) -> list[tuple[int, str]]:
    """(frame, why) of every frame to preview: every queued frame (honeypots say nothing),
    then the riskiest other frames, in frame order."""
    why: dict[int, str] = {}
    for queue in video.queues:
        for f in np.unique(queue.frame).tolist():
            why.setdefault(int(f), f"queued in {queue.queue_id}")
    risk = video.risk
    order = np.argsort(-risk.frame_expected, kind="stable")
    added = 0
    for i in order.tolist():
        f = int(risk.frame[i])
        if added == RISKIEST:
            break
        if f not in why:
            why[f] = f"risky: {risk.frame_expected[i]:.2f} expected wrong boxes"
            added += 1
    return sorted(why.items())


def write_previews(video: VideoData, folder: Path) -> Previews:
    """Decode and draw the preview frames of `video` into folder/<key>/ (see the module)."""
    wanted = preview_frames(video)
    if video.video_path is None:
        return Previews([], "; ".join(n for n in video.notes if "previews" in n) or
                        "No video file: no previews.")
    if not wanted:
        return Previews([], "Nothing to preview: no boxes and no queue.")
    out = folder / video.key
    out.mkdir(parents=True, exist_ok=True)
    times = dict(zip(video.index.tolist(), video.time_s.tolist()))
    items: list[Preview] = []
    try:
        images = _decode(video.video_path, [(f, times[f]) for f, _ in wanted if f in times])
    except Exception as err:  # noqa: BLE001 - any decode failure: the rest of the page stands
        return Previews([], f"The video {video.video_path} could not be decoded for previews: "
                            f"{type(err).__name__}: {err}")
    reasons = video.risk.reason
    from trackannot.risk import Reason

    for frame, why in wanted:
        image = images.get(frame)
        if image is None:
            continue
        sel = np.flatnonzero(video.boxes.frame == frame)
        labels = [f"track {int(video.boxes.track_id[i])}: {Reason(int(reasons[i])).label} "
                  f"(risk {video.risk.score[i]:.2f})" for i in sel]
        name = f"f{frame:07d}.jpg"
        _draw(image, video.boxes.xyxy[sel], video.boxes.origin[sel], labels).save(
            out / name, quality=80)
        items.append(Preview(frame, why, f"assets/previews/{video.key}/{name}", labels))
    note = "" if len(items) == len(wanted) else \
        f"{len(wanted) - len(items)} of {len(wanted)} frames could not be decoded."
    return Previews(items, note)


def _decode(path: Path, frames: list[tuple[int, float]]) -> dict[int, object]:
    """PIL images of the frames at the given times (seconds), decoded in time order."""
    import av

    out: dict[int, object] = {}
    if not frames:
        return out
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        base = float(stream.time_base)
        rate = float(stream.average_rate or stream.guessed_rate or 25)
        half = 0.5 / rate
        decoded = None
        position = -1.0
        for frame, t in sorted(frames, key=lambda x: x[1]):
            if decoded is None or t > position + _SEEK_AHEAD_S or t < position:
                container.seek(max(0, int((t - 1.0) / base)), stream=stream, backward=True)
                decoded = container.decode(stream)
            for picture in decoded:
                position = float(picture.time if picture.time is not None else position)
                if position >= t - half:
                    out[frame] = picture.to_image()
                    break
    return out


def _draw(image, xyxy: np.ndarray, origin: np.ndarray, labels: list[str]):
    from PIL import ImageDraw

    scale = min(1.0, THUMB_WIDTH / image.width)
    if scale < 1.0:
        image = image.resize((round(image.width * scale), round(image.height * scale)))
    draw = ImageDraw.Draw(image)
    for box, o, label in zip(xyxy * scale, origin.tolist(), labels):
        colour = _COLOURS.get(int(o), (255, 255, 255))
        x0, y0, x1, y1 = (float(v) for v in box)
        draw.rectangle([x0, y0, x1, y1], outline=colour, width=2)
        text = label.split(" (risk")[0].replace("track ", "#")
        draw.text((x0 + 2, max(0.0, y0 - 11)), text, fill=colour)
    return image
