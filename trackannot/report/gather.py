"""Read a store's videos into plain data for the dashboard (no HTML here).

`gather_store` returns one `VideoData` per video: the run summary from the group's attributes,
the current annotation's boxes (a complete video) or the committed tracks (a failed or running
one, with a note saying so), per-box risk, the review queues and their answers, the corrections
log, the reviewer audit with the mode advice, and with ground truth the scores of the pre-labels
and of the corrected annotation.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from trackannot.errors import InvalidInputError

if TYPE_CHECKING:
    from trackannot.boxes import Boxes
    from trackannot.corrections import Corrections
    from trackannot.evaluate import TrackingScores
    from trackannot.groundtruth import GroundTruth
    from trackannot.review import Answers, ReviewQueue
    from trackannot.risk import OpenEnds, Risk
    from trackannot.session import VideoAudit

__all__ = ["IndexRow", "VideoData", "gather_store", "gather_video", "gt_paths"]


@dataclass
class VideoData:
    """One video of a store, as the dashboard shows it.

    Attributes:
        key: the video's group.
        status: "complete", "running" or "failed"; `error` the failure's message.
        attrs: the group's attributes (input, video, detector, config, seconds, ...).
        num_frames: frames processed (committed, for a video not complete).
        index, time_s: decoded frame index and time of each processed frame.
        boxes: the current annotation (complete) or the committed tracks (otherwise).
        detections: the committed detections (for the detected-box count and the risk).
        risk: per-box risk of `boxes`; `open_ends` where a box is probably missing.
        queues, answers: the review queues, oldest first, and their committed answers.
        log: the corrections log (every committed batch); `batches` their records.
        audit: reviewer audit and mode advice (None: nothing answered or corrected yet).
        scores: {"pre-labels": ..., "corrected": ...} against ground truth (empty without);
            `score_note` says against what file, by which rules, which tracks.
        video_path: the footage, or None when it is not where the run read it (`notes` says).
        notes: what the page must say (incomplete run, moved file, ...).
    """

    key: str
    status: str
    error: str | None
    attrs: dict[str, Any]
    num_frames: int
    index: np.ndarray
    time_s: np.ndarray
    boxes: Boxes
    detections: Boxes
    risk: Risk
    open_ends: OpenEnds | None
    queues: list[ReviewQueue]
    answers: dict[str, Answers]
    log: Corrections | None
    batches: list[dict[str, Any]]
    audit: VideoAudit | None
    scores: dict[str, TrackingScores] = field(default_factory=dict)
    score_note: str = ""
    video_path: Path | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return self.status == "complete"

    @property
    def track_ids(self) -> np.ndarray:
        """Tracks with at least one box (the timeline's rows), ascending."""
        return np.unique(self.boxes.track_id[self.boxes.track_id >= 0])


@dataclass(frozen=True)
class IndexRow:
    """What the index shows of a video (kept for every video while the next one is gathered,
    so a store of many long videos holds only one video's boxes at a time)."""

    key: str
    status: str
    frames: int
    duration_s: float | None
    tracks: int
    boxes: int
    queued: int
    answered: int
    corrections: int
    advice: Any  # trackannot.advise.Advice | None

    @classmethod
    def of(cls, video: VideoData) -> IndexRow:
        d = (video.attrs.get("video") or {}).get("duration_s")
        duration = float(d) if d else (float(video.time_s[-1]) if len(video.time_s) else None)
        return cls(video.key, video.status, len(video.index), duration, len(video.track_ids),
                   len(video.boxes), sum(len(q) for q in video.queues),
                   sum(len(a) for a in video.answers.values()),
                   0 if video.log is None else len(video.log),
                   video.audit.advice if video.audit is not None else None)


def gather_store(store: str | Path, *, gt: str | Path | dict[str, Any] | None = None,
                 gt_class: str | None = None,
                 progress: Callable[[str, int, int], None] | None = None) -> list[VideoData]:
    """`gather_video` of every video of `store`, in key order."""
    from trackannot.session import VideoSession

    sessions = list(VideoSession.all(store))
    gts = gt_paths(gt, [s.key for s in sessions], store)
    out = []
    for i, session in enumerate(sessions):
        out.append(gather_video(session, gt=gts.get(session.key), gt_class=gt_class))
        if progress is not None:
            progress("videos", i + 1, len(sessions))
    return out


def gt_paths(gt: str | Path | dict[str, Any] | None, keys: list[str],
              store: str | Path) -> dict[str, Path]:
    """{video key: ground-truth file} from `write_report`'s `gt` (see there)."""
    if gt is None:
        return {}
    if isinstance(gt, dict):
        unknown = sorted(set(gt) - set(keys))
        if unknown:
            raise InvalidInputError(f"--gt names videos {', '.join(unknown)} that {store} does "
                                    f"not hold; videos: {', '.join(keys)}")
        return {k: Path(v) for k, v in gt.items()}
    if len(keys) != 1:
        raise InvalidInputError(f"{store} holds {len(keys)} videos: give --gt as KEY=PATH for "
                                "each video to score")
    return {keys[0]: Path(gt)}


def gather_video(session: Any, *, gt: Path | GroundTruth | None = None,
                 gt_class: str | None = None) -> VideoData:
    """Everything the dashboard shows of one video (`session`: a `VideoSession`).

    `gt`: a ground-truth file to score against, or the file read (`trackannot.groundtruth`:
    MOTChallenge gt.txt or KITTI labels); `gt_class`: for KITTI labels, the class scored (the
    spec of `choose_kitti_class`: None to pick, "car", "pedestrian", "car=ID[,ID]")."""
    from trackannot.boxes import Boxes
    from trackannot.replay import load_state
    from trackannot.risk import open_end_items, score_risk

    result = session.result
    attrs = dict(result.attrs)
    status = str(result.status)
    notes: list[str] = []
    index, time_s = result.frames()
    detections = result.read(table="detections") if len(index) else Boxes.empty()
    cfg = session._review_config(result)
    keyframes = state = None
    if status == "complete":
        state = load_state(result)
        boxes, keyframes = state.boxes(), state.keyframes()
        num_frames = int(result.num_frames)
    else:
        boxes = result.read(table="tracks") if len(index) else Boxes.empty()
        num_frames = int(index[-1]) + 1 if len(index) else 0
        what = ("is still running (or was interrupted)" if status == "running" else
                f"failed: {attrs.get('error') or 'no message recorded'}")
        notes.append(f"The tracking run {what}. Shown: the {len(index)} frames it committed "
                     "(automatic tracks only; corrections and review need a complete run).")
    risk = score_risk(boxes, detections, keyframes, cfg)
    ends = open_end_items(boxes, keyframes, num_frames, cfg) if len(boxes) else None
    records = result.queue_records()
    queues = [result.read_queue(r["id"]) for r in records]
    answers = {q.queue_id: result.read_answers(q.queue_id) for q in queues}
    log, _ = result.read_log()
    batches = result.batches()
    audit = _audit(result, queues, answers, log, len(boxes), cfg) if status == "complete" else None
    video_path, moved = _footage(attrs)
    if moved:
        notes.append(moved)
    data = VideoData(
        key=session.key, status=status, error=attrs.get("error"), attrs=attrs,
        num_frames=num_frames, index=index, time_s=time_s, boxes=boxes, detections=detections,
        risk=risk, open_ends=ends, queues=queues, answers=answers, log=log, batches=batches,
        audit=audit, video_path=video_path, notes=notes)
    if gt is not None:
        data.scores, data.score_note = _scores(result, gt, boxes if status == "complete" else None,
                                               gt_class)
    return data


def _audit(result: Any, queues: list[ReviewQueue], answers: dict[str, Answers],
           log: Corrections, boxes_in_video: int, cfg: Any) -> VideoAudit | None:
    """`VideoSession.audit` from what is already read (it would read every box again to count
    them: most of a 2-hour report's time)."""
    from trackannot.advise import advise
    from trackannot.audit import reviewer_stats
    from trackannot.cost import DEFAULT_COST
    from trackannot.session import VideoAudit

    if not len(log) and not any(len(a) for a in answers.values()):
        return None
    return VideoAudit(len(queues), reviewer_stats(queues, answers, cfg),
                      advise(queues, answers, log, result.num_frames, boxes_in_video,
                             DEFAULT_COST, cfg=cfg))


def _footage(attrs: dict[str, Any]) -> tuple[Path | None, str]:
    """The video file the run read, and a note when it is not there any more."""
    recorded = (attrs.get("input") or {}).get("path")
    if not recorded:
        return None, ("No video file is recorded for this run (tracked from detections without "
                      "footage): no previews.")
    path = Path(recorded)
    if not path.is_file() or not os.access(path, os.R_OK):
        return None, (f"The video file {recorded} is not there any more (moved or deleted): no "
                      "previews. Everything else on this page is read from the store.")
    size = (attrs.get("input") or {}).get("size_bytes")
    if size is not None and path.stat().st_size != int(size):
        return None, (f"The file at {recorded} is not the video the run read (its size differs "
                      f"from the recorded {size} bytes): no previews.")
    return path, ""


def _scores(result: Any, gt: Path | GroundTruth, corrected: Boxes | None,
            gt_class: str | None) -> tuple[dict[str, TrackingScores], str]:
    """HOTA/MOTA/IDF1 of the pre-labels and of the corrected annotation against `gt` (a
    MOTChallenge gt.txt, boxes scaled by the seqinfo.ini beside its folder, or a KITTI tracking
    label file, scored for one class: `trackannot.groundtruth`), and what was scored how."""
    from trackannot.groundtruth import (
        GroundTruth, choose_kitti_class, read_ground_truth, score_tracks,
    )

    truth = gt if isinstance(gt, GroundTruth) else read_ground_truth(
        gt, video_width=(result.attrs.get("video") or {}).get("width"))
    from trackannot.replay import read_state

    index, _ = result.frames()
    # pre-labels: the annotation before any correction (the tracks smoothed as the store's
    # settings say: what the export and `trackannot eval` gave then); the raw tracks of a run
    # that did not complete
    auto = read_state(result, until=0).boxes() if corrected is not None else \
        result.read(table="tracks")
    kitti = None
    if truth.format == "KITTI":
        names = (result.attrs.get("detector") or {}).get("class_names")
        shown = corrected if corrected is not None else auto
        kitti = choose_kitti_class(gt_class, names, shown.class_id, shown.track_id, truth)
        how = (f"KITTI {kitti.name.title()} rules (TrackEval's Kitti2DBox: DontCare regions "
               f"ignored, {'Van' if kitti.name == 'car' else 'Person_sitting'} a distractor, "
               f"occluded or truncated objects not counted); tracks scored: {kitti.why}")
    else:
        how = f"{truth.benchmark} rules" + (f", gt boxes scaled x{truth.scale:.4g} by its "
                                           "seqinfo.ini" if truth.scale != 1.0 else "")
    out = {}
    for name, tracks in (("pre-labels", auto), ("corrected", corrected)):
        if tracks is not None:
            out[name] = score_tracks(tracks, truth, index, kitti=kitti)
    return out, f"Against {truth.path} ({how}), on the {len(index):,} frames the run processed."
