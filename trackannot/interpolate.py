"""Interpolation: the boxes of every track between its human keyframes, as `Boxes`.

`interpolate_linear` reproduces CVAT and Label Studio (straight lines between keyframes, the
semantics of `trackannot.keyframes`); `interpolate` with `method="guided"` emits the same rows but
bends the path between two present keyframes toward the detections that agree with both ends
(`trackannot.kernels.guided`). Each segment between two consecutive keyframes of a track depends
only on those two keyframes (and the detections of its frames), so interpolating a subset of the
tracks, or a window of consecutive keyframes of one track, gives exactly the rows the full call
gives for those frames: incremental recomputation after a correction only needs the keyframes
around it.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from trackannot.boxes import Boxes, Origin, pair_iou
from trackannot.config import InterpolateConfig
from trackannot.errors import InputFormatError
from trackannot.keyframes import Keyframes
from trackannot.kernels.guided import guided_fill, guided_fill_serial, guided_params
from trackannot.kernels.interp import (
    PARALLEL_MIN_ROWS, linear_counts, linear_counts_serial, linear_fill, linear_fill_serial,
)

__all__ = ["detections_by_frame", "follow_track", "interpolate", "interpolate_linear"]


def interpolate_linear(keyframes: Keyframes) -> Boxes:
    """Boxes between keyframes by straight lines (CVAT's interpolation).

    Args:
        keyframes: the keyframes of any number of tracks.

    Returns:
        `Boxes` sorted by (frame, track_id): origin KEYFRAME (score 1.0) at present keyframes,
        INTERPOLATED between them; class_id of the segment's first keyframe; none from an outside
        keyframe to the next keyframe, nor after a track's last keyframe.

    Example:
        >>> k = Keyframes.create(track_id=[7, 7], frame=[0, 4],
        ...                      xyxy=[[0, 0, 10, 10], [40, 0, 50, 10]])
        >>> interpolate_linear(k).xyxy[:, 0].tolist()
        [0.0, 10.0, 20.0, 30.0, 40.0]
    """
    return _interpolate(keyframes, None, None)


def interpolate(
    keyframes: Keyframes, detections: Boxes | None, cfg: InterpolateConfig
) -> Boxes:
    """Boxes between keyframes, guided by the detections when cfg.method is "guided".

    Args:
        keyframes: the keyframes of any number of tracks.
        detections: every detector box of the video (any track_id, any class); frames as in
            `keyframes`. None (or method "linear") gives `interpolate_linear`.
        cfg: the method and the guided interpolation's settings.

    Returns:
        The rows of `interpolate_linear(keyframes)` (same frames, tracks, origins, keyframe
        boxes); with "guided", boxes strictly between two present keyframes follow the
        detections where both keyframes agree with them.
    """
    if cfg.method == "linear" or detections is None:
        return _interpolate(keyframes, None, None)
    return _interpolate(keyframes, detections, cfg)


def follow_track(interpolated: Boxes, keyframes: Keyframes, auto: Boxes, min_iou: float) -> Boxes:
    """Keep a track's automatic path between two keyframes that agree with it.

    For each pair of consecutive present keyframes of the track whose boxes overlap the track's
    automatic box at their frames at IoU >= `min_iou`, the rows strictly between them that have an
    automatic box become that box shifted by the two keyframes' corrections (keyframe box minus
    automatic box), blended linearly across the segment. Keyframes stay exact; rows, origins and
    frames are unchanged; other segments keep their interpolation.

    Args:
        interpolated: `interpolate(keyframes, ...)` of this one track.
        keyframes: the keyframes of one track (sorted by frame).
        auto: the track's automatic boxes (sorted by frame, one row per frame).
        min_iou: agreement needed at both keyframes, in [0, 1].

    Returns:
        `interpolated` with the followed rows' xyxy replaced.
    """
    present = ~keyframes.outside
    if len(auto) == 0 or present.sum() < 2 or len(interpolated) == 0:
        return interpolated
    k_frame, k_xyxy = keyframes.frame, keyframes.xyxy
    at = np.clip(np.searchsorted(auto.frame, k_frame), 0, len(auto) - 1)
    has = auto.frame[at] == k_frame
    agree = present & has & (pair_iou(k_xyxy, auto.xyxy[at]) >= min_iou)
    follows = agree[:-1] & agree[1:]  # segment i: keyframe i to keyframe i + 1
    if not follows.any():
        return interpolated
    f = interpolated.frame
    seg = np.searchsorted(k_frame, f, side="right") - 1
    inside = (seg >= 0) & (seg < len(k_frame) - 1)
    seg_c = np.clip(seg, 0, len(k_frame) - 2)
    inside &= follows[seg_c] & (f > k_frame[seg_c])
    row = np.clip(np.searchsorted(auto.frame, f), 0, len(auto) - 1)
    inside &= auto.frame[row] == f
    if not inside.any():
        return interpolated
    s, r = seg_c[inside], row[inside]
    f0, f1 = k_frame[s], k_frame[s + 1]
    w = ((f[inside] - f0) / (f1 - f0))[:, None]
    delta0 = k_xyxy[s].astype(np.float64) - auto.xyxy[at[s]]
    delta1 = k_xyxy[s + 1].astype(np.float64) - auto.xyxy[at[s + 1]]
    xyxy = interpolated.xyxy.copy()
    xyxy[inside] = (auto.xyxy[r] + (1 - w) * delta0 + w * delta1).astype(np.float32)
    return interpolated.replace(xyxy=xyxy)


def detections_by_frame(
    detections: Boxes, num_frames: int | None = None, first: int = 0
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """CSR layout of the detections for `guided_fill`.

    Args:
        detections: `Boxes` sorted by frame (as every `Boxes` is).
        num_frames: frames covered; default one past the last detection's frame.
        first: the first frame covered; det_start[k] is frame first + k (the kernel is then
            given frames less `first`), so its length is the span asked, not the video's.

    Returns:
        det_start (num_frames - first + 1,) int64 row offsets per frame, det_xyxy (d, 4)
        float32, det_score (d,) float32.
    """
    last = int(detections.frame[-1]) + 1 if len(detections) else 0
    n = max(last if num_frames is None else max(int(num_frames), last), first)
    det_start = np.searchsorted(detections.frame, np.arange(first, n + 1)).astype(np.int64)
    return (det_start, np.ascontiguousarray(detections.xyxy),
            np.ascontiguousarray(detections.score))


def _interpolate(
    keyframes: Keyframes, detections: Boxes | None, cfg: InterpolateConfig | None
) -> Boxes:
    """Offsets, allocation, the kernel, and the wrap into sorted `Boxes`."""
    if not isinstance(keyframes, Keyframes):
        raise InputFormatError(
            f"interpolate expects trackannot.keyframes.Keyframes, got {type(keyframes).__name__}"
        )
    track_ids, seg_start = keyframes.track_bounds()
    key_frame = keyframes.frame
    key_xyxy = np.ascontiguousarray(keyframes.xyxy)
    key_outside = keyframes.outside
    few_keys = len(key_frame) < PARALLEL_MIN_ROWS  # threads cost more than they save
    counts = (linear_counts_serial if few_keys else linear_counts)(key_frame, key_outside,
                                                                   seg_start)
    out_start = np.zeros(len(counts) + 1, np.int64)
    np.cumsum(counts, out=out_start[1:])
    m = int(out_start[-1])
    out_frame = np.empty(m, np.int64)
    out_xyxy = np.empty((m, 4), np.float32)
    out_key = np.empty(m, np.int64)
    serial = m < PARALLEL_MIN_ROWS
    if detections is None or cfg is None:
        (linear_fill_serial if serial else linear_fill)(
            key_frame, key_xyxy, key_outside, seg_start, out_start, out_frame, out_xyxy, out_key)
    else:
        # the kernel uses frames only as differences and as rows of det_start: counted from
        # the first keyframe, det_start spans the keyframes, not every frame before them
        first = int(key_frame.min()) if len(key_frame) else 0
        det_start, det_xyxy, det_score = detections_by_frame(detections, first=first)
        (guided_fill_serial if serial else guided_fill)(
            key_frame - first, key_xyxy, key_outside, seg_start, out_start, det_start, det_xyxy,
            det_score, _params(cfg), out_frame, out_xyxy, out_key)
        out_frame += first
    return _wrap(keyframes, track_ids, counts, out_frame, out_xyxy, out_key)


def _params(cfg: InterpolateConfig) -> npt.NDArray[np.float64]:
    return guided_params(
        min_score=cfg.min_score, gate_iou=cfg.gate_iou, anchor_iou=cfg.anchor_iou,
        min_anchors=cfg.min_anchors, bias=cfg.bias, end_iou=cfg.end_iou,
        std_accel=cfg.std_accel, std_accel_size=cfg.std_accel_size,
        std_measurement=cfg.std_measurement, std_measurement_size=cfg.std_measurement_size,
        std_velocity_init=cfg.std_velocity_init, deadband=cfg.deadband,
    )


def _wrap(
    keyframes: Keyframes,
    track_ids: npt.NDArray[np.int64],
    counts: npt.NDArray[np.int64],
    out_frame: npt.NDArray[np.int64],
    out_xyxy: npt.NDArray[np.float32],
    out_key: npt.NDArray[np.int64],
) -> Boxes:
    """Kernel rows (per track, frame order) -> `Boxes` sorted by (frame, track_id)."""
    track_index = np.repeat(np.arange(len(track_ids)), counts)
    is_key = out_key >= 0
    # class of each row: that of the keyframe opening its segment, i.e. the last keyframe of
    # the same track at or before the row's frame (keyframes are sorted by (track, frame))
    seg_key = _segment_keyframe(keyframes, track_ids, track_index, out_frame)
    origin = np.where(is_key, np.uint8(Origin.KEYFRAME), np.uint8(Origin.INTERPOLATED))
    track_id = track_ids[track_index]
    order = np.lexsort((track_id, out_frame))
    n = len(out_frame)
    return Boxes(
        frame=out_frame[order],
        xyxy=out_xyxy[order],
        score=np.ones(n, np.float32),
        class_id=keyframes.class_id[seg_key][order],
        track_id=track_id[order],
        origin=origin[order].astype(np.uint8),
        det_index=np.full(n, -1, np.int64),
        pos_std=np.zeros(n, np.float32),
    )


def _segment_keyframe(
    keyframes: Keyframes,
    track_ids: npt.NDArray[np.int64],
    track_index: npt.NDArray[np.int64],
    out_frame: npt.NDArray[np.int64],
) -> npt.NDArray[np.int64]:
    """(m,) row of the keyframe that opens each output row's segment."""
    if len(out_frame) == 0:
        return np.zeros(0, np.int64)
    # rank tracks 0..t-1 so that (rank, frame) sorts like the keyframes; one int64 key each
    span = int(max(keyframes.frame.max(), out_frame.max())) + 1
    key_rank = np.searchsorted(track_ids, keyframes.track_id)
    key_code = key_rank * span + keyframes.frame
    row_code = track_index * span + out_frame
    return np.searchsorted(key_code, row_code, side="right") - 1
