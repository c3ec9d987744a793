"""Test helpers: trackannot commands in real child processes, killed, paused or watched.

A child (`python -m tests._kill SPEC`) runs one `trackannot` command line (or a loop of
`apply_corrections` calls, the stress worker) with hooks on every operation that changes the
store on disk: zarr's file writes and deletes, `os.replace`/`os.rename` (the last step of every
atomic write, and the renames that swap a replaced group in), `os.unlink`/`os.rmdir` (deletes,
one file at a time inside `shutil.rmtree` too) and the COMMIT of a state-cache transaction.
Only operations on paths inside the store count. The hooks can

* SIGKILL the child just before the K-th such operation (`kill_at`),
* pause it before the K-th operation until a gate file appears (`gate_at`, or `gate_on_lock`:
  right after it takes its first video lock),
* count them (`count_to`: the total, written when the command ends),
* log lock waits, lock takes and drops and every store write to an append-only events file
  (`events`), so a test can prove that only the lock's holder wrote a video.

`content(store)` is what a store holds in committed form (groups' arrays and attributes, the
corrections log, its batch records, review queues and answers), times left out, so a store can be
compared with its states before and after a command whatever crash leftovers lie past the commit
points.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
# `trackannot track` settings of the kill and race tests: small chunks (a commit every few
# frames), the tracker of tests.test_pipeline_resume._cfg
TRACK_SETTINGS = ["--batch-size", "3", "--set", "track.min_hits=2", "--set",
                  "track.max_lost_frames=3", "--set", "store.chunk_rows=8", "--set",
                  "store.chunk_frames=4", "--quiet"]
CHILD_TIMEOUT_S = 300
_GATE_POLL_S = 0.02
_TIMES = ("time", "time_ns", "created")


# --------------------------------------------------------------------------- parent side


def child_command(spec: dict[str, Any]) -> list[str]:
    return [sys.executable, "-m", "tests._kill", json.dumps(spec)]


def child_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "YOLO_OFFLINE": "1"}


def start(spec: dict[str, Any]) -> subprocess.Popen[str]:
    """Start a child (see the module docstring); `spec["argv"]` is the trackannot command line."""
    return subprocess.Popen(child_command(spec), cwd=REPO, env=child_env(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def run(spec: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    """Run a child to its end (or its kill)."""
    return subprocess.run(child_command(spec), cwd=REPO, env=child_env(), text=True,
                          capture_output=True, timeout=CHILD_TIMEOUT_S)


def count_points(spec: dict[str, Any], tmp: Path) -> tuple[int, subprocess.CompletedProcess[str]]:
    """Run the command uninterrupted; (store operations it made, the finished process)."""
    out = tmp / f"count-{time.monotonic_ns()}.txt"
    done = run({**spec, "count_to": str(out)})
    assert done.returncode == 0, done.stdout + done.stderr
    return int(out.read_text()), done


def point_of(events: list[tuple[int, str, str]], pattern: str, last: bool = False) -> int:
    """The store operation number (1-based) of the first (or last) write whose paths match
    the regular expression `pattern`."""
    import re

    writes = [what for _, kind, what in events if kind == "write"]
    found = [k for k, what in enumerate(writes, start=1) if re.search(pattern, what)]
    assert found, f"no store operation matches {pattern!r}"
    return found[-1] if last else found[0]


def kill_points(total: int, n: int, seed: int) -> list[int]:
    """n distinct seeded random operation numbers in 1..total (all of them if fewer)."""
    rng = np.random.default_rng(seed)
    points = rng.choice(np.arange(1, total + 1), size=min(n, total), replace=False)
    return sorted(int(k) for k in points)


def wait_for_event(events: Path, kind: str, what: str | None = None, pid: int | None = None,
                   proc: subprocess.Popen[str] | None = None, timeout_s: float = 120.0) -> None:
    """Block until the events file holds an event of `kind` (on `what`, by `pid`)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for p, k, w in read_events(events):
            if k == kind and (what is None or w == what) and (pid is None or p == pid):
                return
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"child ended ({proc.returncode}) before {kind} {what}: "
                                 f"{out}{err}")
        time.sleep(_GATE_POLL_S)
    raise AssertionError(f"no {kind} {what} event in {timeout_s} s")


