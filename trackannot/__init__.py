"""trackannot: turn video into tracked pre-labels that people check at a few keyframes."""

from trackannot.boxes import COLUMNS, Boxes, Origin
from trackannot.config import (
    DecodeConfig,
    DetectConfig,
    PipelineConfig,
    StoreConfig,
    TrackConfig,
    load_config,
)
from trackannot.decode import FrameBatch, VideoInfo, decode_frames, probe_video
from trackannot.detect import Detector, FileDetector, make_detector, read_mot_file, read_seqinfo
from trackannot.errors import (
    ConfigError,
    InputFormatError,
    StoreError,
    TrackannotError,
    VideoDecodeError,
    WeightsNotFoundError,
)
from trackannot.store import TrackStore, VideoResult, open_store
from trackannot.track import Tracker, track_detections

__version__ = "0.1.0"

__all__ = [
    "COLUMNS",
    "Boxes",
    "ConfigError",
    "DecodeConfig",
    "DetectConfig",
    "Detector",
    "FileDetector",
    "FrameBatch",
    "InputFormatError",
    "Origin",
    "PipelineConfig",
    "StoreConfig",
    "StoreError",
    "TrackConfig",
    "TrackStore",
    "Tracker",
    "TrackannotError",
    "VideoInfo",
    "VideoResult",
    "VideoDecodeError",
    "WeightsNotFoundError",
    "decode_frames",
    "load_config",
    "make_detector",
    "open_store",
    "probe_video",
    "read_mot_file",
    "read_seqinfo",
    "track_detections",
]
