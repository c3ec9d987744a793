"""trackannot: turn video into tracked pre-labels that people check at a few keyframes.

Every public name is imported on first use (PEP 562), so `import trackannot` and
`trackannot --help` load neither torch, ultralytics, PyAV nor zarr until a call needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_WHERE = {
    # trackannot.advise
    "Advice": "trackannot.advise",
    "advise": "trackannot.advise",
    # trackannot.annotate
    "apply_corrections": "trackannot.annotate",
    "load_state": "trackannot.annotate",
    # trackannot.audit
    "ReviewerStats": "trackannot.audit",
    "reviewer_stats": "trackannot.audit",
    # trackannot.boxes
    "Boxes": "trackannot.boxes",
    "COLUMNS": "trackannot.boxes",
    "Origin": "trackannot.boxes",
    # trackannot.config
    "DecodeConfig": "trackannot.config",
    "DetectConfig": "trackannot.config",
    "InterpolateConfig": "trackannot.config",
    "PipelineConfig": "trackannot.config",
    "PropagateConfig": "trackannot.config",
    "ReviewConfig": "trackannot.config",
    "StoreConfig": "trackannot.config",
    "TrackConfig": "trackannot.config",
    "load_config": "trackannot.config",
    # trackannot.corrections
    "Corrections": "trackannot.corrections",
    "Op": "trackannot.corrections",
    "read_corrections_file": "trackannot.corrections",
    # trackannot.cost
    "ActionCounts": "trackannot.cost",
    "CostModel": "trackannot.cost",
    # trackannot.decode
    "FrameBatch": "trackannot.decode",
    "VideoInfo": "trackannot.decode",
    "decode_frames": "trackannot.decode",
    "probe_input": "trackannot.decode",
    "probe_video": "trackannot.decode",
    # trackannot.detect
    "Detector": "trackannot.detect",
    "FileDetector": "trackannot.detect",
    "make_detector": "trackannot.detect",
    "read_mot_file": "trackannot.detect",
    "read_seqinfo": "trackannot.detect",
    # trackannot.errors
    "ConfigError": "trackannot.errors",
    "ConflictError": "trackannot.errors",
    "CorruptStoreError": "trackannot.errors",
    "InputFormatError": "trackannot.errors",
    "InvalidInputError": "trackannot.errors",
    "LockedError": "trackannot.errors",
    "NotAVideoError": "trackannot.errors",
    "NotFoundError": "trackannot.errors",
    "RunIncompleteError": "trackannot.errors",
    "StaleRevisionError": "trackannot.errors",
    "StoreError": "trackannot.errors",
    "StoreConflictError": "trackannot.errors",
    "StoreInputError": "trackannot.errors",
    "StoreNotFoundError": "trackannot.errors",
    "TrackannotError": "trackannot.errors",
    "VideoDecodeError": "trackannot.errors",
    "WeightsNotFoundError": "trackannot.errors",
    "http_status": "trackannot.errors",
    # trackannot.export
    "VideoMeta": "trackannot.export",
    "read_cvat_video": "trackannot.export",
    "read_labelstudio": "trackannot.export",
    "write_coco": "trackannot.export",
    "write_cvat_video": "trackannot.export",
    "write_labelstudio": "trackannot.export",
    "write_yolo": "trackannot.export",
    # trackannot.export.mot
    "write_mot": "trackannot.export.mot",
    # trackannot.inputs
    "collect_videos": "trackannot.inputs",
    "read_manifest": "trackannot.inputs",
    # trackannot.interpolate
    "interpolate": "trackannot.interpolate",
    "interpolate_linear": "trackannot.interpolate",
    # trackannot.keyframes
    "Keyframes": "trackannot.keyframes",
    # trackannot.propagate
    "Stop": "trackannot.propagate",
    "StopReason": "trackannot.propagate",
    "propagate": "trackannot.propagate",
    # trackannot.pipeline
    "VideoSummary": "trackannot.pipeline",
    "failures": "trackannot.pipeline",
    "track_videos": "trackannot.pipeline",
    # trackannot.candidates
    "Candidates": "trackannot.candidates",
    "find_candidates": "trackannot.candidates",
    # trackannot.proposals
    "Proposals": "trackannot.proposals",
    "propose_keyframes": "trackannot.proposals",
    # trackannot.review
    "Answers": "trackannot.review",
    "ItemKind": "trackannot.review",
    "ReviewQueue": "trackannot.review",
    "build_queue": "trackannot.review",
    "rejected_candidates": "trackannot.review",
    # trackannot.risk
    "Reason": "trackannot.risk",
    "Risk": "trackannot.risk",
    "OpenEnds": "trackannot.risk",
    "open_end_items": "trackannot.risk",
    "rank_frames": "trackannot.risk",
    "score_risk": "trackannot.risk",
    # trackannot.session
    "VideoSession": "trackannot.session",
    # trackannot.smooth
    "smooth_tracks": "trackannot.smooth",
    # trackannot.sparse
    "sparse_keyframes": "trackannot.sparse",
    # trackannot.state
    "AnnotationState": "trackannot.state",
    # trackannot.store
    "TrackStore": "trackannot.store",
    "VideoResult": "trackannot.results",
    "open_store": "trackannot.results",
    # trackannot.track
    "LaggedTracker": "trackannot.track",
    "Tracker": "trackannot.track",
    "track_detections": "trackannot.track",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'trackannot' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next access is a plain lookup
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])


if TYPE_CHECKING:  # for type checkers and IDEs: the same names, imported eagerly
    from trackannot.advise import Advice, advise  # noqa: F401
    from trackannot.annotate import apply_corrections, load_state  # noqa: F401
    from trackannot.audit import ReviewerStats, reviewer_stats  # noqa: F401
    from trackannot.boxes import Boxes, COLUMNS, Origin  # noqa: F401
    from trackannot.config import (  # noqa: F401
        DecodeConfig, DetectConfig, InterpolateConfig, PipelineConfig, PropagateConfig,
        ReviewConfig, StoreConfig, TrackConfig, load_config,
    )
    from trackannot.corrections import Corrections, Op, read_corrections_file  # noqa: F401
    from trackannot.cost import ActionCounts, CostModel  # noqa: F401
    from trackannot.decode import (  # noqa: F401
        FrameBatch, VideoInfo, decode_frames, probe_input, probe_video,
    )
    from trackannot.detect import (  # noqa: F401
        Detector, FileDetector, make_detector, read_mot_file, read_seqinfo,
    )
    from trackannot.errors import (  # noqa: F401
        ConfigError, ConflictError, CorruptStoreError, InputFormatError,
        InvalidInputError, LockedError, NotAVideoError, NotFoundError,
        RunIncompleteError, StaleRevisionError, StoreConflictError, StoreError, StoreInputError,
        StoreNotFoundError, TrackannotError,
        VideoDecodeError, WeightsNotFoundError, http_status,
    )
    from trackannot.export import (  # noqa: F401
        VideoMeta, read_cvat_video, read_labelstudio, write_coco, write_cvat_video,
        write_labelstudio, write_yolo,
    )
    from trackannot.export.mot import write_mot  # noqa: F401
    from trackannot.inputs import collect_videos, read_manifest  # noqa: F401
    from trackannot.interpolate import interpolate, interpolate_linear  # noqa: F401
    from trackannot.keyframes import Keyframes  # noqa: F401
    from trackannot.propagate import Stop, StopReason, propagate  # noqa: F401
    from trackannot.pipeline import VideoSummary, failures, track_videos  # noqa: F401
    from trackannot.candidates import Candidates, find_candidates  # noqa: F401
    from trackannot.proposals import Proposals, propose_keyframes  # noqa: F401
    from trackannot.review import (  # noqa: F401
        Answers, ItemKind, ReviewQueue, build_queue, rejected_candidates,
    )
    from trackannot.risk import (  # noqa: F401
        OpenEnds, Reason, Risk, open_end_items, rank_frames, score_risk,
    )
    from trackannot.session import VideoSession  # noqa: F401
    from trackannot.smooth import smooth_tracks  # noqa: F401
    from trackannot.sparse import sparse_keyframes  # noqa: F401
    from trackannot.state import AnnotationState  # noqa: F401
    from trackannot.results import VideoResult, open_store  # noqa: F401
    from trackannot.store import TrackStore  # noqa: F401
    from trackannot.track import LaggedTracker, Tracker, track_detections  # noqa: F401
