"""Export tracked boxes as MOTChallenge text: `frame,id,left,top,width,height,conf,-1,-1,-1`."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from trackannot.boxes import Boxes

__all__ = ["format_mot", "write_mot"]


def format_mot(boxes: Boxes) -> str:
    """MOTChallenge rows for tracked boxes (untracked rows, track_id -1, are left out).

    Frames are written 1-based, as MOTChallenge expects; boxes as left, top, width, height in
    pixels with two decimals.
    """
    rows = boxes[boxes.track_id >= 0]
    xywh = rows.xyxy.astype(np.float64)
    xywh[:, 2:] -= xywh[:, :2]
    table = np.column_stack(
        [rows.frame + 1, rows.track_id, xywh, rows.score.astype(np.float64),
         np.full((len(rows), 3), -1.0)]
    )
    buf = io.StringIO()
    np.savetxt(buf, table, fmt=["%d", "%d", "%.2f", "%.2f", "%.2f", "%.2f", "%.4f", "%d", "%d", "%d"],
               delimiter=",")
    return buf.getvalue()


def write_mot(boxes: Boxes, path: str | Path) -> Path:
    """Write `boxes` to `path` atomically (via `path.partial`, then rename)."""
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(format_mot(boxes), encoding="utf-8")
    os.replace(partial, path)
    return path
