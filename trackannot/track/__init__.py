"""Tracking stage: Kalman prediction + gated Hungarian assignment (ByteTrack-style)."""

from trackannot.track.tracker import Tracker, track_detections

__all__ = ["Tracker", "track_detections"]
