"""Test helpers: the store's data-safety trials (issue 11), shared by the tests and
`benchmarks/bench_store_safety.py`.

* `run_stress`: N worker processes apply M one-edit batches each to one video at once.
* `kill_write_path`: SIGKILL a write path (`WRITE_PATHS`) at seeded random store operations, then
  check the store, compare it with its states before and after the command, rerun and go on.
* `Scenario`: clips, detections files and the stores every trial starts from.

Each trial returns what it saw (problems as sentences, empty when all is well) instead of
asserting, so the benchmark can report failures; the tests assert that there are none.
"""

from __future__ import annotations

import json
import shutil
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from click.testing import CliRunner

from tests import _kill
from tests._kill import TRACK_SETTINGS, content, prefix_of

# a config under which `track --overwrite` gives another group than the first run (its config)
NEW_CONFIG = ["--set", "track.min_iou=0.5"]
FIX = [{"op": "adjust", "track": 1, "frame": 5, "box": [10, 10, 30, 30]},
       {"op": "create", "frame": 3, "box": [5, 5, 20, 20], "class": 1}]
OTHER_FIX = [{"op": "adjust", "track": 2, "frame": 7, "box": [40, 20, 60, 40]}]
FOLLOW_UP = [{"op": "create", "frame": 4, "box": [60, 40, 80, 60], "class": 1}]
WRITE_PATHS = ("track", "correct", "answers", "review", "overwrite")


def cli(*argv: str) -> Any:
    """`trackannot ARGV` in this process (click's runner)."""
    from trackannot.cli.main import main

    return CliRunner().invoke(main, list(argv))


def _ok(result: Any, what: str) -> None:
    if result.exit_code != 0:
        raise AssertionError(f"{what}: exit {result.exit_code}: {result.output}"
                             f"{result.exception!r}")


def _lines(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


@dataclass
class Scenario:
    """Two clips (v0: 23 frames, v1: 31), their detections files, and stores to start from:

    * "no_v0": v1 tracked and corrected (one batch);
    * "base": no_v0 with v0 tracked too;
    * "corrected": base with a batch of corrections on v0;
    * "queued": base with a review queue on v0 (`queue_id`).
    """

    folder: Path
    clips: list[Path] = field(default_factory=list)
    dets: list[Path] = field(default_factory=list)
    stores: dict[str, Path] = field(default_factory=dict)
    queue_id: str = ""
    files: dict[str, Path] = field(default_factory=dict)

    @classmethod
    def build(cls, folder: Path) -> Scenario:
        from tests.test_pipeline_resume import make_clips

        folder.mkdir(parents=True, exist_ok=True)
        s = cls(folder)
        s.clips = make_clips(folder / "clips")
        s.dets = [_kill.make_detections(c, folder / f"det{i}.txt") for i, c in enumerate(s.clips)]
        s.files = {"fix": _lines(folder / "fix.jsonl", FIX),
                   "other": _lines(folder / "other.jsonl", OTHER_FIX),
                   "follow": _lines(folder / "follow.jsonl", FOLLOW_UP)}
        no_v0 = folder / "no_v0.zarr"
        _ok(cli(*s.track_argv(1, no_v0)), "track v1")
        _ok(cli("correct", str(no_v0), str(s.files["other"]), "--video", "v1", "--author", "bo"),
            "correct v1")
        base = _copy(no_v0, folder / "base.zarr")
        _ok(cli(*s.track_argv(0, base)), "track v0")
        corrected = _copy(base, folder / "corrected.zarr")
        _ok(cli("correct", str(corrected), str(s.files["fix"]), "--video", "v0", "--author",
                "ana"), "correct v0")
        queued = _copy(base, folder / "queued.zarr")
        _ok(cli("review", str(queued), "--video", "v0", "--budget", "5", "-o",
                str(folder / "tasks")), "review v0")
        from trackannot.results import open_store

        video = open_store(queued)["v0"]
        s.queue_id = video.queue_records()[-1]["id"]
        items = video.read_queue(s.queue_id).item.tolist()
        s.files["answers"] = _lines(folder / "answers.jsonl", [
            {"item": items[0], "op": "accept"}, {"item": items[1], "op": "absent"},
            {"item": items[2], "op": "accept"}])
        s.stores = {"no_v0": no_v0, "base": base, "corrected": corrected, "queued": queued}
        return s

    def track_argv(self, i: int, store: Path, *more: str) -> list[str]:
        return ["track", str(self.clips[i]), "-o", str(store), "--detections", str(self.dets[i]),
                *TRACK_SETTINGS, *more]

    def write_path(self, name: str, store: Path, tag: str) -> tuple[str, list[str]]:
        """(the store it starts from, the command line) of write path `name` on `store`."""
        s = str(store)
        if name == "track":
            return "no_v0", self.track_argv(0, store)
        if name == "overwrite":
            return "corrected", self.track_argv(0, store, "--overwrite", "--discard-corrections",
                                                *NEW_CONFIG)
        if name == "correct":
            return "base", ["correct", s, str(self.files["fix"]), "--video", "v0", "--author",
                            "ana"]
        if name == "answers":
            return "queued", ["correct", s, str(self.files["answers"]), "--video", "v0",
                              "--queue", self.queue_id, "--author", "rev"]
        if name == "review":
            return "base", ["review", s, "--video", "v0", "--budget", "5", "-o",
                            str(self.folder / f"tasks-{tag}")]
        raise ValueError(f"unknown write path {name!r}; expected one of {WRITE_PATHS}")


def _copy(src: Path, dst: Path) -> Path:
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst)
    return dst


