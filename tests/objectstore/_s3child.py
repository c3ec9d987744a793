"""Child processes of the object-storage tests (`python -m tests.objectstore._s3child MODE ...`).

* `kill K ARGV...`: `trackannot ARGV...`, SIGKILLed just before its K-th object PUT through
  zarr. zarr's `ObjectStore` writes every chunk and metadata document with `obstore.put_async`;
  the hook counts those calls (the leases' PUTs go through `obstore.put`: not counted).
* `stop F ARGV...`: `trackannot ARGV...`, stopping itself (SIGSTOP, every thread: its lease is
  no longer renewed) as it is about to add its F-th frame, before the writer checks its lease;
  it goes on when the parent sends SIGCONT.
* `hold URL KEY`: takes video KEY's lease, prints "held", stops itself (SIGSTOP); once continued,
  checks the lease (`fence`) and prints "fenced" or "lost: <message>".
"""

from __future__ import annotations

import os
import signal
import sys


def _kill_at(kill_at: int) -> None:
    import obstore

    real = obstore.put_async
    count = 0

    async def put_async(*args, **kwargs):
        nonlocal count
        count += 1
        if count >= kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return await real(*args, **kwargs)

    obstore.put_async = put_async


def _stop_at(frame: int) -> None:
    from trackannot.store import StoreWriter

    real = StoreWriter.add_frame
    count = 0

    def add_frame(self, *args, **kwargs):
        nonlocal count
        count += 1
        if count == frame:
            os.kill(os.getpid(), signal.SIGSTOP)
        return real(self, *args, **kwargs)

    StoreWriter.add_frame = add_frame


def _hold(url: str, key: str) -> None:
    from trackannot.errors import LockedError
    from trackannot.store import group_lock

    lock = group_lock(url, key, "stalled holder", timeout=0)
    lock.acquire()
    print("held", flush=True)
    os.kill(os.getpid(), signal.SIGSTOP)
    try:
        lock.fence()
        print("fenced", flush=True)
    except LockedError as err:
        print(f"lost: {err}", flush=True)


def main() -> None:
    mode = sys.argv[1]
    if mode == "hold":
        _hold(sys.argv[2], sys.argv[3])
        return
    (_kill_at if mode == "kill" else _stop_at)(int(sys.argv[2]))
    from trackannot.cli.main import main as cli

    cli(sys.argv[3:])


if __name__ == "__main__":
    main()
