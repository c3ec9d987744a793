"""The store's data safety under concurrency and SIGKILL (issue 11, "Must show"), at full size.

Runs the trials of the tests (`tests/_safety.py`, `tests/_kill.py`) at the issue's sizes:

* stress: W processes x B one-edit batches on one video at once (default 8 x 50), each report
  matched against the log (cell, source file, sha256), the state cache against a whole replay,
  `trackannot check`;
* SIGKILL: K seeded random store operations (default 20) of each write path (`track`,
  `correct`, review answers, `review`, `track --overwrite`), plus the commit points (the
  log's commit, the queue list's, the overwrite's two renames): after each, `check`, the content
  before/after, a rerun, the next `correct`, cache == whole replay, `check --repair`;
* races: two `track` runs; `track` and `track --overwrite` started together in both orders; an
  overwrite while a `track` runs and a `track` while an overwrite runs (each paused mid-run, a
  second writer refused with no wait and one waiting); a `correct` landing while an overwrite
  waits.

Prints a Markdown table (what was tried, how many, outcomes, problems, time) and writes
benchmarks/results/store_safety.json. Every problem seen is reported, none is hidden.

Run from the repository root (about 15 minutes on 2 cores):

    python -m benchmarks.bench_store_safety
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

os.environ.setdefault("YOLO_OFFLINE", "1")

from benchmarks._common import result_doc, write_json  # noqa: E402
from tests import _kill, _safety  # noqa: E402

OUT = Path(__file__).parent / "results" / "store_safety.json"
SEEDS = {name: 2024 + i for i, name in enumerate(_safety.WRITE_PATHS)}  # as the tests
# commit points of each write path: (regular expression of the store operation, last match)
COMMIT_POINTS = {
    "track": [(r"^v0/zarr\.[0-9a-f]+\.partial -> v0/zarr\.json$", True)],
    "correct": [(r"^v0/zarr\.[0-9a-f]+\.partial -> v0/zarr\.json$", True)],
    "answers": [(r"^v0/zarr\.[0-9a-f]+\.partial -> v0/zarr\.json$", True)],
    "review": [(r"^v0/review/zarr\.[0-9a-f]+\.partial -> v0/review/zarr\.json$", True)],
    "overwrite": [(r"^v0 -> \.trackannot/trash/v0~", False),
                  (r"^\.trackannot/replacing/v0 -> v0$", False)],
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--batches", type=int, default=50)
    parser.add_argument("--kills", type=int, default=20, help="random kills per write path")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="trackannot-safety-") as tmp:
        rows, results = run_all(Path(tmp), args.workers, args.batches, args.kills)
    print(table(rows))
    write_json(args.out, result_doc("benchmarks.bench_store_safety", results,
                                    workers=args.workers, batches=args.batches,
                                    kills_per_path=args.kills))
    print(f"\nwrote {args.out}")
    return 1 if any(row["problems"] for row in rows) else 0


def run_all(tmp: Path, workers: int, batches: int, kills: int
            ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    results: dict[str, Any] = {}
    stress = _safety.run_stress(tmp / "stress", workers, batches)
    results["stress"] = asdict(stress)
    rows.append({"trial": f"stress: {workers} processes x {batches} one-edit batches, one video",
                 "tries": workers * batches,
                 "outcomes": f"{stress.applied} applied, {stress.refused} refused; log: "
                             f"{stress.log_batches} batches, {stress.log_rows} rows",
                 "problems": stress.problems, "seconds": stress.seconds})
    scenario = _safety.Scenario.build(tmp / "scenario")
    results["kills"] = {}
    for name in _safety.WRITE_PATHS:
        t0 = time.perf_counter()
        ref = _safety.Reference.run(scenario, name, scenario.folder)
        points = _kill.kill_points(ref.total, kills, SEEDS[name])
        commits = sorted({_kill.point_of(ref.events, pattern, last) + step
                          for pattern, last in COMMIT_POINTS[name] for step in (0, 1)})
        outcomes = [_safety.kill_write_path(scenario, ref, k, scenario.folder)
                    for k in points + commits]
        results["kills"][name] = {"operations": ref.total, "random": points,
                                  "commit_points": commits,
                                  "outcomes": [asdict(o) for o in outcomes]}
        for label, chosen in (("random", points), ("commit points", commits)):
            done = [o for o in outcomes if o.point in chosen]
            states = collections.Counter(o.state for o in done)
            rows.append({
                "trial": f"SIGKILL `{name}`, {label} of its {ref.total} store operations",
                "tries": len(done),
                "outcomes": ", ".join(f"{n} {s}" for s, n in sorted(states.items()))
                            + f"; check consistent after {sum(not _damaged(o) for o in done)}"
                            + f"; rerun and next `correct` ok after "
                            f"{sum(not o.problems for o in done)}",
                "problems": [f"at {o.point}: {p}" for o in done for p in o.problems],
                "seconds": sum(o.seconds for o in done)
                           + (time.perf_counter() - t0 - sum(o.seconds for o in outcomes)
                              if label == "random" else 0.0)})
    refs = _safety.RaceRefs.build(scenario)
    races = [_safety.race_track_twice(scenario, refs),
             _safety.race_track_and_overwrite(scenario, refs, "track"),
             _safety.race_track_and_overwrite(scenario, refs, "overwrite"),
             _safety.race_overwrite_during_track(scenario, refs),
             _safety.race_track_during_overwrite(scenario, refs),
             _safety.race_correct_during_overwrite_wait(scenario, refs)]
    results["races"] = [asdict(r) for r in races]
    for race in races:
        rows.append({"trial": f"race: {race.name}", "tries": len(race.runs),
                     "outcomes": f"lock holders in turn: {', '.join(race.holders) or 'none'}; "
                                 f"v0 ends {race.final}; "
                                 + "; ".join(_said(run) for run in race.runs),
                     "problems": race.problems, "seconds": race.seconds})
    return rows, results


def _damaged(outcome: _safety.KillOutcome) -> bool:
    return any(p.startswith("check after the kill") for p in outcome.problems)


def _said(run: str) -> str:
    """`label (pid N): exit C: ... | last line` -> `label: exit C (gist)`."""
    label, _, rest = run.partition(" (pid ")
    code = rest.split(": ", 2)[1] if ": " in rest else ""
    text = rest.split(": ", 2)[-1]
    gist = ("refused: names the holder" if "is being written by" in text else
            "refused: other config" if "another configuration" in text else
            "refused: human work" if "would discard human work" in text else
            "skipped (done)" if "skipped" in text else
            "replaced" if "replaced the earlier group" in text else
            "applied" if "applied as batch" in text else
            "tracked" if "frames," in text else text[:60])
    return f"{label} {code} ({gist})"


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| trial | tries | outcomes | problems | time (s) |", "|---|---|---|---|---|"]
    for row in rows:
        problems = "; ".join(p.replace("|", "/")[:300] for p in row["problems"]) or "none"
        lines.append(f"| {row['trial']} | {row['tries']} | {row['outcomes']} | {problems} | "
                     f"{row['seconds']:.1f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