# -------------------------------------------------------------------------- SIGKILL trials


@dataclass
class KillOutcome:
    """One SIGKILL of a write path and what came after it.

    Attributes:
        path: the write path.
        point: the store operation it was killed before (1-based), of `total`.
        state: what the store held afterwards: "before", "after", "interrupted" (track: a
            "running" group holding the first frames of the finished one), or "OTHER".
        leftovers: leftover findings of `trackannot check` (harmless: past commit points).
        problems: everything that went wrong (empty: the kill did no harm).
        seconds: the trial's wall time.
    """

    path: str
    point: int
    total: int
    state: str = ""
    leftovers: int = 0
    rerun: str = ""
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class Reference:
    """Write path `name` run uninterrupted: its store operations (`total`, and each as an
    event of `tests._kill`), the store's content before and after."""

    name: str
    total: int
    before: dict[str, Any]
    after: dict[str, Any]
    events: list[tuple[int, str, str]]

    @classmethod
    def run(cls, scenario: Scenario, name: str, folder: Path) -> Reference:
        start, _ = scenario.write_path(name, folder, "ref")
        store = _copy(scenario.stores[start], folder / f"{name}-ref.zarr")
        _, argv = scenario.write_path(name, store, "ref")
        before = content(store)
        events = folder / f"{name}-ref.events"
        events.unlink(missing_ok=True)
        total, _ = _kill.count_points({"argv": argv, "store": str(store),
                                       "events": str(events)}, folder)
        return cls(name, total, before, content(store), _kill.read_events(events))


def kill_write_path(scenario: Scenario, ref: Reference, point: int,
                    folder: Path) -> KillOutcome:
    """SIGKILL write path `ref.name` before store operation `point`, then judge the store (see
    `KillOutcome`), rerun the command where the store is not yet in its after state, and apply
    one more batch of corrections."""
    t0 = time.perf_counter()
    name, before, after = ref.name, ref.before, ref.after
    out = KillOutcome(name, point, ref.total)
    start, _ = scenario.write_path(name, folder, "")
    store = _copy(scenario.stores[start], folder / f"{name}-k{point}.zarr")
    _, argv = scenario.write_path(name, store, f"k{point}")
    done = _kill.run({"argv": argv, "store": str(store), "kill_at": point})
    if done.returncode != -signal.SIGKILL:
        out.problems.append(f"not killed: the command ended ({done.returncode}) before store "
                            f"operation {point}: {done.stdout}{done.stderr}")
    try:
        _judge(out, scenario, name, store, argv, before, after)
    except Exception as err:  # noqa: BLE001  (reported as a problem: the benchmark goes on)
        out.problems.append(f"{type(err).__name__}: {err}")
    out.seconds = time.perf_counter() - t0
    return out


