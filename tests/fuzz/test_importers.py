"""Fuzz every importer (Hypothesis): a clean TrackannotError or a valid batch, never a traceback;
a refused file leaves the store byte for byte as it was.

Deterministic (`derandomize=True`, no example database) and bounded: `PARSE_EXAMPLES` inputs per
reader and `APPLY_EXAMPLES` per importer applied to a copy of a store. The counts of each run are
printed at the end of the session (tests/fuzz/conftest.py); `benchmarks/fuzz_importers.py` runs
the same strategies with more examples.
"""

from __future__ import annotations


import pytest
from hypothesis import HealthCheck, given, settings

from tests.fuzz import _importers as fuzz

PARSE_EXAMPLES = 300
APPLY_EXAMPLES = 20
_SETTINGS = {"derandomize": True, "deadline": None, "database": None,
             "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large]}


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> fuzz.Context:
    return fuzz.make_context(tmp_path_factory.mktemp("fuzz"))


@pytest.mark.parametrize("importer", list(fuzz._READERS))
def test_a_reader_refuses_cleanly_or_gives_valid_values(ctx: fuzz.Context, importer: str) -> None:
    strategy = fuzz.strategies(ctx)[importer]
    outcomes: set[str] = set()

    @settings(max_examples=PARSE_EXAMPLES, **_SETTINGS)
    @given(data=strategy)
    def run(data: bytes) -> None:
        outcomes.add(fuzz.parse(importer, data, ctx))

    run()
    assert outcomes == {"valid", "refused"}, outcomes  # the inputs reach both sides


@pytest.mark.parametrize("importer", fuzz.APPLIED)
def test_applying_refuses_cleanly_and_leaves_the_store_unchanged(ctx: fuzz.Context,
                                                                importer: str) -> None:
    strategy = fuzz.strategies(ctx)[importer]
    outcomes: set[str] = set()

    @settings(max_examples=APPLY_EXAMPLES, **_SETTINGS)
    @given(data=strategy)
    def run(data: bytes) -> None:
        outcomes.add(fuzz.apply(importer, data, ctx))

    run()
    assert "refused" in outcomes, outcomes
