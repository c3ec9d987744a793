"""Writer locks on object storage: a lease object per group, taken and kept by conditional PUTs.

Object storage has atomic PUTs but no file lock and no rename, so a group's single writer on
`s3://...` is a *lease*: the object `<store>/.trackannot/locks/<key>.lease` holds the holder's
record (command, pid, host, since, a random token) and `expires`, a wall-clock time `LEASE_S`
seconds after the holder last wrote it. Every write of it is conditional
(`trackannot.store._location` explains why obstore):

* take: create it only if absent (`If-None-Match: *`); of two writers exactly one succeeds;
* keep: the holder rewrites it with `If-Match: <its etag>` (a fresh `expires`) every third of
  the lease, from a daemon thread, so a slow stage (a long resume replay, a slow batch) does not
  lose it; before every frame it adds and every commit-marker write the writer checks it
  (`fence`: renewing inline if the renewals fell behind, e.g. after the process was stopped);
  a rewrite that fails means another process took the lease: the writer stops with
  `LockedError` before writing its commit marker, so it never commits past a taken lease;
* take over: a waiter that reads a lease released by its holder, or expired for more than
  `SKEW_S` seconds by its own clock, rewrites it with `If-Match: <the etag it read>`; of several
  waiters exactly one succeeds (the others' etag is stale), and the old holder's next renewal
  fails. A takeover of an expired (not released) lease is reported as `took_over`, and the new
  writer cuts off what the old one wrote past its last commit, as after a crash locally;
* release: rewrite it as released (`If-Match`), so the next writer takes it at once.

Every record written carries a fresh random token, so no two writes have the same etag.

What this guarantees: one writer at a time commits a group, as long as clocks differ by less
than `SKEW_S` and no single write (a chunk or the commit marker) takes longer than that margin
to land after the writer checked its lease; a writer's local deadline is measured on its
monotonic clock from *before* the request that renewed it was sent. A writer that is stopped
(SIGSTOP, swapped out, a VM paused) past its lease is taken over, and learns it at its next
check (tested). Its limits: a process that stalls for longer than the lease *between* its check
and its write may still land that one write after a takeover. A chunk written past the last
commit is harmless then (the new writer overwrites it and readers never read past a commit), a
stale commit marker could not be ruled out: keep the lease (`LEASE_S`, 30 s) far above such
stalls and the clocks in sync (NTP); object storage offers no fencing token to close this. A killed writer's lease blocks its group for up to
`LEASE_S + SKEW_S` seconds before a rerun takes it over (waiting up to its lock timeout).
The tests shorten both with TRACKANNOT_LEASE_S and TRACKANNOT_LEASE_SKEW_S.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from datetime import datetime, timezone
from typing import Any, Callable

from trackannot.errors import CorruptStoreError, LockedError, StoreConflictError, StoreInputError
from trackannot.store._location import Remote

__all__ = ["LEASE_S", "SKEW_S", "LeaseLock"]

LEASE_S = 30.0
"""How long a lease holds without renewal (seconds)."""
SKEW_S = 5.0
"""How long past its expiry a lease is still respected: the clock skew tolerated."""
_POLL_S = 0.2


def _lease_s() -> float:
    return float(os.environ.get("TRACKANNOT_LEASE_S") or LEASE_S)


def _skew_s() -> float:
    return float(os.environ.get("TRACKANNOT_LEASE_SKEW_S") or SKEW_S)


class LeaseLock:
    """A lease on one part of a store on object storage; the interface of `WriterLock`.

    Args:
        store: the store.
        rel: the lease object's path inside the store.
        what: what it protects, for messages.
        command: what the holder is doing, for the message another writer gets.
        timeout: seconds to wait for the lease (0: try once).
        prepare: called before the first acquire (makes the store's own folder).

    Attributes:
        took_over: the record of a holder whose lease expired (it died or stalled; its work
            past the last commit is to be cleaned), else None.
    """

    def __init__(self, store: Remote, rel: str, what: str, command: str,
                 timeout: float, prepare: Callable[[], None] | None = None) -> None:
        if timeout < 0:
            raise StoreInputError(f"lock timeout should be >= 0 seconds, got {timeout}")
        self.store = store
        self.rel = rel
        self.path = f"{store}/{rel}"
        self.what = what
        self.command = command
        self.timeout = float(timeout)
        self.took_over: dict[str, Any] | None = None
        self.lease_s = _lease_s()
        self.skew_s = _skew_s()
        self._prepare = prepare
        self._count = 0
        self._etag: str | None = None
        self._since = ""
        self._renew_at = 0.0  # monotonic time from which `fence` renews
        self._deadline = 0.0  # monotonic time past which this holder may no longer write
        self._mutex = threading.Lock()  # one renewal at a time (the thread's or `fence`'s)
        self._lost: str | None = None  # why the lease was lost, once it was
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> LeaseLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    @property
    def held(self) -> bool:
        return self._count > 0

    # ----------------------------------------------------------------------------------- records

    def _record(self, released: bool = False) -> bytes:
        return json.dumps({
            "command": self.command, "pid": os.getpid(), "host": socket.gethostname(),
            "since": self._since, "expires": 0.0 if released else time.time() + self.lease_s,
            "released": released, "token": uuid.uuid4().hex,
        }).encode()

    def _read(self) -> tuple[dict[str, Any] | None, str | None]:
        """(the lease's record, its etag); (None, None) when there is none."""
        import obstore

        try:
            result = obstore.get(self.store.client(), self.rel)
        except FileNotFoundError:
            return None, None
        etag = result.meta.get("e_tag")
        try:
            record = json.loads(bytes(result.bytes()))
        except ValueError:
            record = {}
        return (record if isinstance(record, dict) else {}), etag

    def _put(self, data: bytes, etag: str | None) -> str | None:
        """Write the lease: create it (etag None) or replace the version `etag`; its new etag,
        or None when the condition failed (another process wrote it first)."""
        import obstore
        from obstore.exceptions import AlreadyExistsError, PreconditionError

        mode: Any = "create" if etag is None else {"e_tag": etag}
        started = time.monotonic()
        try:
            result = obstore.put(self.store.client(), self.rel, data, mode=mode)
        except (AlreadyExistsError, PreconditionError, FileNotFoundError):
            return None
        except Exception as err:  # obstore's other errors: the lease cannot be written
            raise CorruptStoreError(f"{self.what}: cannot write the lease {self.path} "
                                    f"({str(err).splitlines()[0][:300]})") from err
        self._renew_at = started + self.lease_s / 2
        self._deadline = started + self.lease_s
        return result["e_tag"] or ""

    # ------------------------------------------------------------------------------------- API

    def acquire(self) -> None:
        """Take the lease, waiting up to `timeout` s for its holder to release it or for it to
        expire.

        Raises:
            LockedError: another process held it all that time (the message names it).
            CorruptStoreError: the lease cannot be written.
        """
        if self._count:
            self._count += 1
            return
        if self._prepare is not None:
            self._prepare()
        self._since = datetime.now(timezone.utc).isoformat(timespec="seconds")
        give_up = time.monotonic() + self.timeout
        while True:
            etag = self._put(self._record(), None)
            if etag is not None:
                break
            record, seen = self._read()
            if record is not None and seen is not None and (
                    record.get("released") or time.time() > float(record.get("expires") or 0)
                    + self.skew_s):
                etag = self._put(self._record(), seen)
                if etag is not None:
                    if not record.get("released"):
                        self.took_over = record
                    break
                continue  # another waiter took it first: look again
            if time.monotonic() >= give_up:
                raise LockedError(self._busy_message(record))
            time.sleep(_POLL_S)
        self._etag = etag
        self._count = 1
        self._lost = None
        self._stop.clear()
        self._thread = threading.Thread(target=self._keep, name=f"lease {self.rel}", daemon=True)
        self._thread.start()

    def _keep(self) -> None:
        """The renewal thread: renew every third of the lease until released or lost."""
        while not self._stop.wait(self.lease_s / 3):
            try:
                if not self._renew():
                    return
            except CorruptStoreError:
                continue  # the store did not answer: `fence` retries, and stops at the deadline

    def _renew(self) -> bool:
        """Rewrite the lease (`If-Match` on its etag); False once it is lost."""
        with self._mutex:
            if self._lost is not None or self._etag is None:
                return False
            etag = self._put(self._record(), self._etag)
            if etag is None:
                record, _ = self._read()
                who = _who(record) if record else "another process"
                self._lost = (f"{self.what}: this writer lost its lease to {who} (it was not "
                              f"renewed within {self.lease_s:g} s); stopped before committing "
                              "more; what it committed stays")
                return False
            self._etag = etag
            return True

    def fence(self) -> None:
        """Check that this holder still holds the lease before it writes (renewing it inline
        when the renewal thread fell behind, one conditional PUT).

        Raises:
            LockedError: another process took the lease over (this writer must stop).
            StoreConflictError: the lease was released.
        """
        if not self._count:
            raise StoreConflictError(f"{self.what}: the writer's lease was released")
        if self._lost is None and time.monotonic() >= self._renew_at:
            self._renew()
        if self._lost is not None:
            raise LockedError(self._lost)

    def release(self) -> None:
        if not self._count:
            return
        self._count -= 1
        if self._count:
            return
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        self._thread = None
        with self._mutex:
            if self._lost is None and self._etag is not None:
                self._put(self._record(released=True), self._etag)  # lost meanwhile: no matter
            self._etag = None

    def _busy_message(self, record: dict[str, Any] | None) -> str:
        waited = f"waited {self.timeout:g} s"
        if record is None:
            return (f"{self.what} is being written by another process ({waited}); try again when "
                    "it has finished")
        left = float(record.get("expires") or 0) + self.skew_s - time.time()
        return (f"{self.what} is being written by {_who(record)}; {waited}; its lease runs "
                f"{max(left, 0):.0f} s more unless renewed (a writer that died is taken over "
                f"then); wait for it to finish or stop it, then try again")


def _who(record: dict[str, Any]) -> str:
    return (f"`{record.get('command')}` (pid {record.get('pid')} on {record.get('host')}, "
            f"since {record.get('since')})")