def _classify(name: str, got: dict[str, Any], before: dict[str, Any],
              after: dict[str, Any]) -> str:
    if got == before:
        return "before"
    if got == after:
        return "after"
    if name == "track" and {k: v for k, v in got.items() if k != "v0"} == before \
            and got["v0"]["attrs"].get("status") == "running" and prefix_of(got["v0"], after["v0"]):
        return "interrupted"
    return "OTHER"


def _judge(out: KillOutcome, scenario: Scenario, name: str, store: Path, argv: list[str],
           before: dict[str, Any], after: dict[str, Any]) -> None:
    from trackannot.check import check_store

    report = check_store(store)
    damage = [f.message for f in report.findings if f.kind == "damage"]
    out.leftovers = sum(1 for f in report.findings if f.kind == "leftover")
    if damage or not report.consistent:
        out.problems.append(f"check after the kill: {damage}")
    got = content(store)
    out.state = _classify(name, got, before, after)
    if out.state == "OTHER":
        out.problems.append("the store equals neither its state before nor after the command")
    if out.state != "after" or name in ("track", "overwrite"):
        again = cli(*argv)  # the killed command, run again
        out.rerun = "ok" if again.exit_code == 0 else f"exit {again.exit_code}"
        if again.exit_code != 0:
            out.problems.append(f"rerun: exit {again.exit_code}: {again.output}"
                                f"{again.exception!r}")
        elif content(store) != after:
            out.problems.append("rerun: the store does not equal the uninterrupted run's")
    else:
        out.rerun = "not needed (after)"
    follow = cli("correct", str(store), str(scenario.files["follow"]), "--video", "v0",
                 "--author", "cy")
    if follow.exit_code != 0:
        out.problems.append(f"next command (correct): exit {follow.exit_code}: {follow.output}"
                            f"{follow.exception!r}")
    out.problems.extend(replay_problems(store, "v0"))
    repaired = check_store(store, repair=True)
    if not repaired.consistent:
        out.problems.append(f"check --repair: {[f.message for f in repaired.remaining]}")
    clean = check_store(store)
    if clean.findings:
        out.problems.append(f"check after --repair: {[f.message for f in clean.findings]}")


def replay_problems(store: Path, key: str) -> list[str]:
    """Whether the video's annotation read through the state cache equals a whole replay."""
    from trackannot.boxes import COLUMNS
    from trackannot.replay import interpolate_config, load_state, load_state_uncached
    from trackannot.results import open_store

    video = open_store(store)[key]
    cached = load_state(video).boxes()
    whole = load_state_uncached(video, interpolate_config(video, None)).boxes()
    if len(cached) != len(whole):
        return [f"{key}: {len(cached)} boxes through the cache, {len(whole)} replayed whole"]
    return [f"{key}: column {name} differs between the cache and a whole replay"
            for name in COLUMNS
            if not np.array_equal(getattr(cached, name), getattr(whole, name), equal_nan=True)]


# ------------------------------------------------------------------------------ the stress


STRESS_WIDTH, STRESS_HEIGHT = 640, 480


