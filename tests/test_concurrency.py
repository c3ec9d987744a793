"""Writers at once (issue 11), in real processes (`tests._kill`).

* Many processes applying one-edit batches to one video at once: every batch reported applied
  is in the log exactly once (by its cell and by its recorded source file and sha256), none
  reported applied is missing, the log replays, the state cache equals a whole replay,
  `trackannot check` finds nothing.
* `track` and `track --overwrite` racing on one video: one writer at a time (every store write
  is checked against the lock holder in the processes' event logs), the one refused is told who
  holds the video, the store is consistent and holds the old or the new group.
* `--overwrite` replaces only the video it names, and never discards corrections silently.

The stress size here fits the suite; the issue's, 8 processes x 50 batches:
    TRACKANNOT_STRESS=8x50 python -m pytest tests/test_concurrency.py -k stress
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests._kill import content
from tests._safety import (
    NEW_CONFIG, RaceRefs, Scenario, cli, race_correct_during_overwrite_wait,
    race_overwrite_during_track, race_track_and_overwrite, race_track_during_overwrite,
    race_track_twice, run_stress,
)
from tests._store import store_digest
from trackannot.check import check_store

STRESS = os.environ.get("TRACKANNOT_STRESS", "3x8")


def test_stress_concurrent_batches_are_each_logged_once(tmp_path: Path) -> None:
    workers, batches = (int(n) for n in STRESS.split("x"))
    result = run_stress(tmp_path, workers, batches)
    assert result.problems == []
    assert result.applied == result.log_batches == result.log_rows == workers * batches
    assert result.refused == 0


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    return Scenario.build(tmp_path_factory.mktemp("race"))


@pytest.fixture(scope="module")
def refs(scenario: Scenario) -> RaceRefs:
    return RaceRefs.build(scenario)


def test_two_track_runs_of_one_video_take_turns(scenario: Scenario, refs: RaceRefs) -> None:
    result = race_track_twice(scenario, refs)
    assert result.problems == [], result.runs
    assert sorted(result.holders) == ["track-1", "track-2"] and result.final == "old"


@pytest.mark.parametrize("first", ["track", "overwrite"])
def test_track_and_overwrite_started_together(scenario: Scenario, refs: RaceRefs,
                                              first: str) -> None:
    result = race_track_and_overwrite(scenario, refs, first)
    assert result.problems == [], result.runs
    assert result.final == "new" and set(result.holders) <= {"track", "overwrite"}
    assert "overwrite" in result.holders


def test_overwrite_while_track_runs_waits_or_names_it(scenario: Scenario,
                                                      refs: RaceRefs) -> None:
    result = race_overwrite_during_track(scenario, refs)
    assert result.problems == [], result.runs
    assert result.holders == ["track", "overwrite-wait"] and result.final == "new"


def test_track_while_overwrite_runs_waits_or_names_it(scenario: Scenario,
                                                      refs: RaceRefs) -> None:
    result = race_track_during_overwrite(scenario, refs)
    assert result.problems == [], result.runs
    assert result.holders == ["overwrite", "track-wait"] and result.final == "new"


def test_overwrite_refuses_a_video_corrected_while_it_waited(scenario: Scenario,
                                                             refs: RaceRefs) -> None:
    result = race_correct_during_overwrite_wait(scenario, refs)
    assert result.problems == [], result.runs
    assert result.holders == ["correct", "overwrite"] and result.final == "corrected"


def _files(store: Path, prefix: str) -> dict[str, str]:
    return {k: v for k, v in store_digest(store).items() if k.startswith(prefix)}


def test_overwrite_leaves_every_other_video_as_it_was(scenario: Scenario, refs: RaceRefs,
                                                      tmp_path: Path) -> None:
    store = tmp_path / "s.zarr"
    shutil.copytree(scenario.stores["corrected"], store)  # v0 and v1 both corrected
    v1 = _files(store, "v1/")
    cache = (store / ".trackannot" / "cache" / "v1.sqlite").read_bytes()
    result = cli(*scenario.track_argv(0, store, "--overwrite", "--discard-corrections",
                                      *NEW_CONFIG))
    assert result.exit_code == 0 and "(replaced the earlier group)" in result.output
    assert _files(store, "v1/") == v1 and len(v1) > 100
    assert (store / ".trackannot" / "cache" / "v1.sqlite").read_bytes() == cache
    assert content(store) == refs.new  # v0 replaced, its corrections discarded; v1 kept
    assert check_store(store).consistent


def test_overwrite_of_a_corrected_video_needs_discard_corrections(scenario: Scenario,
                                                                  tmp_path: Path) -> None:
    store = tmp_path / "s.zarr"
    shutil.copytree(scenario.stores["corrected"], store)
    files = store_digest(store)
    result = cli(*scenario.track_argv(0, store, "--overwrite", *NEW_CONFIG))
    assert result.exit_code == 1
    assert "'v0' holds 2 corrections in 1 batches by ana" in result.output
    assert "--discard-corrections" in result.output
    assert store_digest(store) == files
