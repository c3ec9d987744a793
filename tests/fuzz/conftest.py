"""Print how many generated inputs each importer's fuzz test tried (tests/fuzz/_importers.py)."""

from __future__ import annotations

from typing import Any

from tests.fuzz._importers import COUNTS


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not COUNTS:
        return
    names = sorted({name for name, _ in COUNTS})
    terminalreporter.write_sep("-", "fuzzed inputs per importer (valid / refused / total)")
    for name in names:
        valid, refused = COUNTS[(name, "valid")], COUNTS[(name, "refused")]
        terminalreporter.write_line(f"{name:40s} {valid:6d} {refused:6d} {valid + refused:6d}")