def read_events(path: Path) -> list[tuple[int, str, str]]:
    """(pid, kind, what) of each whole line of an events file, in the order they happened."""
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        pid, kind, what = line.split(" ", 2)
        out.append((int(pid), kind, what))
    return out


def _video_of(path: str) -> str | None:
    """The video whose lock must be held to change `path` (relative to the store), or None
    for the store's own files that need none (lock files and holder records, the internal
    folder's metadata) and the root's (store lock)."""
    parts = path.split("/")
    if parts[0] == ".trackannot":
        if len(parts) == 3 and parts[2].startswith("zarr."):
            return None  # the metadata of the folders replacements and trash go in
        if len(parts) > 2 and parts[1] == "replacing":
            return parts[2]
        if len(parts) > 2 and parts[1] == "trash":
            return parts[2].split("~")[0]
        if len(parts) > 2 and parts[1] == "cache":
            return parts[2].split(".sqlite")[0]
        return None
    return parts[0] if len(parts) > 1 else None


def check_one_writer(events: list[tuple[int, str, str]]) -> dict[str, list[int]]:
    """Assert that every lock had one holder at a time and that each write to a video's files
    was made by the holder of that video's lock. Returns each lock's holders in order."""
    held: dict[str, int] = {}
    holders: dict[str, list[int]] = {}
    for pid, kind, what in events:
        if kind == "acquired":
            assert what not in held, f"pid {pid} took {what} while pid {held[what]} held it"
            held[what] = pid
            holders.setdefault(what, []).append(pid)
        elif kind == "released":
            assert held.get(what) == pid, f"pid {pid} released {what}, held by {held.get(what)}"
            del held[what]
        elif kind == "write":
            for path in what.split(" -> "):
                video = _video_of(path)
                if video is not None:
                    assert held.get(f"{video}.lock") == pid, (
                        f"pid {pid} wrote {path} while {video}.lock was held by "
                        f"{held.get(f'{video}.lock')}")
                elif "/" not in path and path.endswith("zarr.json"):
                    assert held.get(".store.lock") == pid, f"pid {pid} wrote the root {path}"
    return holders


def _array_value(a: np.ndarray) -> Any:
    if a.dtype.kind == "f":
        return np.nan_to_num(a.astype(np.float64), nan=-1e300).tolist()  # NaN == NaN
    return a.tolist()


def content(store: Path) -> dict[str, Any]:
    """What a store holds, committed extents only, times left out (module docstring)."""
    from trackannot.boxes import COLUMNS
    from trackannot.provenance import RUN_ONLY_ATTRS
    from trackannot.review import ANSWER_COLUMNS, ITEM_COLUMNS
    from trackannot.results import open_store
    from trackannot.store import TABLES

    out: dict[str, Any] = {}
    for video in open_store(store):
        attrs = {k: v for k, v in video.attrs.items()
                 if k not in (*RUN_ONLY_ATTRS, "corrections")}
        if video.status == "running" and video.committed()[0] == 0:
            # a run killed while it set the group up (its arrays may be missing): nothing
            # committed, the next run starts it afresh
            out[video.key] = {"attrs": attrs, "unstarted": True}
            continue
        info = video.log_info()
        entry: dict[str, Any] = {"attrs": attrs, "frames": [a.tolist() for a in video.frames()]}
        for table in TABLES:
            boxes = video.read(table=table)
            entry[table] = {name: _array_value(getattr(boxes, name)) for name in COLUMNS}
        entry["log"] = {"rows": info.rows, "batches": info.batches, "authors": info.authors,
                        "answers": info.answers}
        _, cols = video.read_log()
        entry["log_rows"] = {k: _array_value(v) for k, v in cols.items() if k != "time_ns"}
        entry["batch_records"] = [{k: v for k, v in r.items() if k not in _TIMES}
                                  for r in video.batches()]
        queues = []
        for record in video.queue_records():
            queue = video.read_queue(record["id"])
            answers = video.read_answers(record["id"])
            queues.append({
                "record": {k: v for k, v in record.items() if k not in _TIMES},
                "items": {k: _array_value(getattr(queue, k)) for k in ITEM_COLUMNS},
                "answers": {k: _array_value(getattr(answers, k)) for k in ANSWER_COLUMNS
                            if k != "time_ns"} | {"author": answers.author.tolist()},
            })
        entry["queues"] = queues
        out[video.key] = entry
    return out


