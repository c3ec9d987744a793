"""Fuzz every importer with more examples than the test suite, and count what happened.

Runs the Hypothesis strategies and the property of tests/fuzz/_importers.py (the same ones the
test suite runs, deterministic: derandomize=True) with `--parse` inputs per reader and `--apply`
inputs per importer applied to a copy of a store (`apply_corrections`, store hashed before and
after: a refused file must leave it byte for byte unchanged). Any exception other than a
`TrackannotError`, or a changed store, stops the run with Hypothesis's minimal example.

Prints a Markdown table: per importer, inputs tried, valid (a valid batch or result), refused (a
clean `TrackannotError`), tracebacks (always 0: the run fails otherwise) and seconds.

Run:
    python -m benchmarks.fuzz_importers                        # 2000 per reader, 100 applied
    python -m benchmarks.fuzz_importers --parse 300 --apply 20
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings

from tests.fuzz import _importers as fuzz


def _run(kind: str, importer: str, examples: int, ctx: fuzz.Context) -> float:
    strategy = fuzz.strategies(ctx)[importer]
    step = fuzz.parse if kind == "parse" else fuzz.apply

    @settings(max_examples=examples, derandomize=True, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(data=strategy)
    def run(data: bytes) -> None:
        step(importer, data, ctx)

    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parse", type=int, default=2000, help="inputs per reader")
    parser.add_argument("--apply", type=int, default=100, help="inputs applied per importer")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        ctx = fuzz.make_context(Path(tmp))
        for importer in fuzz._READERS:
            rows.append((importer, _run("parse", importer, args.parse, ctx)))
            if importer in fuzz.APPLIED:
                rows.append((f"{importer} (apply)", _run("apply", importer, args.apply, ctx)))
    print("| importer | inputs tried | valid | refused (TrackannotError) | tracebacks | s |")
    print("|---|---:|---:|---:|---:|---:|")
    total = [0, 0]
    for name, seconds in rows:
        valid, refused = fuzz.COUNTS[(name, "valid")], fuzz.COUNTS[(name, "refused")]
        total[0] += valid
        total[1] += refused
        print(f"| {name} | {valid + refused} | {valid} | {refused} | 0 | {seconds:.1f} |")
    print(f"| **all** | {sum(total)} | {total[0]} | {total[1]} | 0 | "
          f"{sum(s for _, s in rows):.1f} |")


if __name__ == "__main__":
    main()
