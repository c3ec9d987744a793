"""The simulated annotator: moved to `trackannot.simulate` (the demo uses it); re-exported here."""

from __future__ import annotations

from trackannot.simulate import (
    ACCEPT_IOU,
    IGNORE_IOA,
    MATCH_IOU,
    Oracle,
    box_iou,
    match_frame,
    owners,
)

__all__ = ["ACCEPT_IOU", "IGNORE_IOA", "MATCH_IOU", "Oracle", "box_iou", "match_frame", "owners"]
