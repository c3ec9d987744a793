"""Interpolation: the boxes of every track between its human keyframes, as `Boxes`.

`interpolate_linear` reproduces CVAT and Label Studio (straight lines between keyframes, the
semantics of `trackannot.keyframes`); `interpolate` with `method="guided"` emits the same rows but
bends the path between two present keyframes toward the detections that agree with both ends
(`trackannot.kernels.guided`). Each segment between two consecutive keyframes of a track depends
only on those two keyframes (and the detections of its frames), so interpolating a subset of the
tracks, or a window of consecutive keyframes of one track, gives exactly the rows the full call
gives for those frames: incremental recomputation after a correction only needs the keyframes
around it. `follow_track` then keeps a track's automatic boxes in each segment wherever its two
keyframes (and the runs carried from a disagreeing one, `trackannot.state`) do not say they are
wrong; it too works segment by segment.
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

__all__ = ["detections_by_frame", "disagreeing_ends", "follow_track", "interpolate",
           "interpolate_linear"]


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


def disagreeing_ends(keyframes: Keyframes, auto: Boxes, min_iou: float, min_frames: int = 0
                     ) -> list[tuple[int, int, int]]:
    """The keyframes of one track from which a run should replace wrong automatic boxes.

    A present keyframe disagrees with the track when the track has no automatic box at its
    frame or overlaps it at IoU < `min_iou`. Each segment (keyframe i to keyframe i + 1, i
    present) more than `min_frames` frames long with automatic boxes strictly between gives one
    entry per disagreeing end (`follow_track`).

    Args:
        keyframes: the keyframes of one track (sorted by frame).
        auto: the track's automatic boxes (sorted by frame, one row per frame).
        min_iou: agreement, in [0, 1].
        min_frames: shorter segments (keyframe frames min_frames apart or less) are left out.

    Returns:
        (segment i, index of the disagreeing keyframe: i or i + 1, direction into the segment:
        +1 from i, -1 from i + 1), in frame order.
    """
    if len(auto) == 0 or len(keyframes) < 2:
        return []
    _, disagree = _agreement(keyframes, auto, min_iou)
    k_frame = keyframes.frame
    lo = np.searchsorted(auto.frame, k_frame[:-1], side="right")
    hi = np.searchsorted(auto.frame, k_frame[1:], side="left")
    out = []
    long = np.diff(k_frame) > min_frames
    for i in np.flatnonzero(~keyframes.outside[:-1] & (hi > lo) & long).tolist():
        if disagree[i]:
            out.append((i, i, 1))
        if disagree[i + 1]:
            out.append((i, i + 1, -1))
    return out


def follow_track(interpolated: Boxes, keyframes: Keyframes, auto: Boxes, min_iou: float,
                 runs: dict[tuple[int, int], tuple[Boxes, bool]] | None = None,
                 near_frames: int = 0) -> Boxes:
    """Keep a track's automatic path between keyframes wherever they do not say it is wrong.

    A present keyframe agrees with the track when it overlaps the track's automatic box at its
    frame at IoU >= `min_iou`, and disagrees otherwise (also when the track has no box there).
    In each segment between two consecutive keyframes (the first present), each end anchors the
    automatic path or not:

    * an agreeing keyframe anchors it at its frame, with its correction (how its box differs
      from the automatic box, relative to that box's size: centre offset by width and height,
      log size ratio); an outside mark anchors it with none;
    * a disagreeing keyframe carries its own box into the segment: `runs[(i, key)]` = (boxes,
      rejoined) is a run from it toward the other end (`trackannot.propagate`, never onto the
      other keyframe), and the frames it took that have an automatic box get its boxes. If the
      run rejoined the track's automatic path, it anchors the path where it handed over, with no
      correction (as a run from a track's first or last keyframe hands over to the automatic
      boxes); if not (or no run was given: an empty one), that end does not anchor it.

    Between the two ends' reach (a run's last frame, else the keyframe), rows with an automatic
    box become that box with the anchors' corrections applied (blended linearly from one to the
    other when both ends anchor, else the one anchor's), except that within `near_frames` of
    the reach of an end that does not anchor they blend into the segment's interpolation (all
    of it at the reach): a correction moves the automatic boxes only near where it was made. When neither end
    anchors, and in a segment with a disagreeing end no longer than 2 * `near_frames` frames
    (all of it near that keyframe; between two human boxes a few frames apart their
    interpolation is the better path), the interpolation stays. Rows without an automatic box
    keep their interpolation. Keyframes stay exact; rows, origins and frames are unchanged. Each
    segment depends only on its two keyframes, the automatic boxes and its runs, so a window of
    consecutive keyframes gives the rows the whole track gives for its frames.

    Args:
        interpolated: `interpolate(keyframes, ...)` of this one track.
        keyframes: the keyframes of one track (sorted by frame).
        auto: the track's automatic boxes (sorted by frame, one row per frame).
        min_iou: agreement needed at a keyframe, in [0, 1].
        runs: (segment index, index of the disagreeing keyframe) -> (the run's boxes, sorted by
            frame, strictly between the segment's keyframes; whether it stopped by rejoining
            the automatic path), for entries of `disagreeing_ends`.
        near_frames: frames next to the reach of an end that does not anchor over which the
            automatic boxes blend into the interpolation; segments with a disagreeing end no
            longer than twice this keep their interpolation.

    Returns:
        `interpolated` with the rows that follow the track or a run replaced.
    """
    if len(auto) == 0 or len(interpolated) == 0 or len(keyframes) < 2:
        return interpolated
    k_frame, k_xyxy, outside = keyframes.frame, keyframes.xyxy, keyframes.outside
    agree, disagree = _agreement(keyframes, auto, min_iou)
    at = np.clip(np.searchsorted(auto.frame, k_frame), 0, len(auto) - 1)
    delta = np.zeros((len(k_frame), 4))  # correction at each keyframe; none at outside marks
    delta[agree] = _correction(k_xyxy[agree], auto.xyxy[at[agree]])
    f = interpolated.frame
    seg = np.searchsorted(k_frame, f, side="right") - 1
    seg_c = np.clip(seg, 0, len(k_frame) - 2)
    inside = (seg >= 0) & (seg < len(k_frame) - 1) & (f > k_frame[seg_c])
    row = np.clip(np.searchsorted(auto.frame, f), 0, len(auto) - 1)
    on_auto = inside & (auto.frame[row] == f)
    xyxy = interpolated.xyxy.astype(np.float64)
    interp = xyxy.copy()
    runs = runs or {}
    changed = False
    for i in np.unique(seg_c[on_auto]).tolist():
        if outside[i] or (
                (disagree[i] or disagree[i + 1]) and k_frame[i + 1] - k_frame[i] <= 2 * near_frames):
            continue  # a short segment is all near its disagreeing keyframe: interpolated
        ends = []  # per end: (reach frame, offset there or None when it does not anchor)
        taken = np.zeros(len(f), bool)
        for key, direction in ((i, 1), (i + 1, -1)):
            if not disagree[key]:  # agrees, or an outside mark (only the second end)
                ends.append((int(k_frame[key]), delta[key]))
                continue
            run, rejoined = runs.get((i, key), (None, False))
            reach = int(k_frame[key])
            if run is not None and len(run):
                took = on_auto & (seg_c == i) & ~taken & np.isin(f, run.frame)
                xyxy[took] = run.xyxy[np.searchsorted(run.frame, f[took])]
                taken |= took
                changed = True
                reach = int(f[took].max() if direction > 0 else f[took].min()) if took.any() \
                    else reach
            ends.append((reach, np.zeros(4) if rejoined else None))
        (j0, o0), (j1, o1) = ends
        rest = on_auto & (seg_c == i) & ~taken & (f > j0) & (f < j1)
        if not rest.any() or (o0 is None and o1 is None):
            continue
        r, fr = row[rest], f[rest]
        if o0 is not None and o1 is not None:
            w = ((fr - j0) / (j1 - j0))[:, None]
            kept = _corrected(auto.xyxy[r], (1 - w) * o0 + w * o1)
        else:
            kept = _corrected(auto.xyxy[r], o0 if o1 is None else o1)
        g = np.zeros(len(fr))  # share of the interpolation: 1 at a reach that does not anchor
        for j, offset in ends:
            if offset is None and near_frames > 0:
                g = np.maximum(g, np.clip(1 - np.abs(fr - j) / near_frames, 0, 1))
        xyxy[rest] = (1 - g[:, None]) * kept + g[:, None] * interp[rest]
        changed = True
    if not changed:
        return interpolated
    return interpolated.replace(xyxy=xyxy.astype(np.float32))


def _correction(key: npt.NDArray[np.float32], auto: npt.NDArray[np.float32]
                ) -> npt.NDArray[np.float64]:
    """(n, 4) how keyframe boxes differ from automatic boxes, relative to the automatic box's
    size (centre offset by width and height, log size ratio), so that a correction carried along
    a track that grows or shrinks (a car coming close) keeps its proportion."""
    k, a = _cxcywh(key), _cxcywh(auto)
    return np.c_[(k[:, :2] - a[:, :2]) / a[:, 2:], np.log(k[:, 2:] / a[:, 2:])]


def _corrected(auto: npt.NDArray[np.float32], correction: npt.NDArray[np.float64]
               ) -> npt.NDArray[np.float64]:
    """Automatic boxes moved by relative corrections (`_correction`; one per box, or one for
    all), xyxy."""
    a = _cxcywh(auto)
    correction = np.broadcast_to(np.atleast_2d(correction), a.shape)
    c = a[:, :2] + correction[:, :2] * a[:, 2:]
    half = a[:, 2:] * np.exp(correction[:, 2:]) / 2
    return np.c_[c - half, c + half]


def _cxcywh(xyxy: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    """(n, 4) centre x, centre y, width, height of xyxy boxes (sizes at least 1e-3 px)."""
    b = np.asarray(xyxy, np.float64).reshape(-1, 4)
    size = np.maximum(b[:, 2:] - b[:, :2], 1e-3)
    return np.c_[(b[:, :2] + b[:, 2:]) / 2, size]


def _agreement(keyframes: Keyframes, auto: Boxes, min_iou: float
               ) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """(agree, disagree) per keyframe: present and at IoU >= min_iou with the track's automatic
    box at its frame; present and not (below it, or no automatic box there)."""
    present = ~keyframes.outside
    at = np.clip(np.searchsorted(auto.frame, keyframes.frame), 0, len(auto) - 1)
    has = auto.frame[at] == keyframes.frame
    iou = np.zeros(len(keyframes))
    if has.any():
        iou[has] = pair_iou(keyframes.xyxy[has], auto.xyxy[at[has]])
    agree = present & has & (iou >= min_iou)
    return agree, present & ~agree


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
