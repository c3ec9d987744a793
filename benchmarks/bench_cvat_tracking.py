"""CVAT tracking function: how long one drawn box is followed, against two baselines.

Protocol (per object): a person draws one box, the object's truth box at its first frame f0;
`CvatTrackingFunction` (trackannot.integrations.cvat) follows it one `track` call per frame to
the object's last truth frame. A frame f in (f0, last] with a truth row counts as followed when
the method reports a box with IoU >= 0.5 to the truth there (no box: not followed). Truth boxes
are clipped to the image first, as CVAT shows boxes (MOT17 gt boxes reach past the border). Reported:
followed frames / scored frames, pooled over the objects (and per object in the JSON).

Methods, all started from the same drawn box:
- tracker: the CVAT function itself (init_tracking_state, then track per frame).
- constant box: the drawn box, unchanged (what CVAT shows without a tracker).
- Kalman only: trackannot's Kalman prediction with no detections (`follow_step(..., None)`,
  never ending). With one box its velocity starts at 0, so it stays the drawn box: identical to
  the constant box by construction (the run checks that).
- Kalman only, 2 boxes (extra): the filter also updated with the truth box at f0 + 1 (as if the
  person drew a second box; that frame is then scored on the given box), then prediction alone:
  what constant-velocity motion without detections achieves.
- IoU chain (extra, no Kalman): each frame, the detection overlapping the last box most (IoU >=
  TrackConfig.min_iou, score >= low_score) becomes the box, else the last box stays: what the
  Kalman filter adds to plain detection linking.

Data:
- demo: the bundled synthetic clip exactly as `trackannot demo` writes it (seed 7, 10 s, 15 fps,
  640x360, H.264), decoded with PyAV; every object (6); detections by the bundled demo model
  through the function's own `preprocess_image` (PIL images, as CVAT's agent passes them),
  computed once per frame and shared by all objects, as the agent does per request.
- MOT17-04: ../shared/data/video/MOT17-04_frames0001-0008_1920x1080_mpeg4.mp4 (8 frames; video
  frame k = gt frame k + 1) and its gt (MOT17-04-FRCNN/gt/gt.txt; objects = pedestrians, flag 1
  and class 1). The bundled model finds nothing in real footage and the MOT17 public detections
  are not in the shared data (SOURCES.md), so detections are derived from the gt with seeded
  noise: each pedestrian box with visibility >= 0.25 is detected with probability `keep`, its
  centre moved by N(0, jitter * side) and its width and height scaled by exp(N(0, jitter)),
  score U(0.5, 1); plus Poisson(false_per_frame) false boxes per frame (sizes of random gt
  boxes, anywhere in the image). Rows for the 8 frames of the clip (decoded to check its frame
  count and size), and, since the gt needs no pixels, for the whole 1050-frame sequence, at two
  noise levels ("noisy", "noisier").

Run (writes benchmarks/results/cvat_tracking.json and prints a table; about 1 minute on 2 CPUs):
    python -m benchmarks.bench_cvat_tracking
    python -m benchmarks.bench_cvat_tracking --set track.std_measurement=0.1 --out /tmp/x.json
"""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import cvat_sdk.auto_annotation as cvataa
import numpy as np
import numpy.typing as npt
from trackannot.kernels.iou import iou_matrix

from benchmarks._common import result_doc, write_json
from trackannot.boxes import Boxes, pair_iou
from trackannot.config import DecodeConfig, TrackConfig, load_config
from trackannot.decode import decode_frames
from trackannot.detect import Detector, read_mot_file
from trackannot.integrations.cvat import (
    CvatTrackingFunction,
    DetectedFrame,
    FollowState,
    create,
    follow_step,
    start_following,
)

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("TRACKANNOT_DATA") or REPO.parent / "shared" / "data")
MOT17_VIDEO = DATA / "video" / "MOT17-04_frames0001-0008_1920x1080_mpeg4.mp4"
MOT17_GT = DATA / "MOT17" / "MOT17-04-FRCNN" / "gt" / "gt.txt"
OUT = REPO / "benchmarks" / "results" / "cvat_tracking.json"
FOLLOWED_IOU = 0.5
MIN_VISIBILITY = 0.25  # gt boxes less visible than this are never detected
PEDESTRIAN = 1
# name -> (keep probability, jitter as a fraction of the box side, false boxes per frame)
NOISE = {"noisy": (0.9, 0.05, 2.0), "noisier": (0.7, 0.10, 5.0)}
METHODS = ("tracker", "constant box", "Kalman only", "Kalman only, 2 boxes", "IoU chain")


class _Context(cvataa.TrackingFunctionShapeContext):
    """The shape context CVAT's agent passes (rectangles only here)."""

    @property
    def original_shape_type(self) -> str:
        return "rectangle"


@dataclass
class _Tally:
    followed: dict[str, int]
    scored: int = 0