def make_stress_store(path: Path, tracks: int, frames: int) -> Path:
    """A store with one video ("clip", 640x480) of `tracks` automatic tracks over `frames`
    frames, track t (1-based) in its own horizontal band."""
    from trackannot.boxes import Boxes
    from trackannot.config import PipelineConfig, StoreConfig, config_to_dict
    from trackannot.store import StoreWriter

    writer = StoreWriter.create(path, "clip", StoreConfig(chunk_rows=64, chunk_frames=16), attrs={
        "config": config_to_dict(PipelineConfig()),
        "video": {"width": STRESS_WIDTH, "height": STRESS_HEIGHT, "fps": 10.0,
                  "frame_count": frames},
        "detector": {"class_names": ["object"]},
    })
    ids = np.arange(1, tracks + 1)
    for f in range(frames):
        y0 = 4.0 + 56.0 * (ids - 1)
        xyxy = np.stack([np.full(tracks, 4.0 + 4 * f), y0, np.full(tracks, 34.0 + 4 * f),
                         y0 + 40], axis=1).astype(np.float32)
        boxes = Boxes.create(frame=np.full(tracks, f), xyxy=xyxy, track_id=ids, score=0.9)
        writer.add_frame(f, f / 10.0, boxes, boxes)
    writer.close()
    return path


def stress_cells(worker: int, batches: int) -> list[tuple[int, int, list[float]]]:
    """(track, frame, box) of each of a worker's one-edit batches: its own track, one frame
    each, a box moved off the automatic one."""
    y0 = 4.0 + 56.0 * worker
    return [(worker + 1, j, [5.0 + 4 * j + worker % 3, y0 + 1, 36.0 + 4 * j, y0 + 42])
            for j in range(batches)]


@dataclass
class StressResult:
    workers: int
    batches: int
    applied: int = 0
    refused: int = 0
    log_batches: int = 0
    log_rows: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)


def run_stress(folder: Path, workers: int, batches: int,
               lock_timeout: float = 600.0) -> StressResult:
    """`workers` processes x `batches` one-edit batches on one video at once; every report
    is checked against the log (module docstring)."""
    from trackannot.errors import TrackannotError

    folder.mkdir(parents=True, exist_ok=True)
    store = make_stress_store(folder / "s.zarr", workers, max(batches, 8))
    result = StressResult(workers, batches)
    procs = [_kill.start({"store": str(store), "stress": {
        "folder": str(folder), "worker": w, "video": "clip", "lock_timeout": lock_timeout,
        "cells": stress_cells(w, batches)}}) for w in range(workers)]
    t0 = time.perf_counter()
    (folder / "start").touch()
    reports = []
    for w, proc in enumerate(procs):
        stdout, stderr = proc.communicate(timeout=_kill.CHILD_TIMEOUT_S * 4)
        if proc.returncode != 0 or "Traceback" in stderr:
            result.problems.append(f"worker {w}: exit {proc.returncode}: {stderr[-2000:]}")
        reports.extend(json.loads(line) for line in stdout.splitlines() if line.strip())
    result.seconds = time.perf_counter() - t0
    if len(reports) != workers * batches:
        result.problems.append(f"{len(reports)} reports for {workers * batches} batches")
    try:
        _check_stress(store, reports, result)
    except TrackannotError as err:
        result.problems.append(f"{type(err).__name__}: {err}")
    return result


