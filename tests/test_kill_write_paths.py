"""SIGKILL at random points of every write path (issue 11): `track`, `correct`, review answers
(`correct --queue`), `review` (queue writes) and `track --overwrite` (its renames included).

Each command runs in a child process killed just before its K-th operation on the store (a zarr
file write or delete, a rename, a file deleted inside a tree, a state-cache COMMIT; seeded random
K, `tests._kill`). After each kill the store passes `trackannot check` (crash leftovers allowed,
no damage), holds exactly what it held before or after the command (committed content: groups'
arrays, the corrections log and its batch records, queues and answers; a killed `track` may
also leave its video "running" at a commit, holding the first frames of the finished run), a
rerun of the killed command gives the after state, the next `correct` works, the annotation read
through the state cache equals a whole replay, and `check --repair` leaves no finding.

Kills per write path here fit the suite; the issue's 20:
    TRACKANNOT_KILL_POINTS=20 python -m pytest tests/test_kill_write_paths.py -k random
"""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path
from typing import Callable

import pytest

from tests import _kill
from tests._safety import WRITE_PATHS, Reference, Scenario, kill_write_path
from trackannot.check import check_store

KILL_POINTS = int(os.environ.get("TRACKANNOT_KILL_POINTS", "1"))
SEEDS = {name: 2024 + i for i, name in enumerate(WRITE_PATHS)}
# what a store may hold after a kill, per write path
STATES = {name: {"before", "after"} for name in WRITE_PATHS} | {
    "track": {"before", "after", "interrupted"}}


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    return Scenario.build(tmp_path_factory.mktemp("kill"))


@pytest.fixture(scope="module")
def reference(scenario: Scenario) -> Callable[[str], Reference]:
    """Each write path run once uninterrupted (its operations counted), on first use."""
    done: dict[str, Reference] = {}

    def get(name: str) -> Reference:
        if name not in done:
            done[name] = Reference.run(scenario, name, scenario.folder)
        return done[name]

    return get


@pytest.mark.parametrize("name", WRITE_PATHS)
def test_sigkill_at_random_points(scenario: Scenario, reference: Callable[[str], Reference],
                                  name: str) -> None:
    ref = reference(name)
    assert ref.before != ref.after and ref.total > 50
    for point in _kill.kill_points(ref.total, KILL_POINTS, SEEDS[name]):
        outcome = kill_write_path(scenario, ref, point, scenario.folder)
        assert outcome.problems == [], f"{name} killed at operation {point} of {ref.total}"
        assert outcome.state in STATES[name]


def test_sigkill_between_the_renames_of_an_overwrite(
        scenario: Scenario, reference: Callable[[str], Reference]) -> None:
    """Killed after the old group moved to the trash and before the new one moved in: readers
    get the finished replacement, `check` lists it as a leftover, the next writer swaps it in."""
    ref = reference("overwrite")
    point = _kill.point_of(ref.events, r"^\.trackannot/replacing/v0 -> v0$")
    assert _kill.point_of(ref.events, r"^v0 -> \.trackannot/trash/v0~") == point - 1
    outcome = kill_write_path(scenario, ref, point, scenario.folder)
    assert outcome.problems == [] and outcome.state == "after"
    store = scenario.folder / f"overwrite-k{point}.zarr"
    assert (store / "v0" / "zarr.json").is_file()  # swapped in by the rerun
    assert not list((store / ".trackannot" / "trash").iterdir())


def test_sigkill_between_a_batch_commit_and_the_cache(
        scenario: Scenario, reference: Callable[[str], Reference]) -> None:
    """Killed after the log's commit, before the state cache's: the batch is in (after), the
    cache a batch behind catches up on the next batch."""
    ref = reference("correct")
    commit = _kill.point_of(ref.events, r"^v0/zarr\.[0-9a-f]+\.partial -> v0/zarr\.json$",
                            last=True)
    assert _kill.point_of(ref.events, r"^\.trackannot/cache/v0\.sqlite$", last=True) > commit
    outcome = kill_write_path(scenario, ref, commit + 1, scenario.folder)
    assert outcome.problems == [] and outcome.state == "after"
    before_commit = kill_write_path(scenario, ref, commit, scenario.folder)
    assert before_commit.problems == [] and before_commit.state == "before"


def test_a_review_killed_while_listing_its_queue_leaves_a_leftover(
        scenario: Scenario, reference: Callable[[str], Reference]) -> None:
    """Killed as the review group's attribute (the queue list, its commit point) is renamed
    into place: the temporary file it leaves is a leftover `check` names and `--repair`
    deletes (zarr's warning about a file it does not know is no way to say so)."""
    ref = reference("review")
    point = _kill.point_of(ref.events, r"^v0/review/zarr\.[0-9a-f]+\.partial -> "
                                       r"v0/review/zarr\.json$", last=True)
    store = scenario.folder / "review-listing.zarr"
    shutil.copytree(scenario.stores["base"], store)
    _, argv = scenario.write_path("review", store, "listing")
    assert _kill.run({"argv": argv, "store": str(store), "kill_at": point}).returncode \
        == -signal.SIGKILL
    assert list((store / "v0" / "review").glob("zarr.*.partial"))
    report = check_store(store)  # filterwarnings=error: a warning fails here
    assert report.consistent
    assert any("temporary files" in f.message for f in report.findings)
    assert check_store(store, repair=True).consistent
    assert not check_store(store).findings
    assert not list(Path(store).rglob("*.partial"))