def _methods(fn: CvatTrackingFunction, cfg: TrackConfig, frames: list[DetectedFrame],
             start: npt.NDArray[np.float32], f0: int, second: npt.NDArray[np.float32] | None,
             ) -> Iterator[tuple[int, dict[str, npt.NDArray[np.float32] | None]]]:
    """(frame, box of each method) for frames f0 + 1, f0 + 2, ... (the caller stops)."""
    ctx = _Context()
    state = fn.init_tracking_state(ctx, frames[f0], cvataa.TrackableShape(
        type="rectangle", points=[float(v) for v in start]))
    # the prediction-only baselines never give up (the tracker ends after max_lost_frames)
    cfg = replace(cfg, max_lost_frames=len(frames))
    alone = start_following(start, frames[f0], cfg)
    two: FollowState | None = alone
    chain = start.astype(np.float32)
    for f in range(f0 + 1, len(frames)):
        shape = fn.track(ctx, frames[f], state)
        alone, alone_box = follow_step(alone, None, cfg)
        if f == f0 + 1 and second is not None:
            given = Boxes.create(xyxy=second[None])
            two, two_box = follow_step(two, DetectedFrame(given, frames[f].width,
                                                          frames[f].height), cfg)
            two_box = second
        else:
            two, two_box = follow_step(two, None, cfg)
        chain = _iou_chain(chain, frames[f], cfg)
        yield f, {"tracker": None if shape is None else np.asarray(shape.points, np.float32),
                  "constant box": start, "Kalman only": alone_box,
                  "Kalman only, 2 boxes": two_box, "IoU chain": chain}


def _iou_chain(last: npt.NDArray[np.float32], frame: DetectedFrame,
               cfg: TrackConfig) -> npt.NDArray[np.float32]:
    boxes = frame.boxes[frame.boxes.score >= cfg.low_score]
    if not len(boxes):
        return last
    iou = iou_matrix(last[None], boxes.xyxy)[0]
    best = int(np.argmax(iou))
    return boxes.xyxy[best] if iou[best] >= cfg.min_iou else last


def follow_objects(fn: CvatTrackingFunction, cfg: TrackConfig, frames: list[DetectedFrame],
                   truth: Boxes) -> dict[str, Any]:
    """Every object of `truth` (frames 0..len(frames)-1) followed from its first box."""
    pooled = _Tally({m: 0 for m in METHODS})
    objects = []
    width, height = frames[0].width, frames[0].height
    # boxes as CVAT can show them: inside the image (MOT17 gt boxes reach past its border)
    truth = truth.replace(xyxy=np.clip(truth.xyxy, 0, [width, height, width, height]))
    truth = truth[(truth.xyxy[:, 2] > truth.xyxy[:, 0]) & (truth.xyxy[:, 3] > truth.xyxy[:, 1])]
    for track in np.unique(truth.track_id).tolist():
        rows = truth[truth.track_id == track]
        rows = rows[rows.frame < len(frames)]
        if not len(rows):
            continue
        f0, last = int(rows.frame[0]), int(rows.frame[-1])
        if last == f0:
            continue
        second = rows.for_frame(f0 + 1).xyxy[0] if len(rows.for_frame(f0 + 1)) else None
        one = _Tally({m: 0 for m in METHODS})
        for f, boxes in _methods(fn, cfg, frames, rows.xyxy[0], f0, second):
            if f > last:
                break
            want = rows.for_frame(f)
            if not len(want):
                continue
            one.scored += 1
            for m, box in boxes.items():
                one.followed[m] += int(box is not None
                                       and pair_iou(box[None], want.xyxy)[0] >= FOLLOWED_IOU)
        if one.followed["Kalman only"] != one.followed["constant box"]:
            raise AssertionError(f"object {track}: Kalman only differs from the constant box")
        pooled.scored += one.scored
        for m in METHODS:
            pooled.followed[m] += one.followed[m]
        objects.append({"object": int(track), "first_frame": f0, "last_frame": last,
                        "scored_frames": one.scored,
                        "followed": {m: one.followed[m] / max(one.scored, 1) for m in METHODS}})
    return {"objects": len(objects), "scored_frames": pooled.scored,
            "followed": {m: pooled.followed[m] / max(pooled.scored, 1) for m in METHODS},
            "per_object": objects}


def _decoded(path: Path) -> list[npt.NDArray[np.uint8]]:
    return [f for batch in decode_frames(path, DecodeConfig(batch_size=16, pixel_format="rgb24"))
            for f in batch.frames]


def demo_clip(tmp: Path, cfg: TrackConfig) -> dict[str, Any]:
    """The bundled demo clip, detections by the bundled model through preprocess_image."""
    import PIL.Image

    from trackannot.demo.run import DEMO_FPS, DEMO_HEIGHT, DEMO_WIDTH
    from trackannot.demo.synth import write_demo_clip

    clip = tmp / "demo.mp4"
    truth = write_demo_clip(clip, seed=7, seconds=10.0, fps=DEMO_FPS, width=DEMO_WIDTH,
                            height=DEMO_HEIGHT)
    model = create(kind="tracker")  # the bundled demo model
    frames = [model.preprocess_image(_Context(), PIL.Image.fromarray(rgb))
              for rgb in _decoded(clip)]
    result = follow_objects(CvatTrackingFunction(_NoDetector(), cfg), cfg, frames, truth)
    return {"data": "demo clip (seed 7, 150 frames, 640x360)",
            "detections": "bundled demo YOLO (preprocess_image)", "frames": len(frames), **result}