def _check_stress(store: Path, reports: list[dict[str, Any]], result: StressResult) -> None:
    from trackannot.annotate import load_state
    from trackannot.boxes import Origin
    from trackannot.check import check_store
    from trackannot.results import open_store

    applied = [r for r in reports if "batch" in r]
    refused = [r for r in reports if "refused" in r]
    result.applied, result.refused = len(applied), len(refused)
    video = open_store(store)["clip"]
    info = video.log_info()
    result.log_batches, result.log_rows = info.batches, info.rows
    records = video.batches()
    _, cols = video.read_log()
    by_source: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for record in records:
        by_source.setdefault((record["source"], record["sha256"]), []).append(record)
    numbers = [r["batch"] for r in applied]
    if sorted(numbers) != list(range(len(applied))):
        result.problems.append(f"reported batch numbers are not 0..{len(applied) - 1} once each")
    for r in applied:
        found = by_source.get((r["file"], r["sha256"]), [])
        if len(found) != 1:
            result.problems.append(f"{r['file']}: reported applied as batch {r['batch']}, in the "
                                   f"log {len(found)} times")
            continue
        a, b = found[0]["rows"]
        row = (int(cols["track_id"][a]), int(cols["frame"][a]))
        if found[0]["number"] != r["batch"] or b - a != 1 or row != (r["track"], r["frame"]) \
                or cols["xyxy"][a].tolist() != np.float32(r["box"]).tolist():
            result.problems.append(f"{r['file']}: logged as batch {found[0]['number']} rows "
                                   f"{a}..{b} {row}, reported batch {r['batch']} "
                                   f"({r['track']}, {r['frame']})")
    for r in refused:
        if (r["file"], r["sha256"]) in by_source:
            result.problems.append(f"{r['file']}: refused ({r['refused']}) but in the log")
    if info.batches != len(applied) or len(records) != len(applied) or info.rows != len(applied):
        result.problems.append(f"the log holds {info.batches} batches and {info.rows} rows, "
                               f"{len(applied)} batches were reported applied")
    cells = list(zip(cols["track_id"].tolist(), cols["frame"].tolist()))
    if len(set(cells)) != len(cells):
        result.problems.append("a cell is in the log more than once")
    state = load_state(video)
    for r in applied:
        shown = state.box_at(r["track"], r["frame"])
        if shown is None or shown[0].tolist() != np.float32(r["box"]).tolist() \
                or shown[1] != Origin.KEYFRAME:
            result.problems.append(f"({r['track']}, {r['frame']}): the annotation shows "
                                   f"{shown}, not the applied keyframe {r['box']}")
    result.problems.extend(replay_problems(store, "clip"))
    report = check_store(store)
    if not report.consistent or report.findings:
        result.problems.append(f"check: {[f.message for f in report.findings]}")


# ------------------------------------------------------------------------------- the races


@dataclass
class RaceResult:
    """Two or more writers of one video at once.

    Attributes:
        name: which race.
        runs: per process: what it was, its exit code and the line that says what it did.
        holders: the processes that held the video's lock, in order (from the events log).
        final: what the video holds afterwards: "old" (the first group), "new" (the
            `--overwrite` group), "corrected" (old with the correction), or "OTHER".
        problems: everything that went wrong (empty: the race did no harm).
    """

    name: str
    runs: list[str] = field(default_factory=list)
    holders: list[str] = field(default_factory=list)
    final: str = ""
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class RaceRefs:
    """Contents to compare with: the store with v0 tracked (`old`), with v0 replaced by a run
    under `NEW_CONFIG` (`new`), with v0 corrected (`corrected`)."""

    old: dict[str, Any]
    new: dict[str, Any]
    corrected: dict[str, Any]

    @classmethod
    def build(cls, scenario: Scenario) -> RaceRefs:
        store = _copy(scenario.stores["base"], scenario.folder / "new-ref.zarr")
        _ok(cli(*scenario.track_argv(0, store, "--overwrite", *NEW_CONFIG)), "overwrite")
        return cls(content(scenario.stores["base"]), content(store),
                   content(scenario.stores["corrected"]))

    def name(self, got: dict[str, Any]) -> str:
        for label in ("old", "new", "corrected"):
            if got == getattr(self, label):
                return label
        return "OTHER"


_GATE_TRACK_AT = 300  # a store operation in the middle of `track` (about 900 in all)


