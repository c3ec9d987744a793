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
from trackannot.errors import (
    ConfigError,
    InputFormatError,
    StoreError,
    TrackannotError,
    VideoDecodeError,
    WeightsNotFoundError,
)

__version__ = "0.1.0"

__all__ = [
    "COLUMNS",
    "Boxes",
    "ConfigError",
    "DecodeConfig",
    "DetectConfig",
    "InputFormatError",
    "Origin",
    "PipelineConfig",
    "StoreConfig",
    "StoreError",
    "TrackConfig",
    "TrackannotError",
    "VideoDecodeError",
    "WeightsNotFoundError",
    "load_config",
]
