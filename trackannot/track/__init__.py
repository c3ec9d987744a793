"""Tracking stage: Kalman prediction + gated Hungarian assignment (ByteTrack-style)."""

from trackannot.track.lagged import FinalFrame, LaggedTracker
from trackannot.track.tracker import Backfill, Tracker, track_detections

__all__ = ["Backfill", "FinalFrame", "LaggedTracker", "Tracker", "track_detections"]