def prefix_of(running: dict[str, Any], done: dict[str, Any]) -> bool:
    """Whether a "running" group's committed frames and rows are the first ones of `done`."""
    from trackannot.boxes import COLUMNS
    from trackannot.store import TABLES

    if running.get("unstarted"):
        return True
    n = len(running["frames"][0])
    if running["frames"] != [f[:n] for f in done["frames"]]:
        return False
    for table in TABLES:
        first = set(running[table]["frame"])
        if first and max(first) >= n:
            return False
        k = len(running[table]["frame"])
        if any(running[table][c] != done[table][c][:k] for c in COLUMNS):
            return False
        if k < len(done[table]["frame"]) and done[table]["frame"][k] < n:
            return False  # a committed frame lacks some of its rows
    return True


def make_detections(clip: Path, out: Path) -> Path:
    """A MOTChallenge det.txt of what `ColourDetector` finds in the decoded clip, so that
    `trackannot track --detections` runs deterministically without a model."""
    from dataclasses import replace

    from tests.test_pipeline_resume import ColourDetector
    from trackannot.config import PipelineConfig
    from trackannot.decode import decode_frames

    cfg = replace(PipelineConfig().decode, pixel_format="rgb24")
    lines = []
    for batch in decode_frames(clip, cfg):
        found = ColourDetector().detect(batch)
        for f, (x0, y0, x1, y1) in zip(found.frame.tolist(), found.xyxy.tolist()):
            lines.append(f"{f + 1},-1,{x0:g},{y0:g},{x1 - x0:g},{y1 - y0:g},0.9,-1,-1,-1")
    out.write_text("\n".join(lines) + "\n")
    return out


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------------------- child side


