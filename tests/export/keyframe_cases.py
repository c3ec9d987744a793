"""Test helper: seeded random keyframe sets for the exporter tests (not part of the library)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from trackannot.boxes import COLUMNS, Boxes
from trackannot.detect.from_file import read_mot_file, read_seqinfo
from trackannot.export.meta import VideoMeta
from trackannot.interpolate import interpolate_linear
from trackannot.keyframes import Keyframes
from trackannot.validate import clip_to_frame

META = VideoMeta("clip.mp4", 1280, 720, 60, 30.0, ("person", "car", "bicycle"))


def _boxes(rng: np.random.Generator, n: int, meta: VideoMeta) -> np.ndarray:
    """n boxes inside the frame with non-round float32 coordinates."""
    x1 = rng.uniform(0, meta.width - 200, n)
    y1 = rng.uniform(0, meta.height - 200, n)
    return np.column_stack([x1, y1, x1 + rng.uniform(4, 200, n), y1 + rng.uniform(4, 200, n)])


def random_keyframes(seed: int, meta: VideoMeta = META, n_tracks: int = 16) -> Keyframes:
    """Keyframes of every shape the tools must agree on.

    Tracks cycle through: a single keyframe; ending on a box at the video's last frame; starting
    with an outside keyframe; free mixes of boxes and outside keyframes (gaps, consecutive outside
    keyframes, outside keyframes far from the previous box).
    """
    rng = np.random.default_rng(seed)
    n = meta.num_frames
    track_ids = rng.choice(10_000, size=n_tracks, replace=False)
    parts = []
    for t, track_id in enumerate(track_ids):
        kind = t % 4
        k = 1 if kind == 0 else int(rng.integers(2, 10))
        frames = np.sort(rng.choice(n - 1, size=k, replace=False))
        if kind == 1:
            frames[-1] = n - 1
        outside = rng.random(k) < 0.35
        if kind == 1:
            outside[-1] = False
        if kind == 2:
            outside[0] = True
        if kind == 0:
            outside[0] = False
        parts.append(Keyframes.create(
            track_id=np.full(k, track_id), frame=frames, xyxy=_boxes(rng, k, meta),
            outside=outside, class_id=int(rng.integers(len(meta.class_names))),
        ))
    return Keyframes.concat(parts)


def canonical_keyframes(seed: int, meta: VideoMeta = META, n_tracks: int = 12) -> Keyframes:
    """Keyframes both tools hold exactly: every outside keyframe comes right after a box (same
    box), no track starts with one, and every track ends on an outside keyframe or on the
    video's last frame."""
    rng = np.random.default_rng(seed)
    n = meta.num_frames
    track_ids = rng.choice(10_000, size=n_tracks, replace=False)
    parts = []
    for t, track_id in enumerate(track_ids):
        k = int(rng.integers(1, 8))
        present = np.sort(rng.choice(n, size=k, replace=False))
        if t % 3 == 0:
            present[-1] = n - 1  # ends on a box at the last frame
        boxes = _boxes(rng, len(present), meta)
        frames, xyxy, outside = [], [], []
        for i, f in enumerate(present):
            frames.append(f), xyxy.append(boxes[i]), outside.append(False)
            gap_after = i + 1 < len(present) and present[i + 1] - f >= 2 and rng.random() < 0.5
            if gap_after or (i + 1 == len(present) and f < n - 1):
                frames.append(f + 1), xyxy.append(boxes[i]), outside.append(True)
        parts.append(Keyframes.create(
            track_id=np.full(len(frames), track_id), frame=frames, xyxy=xyxy, outside=outside,
            class_id=int(rng.integers(len(meta.class_names))),
        ))
    return Keyframes.concat(parts)


def box_table(boxes: Boxes) -> dict[tuple[int, int], np.ndarray]:
    """{(track id, frame): float32 xyxy} of per-frame boxes."""
    return {
        (int(t), int(f)): b
        for t, f, b in zip(boxes.track_id.tolist(), boxes.frame.tolist(), boxes.xyxy)
    }


def mot17_gt(data_dir: Path, sequence: str = "MOT17-09-FRCNN") -> tuple[Boxes, VideoMeta]:
    """Pedestrian gt boxes (flag 1, class 1) of a MOT17 sequence as one class, and its video.

    The boxes are clipped to the frame, as an annotation tool holds them (MOT gt boxes reach
    past the frame edge; tools draw nothing there and our importers refuse such boxes).
    """
    seq = data_dir / "MOT17" / sequence
    info = read_seqinfo(seq / "seqinfo.ini")
    boxes, extra = read_mot_file(seq / "gt" / "gt.txt", with_extra=True)
    boxes = boxes[(extra["flag"] == 1) & (extra["class"] == 1)].replace(class_id=0)
    meta = VideoMeta(sequence, int(info["imWidth"]), int(info["imHeight"]),
                     int(info["seqLength"]), float(info["frameRate"]), ("pedestrian",))
    xyxy, _, empty = clip_to_frame(boxes.xyxy, meta.width, meta.height)
    return boxes.replace(xyxy=xyxy)[~empty], meta


def keyframes_every(boxes: Boxes, num_frames: int, step: int) -> Keyframes:
    """Keyframes a person might set on real tracks: every `step`-th box of each run of
    consecutive frames, the run's last box, and an outside keyframe after each run."""
    order = np.lexsort((boxes.frame, boxes.track_id))
    track, frame, xyxy = boxes.track_id[order], boxes.frame[order], boxes.xyxy[order]
    new_run = np.r_[True, (track[1:] != track[:-1]) | (frame[1:] != frame[:-1] + 1)]
    run_end = np.r_[new_run[1:], True]
    run_start_frame = np.maximum.accumulate(np.where(new_run, np.arange(len(frame)), 0))
    keep = ((frame - frame[run_start_frame]) % step == 0) | run_end
    close = run_end & (frame + 1 < num_frames)
    return Keyframes.concat([
        Keyframes.create(track_id=track[keep], frame=frame[keep], xyxy=xyxy[keep]),
        Keyframes.create(track_id=track[close], frame=frame[close] + 1, xyxy=xyxy[close],
                         outside=np.ones(int(close.sum()), bool)),
    ])


def tracks_and_untracked() -> Boxes:
    """Interpolated tracks (keyframe and interpolated rows) plus two untracked detections."""
    tracks = interpolate_linear(random_keyframes(2))
    loose = Boxes.create(xyxy=[[5, 6, 50, 60], [0.5, 0.25, 3.75, 9]], frame=[0, 59],
                         score=[0.25, 0.5], class_id=[2, 1])
    cols = {k: np.concatenate([getattr(tracks, k), getattr(loose, k)]) for k in COLUMNS}
    return Boxes.create(**cols, sort=True)