class _Race:
    """Processes of one race, their events log and gate."""

    def __init__(self, scenario: Scenario, name: str, start: str) -> None:
        self.scenario = scenario
        self.folder = scenario.folder / f"race-{name}"
        if self.folder.exists():
            shutil.rmtree(self.folder)
        self.folder.mkdir()
        self.store = _copy(scenario.stores[start], self.folder / "s.zarr")
        self.events = self.folder / "events.txt"
        self.gate = self.folder / "gate"
        self.result = RaceResult(name)
        self.procs: dict[str, Any] = {}
        self._t0 = time.perf_counter()

    def start(self, label: str, argv: list[str], **spec: Any) -> Any:
        proc = _kill.start({"argv": argv, "store": str(self.store), "events": str(self.events),
                            "gate": str(self.gate), **spec})
        self.procs[label] = proc
        return proc

    def track(self, label: str, *more: str, timeout: float = 120.0, **spec: Any) -> Any:
        return self.start(label, self.scenario.track_argv(
            0, self.store, "--lock-timeout", f"{timeout:g}", *more), **spec)

    def finish(self, label: str) -> tuple[int, str, str]:
        """Wait for a process; (exit code, stdout, stderr), recorded in the result."""
        proc = self.procs[label]
        out, err = proc.communicate(timeout=_kill.CHILD_TIMEOUT_S)
        said = [line.strip() for line in (out + err).splitlines() if line.strip()]
        self.result.runs.append(f"{label} (pid {proc.pid}): exit {proc.returncode}: "
                                f"{' | '.join(said[-3:])}")
        if "Traceback" in err or proc.returncode not in (0, 1):
            self.result.problems.append(f"{label}: exit {proc.returncode}: {err[-1500:]}")
        return proc.returncode, out, err

    def expect_refused(self, label: str, holder: str, holder_command: str) -> None:
        """`label` ended with exit 1 and a message naming the holder's command and pid."""
        code, out, err = self.finish(label)
        pid = self.procs[holder].pid
        if code != 1 or f"pid {pid} " not in out + err or f"`{holder_command}`" not in out + err:
            self.result.problems.append(f"{label}: expected a refusal naming `{holder_command}` "
                                        f"(pid {pid}); got exit {code}: {out}{err}")

    def wait(self, kind: str, label: str, what: str | None = None) -> None:
        _kill.wait_for_event(self.events, kind, what, self.procs[label].pid, self.procs[label])

    def judge(self, refs: RaceRefs, *expected: str) -> RaceResult:
        """Check the store, the lock holders and what v0 holds (one of `expected`)."""
        from trackannot.check import check_store

        events = _kill.read_events(self.events)
        labels = {p.pid: label for label, p in self.procs.items()}
        try:
            holders = _kill.check_one_writer(events)
            self.result.holders = [labels.get(pid, str(pid)) for pid in holders.get("v0.lock", [])]
        except AssertionError as err:
            self.result.problems.append(f"more than one writer: {err}")
        report = check_store(self.store)
        if not report.consistent:
            self.result.problems.append(f"check: {[f.message for f in report.remaining]}")
        self.result.final = refs.name(content(self.store))
        if self.result.final not in expected:
            self.result.problems.append(f"v0 holds {self.result.final}, expected one of "
                                        f"{expected}")
        self.result.seconds = time.perf_counter() - self._t0
        return self.result


def race_track_twice(scenario: Scenario, refs: RaceRefs) -> RaceResult:
    """Two plain `track` runs of one new video started together: one tracks it, the other
    waits for it and finds it done."""
    race = _Race(scenario, "track-twice", "no_v0")
    race.track("track-1")
    race.track("track-2")
    outs = [race.finish(label) for label in ("track-1", "track-2")]
    if sorted(code for code, _, _ in outs) != [0, 0] or \
            sum("skipped" in out for _, out, _ in outs) != 1:
        race.result.problems.append("expected one run to track v0 and the other to skip it")
    return race.judge(refs, "old")


def race_track_and_overwrite(scenario: Scenario, refs: RaceRefs, first: str) -> RaceResult:
    """`track` and `track --overwrite` (another config) of one new video started together,
    `first` started first: the lock orders them; the store ends with the overwrite's group (if
    the plain run comes second it refuses the other config with a message)."""
    race = _Race(scenario, f"{first}-first", "no_v0")
    runs = {"track": (), "overwrite": ("--overwrite", *NEW_CONFIG)}
    for label in (first, *(k for k in runs if k != first)):
        race.track(label, *runs[label])
    code, out, err = race.finish("track")
    if code == 1 and "another configuration" not in out + err:
        race.result.problems.append(f"track: exit 1 without the config message: {out}{err}")
    if race.finish("overwrite")[0] != 0:
        race.result.problems.append("overwrite did not complete")
    return race.judge(refs, "new")


