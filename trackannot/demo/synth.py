"""Synthetic scenes with known truth: moving, crossing, occluded objects on a textured background.

A scene is fully determined by its seed. Objects are of two classes (`DEMO_CLASSES`): ellipses
("disc", class 0) and rounded rectangles ("block", class 1), each with its own colour and stripe
texture. They move with near-constant velocity (a slow sinusoidal wobble across the direction of
travel), cross each other (the one with the larger depth is drawn in front), pass behind an
occluder bar, and enter or leave the image. The truth box of an object is the extent of its
*visible* pixels, so it shrinks while the object is cut by the occluder, another object or the
image border; frames where less than `MIN_VISIBLE_FRACTION` of the object shows have no truth row.

The first two objects have fixed roles so that every scene has the events a tracker must handle:
object 1 crosses the image left to right and is fully hidden by the occluder bar for a few frames;
object 2 crosses it right to left on nearly the same row, passing object 1. The others start on
or outside the border at random and head for a random point inside the image.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import numpy.typing as npt

from trackannot.boxes import Boxes, Origin
from trackannot.errors import InputFormatError

__all__ = [
    "DEMO_CLASSES",
    "MIN_VISIBLE_FRACTION",
    "make_scene",
    "write_demo_clip",
]

DEMO_CLASSES: tuple[str, ...] = ("disc", "block")
# an object with less than this fraction of its pixels visible has no truth row in that frame
MIN_VISIBLE_FRACTION = 0.2
_REF_WIDTH = 640.0  # sizes and speeds below are pixels of a 640-wide image; they scale with width
_SIZE_RANGE = (34.0, 90.0)  # object side lengths
_SPEED_RANGE = (2.0, 5.0)  # pixels per frame
_WOBBLE_MAX = 6.0  # amplitude of the sideways wobble, pixels
_SENSOR_NOISE = 4.0  # standard deviation of per-frame pixel noise, grey levels
_OCCLUDER = -2  # label of occluder pixels in the label map (-1: background, k >= 0: object k)


@dataclass(frozen=True, slots=True)
class _Object:
    """One object's appearance and trajectory; centre(t) = start + velocity t + wobble."""

    class_id: int
    half_wh: tuple[float, float]  # half width and half height, pixels
    start: tuple[float, float]  # centre at frame 0, pixels
    velocity: tuple[float, float]  # pixels per frame
    wobble: tuple[float, float, float]  # amplitude (pixels), frequency (cycles/frame), phase
    colour: tuple[float, float, float]  # RGB 0..255
    stripe: tuple[float, float, float]  # period (pixels), angle (radians), contrast (grey levels)
    depth: float  # larger is nearer (drawn later)

    def centre(self, t: int) -> tuple[float, float]:
        vx, vy = self.velocity
        speed = max(float(np.hypot(vx, vy)), 1e-6)
        amp, freq, phase = self.wobble
        side = amp * np.sin(2.0 * np.pi * freq * t + phase)
        # the wobble is across the direction of travel: (-vy, vx) / speed
        return (
            self.start[0] + vx * t - vy / speed * side,
            self.start[1] + vy * t + vx / speed * side,
        )


