"""Test helper: seeded random keyframe sets for the exporter tests (not part of the library)."""

from __future__ import annotations

import numpy as np

from trackannot.boxes import Boxes
from trackannot.export.meta import VideoMeta
from trackannot.keyframes import Keyframes

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
