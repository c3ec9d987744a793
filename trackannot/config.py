"""Configuration: one frozen dataclass per stage, composed into `PipelineConfig`, loaded from YAML.

The dataclass defaults are the defaults; `configs/default.yaml` spells every one of them out with
its trade-off (a test keeps the two equal). `load_config` rejects unknown keys, naming the file, the
key path and the keys allowed; each `__post_init__` checks ranges and quotes the value it got.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence, get_args, get_origin, get_type_hints

import yaml

from trackannot.errors import ConfigError

# Seconds a writer waits for another to finish before it is refused (`trackannot.store`'s writer
# locks). Long enough for a queue of correction batches (each takes well under a second) and
# short enough that a command started beside a tracking run of an hour says so at once.
DEFAULT_LOCK_TIMEOUT_S = 60.0

__all__ = [
    "DecodeConfig",
    "DetectConfig",
    "InterpolateConfig",
    "PipelineConfig",
    "PropagateConfig",
    "RayConfig",
    "ReviewConfig",
    "StoreConfig",
    "TrackConfig",
    "config_to_dict",
    "load_config",
]


# Decode memory bounds (`DecodeConfig`): past these a setting only costs memory.
_MAX_BATCH_FRAMES = 1024
_MAX_PREFETCH_BATCHES = 64
_MAX_DECODE_THREADS = 64
_MAX_FRAMES_IN_FLIGHT = 4096


def _check(ok: bool, key: str, expected: str, value: Any) -> None:
    if not ok:
        raise ConfigError(f"{key} should be {expected}. The selected value is {value!r}.")


@dataclass(frozen=True, kw_only=True)
class DecodeConfig:
    """Streaming PyAV decoding.

    fps: target sampling rate in frames per second; null keeps every frame. Frames are chosen by
        timestamp, so a 30 fps source at fps=10 keeps every third frame, also for variable frame
        rate. Lower: less work downstream, coarser tracks.
    batch_size: frames per `FrameBatch`, 1 to 1024. Larger batches keep the detector busier but
        cost memory (batch_size x height x width x 3 bytes each in RGB, half that in YUV: 6 MB
        a 1080p RGB frame, so 1024 frames are 6.4 GB).
    threads: decoder threads, 0 to 64; 0 lets FFmpeg choose (one per core).
    prefetch_batches: decoded batches waiting in the queue while the next stage works, 1 to 64.
        More hides decode hiccups at the cost of memory. A video holds up to
        (prefetch_batches + 2) x batch_size frames at once, at most 4096 (25 GB of 1080p RGB).
    hwaccel: "auto" decodes on the GPU (NVDEC through FFmpeg's CUDA hwaccel in PyAV) when torch
        sees a CUDA device, falling back to the CPU if the hardware decoder cannot start or
        does not handle the codec; "cuda" requires it (an error names why it cannot start);
        "none" (the default) always decodes on the CPU. The frames are the same either way:
        H.264/HEVC decoding is exact and the RGB conversion runs on the CPU after the download.
        The default stays "none" until the GPU path has been measured on a GPU machine (none
        was lent while it was written; its test runs the CPU side and the error path).
    pixel_format: what batches hold. "yuv420p": the decoder's YUV planes, half the bytes of RGB
        and no colour conversion on the CPU (which costs about as much as decoding: 1080p H.264
        decodes about 2.5x faster to YUV than to RGB here); the detector converts, on the GPU
        when it prepares batches there. "rgb24": RGB converted by FFmpeg on the CPU. "auto":
        what the detector takes without a CPU conversion (yuv420p for the on-device YOLO path
        and for a detections file, rgb24 for ultralytics' predict). Boxes agree between the two
        to within the rounding of the colour conversion.
    """

    fps: float | None = None
    batch_size: int = 16
    threads: int = 0
    prefetch_batches: int = 4
    hwaccel: str = "none"
    pixel_format: str = "auto"

    def __post_init__(self) -> None:
        _check(
            self.fps is None or (math.isfinite(self.fps) and self.fps > 0),
            "decode.fps",
            "null or a number > 0",
            self.fps,
        )
        _check(1 <= self.batch_size <= _MAX_BATCH_FRAMES, "decode.batch_size",
               f"an int from 1 to {_MAX_BATCH_FRAMES} (each frame of a batch is held in memory: "
               "6 MB at 1080p in RGB)", self.batch_size)
        _check(0 <= self.threads <= _MAX_DECODE_THREADS, "decode.threads",
               f"an int from 0 to {_MAX_DECODE_THREADS} (0 lets FFmpeg choose)", self.threads)
        _check(1 <= self.prefetch_batches <= _MAX_PREFETCH_BATCHES, "decode.prefetch_batches",
               f"an int from 1 to {_MAX_PREFETCH_BATCHES}", self.prefetch_batches)
        in_flight = (self.prefetch_batches + 2) * self.batch_size
        _check(in_flight <= _MAX_FRAMES_IN_FLIGHT,
               "decode.batch_size x (decode.prefetch_batches + 2)",
               f"at most {_MAX_FRAMES_IN_FLIGHT}, the frames a video holds at once (4096 1080p "
               "RGB frames are 25 GB): lower decode.batch_size or decode.prefetch_batches",
               in_flight)
        _check(self.hwaccel in ("auto", "cuda", "none"), "decode.hwaccel",
               "'auto', 'cuda' or 'none'", self.hwaccel)
        _check(self.pixel_format in ("auto", "rgb24", "yuv420p"), "decode.pixel_format",
               "'auto', 'rgb24' or 'yuv420p'", self.pixel_format)


@dataclass(frozen=True, kw_only=True)
class DetectConfig:
    """Per-frame detection (ultralytics YOLO or a detections file).

    weights: YOLO weights file or ultralytics model name; null uses the bundled demo model.
    device: "auto" (CUDA when present, else CPU), "cpu", "cuda", "cuda:1", ...
    half: half precision on CUDA (ignored on CPU). About twice the throughput, same boxes to
        within rounding.
    imgsz: inference size in pixels (longest side, multiple of 32).
    conf_floor: detections below this score are dropped. Kept low so the tracker also sees weak
        detections for its second association stage; raise it to save tracker time.
    nms_iou: IoU threshold of the detector's non-maximum suppression.
    classes: class ids to keep; null keeps all.
    max_det: at most this many detections per frame.
    file_scale: scale applied to boxes read from a detections file; null derives it from the
        seqinfo.ini beside the file (imWidth against the video width), else 1.0.
    preprocess: where frames are letterboxed and normalised. "device": the whole batch on the
        model's device in one copy (`trackannot.detect.device`; the GPU path, no per-image CPU
        work); "ultralytics": ultralytics' predict, per image on the CPU; "auto": device on
        CUDA, ultralytics on the CPU (where OpenCV's uint8 resize is the faster one). Same
        boxes to within the two resize kernels.
    """

    weights: str | None = None
    device: str = "auto"
    half: bool = True
    imgsz: int = 640
    conf_floor: float = 0.05
    nms_iou: float = 0.7
    classes: tuple[int, ...] | None = None
    max_det: int = 300
    file_scale: float | None = None
    preprocess: str = "auto"

    def __post_init__(self) -> None:
        _check(0.0 <= self.conf_floor <= 1.0, "detect.conf_floor", "a number in [0, 1]",
               self.conf_floor)
        _check(0.0 < self.nms_iou <= 1.0, "detect.nms_iou", "a number in (0, 1]", self.nms_iou)
        _check(self.imgsz >= 32 and self.imgsz % 32 == 0, "detect.imgsz",
               "an int >= 32 and a multiple of 32", self.imgsz)
        _check(self.max_det >= 1, "detect.max_det", "an int >= 1", self.max_det)
        _check(self.preprocess in ("auto", "device", "ultralytics"), "detect.preprocess",
               "'auto', 'device' or 'ultralytics'", self.preprocess)
        _check(self.file_scale is None or self.file_scale > 0, "detect.file_scale",
               "null or a number > 0", self.file_scale)
        if self.classes is not None:
            object.__setattr__(self, "classes", tuple(int(c) for c in self.classes))


@dataclass(frozen=True, kw_only=True)
class TrackConfig:
    """Kalman prediction + two-stage Hungarian assignment (ByteTrack-style).

    high_score: detections at or above this score enter the first association stage. Lower: more
        detections matched early, more false positives continuing tracks.
    low_score: detections in [low_score, high_score) enter only the second stage, to keep
        tracks alive through occlusion. Lower: fewer broken tracks, more wrong continuations.
    new_track_score: unmatched detections at or above this score start a new track. Higher: fewer
        false tracks, later starts.
    min_iou: first-stage pairs below this IoU never match. Higher: fewer wrong links, more broken
        tracks.
    min_iou_low: second-stage pairs below this IoU never match (low-score detections need more
        overlap to be trusted).
    min_iou_tentative: pairs of tentative tracks and leftover detections below this IoU never
        match.
    fuse_score: multiply IoU by detection score in the first stage cost, as ByteTrack does on
        MOT. Favours confident detections when two compete for a track.
    min_hits: consecutive matched frames before a tentative track is confirmed (and reported).
        Higher: fewer tracks from flickering false positives, later starts. `Tracker.update` drops
        a track's first min_hits - 1 frames; `track_detections` (offline) reports them once the
        track is confirmed, and so does the pipeline, which stores each frame min_hits - 1
        processed frames late (`LaggedTracker`) so that what it stores is what is measured.
    max_lost_frames: processed frames a lost track waits for a detection before it is removed.
        Higher: identities survive longer occlusions, more chance of wrong re-links.
    report_predicted: also output lost tracks' Kalman predictions (origin PREDICTED) for up to
        this many frames; 0 reports detected boxes only. Fills short gaps at the cost of some
        misplaced boxes.
    std_position: Kalman process noise of the box centre and size, as a fraction of the box
        width (x, width) or height (y, height), per frame. The filter's state is centre, width,
        height and their velocities (`trackannot.kernels.kalman`); all noises scale with the box,
        as in DeepSORT/BoT-SORT. Only the ratios std_velocity/std_position and
        std_measurement/std_position change the tracks; std_position sets the scale of `pos_std`.
    std_velocity: process noise of the velocities, same units per frame. Higher: the filter
        follows accelerating or turning objects sooner, and extrapolates less steadily through
        occlusions.
    std_measurement: detection noise, as a fraction of the box side. Higher: smoother reported
        boxes (less detector jitter) that lag behind fast motion; lower: boxes closer to the raw
        detections. Tuned on MOT15 (jittery pedestrian boxes) and KITTI Car (exact boxes, fast
        apparent motion at 10 fps): 0.7 x std_position suits both.
    recover_distance: 0 (off) or > 0: a last association stage re-links a lost confirmed track
        to a leftover detection that would otherwise start a new track, when their centres are
        within this many box sides (the larger side of the two boxes), the detection lies ahead
        of the track's prediction along its motion, their sizes agree within 2x, and the pair
        is unambiguous (the detection near no other confirmed track, the track near no other
        such detection). For objects that pass fully behind something and are detected by
        their visible part: the box shrinks on the way in and reappears on the far side, where
        the prediction does not overlap it, so IoU cannot re-link them (the demo clip's
        occluder). Off by default: at 1.0 it costs 0.4 HOTA points on MOT15 (crowds of
        pedestrians with amodal boxes); the demo sets 1.0 (benchmarks/RESULTS.md, issue 15).

    The defaults were tuned jointly on the 10 MOT15 train sequences with gt (SORT's Faster R-CNN
    detections) and KITTI tracking Car 0000-0013 (PointRCNN), by coordinate search over round
    values, maximising the worse of the two datasets' HOTA; no per-sequence settings.
    """

    high_score: float = 0.6
    low_score: float = 0.1
    new_track_score: float = 0.8
    min_iou: float = 0.25
    min_iou_low: float = 0.7
    min_iou_tentative: float = 0.2
    fuse_score: bool = True
    min_hits: int = 4
    max_lost_frames: int = 20
    report_predicted: int = 0
    std_position: float = 1.0 / 20.0
    std_velocity: float = 0.009
    std_measurement: float = 0.035
    recover_distance: float = 0.0

    def __post_init__(self) -> None:
        for name in ("high_score", "low_score", "new_track_score", "min_iou", "min_iou_low",
                     "min_iou_tentative"):
            value = getattr(self, name)
            _check(0.0 <= value <= 1.0, f"track.{name}", "a number in [0, 1]", value)
        _check(self.low_score <= self.high_score, "track.low_score",
               f"<= track.high_score (= {self.high_score})", self.low_score)
        _check(self.min_hits >= 1, "track.min_hits", "an int >= 1", self.min_hits)
        _check(self.max_lost_frames >= 0, "track.max_lost_frames", "an int >= 0",
               self.max_lost_frames)
        _check(0 <= self.report_predicted <= self.max_lost_frames, "track.report_predicted",
               f"an int between 0 and (max_lost_frames = {self.max_lost_frames})",
               self.report_predicted)
        _check(self.std_position > 0, "track.std_position", "a number > 0", self.std_position)
        _check(self.std_velocity > 0, "track.std_velocity", "a number > 0", self.std_velocity)
        _check(self.std_measurement > 0, "track.std_measurement", "a number > 0",
               self.std_measurement)
        _check(self.recover_distance >= 0, "track.recover_distance", "a number >= 0",
               self.recover_distance)


@dataclass(frozen=True, kw_only=True)
class PropagateConfig:
    """Carrying a person's edit along the object (`trackannot.propagate`).

    When a person draws a box the tracker did not have (create), moves a box off the track's own
    (adjust, IoU < `InterpolateConfig.follow_iou`), or splits a track, a Kalman filter seeded
    from that box steps frame by frame through the stored detections, forward from the track's
    last keyframe (or the piece a split cut) and backward from its first, until it meets the
    track's own automatic path again, another track's evidence, a video gap or scene cut, or
    the end of the evidence. The boxes it gives (origin PROPAGATED) are derived when read, like
    interpolation, so replaying the log gives them again.

    enabled: false: edits stay where the person put them (one box per keyframe, as before).
    gate_iou: a detection continues the run only at IoU >= this with the filter's prediction.
        Higher: fewer wrong objects followed, fast or small objects lost sooner.
    motion_gate: ... and only within this many standard deviations of the prediction (the
        filter's innovation, centre and size). Higher: sudden moves followed, more wrong picks.
    max_gap: processed frames without a gated detection before the run ends (evidence end);
        the coasted frames after the last detection are not emitted. Higher: runs bridge longer
        occlusions, and more often pick up another object after one.
    max_frames: a run reads at most this many frames past its seed and ends there (an open
        end, as at the end of the evidence). Bounds the frames an edit reads and recomputes.
    rejoin_frames: the run hands over to the track's own automatic boxes once it agrees with
        them (IoU >= rejoin_iou) this many frames in a row.
    rejoin_iou: agreement with the track's own automatic box, for rejoin_frames.
    claim_iou: a detection (or box) at IoU >= this with another track's automatic box or human
        keyframe at its frame is that track's evidence: the run stops there (conflict).
        Higher: runs go on next to other tracks' objects; lower: they stop sooner in crowds.
    min_score: detections below this score are not used. 0 uses every stored detection, also
        the weak ones below the tracker's track-start and low scores (`detect.conf_floor` is
        the floor of what is stored). Higher: fewer false detections followed, shorter runs.
    bridge_frames: a run that ends for lack of evidence at most this many frames before the
        track's own automatic boxes (a person's box beyond the end of its track, or in a hole
        in it) is joined to them by a straight line, unless a video gap, a scene cut or
        another track's box lies between (`trackannot.propagate.bridge`): both ends are the
        object. 0: off (the run ends there and leaves an open end). Default 30 (3 s at 10 fps,
        set before measuring): effort benchmark, KITTI Car, reviewer checking risk >= 0.8, 95%
        box accuracy 0.98 -> 0.95 s/frame (both held-out halves better), MOT15 level
        (benchmarks/RESULTS.md, issue 13, "Holes in a track").

    gate_iou, motion_gate and max_gap were chosen on half of the benchmark sequences (MOT15
    train 0, 2, ..., KITTI Car 0000, 0002, ...: one created box per missed gt run) among 0.3 /
    0.4 / 0.5, 3 / 4 and 3 / 5 / 10, trading recovered boxes against wrong ones
    (`python -m benchmarks.bench_propagation`; benchmarks/RESULTS.md, "Issue 13: propagation").
    """

    enabled: bool = True
    gate_iou: float = 0.4
    motion_gate: float = 3.0
    max_gap: int = 5
    max_frames: int = 1000
    rejoin_frames: int = 3
    rejoin_iou: float = 0.5
    claim_iou: float = 0.5
    min_score: float = 0.0
    bridge_frames: int = 30

    def __post_init__(self) -> None:
        for name in ("gate_iou", "rejoin_iou", "claim_iou", "min_score"):
            value = getattr(self, name)
            _check(0.0 <= value <= 1.0, f"interpolate.propagate.{name}", "a number in [0, 1]",
                   value)
        _check(math.isfinite(self.motion_gate) and self.motion_gate > 0,
               "interpolate.propagate.motion_gate", "a number of standard deviations > 0",
               self.motion_gate)
        _check(self.max_gap >= 0, "interpolate.propagate.max_gap", "an int >= 0", self.max_gap)
        _check(1 <= self.max_frames <= 100_000, "interpolate.propagate.max_frames",
               "an int from 1 to 100000", self.max_frames)
        _check(self.rejoin_frames >= 1, "interpolate.propagate.rejoin_frames", "an int >= 1",
               self.rejoin_frames)
        _check(0 <= self.bridge_frames <= 100_000, "interpolate.propagate.bridge_frames",
               "an int from 0 (off) to 100000", self.bridge_frames)


@dataclass(frozen=True, kw_only=True)
class InterpolateConfig:
    """Boxes between human keyframes: straight lines, or guided by the detector.

    Guided interpolation (`trackannot.kernels.guided`) keeps every keyframe exactly and emits the
    rows of linear interpolation; between two present keyframes it follows the detections that
    agree with both, and keeps the line where none do.

    method: "guided" or "linear" (CVAT's and Label Studio's straight lines; also used when no
        detections are given).
    min_score: detections below this score are not followed. Higher: fewer false boxes pull the
        path, more frames left on the line.
    gate_iou: a forward/backward pass takes a detection only at IoU >= this with its predicted
        box. Higher: fewer wrong objects followed, fast or turning objects lost sooner.
    anchor_iou: a keyframe counts as seen by the detector when a detection at its frame overlaps
        it at IoU >= this; that detection also measures the detector's bias for the segment.
        Higher: only segments of well-detected objects are guided (the rest stay linear).
    min_anchors: keyframes of a segment (0, 1 or 2) that must be seen by the detector for it to
        be guided. Higher: safer on poorly detected objects, fewer segments improved.
    bias: share of the measured detector-vs-human offset removed from the detections (0: none,
        1: all). An offset measured on one detection also carries that detection's own noise.
    end_iou: a pass's detections are used where the other pass took none only if the pass ends
        at IoU >= this with the other keyframe (it followed this object all the way). Higher:
        safer next to crossing objects, fewer detections used.
    std_accel: process noise of the box centre, acceleration std per frame as a fraction of the
        box side. Higher: the path bends toward the detections sooner (follows turns, and
        detector jitter).
    std_accel_size: the same for width and height.
    std_measurement: detection noise of the box centre, fraction of the box side. Higher:
        smoother paths that stay nearer the line.
    std_measurement_size: detection noise of width and height, fraction of the box side.
    std_velocity_init: uncertainty of the passes' starting velocity (the line's), fraction of
        the box side per frame. Higher: the passes follow sharp turns near the keyframes, and
        are easier to lure away.
    deadband: departures from the line up to this fraction of the box side are dropped. Higher:
        fewer boxes moved by detector wander, small real deviations ignored.
    smooth_seconds: the automatic boxes (outside keyframe segments) are smoothed over about this
        many seconds (a Kalman forward-backward smoother, `trackannot.smooth`) when the current
        annotation is derived; 0 keeps them as tracked. Smoothing removes the detector's frame to
        frame jitter: on MOT15 and KITTI, 0.1 s raised HOTA (+1.4 and +0.7 points) and cut the
        sparse keyframes exports need at IoU 0.9 from 71% to 19% of boxes (KITTI 43% to 29%).
        Higher: steadier boxes that lag sudden motion.
    follow_iou: between two present keyframes of a track that has automatic boxes, when each
        keyframe overlaps the track's automatic box at its frame at IoU >= this, the segment keeps
        the automatic path shifted by the keyframes' corrections (blended linearly across the
        segment) instead of being re-interpolated: confirming a track at two frames must not
        undo what the tracker got right between them (on KITTI a turning car's tracked boxes
        kept IoU 0.9 with ground truth where the line between two accepted keyframes fell to
        0.18). 1.0 turns it off (only unchanged keyframes follow); lower: keyframes that moved
        the box more still follow the track. It also decides which edits propagate: a first or
        last keyframe below this IoU with the track's automatic box (or with none) is carried
        along the object (`propagate`).
    disagree_frames: a keyframe that disagrees with its track's automatic box (IoU below
        follow_iou, or no box there) next to one that agrees (or an outside mark) changes the
        automatic boxes between them only near itself, so that fixing one box does not move
        right boxes far from it: a run carried from it toward the other keyframe through the
        detections (`propagate`) replaces the automatic boxes until it rejoins them; if it does
        not rejoin them, next to its end (or the keyframe, without a run) the automatic boxes blend
        into the interpolation between the two keyframes over this many frames; the others keep
        the automatic path with the other keyframe's correction; segments no longer than twice
        this are interpolated whole (`trackannot.interpolate.follow_track`). Higher: more of a
        wrong track's boxes next to a correction replaced, and more right ones. With 10 (so
        segments over 20 frames), replaying the same corrections (the review queue worked
        through, frames order; two logs) gave 0.3-0.4 points more box accuracy on KITTI Car
        and 0.0-0.1 more on MOT15; without the short-segment limit MOT15 lost 0.3-0.5 points
        (benchmarks/RESULTS.md, issue 13's effort section).
    propagate: carrying edits along the object (`PropagateConfig`). Part of the interpolation
        settings a store records, so a replayed log propagates exactly as when it was written.

    Defaults were tuned by random and coordinate search on half of the benchmark sequences
    (MOT15 train sequences 0, 2, 4, 6, 8 and KITTI Car 0000, 0002, ..., 0012, keyframes every
    1 s and 3 s), keeping KITTI's share of boxes below IoU 0.7 at most 0.45 x linear's and
    MOT15's no worse than linear's (`python -m benchmarks.bench_interpolation`).
    """

    method: str = "guided"
    min_score: float = 0.0
    gate_iou: float = 0.4
    anchor_iou: float = 0.8
    min_anchors: int = 1
    bias: float = 0.5
    end_iou: float = 0.3
    std_accel: float = 0.03
    std_accel_size: float = 0.1
    std_measurement: float = 0.03
    std_measurement_size: float = 0.1
    std_velocity_init: float = 0.05
    deadband: float = 0.03
    smooth_seconds: float = 0.1
    follow_iou: float = 0.5
    disagree_frames: int = 10
    propagate: PropagateConfig = field(default_factory=PropagateConfig)

    def __post_init__(self) -> None:
        _check(self.method in ("guided", "linear"), "interpolate.method",
               "'guided' or 'linear'", self.method)
        for name in ("min_score", "gate_iou", "anchor_iou", "bias", "end_iou", "follow_iou"):
            value = getattr(self, name)
            _check(0.0 <= value <= 1.0, f"interpolate.{name}", "a number in [0, 1]", value)
        _check(self.min_anchors in (0, 1, 2), "interpolate.min_anchors", "0, 1 or 2",
               self.min_anchors)
        for name in ("std_accel", "std_accel_size", "std_measurement", "std_measurement_size",
                     "std_velocity_init"):
            value = getattr(self, name)
            _check(math.isfinite(value) and value > 0, f"interpolate.{name}", "a number > 0",
                   value)
        _check(0.0 <= self.deadband < 1.0, "interpolate.deadband", "a number in [0, 1)",
               self.deadband)
        _check(0 <= self.disagree_frames <= 100_000, "interpolate.disagree_frames",
               "an int from 0 to 100000", self.disagree_frames)
        _check(0.0 <= self.smooth_seconds <= 10.0, "interpolate.smooth_seconds",
               "a number of seconds in [0, 10]", self.smooth_seconds)


@dataclass(frozen=True, kw_only=True)
class StoreConfig:
    """Chunked zarr output.

    chunk_rows: rows per chunk of every box column. Each chunk is written once, whole, when it
        fills; a crash loses at most one chunk of work. Larger: fewer files, more memory held
        before a write.
    chunk_frames: entries per chunk of the per-frame arrays (frame index, time, row offset).
    """

    chunk_rows: int = 65536
    chunk_frames: int = 16384

    def __post_init__(self) -> None:
        _check(self.chunk_rows >= 1, "store.chunk_rows", "an int >= 1", self.chunk_rows)
        _check(self.chunk_frames >= 1, "store.chunk_frames", "an int >= 1", self.chunk_frames)


@dataclass(frozen=True, kw_only=True)
class ReviewConfig:
    """Risk of the current annotation's boxes (`trackannot.risk`), for review.

    The logistic model of `trackannot.risk` is fit on automatic tracks without human keyframes
    (`python -m benchmarks.bench_risk --fit`); these two settings are a stated prior for what a
    keyframe does to the risk around it, not fit on data.

    keyframe_risk: risk of a box at a human keyframe (the person drew or confirmed it). Higher:
        keyframes come back into the review queue more often (second look at people's work).
    keyframe_decay_frames: a box d frames from a keyframe of its track has its risk pulled toward
        keyframe_risk by exp(-d / keyframe_decay_frames). Higher: interpolated boxes far from
        keyframes are trusted more, so they reach the queue later.
    spread_frames: when frames are ranked for review by `trackannot.risk.rank_frames` (the
        review queue's frames order ranks by error runs instead, `trackannot.ranking.
        frame_order`, and does not use it), the boxes
        of a picked frame's tracks up to this many frames away count less, so the next picks go
        to other errors (a person who fixes a track at one frame fixes its neighbourhood). 0:
        frames sorted by expected wrong boxes, which finds the most wrong boxes per frame but
        keeps returning to the same long error. Fit on the fit half of `benchmarks.bench_risk`:
        5 saw the most error runs in the top 20% of frames (84% against 68% for 0; 2..10 within
        2 points).
    open_end_frames: a track that starts or ends at a human keyframe not marked outside (e.g. a
        missed object drawn once) probably goes on: the ranking expects a missing box this many
        frames before its start and after its end (`trackannot.risk.open_ends`). Lower: the
        review comes back sooner, in smaller steps.
    open_end_risk: the expected error of that missing box (0 turns it off).
    edge_frames, track_start_risk, track_end_risk: automatic tracks start late and stop early;
        the ranking expects a missing box edge_frames before each automatic start (risk
        track_start_risk) and after each automatic end (track_end_risk). Measured on the
        automatic tracks of MOT15 and KITTI Car: 3 frames before a start the object was there
        in 49% / 33% of tracks, 3 frames after an end in 32% / 9%. Off (0) by default: set to
        0.4 / 0.2 they raised the active loop's accuracy on KITTI by 0.5 points at 20% of frames
        reviewed but cut the wrong-box runs seen in the top 20% frames of MOT15 KITTI-13 (held out)
        from 83% to 69%.
    mode: "fast" (the queue is the ranked frames only: skeleton, then riskiest) or "strict" (a
        share of the budget goes to random frames among the confident ones, so confident errors
        are still found).
    spot_check_rate: strict mode, share of the budget's frames given to random spot checks.
    honeypot_rate: share of queue items that are honeypots (a box moved away from a known truth);
        0 turns honeypots off. Higher: a better measure of reviewers, more wasted clicks.
    honeypot_shift: how far a honeypot box is moved, as a share of its width/height (0.25 leaves
        an IoU of about 0.6 with the truth: visibly wrong, not absurd).
    catch_iou: a honeypot counts as fixed when the reviewer's box has IoU >= this with the truth.
    flag_drop: flag a reviewer whose correction rate in their latest batches falls below this
        share of their own earlier rate (or of the team's rate for a first batch).
    flag_catch_rate: flag a reviewer who catches fewer than this share of their honeypots.
    seed: random seed for spot checks and honeypots (queues are reproducible).
    candidate_gate_iou: a stored detection is explained by the annotation when one of its boxes
        at that frame overlaps it at IoU >= this; the unexplained ones are linked into missed-object
        candidates (`trackannot.candidates`). Higher: more candidates next to tracked objects
        (near misses and duplicates among them).
    candidate_min_detections: a chain of unexplained detections needs this many to be queued as
        a candidate. Higher: fewer, surer candidates; short missed runs go unasked.
    candidate_max_gap: frames without a detection that still continue one candidate chain.
        Higher: longer chains across occlusions, more chains that join two objects.
    missing_box_weight: in the frames order, a probably missing box (a track's gap, the frames
        before an automatic start and after an end, open ends; `trackannot.proposals.
        missing_boxes`) counts this many times its probability when frames are ranked. A
        missing box is mostly an error run of its own, a few frames long, where a wrong box is
        one frame of a run ~7 frames long, so a look at it shows more new errors. Chosen on the
        fit half of `benchmarks.bench_queue` (MOT15 and KITTI Car train sequences 0, 2, ...):
        3 showed the most gt error runs in the top 10% of frames (run-aware ranking: 1: 48%, 2:
        57%, 3: 61.4%, 4: 61.4%, 6: 61%). Higher: more runs of missing boxes shown, fewer runs of
        wrong existing boxes (held out, 1 -> 3: gt runs 53% -> 66%, runs of wrong track boxes
        63% -> 41%); 0: only the boxes that exist rank frames.
    anchor_frames: in the frames order, first an even skeleton of frames, about one look every
        this many frames (`trackannot.ranking.anchored_order`: each stretch between looks and
        human keyframes gets the fewest evenly spaced frames that leave no piece longer than
        this, coarse to fine: the longest stretch is split first, so any budget gets an even
        cover), then the rest by error runs. A look anchors the interpolation and the
        propagation on both sides of it, and objects the detector missed have no risk signal,
        so only looks spread along the video find them. Default 5: the effort benchmark's
        best spacing (10 and 20 were worse on both datasets; benchmarks/RESULTS.md, issue 13,
        "Coverage first" and "An even skeleton"). The skeleton's first version split each
        stretch at its riskiest frame near the middle and needed ~1.5x the looks for the same
        cover (MOT15 95% box accuracy 8.75 -> 7.62 s/frame with the even one). 0: off (frames
        by error runs only). Lower: more looks go to coverage, fewer to the riskiest frames.
    frames_candidate_min_p: in the frames order a person checks the whole frame and draws what is
        missing, so a candidate's hint only saves drawing its box (draw_s - verify_s when right)
        and costs a rejection when wrong (delete_s, as `trackannot.ranking.candidate_gain`
        prices it): a candidate is shown as an item only when its p_real is at least this
        (break-even under the default cost model: 2 / (7 - 1.6 + 2) = 0.27, the default; on its
        own it cut the effort benchmark's 95% crossing from 3.52 to 2.98 s/frame on KITTI Car
        and from 10.86 to 10.44 on MOT15). Candidates still rank frames either way. 0: every
        candidate at a queued frame is shown.
    frames_missing_min_p: the same rule for a probably missing box (a track's gap, the frames
        next to its start or end, an open end; `trackannot.proposals.missing_boxes`): in the
        frames order it is shown as an item only when its probability is at least this (default
        0.27, the break-even above; it hides the frames after automatic track ends, END_RISK
        <= 0.2), and always where propagation stopped at a conflict or a cut. It still ranks
        frames either way; a frame is queued only if it shows an item. Effort benchmark, 95%
        box accuracy: KITTI Car 1.86 -> 1.75 s/frame (both halves better), MOT15 6.64 -> 6.67
        (level). 0: every one is shown.
    check_min_risk: the team's check policy: reviewers check the box items whose risk is at
        least this and leave the others as they are (0, the default: every box is checked).
        The others still show, as context, with the note "low risk, not asked"; left unchanged
        in an answered task file they are not answers (nothing is recorded as checked that
        nobody checked), moved or deleted they are. Probably missing boxes, candidates,
        proposals, spot checks and honeypots are always asked. So that a reviewer following the
        policy still meets every honeypot and spot check, those items show the score and reason
        of an asked box item of their queue (drawn at random), and honeypots are this share of
        the asked box items (`honeypot_rate`). Effort benchmark, KITTI Car, 95% box accuracy:
        0.8 reaches it at 0.93 s/frame (0.98 with the honeypots) against 1.75 for checking
        every box of risk >= 0.15, at HOTA 0.808 against 0.827 (unchecked false positives
        stay); 0.86 when the reviewer also keys an object along where the engine did not carry
        the box drawn on it. On MOT15, whose pre-labels are half wrong, 0.8 reaches 95% only
        with that keying (4.55 s/frame against 6.61; HOTA 0.703 against 0.733)
        (benchmarks/RESULTS.md, issue 13, "the reviewer's check policy", "Holes in a track",
        "Resolving the crossings").
    """

    keyframe_risk: float = 0.01
    keyframe_decay_frames: float = 3.0
    spread_frames: int = 5
    open_end_frames: int = 10
    open_end_risk: float = 0.5
    edge_frames: int = 3
    track_start_risk: float = 0.0
    track_end_risk: float = 0.0
    mode: str = "fast"
    spot_check_rate: float = 0.1
    honeypot_rate: float = 0.02
    honeypot_shift: float = 0.25
    catch_iou: float = 0.7
    flag_drop: float = 0.5
    flag_catch_rate: float = 0.8
    seed: int = 0
    candidate_gate_iou: float = 0.3
    candidate_min_detections: int = 2
    candidate_max_gap: int = 5
    missing_box_weight: float = 3.0
    anchor_frames: int = 5
    frames_candidate_min_p: float = 0.27
    frames_missing_min_p: float = 0.27
    check_min_risk: float = 0.0

    def __post_init__(self) -> None:
        _check(0.0 <= self.keyframe_risk <= 1.0, "review.keyframe_risk", "a number in [0, 1]",
               self.keyframe_risk)
        _check(math.isfinite(self.keyframe_decay_frames) and self.keyframe_decay_frames > 0,
               "review.keyframe_decay_frames", "a number of frames > 0",
               self.keyframe_decay_frames)
        _check(self.spread_frames >= 0, "review.spread_frames", "an int >= 0",
               self.spread_frames)
        _check(self.mode in ("fast", "strict"), "review.mode", "'fast' or 'strict'", self.mode)
        _check(self.open_end_frames >= 1, "review.open_end_frames", "an int >= 1",
               self.open_end_frames)
        _check(self.edge_frames >= 1, "review.edge_frames", "an int >= 1", self.edge_frames)
        for key in ("open_end_risk", "track_start_risk", "track_end_risk", "spot_check_rate", "honeypot_rate", "catch_iou", "flag_drop", "flag_catch_rate"):
            value = getattr(self, key)
            _check(0.0 <= value <= 1.0, f"review.{key}", "a number in [0, 1]", value)
        _check(0.0 < self.honeypot_shift <= 1.0, "review.honeypot_shift", "a number in (0, 1]",
               self.honeypot_shift)
        _check(0.0 < self.candidate_gate_iou <= 1.0, "review.candidate_gate_iou",
               "a number in (0, 1]", self.candidate_gate_iou)
        _check(self.candidate_min_detections >= 1, "review.candidate_min_detections",
               "an int >= 1", self.candidate_min_detections)
        _check(self.candidate_max_gap >= 0, "review.candidate_max_gap", "an int >= 0",
               self.candidate_max_gap)
        _check(math.isfinite(self.missing_box_weight) and self.missing_box_weight >= 0,
               "review.missing_box_weight", "a number >= 0", self.missing_box_weight)
        _check(self.anchor_frames >= 0, "review.anchor_frames", "an int >= 0 (0: off)",
               self.anchor_frames)
        _check(0.0 <= self.frames_candidate_min_p <= 1.0, "review.frames_candidate_min_p",
               "a number in [0, 1]", self.frames_candidate_min_p)
        _check(0.0 <= self.frames_missing_min_p <= 1.0, "review.frames_missing_min_p",
               "a number in [0, 1]", self.frames_missing_min_p)
        _check(0.0 <= self.check_min_risk <= 1.0, "review.check_min_risk",
               "a number in [0, 1] (0: every box is checked)", self.check_min_risk)


@dataclass(frozen=True, kw_only=True)
class RayConfig:
    """How `trackannot track --executor ray` spreads videos over a Ray cluster
    (`trackannot.ray_executor`). Not a section of `PipelineConfig`: where a video ran does not
    change its group, so it is neither stored with the group nor compared when a run resumes.

    address: None starts a Ray instance on this machine for the run; "auto" joins the cluster
        `ray start --head` started on this machine; "HOST:PORT" the cluster whose head listens
        there.
    workers: actors, each running one video at a time with its own warm detector; None: one per
        GPU (the cluster's GPUs // num_gpus) when num_gpus > 0, else the cluster's CPUs //
        num_cpus.
    num_gpus: GPUs each actor holds (fractions share one); None: 1 when the cluster has GPUs,
        else 0.
    num_cpus: CPUs each actor holds (decoding, tracking and writing beside the detector).
    max_restarts: times Ray restarts an actor whose process died (-1: without limit).
    max_task_retries: times a video whose actor died is run again on the restarted actor; it
        resumes from its last commit (-1: without limit).
    """

    address: str | None = None
    workers: int | None = None
    num_gpus: float | None = None
    num_cpus: float = 1.0
    max_restarts: int = 3
    max_task_retries: int = 3

    def __post_init__(self) -> None:
        _check(self.workers is None or self.workers >= 1, "ray workers", "null or an int >= 1",
               self.workers)
        _check(self.num_gpus is None or (math.isfinite(self.num_gpus) and self.num_gpus >= 0),
               "ray num_gpus", "null or a number >= 0", self.num_gpus)
        _check(math.isfinite(self.num_cpus) and self.num_cpus > 0, "ray num_cpus",
               "a number > 0", self.num_cpus)
        _check(self.max_restarts >= -1, "ray max_restarts", "an int >= -1", self.max_restarts)
        _check(self.max_task_retries >= -1, "ray max_task_retries", "an int >= -1",
               self.max_task_retries)


@dataclass(frozen=True, kw_only=True)
class PipelineConfig:
    """All stages; `configs/default.yaml` holds the defaults with their trade-offs."""

    decode: DecodeConfig = field(default_factory=DecodeConfig)
    detect: DetectConfig = field(default_factory=DetectConfig)
    track: TrackConfig = field(default_factory=TrackConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    interpolate: InterpolateConfig = field(default_factory=InterpolateConfig)
    review: ReviewConfig = field(default_factory=ReviewConfig)


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """Plain dict of a config dataclass (tuples become lists), for YAML and zarr attributes."""

    def plain(value: Any) -> Any:
        if isinstance(value, tuple):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return plain(dataclasses.asdict(cfg))


def _coerce(value: Any, hint: Any, where: str) -> Any:
    """Check one YAML value against a field's type hint; ints are accepted for floats."""
    args = [a for a in get_args(hint) if a is not type(None)] if get_origin(hint) else [hint]
    optional = type(None) in get_args(hint)
    base = args[0]
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{where}: expected {base.__name__}, got null")
    if get_origin(base) is tuple:
        if isinstance(value, int) and not isinstance(value, bool):
            value = [value]
        if not isinstance(value, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in value
        ):
            raise ConfigError(f"{where}: expected a list of ints, got {value!r}")
        return tuple(value)
    if base is bool and not isinstance(value, bool):
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if base is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(f"{where}: expected an int, got {value!r}")
    if base is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if base is str and not isinstance(value, str):
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    return value


def _build(cls: type, data: Mapping[str, Any], source: str, prefix: str) -> Any:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: {prefix or 'top level'} must be a mapping, got {data!r}")
    hints = get_type_hints(cls)
    allowed = [f.name for f in dataclasses.fields(cls)]
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if key not in allowed:
            raise ConfigError(
                f"{source}: unknown key '{path}'; allowed keys"
                f"{' under ' + prefix.rstrip('.') if prefix else ''}: {', '.join(allowed)}"
            )
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            kwargs[key] = _build(hint, value if value is not None else {}, source, f"{path}.")
        else:
            kwargs[key] = _coerce(value, hint, f"{source}: {path}")
    try:
        return cls(**kwargs)
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from err


def _apply_override(data: dict[str, Any], override: str) -> None:
    key, sep, raw = override.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {override!r}: expected key=value, e.g. track.min_iou=0.4")
    parts = key.strip().split(".")
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set {override!r}: '{part}' is not a section")
    try:
        node[parts[-1]] = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as err:
        raise ConfigError(f"--set {override!r}: value is not valid YAML: {err}") from err


def load_config(
    path: str | Path | None = None, overrides: Sequence[str] = ()
) -> PipelineConfig:
    """Load a `PipelineConfig` from YAML, then apply `key=value` overrides.

    Args:
        path: YAML file with any subset of the sections of `configs/default.yaml`; None uses the
            defaults.
        overrides: strings like "track.min_iou=0.4"; values are parsed as YAML.

    Raises:
        ConfigError: unreadable YAML, unknown keys (naming the file, key path and allowed keys),
            wrong types, or values out of range.
    """
    data: dict[str, Any] = {}
    source = "defaults"
    if path is not None:
        source = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as err:
            raise ConfigError(f"cannot read config {source}: {err.strerror}") from err
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise ConfigError(f"{source}: not valid YAML: {err}") from err
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{source}: expected a mapping of sections, got {type(loaded).__name__}")
        data = loaded or {}
    for override in overrides:
        _apply_override(data, override)
    if overrides:
        source = f"{source} + --set"
    return _build(PipelineConfig, data, source, "")
