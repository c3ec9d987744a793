"""trackannot: turn video into tracked pre-labels that people check at a few keyframes."""

from trackannot.advise import Advice, advise
from trackannot.annotate import apply_corrections, load_state
from trackannot.audit import ReviewerStats, reviewer_stats
from trackannot.boxes import COLUMNS, Boxes, Origin
from trackannot.config import (
    DecodeConfig,
    DetectConfig,
    InterpolateConfig,
    PipelineConfig,
    ReviewConfig,
    StoreConfig,
    TrackConfig,
    load_config,
)
from trackannot.corrections import Corrections, Op, read_corrections_file
from trackannot.cost import ActionCounts, CostModel
from trackannot.decode import FrameBatch, VideoInfo, decode_frames, probe_video
from trackannot.detect import Detector, FileDetector, make_detector, read_mot_file, read_seqinfo
from trackannot.errors import (
    ConfigError,
    ConflictError,
    CorruptStoreError,
    InputFormatError,
    LockedError,
    NotAVideoError,
    StoreError,
    TrackannotError,
    VideoDecodeError,
    WeightsNotFoundError,
)
from trackannot.export import (
    VideoMeta,
    read_cvat_video,
    read_labelstudio,
    write_coco,
    write_cvat_video,
    write_labelstudio,
    write_yolo,
)
from trackannot.export.mot import write_mot
from trackannot.inputs import collect_videos, read_manifest
from trackannot.interpolate import interpolate, interpolate_linear
from trackannot.keyframes import Keyframes
from trackannot.review import Answers, ItemKind, ReviewQueue, build_queue
from trackannot.risk import Reason, Risk, rank_frames, score_risk
from trackannot.smooth import smooth_tracks
from trackannot.sparse import sparse_keyframes
from trackannot.pipeline import VideoSummary, failures, track_videos
from trackannot.state import AnnotationState
from trackannot.store import TrackStore, VideoResult, open_store
from trackannot.track import Tracker, track_detections

__version__ = "0.1.0"

__all__ = [
    "ActionCounts",
    "Advice",
    "AnnotationState",
    "Answers",
    "Boxes",
    "COLUMNS",
    "ConfigError",
    "ConflictError",
    "CorruptStoreError",
    "Corrections",
    "CostModel",
    "DecodeConfig",
    "DetectConfig",
    "Detector",
    "FileDetector",
    "FrameBatch",
    "InputFormatError",
    "InterpolateConfig",
    "ItemKind",
    "Keyframes",
    "LockedError",
    "NotAVideoError",
    "Op",
    "Origin",
    "PipelineConfig",
    "Reason",
    "ReviewConfig",
    "ReviewQueue",
    "ReviewerStats",
    "Risk",
    "StoreConfig",
    "StoreError",
    "TrackConfig",
    "TrackStore",
    "TrackannotError",
    "Tracker",
    "VideoDecodeError",
    "VideoInfo",
    "VideoMeta",
    "VideoResult",
    "VideoSummary",
    "WeightsNotFoundError",
    "advise",
    "apply_corrections",
    "build_queue",
    "collect_videos",
    "decode_frames",
    "failures",
    "interpolate",
    "interpolate_linear",
    "load_config",
    "load_state",
    "make_detector",
    "open_store",
    "probe_video",
    "rank_frames",
    "read_corrections_file",
    "read_cvat_video",
    "read_labelstudio",
    "read_manifest",
    "read_mot_file",
    "read_seqinfo",
    "reviewer_stats",
    "score_risk",
    "smooth_tracks",
    "sparse_keyframes",
    "track_detections",
    "track_videos",
    "write_coco",
    "write_cvat_video",
    "write_labelstudio",
    "write_mot",
    "write_yolo",
]