def race_overwrite_during_track(scenario: Scenario, refs: RaceRefs) -> RaceResult:
    """`--overwrite` while a plain `track` writes the video (paused mid-run): with no wait it
    is refused naming the running track; with a wait it replaces the finished group after."""
    race = _Race(scenario, "overwrite-during-track", "no_v0")
    race.track("track", gate_at=_GATE_TRACK_AT)
    race.wait("gated", "track")
    race.track("overwrite-nowait", "--overwrite", *NEW_CONFIG, timeout=0)
    race.expect_refused("overwrite-nowait", "track", "trackannot track")
    _mid_run(race, refs, "v0 while track runs")
    race.track("overwrite-wait", "--overwrite", *NEW_CONFIG)
    race.wait("waiting", "overwrite-wait", "v0.lock")
    race.gate.touch()
    for label in ("track", "overwrite-wait"):
        if race.finish(label)[0] != 0:
            race.result.problems.append(f"{label} did not complete")
    return race.judge(refs, "new")


def race_track_during_overwrite(scenario: Scenario, refs: RaceRefs) -> RaceResult:
    """A plain `track` while `--overwrite` rebuilds the video (paused mid-build): readers see
    the old group meanwhile; with no wait the track is refused naming the overwrite; with a
    wait it runs after the swap and refuses the new group's other config."""
    race = _Race(scenario, "track-during-overwrite", "base")
    race.track("overwrite", "--overwrite", *NEW_CONFIG, gate_at=_GATE_TRACK_AT)
    race.wait("gated", "overwrite")
    race.track("track-nowait", timeout=0)
    race.expect_refused("track-nowait", "overwrite", "trackannot track --overwrite")
    if refs.name(content(race.store)) != "old":
        race.result.problems.append("readers do not see the old group during the overwrite")
    _mid_run(race, refs, "v0 during the overwrite")
    race.track("track-wait")
    race.wait("waiting", "track-wait", "v0.lock")
    race.gate.touch()
    if race.finish("overwrite")[0] != 0:
        race.result.problems.append("overwrite did not complete")
    code, out, err = race.finish("track-wait")
    if code != 1 or "another configuration" not in out + err:
        race.result.problems.append(f"track after the overwrite: expected the config refusal, "
                                    f"got exit {code}: {out}{err}")
    return race.judge(refs, "new")


def race_correct_during_overwrite_wait(scenario: Scenario, refs: RaceRefs) -> RaceResult:
    """`track --overwrite` (no --discard-corrections) of a video without corrections waits
    while a `correct` holds the video; the batch lands; the overwrite must then refuse, as it
    refuses any video with corrections, instead of discarding the batch."""
    race = _Race(scenario, "correct-during-overwrite-wait", "base")
    race.start("correct", ["correct", str(race.store), str(scenario.files["fix"]), "--video",
                           "v0", "--author", "ana"], gate_on_lock=True)
    race.wait("gated", "correct")
    race.track("overwrite", "--overwrite", *NEW_CONFIG)
    race.wait("waiting", "overwrite", "v0.lock")
    race.gate.touch()
    if race.finish("correct")[0] != 0:
        race.result.problems.append("correct did not complete")
    code, out, err = race.finish("overwrite")
    if code != 1 or "--discard-corrections" not in out + err:
        race.result.problems.append(f"overwrite: expected a refusal that names "
                                    f"--discard-corrections, got exit {code}: {out}{err}")
    return race.judge(refs, "corrected")


def _mid_run(race: _Race, refs: RaceRefs, what: str) -> None:
    from trackannot.check import check_store

    report = check_store(race.store)
    if not report.consistent:
        race.result.problems.append(f"check of {what}: {[f.message for f in report.remaining]}")
