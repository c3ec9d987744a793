"""Writer locks: one holder at a time, a refusal that names the holder, takeover after a death."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from trackannot.errors import LockedError
from trackannot.store import group_lock

REPO = Path(__file__).resolve().parents[1]
_HOLDER = """
import os, signal, sys, time
from trackannot.store import group_lock
lock = group_lock(sys.argv[1], "clip", "trackannot correct fix.jsonl", timeout=5)
lock.acquire()
print("held", flush=True)
if sys.argv[2] == "die":
    os.kill(os.getpid(), signal.SIGKILL)
time.sleep(60)
"""


def _holder(store: Path, mode: str) -> subprocess.Popen[str]:
    child = subprocess.Popen([sys.executable, "-c", _HOLDER, str(store), mode], cwd=REPO,
                             env={**os.environ, "PYTHONPATH": str(REPO)},
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline().strip() == "held"
    return child


def test_a_second_writer_is_refused_with_the_holder_named(tmp_path: Path) -> None:
    child = _holder(tmp_path / "s.zarr", "hold")
    try:
        t0 = time.monotonic()
        with pytest.raises(LockedError) as err:
            group_lock(tmp_path / "s.zarr", "clip", "trackannot review", timeout=0.3).acquire()
        assert time.monotonic() - t0 >= 0.3  # waited the bounded time first
        message = str(err.value)
        assert "video 'clip'" in message and "`trackannot correct fix.jsonl`" in message
        assert f"pid {child.pid} on {socket.gethostname()}" in message and "since" in message
        assert "waited 0.3 s" in message
    finally:
        child.kill()
        child.communicate()
    with group_lock(tmp_path / "s.zarr", "clip", timeout=5) as lock:  # free once it ended
        assert lock.held


def test_the_lock_of_a_killed_writer_is_taken_over(tmp_path: Path) -> None:
    child = _holder(tmp_path / "s.zarr", "die")
    child.communicate()
    assert child.returncode == -signal.SIGKILL
    with group_lock(tmp_path / "s.zarr", "clip", timeout=0) as lock:
        assert lock.took_over is not None and lock.took_over["pid"] == child.pid
        assert lock.took_over["command"] == "trackannot correct fix.jsonl"
    with group_lock(tmp_path / "s.zarr", "clip", timeout=0) as lock:  # released cleanly: no record
        assert lock.took_over is None


def test_one_holder_at_a_time_within_a_process(tmp_path: Path) -> None:
    with group_lock(tmp_path / "s.zarr", "clip", timeout=0):
        with pytest.raises(LockedError):
            group_lock(tmp_path / "s.zarr", "clip", timeout=0).acquire()
        with group_lock(tmp_path / "s.zarr", "other", timeout=0) as other:  # another video
            assert other.held
