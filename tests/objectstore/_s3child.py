"""Child process of the object-storage kill test: `trackannot ARGV...`, SIGKILLed just before
its K-th object PUT through zarr (`python -m tests.objectstore._s3child K ARGV...`).

zarr's `ObjectStore` writes every chunk and metadata document with `obstore.put_async`; the
hook counts those calls (the leases' own PUTs go through `obstore.put` and are not counted) and
kills the process, however far its requests have got, at the K-th.
"""

from __future__ import annotations

import os
import signal
import sys


def main() -> None:
    import obstore

    kill_at = int(sys.argv[1])
    real = obstore.put_async
    count = 0

    async def put_async(*args, **kwargs):
        nonlocal count
        count += 1
        if count >= kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return await real(*args, **kwargs)

    obstore.put_async = put_async
    from trackannot.cli.main import main as cli

    cli(sys.argv[2:])


if __name__ == "__main__":
    main()