@dataclass(frozen=True, slots=True)
class _Scene:
    width: int
    height: int
    background: npt.NDArray[np.float32]  # (h, w, 3), 0..255
    occluder: tuple[int, int]  # x0, x1 of the full-height occluder bar (x1 > x0)
    occluder_texture: npt.NDArray[np.float32]  # (h, x1 - x0, 3)
    objects: tuple[_Object, ...]
    seed: int


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cells: int) -> np.ndarray:
    """(h, w, 3) float32 low-frequency noise in [0, 1], bilinear upsampling of a coarse grid."""
    gh, gw = max(2, cells * h // max(w, 1) + 2), cells + 2
    grid = rng.random((gh, gw, 3), dtype=np.float32)
    ys = np.linspace(0, gh - 1.001, h, dtype=np.float32)
    xs = np.linspace(0, gw - 1.001, w, dtype=np.float32)
    y0, x0 = ys.astype(np.int64), xs.astype(np.int64)
    fy, fx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
    top = grid[y0][:, x0] * (1 - fx) + grid[y0][:, x0 + 1] * fx
    bottom = grid[y0 + 1][:, x0] * (1 - fx) + grid[y0 + 1][:, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


def _make_background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Muted colour field with blotches, faint clutter rectangles and fixed fine grain."""
    base = rng.uniform(60, 150, size=3).astype(np.float32)
    img = base + 70.0 * (_smooth_noise(rng, h, w, 6) - 0.5)
    img += 30.0 * (_smooth_noise(rng, h, w, 40) - 0.5)
    for _ in range(int(rng.integers(4, 10))):  # clutter the detector must learn to ignore
        cw, ch = rng.integers(w // 30, w // 6), rng.integers(h // 30, h // 6)
        cx, cy = rng.integers(0, w - cw), rng.integers(0, h - ch)
        img[cy : cy + ch, cx : cx + cw] += rng.uniform(-35, 35, size=3).astype(np.float32)
    img += rng.normal(0.0, 6.0, size=(h, w, 3)).astype(np.float32)
    return np.clip(img, 0, 255)


def _random_colour(rng: np.random.Generator) -> tuple[float, float, float]:
    """A saturated RGB colour: one channel high, one low, one anywhere."""
    c = np.array([rng.uniform(170, 250), rng.uniform(10, 80), rng.uniform(10, 250)])
    return tuple(float(v) for v in rng.permutation(c))  # type: ignore[return-value]


def _make_object(
    rng: np.random.Generator,
    scale: float,
    start: tuple[float, float],
    velocity: tuple[float, float],
    half_wh: tuple[float, float] | None = None,
) -> _Object:
    if half_wh is None:
        w, h = rng.uniform(*_SIZE_RANGE, size=2) * scale
        half_wh = (float(w / 2), float(h / 2))
    return _Object(
        class_id=int(rng.integers(0, len(DEMO_CLASSES))),
        half_wh=half_wh,
        start=start,
        velocity=velocity,
        wobble=(
            float(rng.uniform(0, _WOBBLE_MAX) * scale),
            float(rng.uniform(0.005, 0.03)),
            float(rng.uniform(0, 2 * np.pi)),
        ),
        colour=_random_colour(rng),
        stripe=(
            float(rng.uniform(6, 16) * scale),
            float(rng.uniform(0, np.pi)),
            float(rng.uniform(15, 45)),
        ),
        depth=float(rng.random()),
    )


def _make_objects(
    rng: np.random.Generator, n_frames: int, w: int, h: int, n_objects: int, bar: tuple[int, int]
) -> tuple[_Object, ...]:
    """Object 1 passes fully behind the bar; object 2 crosses it; the rest are random."""
    scale = w / _REF_WIDTH
    span = max(n_frames - 1, 1)
    bar_w = bar[1] - bar[0]
    objects = []
    # role 1: left to right, small enough (0.35 bar width per half) to vanish behind the bar
    half = (0.35 * bar_w, float(rng.uniform(0.3, 0.45)) * bar_w * 1.4)
    y1 = float(rng.uniform(0.35, 0.65)) * h
    x_start, x_end = -half[0], w + half[0]
    objects.append(_make_object(rng, scale, (x_start, y1), ((x_end - x_start) / span, 0.0), half))
    if n_objects >= 2:  # role 2: right to left on nearly the same row, passing object 1
        y2 = y1 + float(rng.uniform(-0.08, 0.08)) * h
        x_start = w * float(rng.uniform(0.85, 1.1))
        x_end = w * float(rng.uniform(-0.1, 0.15))
        objects.append(_make_object(rng, scale, (x_start, y2), ((x_end - x_start) / span, 0.0)))
    for _ in range(2, n_objects):
        edge = int(rng.integers(0, 5))  # 0-3: start on an edge, 4: start inside
        u = float(rng.random())
        start = [
            (-0.05 * w, u * h), (1.05 * w, u * h), (u * w, -0.05 * h), (u * w, 1.05 * h),
            (float(rng.uniform(0.1, 0.9)) * w, float(rng.uniform(0.1, 0.9)) * h),
        ][edge]
        target = np.array([rng.uniform(0.15, 0.85) * w, rng.uniform(0.15, 0.85) * h])
        direction = target - np.asarray(start)
        direction /= max(float(np.linalg.norm(direction)), 1e-6)
        speed = float(rng.uniform(*_SPEED_RANGE)) * scale
        velocity = (float(direction[0] * speed), float(direction[1] * speed))
        objects.append(_make_object(rng, scale, (float(start[0]), float(start[1])), velocity))
    return tuple(objects)


def _build_scene(seed: int, n_frames: int, w: int, h: int, n_objects: int) -> _Scene:
    rng = np.random.default_rng(seed)
    background = _make_background(rng, h, w)
    bar_w = max(8, int(round(rng.uniform(0.09, 0.12) * w)))
    bar_x0 = int(rng.uniform(0.3, 0.7) * w - bar_w / 2)
    grain = rng.normal(0.0, 8.0, size=(h, bar_w, 3)).astype(np.float32)
    rows = np.arange(h)[:, None, None]
    bricks = np.where((rows % max(4, h // 20)) < 2, -40.0, 0.0).astype(np.float32)  # mortar lines
    texture = np.clip(rng.uniform(90, 170, size=3).astype(np.float32) + grain + bricks, 0, 255)
    objects = _make_objects(rng, n_frames, w, h, n_objects, (bar_x0, bar_x0 + bar_w))
    return _Scene(w, h, background, (bar_x0, bar_x0 + bar_w), texture, objects, seed)


def _object_mask(obj: _Object, t: int) -> tuple[int, int, np.ndarray, np.ndarray, np.ndarray]:
    """(x0, y0, mask, local x, local y) of object `obj` at frame t, unclipped, in image pixels."""
    cx, cy = obj.centre(t)
    hw, hh = obj.half_wh
    x0, y0 = int(np.floor(cx - hw)), int(np.floor(cy - hh))
    x1, y1 = int(np.ceil(cx + hw)) + 1, int(np.ceil(cy + hh)) + 1
    xs = np.arange(x0, x1, dtype=np.float32)[None, :] + 0.5 - cx
    ys = np.arange(y0, y1, dtype=np.float32)[:, None] + 0.5 - cy
    if obj.class_id == 0:  # ellipse
        mask = (xs / hw) ** 2 + (ys / hh) ** 2 <= 1.0
    else:  # rounded rectangle, corner radius 30% of the shorter half side
        r = 0.3 * min(hw, hh)
        dx = np.maximum(np.abs(xs) - (hw - r), 0.0)
        dy = np.maximum(np.abs(ys) - (hh - r), 0.0)
        mask = (dx**2 + dy**2 <= r * r) & (np.abs(xs) <= hw) & (np.abs(ys) <= hh)
    return x0, y0, mask, np.broadcast_to(xs, mask.shape), np.broadcast_to(ys, mask.shape)


def _clip_window(x0: int, y0: int, shape: tuple[int, int], w: int, h: int) -> tuple[slice, ...]:
    """Image slices and window slices of the part of a window that lies inside the image."""
    ix0, iy0 = max(x0, 0), max(y0, 0)
    ix1, iy1 = min(x0 + shape[1], w), min(y0 + shape[0], h)
    if ix1 <= ix0 or iy1 <= iy0:
        return ()
    return (
        slice(iy0, iy1), slice(ix0, ix1), slice(iy0 - y0, iy1 - y0), slice(ix0 - x0, ix1 - x0)
    )


def _compose(
    scene: _Scene, t: int, image: np.ndarray | None
) -> tuple[np.ndarray, dict[int, tuple[slice, slice, int]]]:
    """Label map (h, w) int16 of frame t and, per object in view, (rows, cols, full area).

    Also paints the objects into `image` when given.
    """
    labels = np.full((scene.height, scene.width), -1, dtype=np.int16)
    windows: dict[int, tuple[slice, slice, int]] = {}
    order = sorted(range(len(scene.objects)), key=lambda k: scene.objects[k].depth)
    for k in order:
        obj = scene.objects[k]
        x0, y0, mask, xs, ys = _object_mask(obj, t)
        win = _clip_window(x0, y0, mask.shape, scene.width, scene.height)
        if not win:
            continue
        sy, sx, wy, wx = win
        m = mask[wy, wx]
        labels[sy, sx][m] = k
        windows[k] = (sy, sx, int(mask.sum()))
        if image is not None:
            period, angle, contrast = obj.stripe
            phase = (xs[wy, wx] * np.cos(angle) + ys[wy, wx] * np.sin(angle)) / period
            shade = contrast * np.sign(np.sin(2 * np.pi * phase))
            colour = np.asarray(obj.colour, dtype=np.float32) + shade[..., None]
            image[sy, sx][m] = colour[m]
    bx0, bx1 = scene.occluder
    labels[:, max(bx0, 0) : bx1] = _OCCLUDER
    if image is not None:
        image[:, max(bx0, 0) : bx1] = scene.occluder_texture[:, max(0, -bx0) :]
    return labels, windows


def _render(scene: _Scene, t: int) -> npt.NDArray[np.uint8]:
    image = scene.background.copy()
    _compose(scene, t, image)
    noise_rng = np.random.default_rng((scene.seed, t))
    image += noise_rng.normal(0.0, _SENSOR_NOISE, size=image.shape).astype(np.float32)
    return np.clip(image, 0, 255).round().astype(np.uint8)


def _truth(scene: _Scene, n_frames: int) -> Boxes:
    """Visible-extent boxes of every object in every frame where enough of it shows."""
    rows: list[tuple[int, int, int, float, float, float, float]] = []
    for t in range(n_frames):
        labels, windows = _compose(scene, t, None)
        for k, (sy, sx, full_area) in sorted(windows.items()):
            ys, xs = np.nonzero(labels[sy, sx] == k)
            if full_area == 0 or xs.size < MIN_VISIBLE_FRACTION * full_area:
                continue
            x0, y0 = sx.start, sy.start
            rows.append((
                t, k + 1, scene.objects[k].class_id,
                x0 + xs.min(), y0 + ys.min(), x0 + xs.max() + 1, y0 + ys.max() + 1,
            ))
    if not rows:
        return Boxes.empty()
    arr = np.asarray(rows, dtype=np.float64)
    return Boxes.create(
        xyxy=arr[:, 3:7],
        frame=arr[:, 0].astype(np.int64),
        track_id=arr[:, 1].astype(np.int64),
        class_id=arr[:, 2].astype(np.int32),
        score=1.0,
        origin=int(Origin.KEYFRAME),
        sort=True,
    )


def make_scene(
    seed: int, n_frames: int, width: int = 640, height: int = 360, n_objects: int = 6
) -> tuple[Callable[[int], npt.NDArray[np.uint8]], Boxes]:
    """A deterministic synthetic scene and its truth.

    Args:
        seed: the scene (background, occluder, objects, trajectories, noise) is a function of it.
        n_frames: number of frames; the trajectories are planned so that objects 1 and 2 cross
            the whole image within them.
        width: image width, pixels (>= 64). Sizes and speeds scale with it.
        height: image height, pixels (>= 64).
        n_objects: number of objects, 1 to 16 (the demo uses 4 to 8).

    Returns:
        (frame, truth): `frame(t)` renders frame t (0 <= t < n_frames) as (height, width, 3) uint8
        RGB; `truth` holds the visible extent of each object in each frame where at least
        `MIN_VISIBLE_FRACTION` of it shows: xyxy in pixels (integer-valued, x2/y2 exclusive,
        inside the image), track_id 1..n_objects, class_id 0 (disc) or 1 (block), score 1.0,
        origin KEYFRAME.

    Raises:
        InputFormatError: an argument is out of range.

    Example:
        >>> frame, truth = make_scene(seed=7, n_frames=30)
        >>> frame(0).shape, int(truth.track_id.max())
        ((360, 640, 3), 6)
    """
    for name, value, lo, hi in (
        ("n_frames", n_frames, 1, 1_000_000),
        ("width", width, 64, 8192),
        ("height", height, 64, 8192),
        ("n_objects", n_objects, 1, 16),
    ):
        if not lo <= int(value) <= hi:
            raise InputFormatError(f"make_scene: {name} should be in [{lo}, {hi}], got {value}")
    scene = _build_scene(int(seed), int(n_frames), int(width), int(height), int(n_objects))
    truth = _truth(scene, int(n_frames))

    def frame(t: int) -> npt.NDArray[np.uint8]:
        if not 0 <= t < n_frames:
            raise IndexError(f"frame {t} outside the scene's 0..{n_frames - 1}")
        return _render(scene, t)

    return frame, truth


def write_demo_clip(
    path: str | Path,
    *,
    seed: int = 7,
    seconds: float = 6.0,
    fps: int = 15,
    width: int = 640,
    height: int = 360,
    n_objects: int = 6,
) -> Boxes:
    """Write a synthetic H.264 MP4 clip and return its truth.

    The file is written as `<path>.partial` and renamed when complete, so a crash never leaves a
    clip that looks whole. Frame t of the file is `make_scene(...)[0](t)` after H.264 compression
    (crf 18, yuv420p), and truth frame t is decoded frame t.

    Args:
        path: output .mp4 file; its parent folder must exist.
        seed: scene seed (the shipped detector was trained on other seeds).
        seconds: clip length; the clip has round(seconds * fps) frames.
        fps: frame rate, frames per second.
        width: frame width, pixels (even).
        height: frame height, pixels (even).
        n_objects: number of objects, 1 to 16.

    Returns:
        The truth `Boxes` (see `make_scene`).
    """
    import av  # scoped: only the clip writer needs it

    if width % 2 or height % 2:
        raise InputFormatError(
            f"write_demo_clip: width and height must be even, got {width}x{height}"
        )
    n_frames = max(1, int(round(seconds * fps)))
    frame, truth = make_scene(seed, n_frames, width, height, n_objects)
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    with av.open(str(partial), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=int(fps))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "18", "preset": "veryfast"}
        for t in range(n_frames):
            video_frame = av.VideoFrame.from_ndarray(frame(t), format="rgb24")
            for packet in stream.encode(video_frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    partial.replace(path)
    return truth
