"""Cost model of the effort benchmark: re-exported from `trackannot.cost` (sources in its docstring)."""

from __future__ import annotations

from trackannot.cost import DEFAULT_COST, ActionCounts, CostModel

__all__ = ["ActionCounts", "CostModel", "DEFAULT_COST"]
