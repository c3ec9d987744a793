"""Store locks: one writer at a time per video group, and per store for store-wide changes.

Every command that writes a video's group (`track`, `correct`, review queues and their answers,
`--overwrite`, `check --repair`) holds that group's lock while it reads what it builds on and
writes; changes to the store's root (creating it, swapping in a replaced group) hold the store
lock. A lock is an OS file lock (`filelock.FileLock`: `flock(2)`) on a file under
`STORE/.trackannot/locks/`, so:

* the kernel drops it when its process dies, however it dies (SIGKILL included): a lock is never
  left behind by a dead process. The holder record beside it (`<name>.holder.json`: command,
  pid, host, since) is then stale; the next holder sees it, reports the takeover
  (`WriterLock.took_over`) and the caller cleans what the dead writer left (uncommitted rows,
  temporary files), which readers never see anyway;
* a second writer waits up to `timeout` seconds, then gets `LockedError` naming the holder;
* it holds across processes and threads of one machine, and across machines on NFS (v4, or v3
  with lockd), where `flock` is carried out as an NFS byte-range lock: the server releases the
  lock of a client that died when the client's lease ends (about 90 s). It does not hold on
  file systems without locks (some FUSE and SMB mounts). On object storage (`s3://`) a lock is
  a lease object taken and renewed by conditional PUTs instead (`trackannot.store._lease`, the
  same interface plus renewal in `fence`).

Lock order, to avoid deadlocks: a group lock first, then the store lock, never the reverse.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from filelock import FileLock, Timeout

from trackannot.config import DEFAULT_LOCK_TIMEOUT_S
from trackannot.errors import CorruptStoreError, LockedError, StoreConflictError, StoreInputError

__all__ = ["DEFAULT_LOCK_TIMEOUT_S", "WriterLock", "group_lock", "store_lock"]

_POLL_S = 0.05
_LOCKS = ("locks",)
_STORE_LOCK = ".store"  # video keys never start with a dot (`video_key`)


def _command() -> str:
    """What this process is, for the holder record: `trackannot correct ...` or the script."""
    argv = [Path(sys.argv[0]).name, *sys.argv[1:4]] if sys.argv and sys.argv[0] else ["python"]
    text = " ".join(argv)
    return text if len(sys.argv) <= 4 else text + " ..."


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


class WriterLock:
    """An exclusive, inter-process lock on one part of a store, with a record of its holder.

    Args:
        path: the lock file (created if missing; never deleted, so waiters share one inode).
        what: what it protects, for messages ("video 'clip' of out.zarr").
        command: what the holder is doing, for the message another writer gets.
        timeout: seconds to wait for the lock (0: try once).
        prepare: makes the lock file's folder (called before the first acquire).

    Attributes:
        took_over: the holder record of a process that died holding the lock (its work past
            the last commit is to be cleaned), else None.

    Example:
        >>> with group_lock("out.zarr", "clip", "trackannot correct") as lock:  # doctest: +SKIP
        ...     ...  # read, check and append under the lock
    """

    def __init__(self, path: Path, what: str, command: str | None = None,
                 timeout: float = DEFAULT_LOCK_TIMEOUT_S,
                 prepare: Callable[[], None] | None = None) -> None:
        if timeout < 0:
            raise StoreInputError(f"lock timeout should be >= 0 seconds, got {timeout}")
        self.path = path
        self.what = what
        self.command = command or _command()
        self.timeout = float(timeout)
        self.took_over: dict[str, Any] | None = None
        self._prepare = prepare
        self._holder = path.with_name(path.name + ".holder.json")
        self._lock = FileLock(str(path), timeout=self.timeout, thread_local=False,
                              poll_interval=_POLL_S)

    def __enter__(self) -> WriterLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    @property
    def held(self) -> bool:
        return self._lock.is_locked

    def fence(self) -> None:
        """Check that the lock is still held before a commit write (an OS lock cannot be lost
        while held; a lease on object storage can: `trackannot.store._lease.LeaseLock.fence`)."""
        if not self._lock.is_locked:
            raise StoreConflictError(f"{self.what}: the writer's lock was released")

    def acquire(self) -> None:
        """Take the lock, waiting up to `timeout` s.

        Raises:
            LockedError: another process held it all that time (the message names it).
            CorruptStoreError: the lock file cannot be created (a read-only or full disk).
        """
        if self._lock.is_locked:  # re-entrant within one holder object
            self._lock.acquire()
            return
        try:
            if self._prepare is not None:
                self._prepare()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._lock.acquire()
        except Timeout:
            raise LockedError(self._busy_message()) from None
        except OSError as err:
            raise CorruptStoreError(f"{self.what}: cannot create the lock file {self.path} "
                                    f"({err.strerror or err}); is the store on a read-only or full "
                                    "disk?") from err
        try:
            previous = self._read_holder()
            if previous is not None and previous.get("pid") != os.getpid():
                self.took_over = previous  # its process died (or the kernel would hold the lock)
            self._write_holder()
        except BaseException:
            self._lock.release()
            raise

    def release(self) -> None:
        if not self._lock.is_locked:
            return
        if self._lock.lock_counter == 1:
            try:
                self._holder.unlink(missing_ok=True)
            except OSError:
                pass  # a read-only store: the next holder sees a stale record and says so
        self._lock.release()

    def _read_holder(self) -> dict[str, Any] | None:
        try:
            record = json.loads(self._holder.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return record if isinstance(record, dict) else None

    def _write_holder(self) -> None:
        record = {
            "command": self.command, "pid": os.getpid(), "host": socket.gethostname(),
            "since": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        partial = self._holder.with_name(f"{self._holder.name}.{os.getpid()}.partial")
        partial.write_text(json.dumps(record), encoding="utf-8")
        os.replace(partial, self._holder)

    def _busy_message(self) -> str:
        holder = self._read_holder()
        waited = f"waited {self.timeout:g} s"
        if holder is None:
            return (f"{self.what} is being written by another process ({waited}); try again when "
                    "it has finished")
        who = (f"`{holder.get('command')}` (pid {holder.get('pid')} on {holder.get('host')}, "
               f"since {holder.get('since')})")
        hint = "wait for it to finish or stop it, then try again"
        if holder.get("host") == socket.gethostname() and isinstance(holder.get("pid"), int) \
                and not _alive(holder["pid"]):
            hint = ("its process is gone but the lock is still held, so another process "
                    "inherited it; stop that process")
        return f"{self.what} is being written by {who}; {waited}; {hint}"


def _lock(store: Any, name: str, what: str, command: str | None,
          timeout: float) -> Any:
    from trackannot.store._layout import INTERNAL, ensure_internal
    from trackannot.store._location import remote

    found = remote(store)
    if found is not None:  # object storage: a lease (`_lease`)
        from trackannot.store._lease import LeaseLock

        return LeaseLock(found, "/".join((INTERNAL, *_LOCKS, f"{name}.lease")), what,
                         command or _command(), timeout, prepare=lambda: ensure_internal(found))
    path = Path(store).joinpath(INTERNAL, *_LOCKS, f"{name}.lock")
    return WriterLock(path, what, command, timeout, prepare=lambda: ensure_internal(store))


def group_lock(store: Any, key: str, command: str | None = None,
               timeout: float = DEFAULT_LOCK_TIMEOUT_S) -> WriterLock:
    """The lock of video group `key` (not yet taken: use it in a `with`); on object storage
    a `LeaseLock` with the same interface."""
    return _lock(store, key, f"video '{key}' of {store}", command, timeout)


def store_lock(store: Any, command: str | None = None,
               timeout: float = DEFAULT_LOCK_TIMEOUT_S) -> WriterLock:
    """The lock for store-wide changes (the root group, swapping a replaced group in)."""
    return _lock(store, _STORE_LOCK, f"store {store}", command, timeout)

