"""CVAT auto-annotation functions: trackannot's detector and Kalman tracker for cvat-sdk's agent.

cvat-sdk 2.80 (`cvat_sdk.auto_annotation`) defines the protocols; `cvat-cli function
create-native` registers a function with a CVAT server and `cvat-cli function run-agent` serves
it. Both import this module by name and, since it has a `create` factory, build the function
from the `-p NAME=TYPE:VALUE` parameters (`create` lists them)::

    cvat-cli --server-host https://cvat.example.com --auth ana function create-native \\
        "trackannot tracker" --function-module trackannot.integrations.cvat \\
        -p kind=str:tracker -p weights=str:/models/yolo11n.pt
    cvat-cli --server-host https://cvat.example.com --auth ana function run-agent 7 \\
        --function-module trackannot.integrations.cvat \\
        -p kind=str:tracker -p weights=str:/models/yolo11n.pt

* `CvatDetectionFunction` (kind "detector"): the configured detector (`make_detector`) on each
  image; rectangles labelled with the detector's class names, with their scores.
* `CvatTrackingFunction` (kind "tracker"): follows a rectangle a person drew through the next
  frames. Each `track` call is one frame step (`follow_step`): predict the box with the
  tracker's Kalman filter (`trackannot.track.kalman`), match a detection of the frame by IoU
  gating (the tracker's gates; one Hungarian assignment, `assign_tracks`, in which the frame's
  other objects compete for the detections), and update the filter on it; where no detection
  supports the box, report the prediction, for at most `TrackConfig.max_lost_frames` frames in
  a row. Measured in benchmarks/RESULTS.md ("CVAT tracking function").

How the agent calls them (cvat-cli 2.80, `agent_driver_tracking.py`): in one worker process it
calls `preprocess_image` once per image (for `track` even when a function lacks it, so ours
has it: the frame's detections), `init_tracking_state` per drawn shape and `track` per (state,
image), and keeps each state object in that process between calls, so `track` updates the state
it is given. CVAT passes no frame number: each `track` call is taken as the next frame.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from trackannot.boxes import Boxes
from trackannot.config import DetectConfig, TrackConfig, load_config
from trackannot.detect.base import Detector
from trackannot.errors import ConfigError, InputFormatError
from trackannot.frames import FrameBatch
from trackannot.kernels.iou import iou_matrix
from trackannot.track.assign import assign_tracks
from trackannot.track.kalman import (
    cxcywh_to_xyxy,
    initiate_state,
    predict_state,
    update_state,
)

try:
    import cvat_sdk.auto_annotation as cvataa
    from cvat_sdk import models
except ImportError as err:  # the optional extra is missing
    raise ImportError(
        "trackannot.integrations.cvat needs cvat-sdk 2.80: pip install 'trackannot[cvat]'"
    ) from err

if TYPE_CHECKING:
    import PIL.Image

__all__ = [
    "CLASS_MIN_IOU",
    "DEFAULT_CONF_THRESHOLD",
    "FUNCTION_KINDS",
    "OWN_MIN_IOU",
    "CvatDetectionFunction",
    "CvatTrackingFunction",
    "DetectedFrame",
    "FollowState",
    "TrackingState",
    "create",
    "detect_image",
    "follow_step",
    "start_following",
]

FUNCTION_KINDS = ("detector", "tracker")
# Detection results shown to a person when CVAT sends no threshold: ultralytics' own predict
# default. `DetectConfig.conf_floor` (0.05) is kept low for the tracker's second stage, far too
# many boxes to show.
DEFAULT_CONF_THRESHOLD = 0.25
_RECTANGLE = "rectangle"
# A drawn box takes the class of the confident detection it overlaps most only at this IoU or
# more (the usual "same object" threshold); see `start_following`.
CLASS_MIN_IOU = 0.5
# A detection overlapping the followed box this much is taken for the object itself, never for
# another object competing for the next frame's detections (`FollowState.others`).
OWN_MIN_IOU = 0.5


@dataclass(frozen=True, slots=True, eq=False)  # a generated __eq__ breaks on arrays
class DetectedFrame:
    """One image as the tracking function sees it (`preprocess_image`'s result).

    Attributes:
        boxes: the image's detections, frame 0, track_id -1.
        width: image width, pixels.
        height: image height, pixels.
    """

    boxes: Boxes
    width: int
    height: int


@dataclass(frozen=True, slots=True, eq=False)
class FollowState:
    """One drawn box being followed, after some frames.

    Attributes:
        x: (1, 8) float64 Kalman state [cx, cy, w, h, vcx, vcy, vw, vh], pixels and pixels per
            frame (`trackannot.kernels.kalman`).
        P: (1, 8, 8) float64 state covariance.
        class_id: class of the detection the drawn box matched; -1: none did, any class matches.
        width: width of the image the box was drawn on, pixels.
        height: height of that image, pixels.
        others: (k, 4) float32 xyxy, the previous frame's detections of other objects: every
            detection but the one that supported the box and those overlapping it at IoU >=
            `OWN_MIN_IOU` (duplicates of it); while the box is lost, every detection
            overlapping its prediction less than TrackConfig.min_iou (what could be its own
            detection stays out). They compete for this frame's detections (`follow_step`).
        lost_frames: frames in a row with no supporting detection.
        ended: more than the allowed lost frames went by; nothing is reported any more.
    """

    x: npt.NDArray[np.float64]
    P: npt.NDArray[np.float64]
    class_id: int
    width: int
    height: int
    others: npt.NDArray[np.float32]
    lost_frames: int = 0
    ended: bool = False


@dataclass(slots=True, eq=False)
class TrackingState:
    """What CVAT's agent keeps for one drawn shape between `track` calls.

    Mutable by design: the agent keeps the object `init_tracking_state` returned and passes it
    to every `track` call, which replaces `follow` with the state after the new frame.
    """

    follow: FollowState


def detect_image(detector: Detector, image: PIL.Image.Image) -> DetectedFrame:
    """Run `detector` on one PIL image (any mode; converted to RGB).

    Returns:
        The image's detections (frame 0) and its size.
    """
    rgb = np.asarray(image.convert("RGB"), dtype=np.uint8)
    batch = FrameBatch(frames=rgb[None], index=np.zeros(1, np.int64),
                       time_s=np.zeros(1, np.float64))
    height, width = rgb.shape[:2]
    return DetectedFrame(boxes=detector.detect(batch), width=int(width), height=int(height))


def start_following(xyxy: npt.ArrayLike, frame: DetectedFrame, cfg: TrackConfig) -> FollowState:
    """The state of a box a person drew on `frame`.

    The drawn box starts the Kalman filter (zero velocity, as a new track). Its class is the
    class of the confident detection (score >= cfg.high_score) that overlaps it most, if that
    one reaches `CLASS_MIN_IOU`; later frames then match only detections of that class. Without
    one, any class matches: a weak detection's class is often wrong (objects entering the
    image), and a wrong class would lose the box at once.

    Args:
        xyxy: (4,) the drawn box, pixels.
        frame: the image it was drawn on, with its detections.
        cfg: the tracker's settings (noise levels, gates).

    Raises:
        InputFormatError: the box is not 4 finite numbers with x2 > x1 and y2 > y1.
    """
    box = np.asarray(xyxy, dtype=np.float64).reshape(-1)
    if box.shape != (4,) or not np.isfinite(box).all() or box[2] <= box[0] or box[3] <= box[1]:
        raise InputFormatError(
            f"a drawn rectangle must be 4 finite numbers x1, y1, x2, y2 with x2 > x1 and "
            f"y2 > y1; got {np.asarray(xyxy).tolist()!r}")
    x, P = initiate_state(box[None], cfg.std_position, cfg.std_velocity)
    drawn = box[None].astype(np.float32)
    class_id = -1
    strong = frame.boxes[frame.boxes.score >= cfg.high_score]
    if len(strong):
        iou = iou_matrix(drawn, strong.xyxy)[0]
        best = int(np.argmax(iou))
        if iou[best] >= CLASS_MIN_IOU:
            class_id = int(strong.class_id[best])
    candidates = frame.boxes[frame.boxes.score >= cfg.low_score]
    return FollowState(x=x, P=P, class_id=class_id, width=frame.width, height=frame.height,
                       others=_others(drawn, candidates.xyxy, -1, OWN_MIN_IOU))


def follow_step(state: FollowState, frame: DetectedFrame | None, cfg: TrackConfig,
                ) -> tuple[FollowState, npt.NDArray[np.float32] | None]:
    """Follow a box one frame on: predict, match a supporting detection, update.

    Matching follows the tracker's gates (`trackannot.kernels.track_step`): a detection
    scoring >= high_score may support the box at IoU >= min_iou with the prediction; one in
    [low_score, high_score) only at IoU >= min_iou_low, and only if the box was supported in the
    previous frame. The box does not pick its detection alone: the frame's other objects (the
    previous frame's other detections, `FollowState.others`) compete for the detections in one
    Hungarian assignment (`assign_tracks`, IoU times score when fuse_score), as the tracks of
    the multi-object tracker do. Without that, a box whose own detection is missing for a frame
    jumps onto a neighbour overlapping it at IoU 0.3, common in crowds. A matched detection
    updates the filter; otherwise the prediction stands, its size frozen (the tracker's rule
    for lost tracks). After more than `cfg.max_lost_frames` unsupported frames in a row the
    state ends and reports nothing more: a constant-velocity guess that long is more likely
    wrong than right.

    Args:
        state: the state after the previous frame.
        frame: this frame's detections; None runs the prediction alone.
        cfg: the tracker's settings.

    Returns:
        (new state, box): box is (4,) float32 xyxy clipped to the image, or None when the state
        has ended or the box lies wholly outside the image.
    """
    if state.ended:
        return state, None
    x = state.x
    if state.lost_frames:
        # a box that is not seen must not grow or shrink without bound (the tracker's rule,
        # `trackannot.kernels.track_step`): its size stops changing while it is lost
        x = x.copy()
        x[:, 6:8] = 0.0
    x, P = predict_state(x, state.P, cfg.std_position, cfg.std_velocity)
    predicted = cxcywh_to_xyxy(x)
    candidates = Boxes.empty() if frame is None else \
        frame.boxes[frame.boxes.score >= cfg.low_score]
    match = _supporting_detection(predicted, candidates, state, cfg)
    if match >= 0:
        x, P = update_state(x, P, candidates.xyxy[match][None], cfg.std_measurement)
        lost = 0
    else:
        lost = state.lost_frames + 1
    # while the box is lost, whatever could be its own detection stays out of the competition
    others = _others(predicted, candidates.xyxy, match,
                     OWN_MIN_IOU if match >= 0 else cfg.min_iou)
    ended = lost > cfg.max_lost_frames
    new = replace(state, x=x, P=P, others=others, lost_frames=lost, ended=ended)
    if ended:
        return new, None
    box = cxcywh_to_xyxy(x)[0]
    clipped = np.clip(box, 0.0, [state.width, state.height, state.width, state.height])
    if clipped[2] <= clipped[0] or clipped[3] <= clipped[1]:
        return new, None
    return new, clipped.astype(np.float32)


def _supporting_detection(predicted: npt.NDArray[np.float32], candidates: Boxes,
                          state: FollowState, cfg: TrackConfig) -> int:
    """Row of `candidates` that supports the (1, 4) predicted box, or -1 (see `follow_step`)."""
    if not len(candidates):
        return -1
    rows = np.concatenate([predicted, state.others])
    iou = iou_matrix(rows, candidates.xyxy)
    weak = candidates.score < cfg.high_score
    # weak detections need the stricter gate, and continue only a box seen in the last frame
    iou[:, weak] = np.where(iou[:, weak] >= cfg.min_iou_low, iou[:, weak], 0.0)
    if state.lost_frames:
        iou[0, weak] = 0.0
    if state.class_id >= 0:
        iou[0, candidates.class_id != state.class_id] = 0.0
    found = assign_tracks(iou, cfg.min_iou, candidates.score if cfg.fuse_score else None)
    ours = np.flatnonzero(found.rows == 0)
    return int(found.cols[ours[0]]) if len(ours) else -1


def _others(own_xyxy: npt.NDArray[np.float32], xyxy: npt.NDArray[np.float32],
            own_row: int, own_iou: float) -> npt.NDArray[np.float32]:
    """Detections `xyxy` less row `own_row` and those overlapping `own_xyxy` (1, 4) at IoU >=
    `own_iou`: the other objects of the frame (`FollowState.others`)."""
    keep = iou_matrix(own_xyxy, xyxy)[0] < own_iou
    if own_row >= 0:
        keep[own_row] = False
    return np.ascontiguousarray(xyxy[keep], dtype=np.float32)


class CvatDetectionFunction:
    """A cvat-sdk `DetectionFunction`: trackannot's detector on each image CVAT sends.

    Attributes:
        spec: one rectangle label per detector class, label id = class id, named by the
            detector (CVAT matches them to a task's labels by name).

    Example:
        >>> fn = CvatDetectionFunction(make_detector(DetectConfig()))  # doctest: +SKIP
        >>> shapes = fn.detect(context, PIL.Image.open("frame.jpg"))  # doctest: +SKIP
    """

    def __init__(self, detector: Detector,
                 default_conf_threshold: float = DEFAULT_CONF_THRESHOLD) -> None:
        if not 0.0 <= default_conf_threshold <= 1.0:
            raise ConfigError(f"default_conf_threshold should be a number in [0, 1]. The "
                              f"selected value is {default_conf_threshold!r}.")
        self._detector = detector
        self._default_conf = float(default_conf_threshold)
        self.spec = cvataa.DetectionFunctionSpec(labels=[
            cvataa.label_spec(name, int(class_id), type=_RECTANGLE)
            for class_id, name in sorted(detector.names.items())
        ])

    def detect(self, context: cvataa.DetectionFunctionContext,
               image: PIL.Image.Image) -> list[models.LabeledShapeRequest]:
        """Rectangles (xyxy pixels, clipped to the image) scoring >= context.conf_threshold
        (`DEFAULT_CONF_THRESHOLD` when CVAT sends none), label id = class id, with `score`."""
        threshold = self._default_conf if context.conf_threshold is None \
            else float(context.conf_threshold)
        frame = detect_image(self._detector, image)
        boxes = frame.boxes[frame.boxes.score >= threshold]
        limit = [frame.width, frame.height, frame.width, frame.height]
        xyxy = np.clip(boxes.xyxy.astype(np.float64), 0.0, limit)
        return [
            cvataa.rectangle(int(c), [float(v) for v in box], score=float(s))
            for box, s, c in zip(xyxy, boxes.score.tolist(), boxes.class_id.tolist())
            if box[2] > box[0] and box[3] > box[1]
        ]


class CvatTrackingFunction:
    """A cvat-sdk `TrackingFunction`: follows drawn rectangles through detections (Kalman + IoU).

    Attributes:
        spec: tracks "rectangle" shapes.

    Example:
        >>> fn = CvatTrackingFunction(make_detector(DetectConfig()), TrackConfig())  # doctest: +SKIP
        >>> frame = fn.preprocess_image(context, image0)  # doctest: +SKIP
        >>> state = fn.init_tracking_state(context, frame, drawn)  # doctest: +SKIP
        >>> fn.track(context, fn.preprocess_image(context, image1), state)  # doctest: +SKIP
    """

    spec = cvataa.TrackingFunctionSpec(supported_shape_types={_RECTANGLE})

    def __init__(self, detector: Detector, cfg: TrackConfig) -> None:
        self._detector = detector
        self._cfg = cfg

    def preprocess_image(self, context: cvataa.TrackingFunctionContext,
                         image: PIL.Image.Image) -> DetectedFrame:
        """The image's detections, shared by every shape tracked on it."""
        return detect_image(self._detector, image)

    def init_tracking_state(self, context: cvataa.TrackingFunctionShapeContext,
                            pp_image: DetectedFrame,
                            shape: cvataa.TrackableShape) -> TrackingState:
        """Start following `shape` (a rectangle, points [x1, y1, x2, y2]) from this image.

        Raises:
            InputFormatError: not a rectangle, or not 4 finite points with x2 > x1, y2 > y1.
        """
        if shape.type != _RECTANGLE:
            raise InputFormatError(
                f"the trackannot tracker follows rectangles; got a {shape.type!r} shape")
        return TrackingState(start_following(shape.points, pp_image, self._cfg))

    def track(self, context: cvataa.TrackingFunctionShapeContext, pp_image: DetectedFrame,
              state: TrackingState) -> cvataa.TrackableShape | None:
        """The shape on the next image (`follow_step`), or None once it is lost or gone."""
        state.follow, box = follow_step(state.follow, pp_image, self._cfg)
        if box is None:
            return None
        return cvataa.TrackableShape(type=_RECTANGLE, points=[float(v) for v in box])


def create(kind: str = "detector", config: str | None = None, weights: str | None = None,
           device: str | None = None, imgsz: int | None = None,
           ) -> CvatDetectionFunction | CvatTrackingFunction:
    """The function cvat-cli loads (`--function-module trackannot.integrations.cvat -p ...`).

    Args:
        kind: "detector" or "tracker" (`FUNCTION_KINDS`).
        config: a trackannot YAML config (`configs/default.yaml` keys); its detect and track
            sections are used.
        weights: YOLO weights (a local file or an ultralytics name); overrides the config. With
            neither, the bundled demo model, which knows only the demo's synthetic shapes.
        device: "auto", "cpu", "cuda", "cuda:1", ...; overrides the config.
        imgsz: inference size in pixels; overrides the config. Default for the bundled demo
            model: the size it was trained at (`trackannot.demo.DEMO_IMGSZ`).

    Raises:
        ConfigError: an unknown kind, a bad config file or value.
        WeightsNotFoundError: the weights cannot be found (offline, nothing is downloaded).
    """
    from trackannot.demo import DEMO_IMGSZ
    from trackannot.detect import make_detector

    if kind not in FUNCTION_KINDS:
        raise ConfigError(f"kind should be one of {FUNCTION_KINDS} (cvat-cli: -p kind=str:tracker)."
                          f" The selected value is {kind!r}.")
    cfg = load_config(config)
    detect: DetectConfig = cfg.detect
    changes: dict[str, object] = {}
    if weights is not None:
        changes["weights"] = weights
    if device is not None:
        changes["device"] = device
    if imgsz is not None:
        changes["imgsz"] = int(imgsz)
    elif detect.weights is None and weights is None:
        changes["imgsz"] = DEMO_IMGSZ
    # without a detections file make_detector gives a YOLO detector, which names its classes
    detector = make_detector(replace(detect, **changes))
    if kind == "detector":
        return CvatDetectionFunction(detector)
    return CvatTrackingFunction(detector, cfg.track)