class _Hooks:
    """The child's hooks (module docstring)."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.store = os.path.realpath(spec["store"]) + os.sep if spec.get("store") else None
        self.kill_at = int(spec.get("kill_at") or 0)
        self.gate_at = int(spec.get("gate_at") or 0)
        self.gate = spec.get("gate")
        self.gate_on_lock = bool(spec.get("gate_on_lock"))
        self.count = 0
        self._mutex = threading.Lock()
        self._events = os.open(spec["events"], os.O_WRONLY | os.O_APPEND | os.O_CREAT) \
            if spec.get("events") else None

    def log(self, kind: str, what: str) -> None:
        if self._events is not None:
            os.write(self._events, f"{os.getpid()} {kind} {what}\n".encode())

    def wait_gate(self) -> None:
        self.log("gated", "")
        while not os.path.exists(self.gate):
            time.sleep(_GATE_POLL_S)

    def _inside(self, path: Any, dir_fd: int | None = None) -> str | None:
        """`path` relative to the store when it lies inside it."""
        if self.store is None:
            return None
        text = os.fsdecode(path)
        if dir_fd is not None and not os.path.isabs(text):
            text = os.path.join(os.readlink(f"/proc/self/fd/{dir_fd}"), text)
        full = os.path.realpath(os.path.join(os.path.dirname(os.path.abspath(text)), "")) \
            + os.sep + os.path.basename(text)
        return full[len(self.store):] if full.startswith(self.store) else None

    def point(self, *paths: str | None) -> None:
        """One store operation on `paths` (relative), about to happen."""
        inside = [p for p in paths if p is not None]
        if not inside:
            return
        with self._mutex:  # the k-th "write" event is operation k
            self.count += 1
            k = self.count
            self.log("write", " -> ".join(inside))
        if k == self.kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        if k == self.gate_at and self.gate:
            self.wait_gate()

    def install(self) -> None:
        import zarr.storage

        import trackannot.statecache as statecache
        from trackannot.store import WriterLock

        hooks = self
        local = zarr.storage.LocalStore

        def zarr_op(name: str) -> None:
            real = getattr(local, name)

            async def hooked(store: Any, key: str, *args: Any, **kwargs: Any) -> Any:
                hooks.point(hooks._inside(os.path.join(str(store.root), key)))
                return await real(store, key, *args, **kwargs)

            setattr(local, name, hooked)

        for name in ("set", "delete", "delete_dir"):
            zarr_op(name)

        def two_paths(name: str) -> None:
            real = getattr(os, name)

            def hooked(src: Any, dst: Any, *args: Any, **kwargs: Any) -> Any:
                hooks.point(hooks._inside(src, kwargs.get("src_dir_fd")),
                            hooks._inside(dst, kwargs.get("dst_dir_fd")))
                return real(src, dst, *args, **kwargs)

            setattr(os, name, hooked)

        def one_path(name: str) -> None:
            real = getattr(os, name)

            def hooked(path: Any, *args: Any, **kwargs: Any) -> Any:
                if not isinstance(path, int):
                    hooks.point(hooks._inside(path, kwargs.get("dir_fd")))
                return real(path, *args, **kwargs)

            setattr(os, name, hooked)

        for name in ("replace", "rename"):
            two_paths(name)
        for name in ("unlink", "rmdir"):
            one_path(name)

        real_exit = statecache._Transaction.__exit__

        def commit(tx: Any, kind: object, *rest: object) -> None:
            if kind is None:  # about to COMMIT: the transaction's writes are in the journal
                db = tx._db.execute("PRAGMA database_list").fetchall()[0][2]
                hooks.point(hooks._inside(db))
            real_exit(tx, kind, *rest)

        statecache._Transaction.__exit__ = commit  # type: ignore[method-assign]

        real_acquire, real_release = WriterLock.acquire, WriterLock.release
        gated = [False]

        def acquire(lock: WriterLock) -> None:
            nested = lock.held
            if not nested:
                hooks.log("waiting", lock.path.name)
            real_acquire(lock)
            if not nested:
                hooks.log("acquired", lock.path.name)
                if hooks.gate_on_lock and not gated[0] and lock.path.name != ".store.lock":
                    gated[0] = True
                    hooks.wait_gate()

        def release(lock: WriterLock) -> None:
            if lock.held and lock._lock.lock_counter == 1:
                hooks.log("released", lock.path.name)
            real_release(lock)

        WriterLock.acquire = acquire  # type: ignore[method-assign]
        WriterLock.release = release  # type: ignore[method-assign]


def _stress(spec: dict[str, Any]) -> int:
    """The stress worker: one-edit batches applied one after the other, each reported as a
    JSON line: {"file", "sha256", "track", "frame", "box", "batch"} when applied,
    {"file", "refused": message} when the lock was not had in time."""
    from trackannot.annotate import apply_corrections
    from trackannot.errors import LockedError

    work = spec["stress"]
    folder = Path(work["folder"])
    while not (folder / "start").exists():  # every worker starts at once
        time.sleep(_GATE_POLL_S)
    for j, (track, frame, box) in enumerate(work["cells"]):
        path = folder / f"w{work['worker']}-{j}.jsonl"
        path.write_text(json.dumps({"op": "adjust", "track": track, "frame": frame,
                                    "box": box}) + "\n")
        report: dict[str, Any] = {"file": str(path.resolve()), "sha256": sha256_of(path),
                                  "track": track, "frame": frame, "box": box}
        try:
            summary = apply_corrections(spec["store"], path, video=work["video"],
                                        author=f"w{work['worker']}",
                                        lock_timeout=work["lock_timeout"])
            report["batch"] = summary.batch
        except LockedError as err:
            report["refused"] = str(err)
        print(json.dumps(report), flush=True)
    return 0


def _child_main(spec: dict[str, Any]) -> int:
    hooks = _Hooks(spec)
    hooks.install()
    try:
        if "stress" in spec:
            return _stress(spec)
        from trackannot.cli.main import main

        try:
            main(args=spec["argv"], prog_name="trackannot")
        except SystemExit as end:
            return end.code if isinstance(end.code, int) else (0 if end.code is None else 1)
        return 0
    finally:
        if spec.get("count_to"):
            Path(spec["count_to"]).write_text(str(hooks.count))


if __name__ == "__main__":
    sys.exit(_child_main(json.loads(sys.argv[1])))
