"""The workflow comparison's data: the effort benchmark's curves and crossing points.

Read from ``benchmarks/results/effort_<dataset>.json`` (written by ``benchmarks/effort/run.py``):
per dataset and strategy, one row per effort level with human s/frame, box accuracy, HOTA,
IDF1 and the actions the simulated annotator took; the s/frame where each curve crosses 93% and
95% box accuracy; and the published 0.08 s/frame reference at 93%.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trackannot.errors import InvalidInputError, NotFoundError

__all__ = ["PUBLISHED_S_PER_FRAME", "TARGETS", "EffortResults", "load_effort"]

PUBLISHED_S_PER_FRAME = 0.08
"""The published recipe's claim: human seconds per frame at 93% box accuracy."""
TARGETS = ("0.93", "0.95")
_METRICS = {"human_s_per_frame", "box_accuracy", "human_s", "hota", "idf1", "frames_reviewed",
            "actions", "halves"}


@dataclass
class EffortResults:
    """The effort results loaded: {dataset: {"rows": {strategy: [level rows]}, "crossings":
    {strategy: {"0.93": s/frame or None, "0.95": ...}}, "file": path}}; `missing` says why a
    page has nothing to show."""

    datasets: dict[str, dict[str, Any]] = field(default_factory=dict)
    cost_model: dict[str, float] = field(default_factory=dict)
    missing: str = ""


def level_of(row: dict[str, Any]) -> str:
    """A level row's setting in words, e.g. "k=10" or "budget_s_per_frame=0.8"."""
    return ", ".join(f"{k}={v}" for k, v in row.items() if k not in _METRICS) or "-"


def load_effort(effort: str | Path | list[str | Path] | None) -> EffortResults:
    """The effort results of `effort`: files, or a folder whose ``effort_*.json`` are read.

    Raises:
        NotFoundError: a named file or folder does not exist.
        InvalidInputError: a file is not an effort benchmark result.
    """
    if effort is None:
        return EffortResults(missing="No effort benchmark results were given (trackannot report "
                             "--effort benchmarks/results): run benchmarks/effort/run.py to make "
                             "them.")
    paths: list[Path] = []
    for item in effort if isinstance(effort, list) else [effort]:
        item = Path(item)
        if item.is_dir():
            paths += sorted(p for p in item.glob("effort_*.json") if p.stem.count("_") == 1)
        elif item.is_file():
            paths.append(item)
        else:
            raise NotFoundError(f"--effort {item}: no such file or folder (expected "
                                "effort_<dataset>.json files or their folder)")
    out = EffortResults()
    for path in paths:
        try:
            doc = json.loads(path.read_text())
            datasets = doc["datasets"]
            for name, ds in datasets.items():
                crossings = {s: c["all"] for s, c in ds.get("crossings", {}).items()}
                out.datasets[name] = {"rows": ds["rows"], "crossings": crossings,
                                      "file": str(path), "frames": ds.get("frames")}
            out.cost_model = doc.get("cost_model") or out.cost_model
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
            raise InvalidInputError(f"--effort {path}: not an effort benchmark result (expected "
                                    f"JSON with datasets.<name>.rows and crossings): {err}") from err
    if not out.datasets:
        out.missing = f"No effort_<dataset>.json results found in {effort}."
    return out
