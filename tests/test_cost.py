"""Cost model in the library: actions counted from a corrections log, and the benchmark's re-export."""

from __future__ import annotations

import pytest

import benchmarks.effort.cost as bench_cost
from trackannot.corrections import Corrections, Op
from trackannot.cost import DEFAULT_COST, ActionCounts, CostModel, counts_from_log


def test_counts_from_log_maps_each_op_to_its_action():
    ops = [Op.ACCEPT] * 4 + [Op.ADJUST] * 3 + [Op.ABSENT] * 2 + [Op.CREATE, Op.SPLIT, Op.MERGE, Op.MERGE, Op.CLASS]
    log = Corrections.create(op=ops, track_id=[1] * len(ops), frame=[0] * len(ops))
    counts = counts_from_log(log)
    assert counts.as_dict() == {"verify": 5, "adjust": 3, "draw": 1, "delete": 2, "split": 1, "merge": 2}
    cost = CostModel(verify_s=1.0, adjust_s=10.0, draw_s=100.0, delete_s=1000.0, identity_s=10000.0)
    assert cost.seconds(counts) == pytest.approx(5 + 30 + 100 + 2000 + 30000)


def test_counts_from_an_empty_log_are_zero():
    assert counts_from_log(Corrections.empty()).as_dict() == ActionCounts().as_dict()
    assert DEFAULT_COST.seconds(counts_from_log(Corrections.empty())) == 0.0


def test_benchmark_names_are_the_library_objects():
    assert bench_cost.CostModel is CostModel
    assert bench_cost.ActionCounts is ActionCounts
    assert bench_cost.DEFAULT_COST is DEFAULT_COST