def gt_detections(gt: Boxes, visibility: npt.NDArray[np.float32], n_frames: int, width: int,
                  height: int, keep: float, jitter: float, false_per_frame: float,
                  seed: int) -> list[DetectedFrame]:
    """Per-frame detections derived from gt boxes with seeded noise (module docstring)."""
    rng = np.random.default_rng(seed)
    seen = gt[(visibility >= MIN_VISIBILITY) & (rng.random(len(gt)) < keep)]
    wh = seen.xyxy[:, 2:] - seen.xyxy[:, :2]
    centre = seen.xyxy[:, :2] + 0.5 * wh + rng.normal(0.0, jitter, wh.shape) * wh
    wh = wh * np.exp(rng.normal(0.0, jitter, wh.shape))
    xyxy = np.concatenate([centre - 0.5 * wh, centre + 0.5 * wh], axis=1)
    sizes = gt.xyxy[:, 2:] - gt.xyxy[:, :2]
    n_false = rng.poisson(false_per_frame, n_frames)
    false_frame = np.repeat(np.arange(n_frames), n_false)
    false_wh = sizes[rng.integers(0, len(sizes), len(false_frame))]
    false_xy = rng.random((len(false_frame), 2)) * (np.array([width, height]) - false_wh)
    boxes = Boxes.create(
        xyxy=np.concatenate([xyxy, np.concatenate([false_xy, false_xy + false_wh], axis=1)]),
        frame=np.concatenate([seen.frame, false_frame]),
        score=rng.uniform(0.5, 1.0, len(seen) + len(false_frame)), sort=True)
    boxes = boxes.replace(xyxy=np.clip(boxes.xyxy, 0, [width, height, width, height]))
    return [DetectedFrame(boxes.for_frame(f).replace(frame=np.zeros(len(boxes.for_frame(f)),
                                                                     np.int64)),
                          width, height) for f in range(n_frames)]


class _NoDetector(Detector):
    """Stands in for the model where the frames' detections are given (computed once by the
    demo model's preprocess_image, or derived from the MOT17 gt); it names no classes."""

    def detect(self, batch: Any) -> Boxes:
        raise RuntimeError("the detections of every frame are given")


def mot17(seed: int, cfg: TrackConfig) -> list[dict[str, Any]]:
    """The 8-frame clip and the whole sequence, at each noise level."""
    video = _decoded(MOT17_VIDEO)
    height, width = video[0].shape[:2]
    if (len(video), width, height) != (8, 1920, 1080):
        raise RuntimeError(f"{MOT17_VIDEO}: expected 8 frames of 1920x1080, got {len(video)} of "
                           f"{width}x{height}")
    gt, extra = read_mot_file(MOT17_GT, with_extra=True)
    keep = (extra["flag"] == 1) & (extra["class"] == PEDESTRIAN)
    gt, visibility = gt[keep], extra["visibility"][keep]
    n_frames = int(gt.frame.max()) + 1
    fn = CvatTrackingFunction(_NoDetector(), cfg)
    rows = []
    for name, (p_keep, jitter, false_per_frame) in NOISE.items():
        frames = gt_detections(gt, visibility, n_frames, width, height, p_keep, jitter,
                               false_per_frame, seed)
        for span, label in ((len(video), "MOT17-04 clip (8 frames)"),
                            (n_frames, f"MOT17-04 gt, all {n_frames} frames")):
            result = follow_objects(fn, cfg, frames[:span], gt[gt.frame < span])
            rows.append({"data": label, "detections": f"gt-derived, {name} (keep {p_keep}, "
                         f"jitter {jitter}, {false_per_frame} false/frame)", "frames": span,
                         "noise": {"keep": p_keep, "jitter": jitter,
                                   "false_per_frame": false_per_frame, "seed": seed},
                         **result})
    return rows


def _table(rows: list[dict[str, Any]]) -> str:
    head = "| data | detections | objects | scored frames | " + " | ".join(METHODS) + " |"
    lines = [head, "|---|---|---:|---:|" + "---:|" * len(METHODS)]
    for r in rows:
        shares = " | ".join(f"{100 * r['followed'][m]:.1f}%" for m in METHODS)
        lines.append(f"| {r['data']} | {r['detections']} | {r['objects']} | "
                     f"{r['scored_frames']:,} | {shares} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0, help="noise seed of the MOT17 detections")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="tracker setting for every row, e.g. "
                        "track.std_measurement=0.1 (as trackannot track --set)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    cfg = load_config(None, args.overrides).track
    os.environ.setdefault("YOLO_OFFLINE", "1")  # nothing is downloaded
    with tempfile.TemporaryDirectory() as tmp:
        rows = [demo_clip(Path(tmp), cfg), *mot17(args.seed, cfg)]
    print(_table(rows))
    doc = result_doc("benchmarks.bench_cvat_tracking", rows, followed_iou=FOLLOWED_IOU,
                     track_overrides=args.overrides)
    print(f"wrote {write_json(args.out, doc, final_newline=True)}")


if __name__ == "__main__":
    main()
