"""Background tracking for servers: one `trackannot track` process per video, no request waits.

An annotation backend asked for a video the store does not hold yet must answer at once (Label
Studio waits at most 100 s for `/predict`, and its users report time-outs and hangs on long
videos), so `TrackingJobs.start` hands the video to a worker thread and returns. The worker
fetches the video when it is a URL (`fetch_video`), then runs

    python -m trackannot.cli.main track VIDEO -o STORE --lock-timeout 0 --quiet [detector args]

as a child process and waits for it. A child process, not a thread: tracking is CPU-bound
(numba kernels, PyTorch), and in the server's process it would compete for the interpreter with
the requests it must not delay; a process is also stopped cleanly (`close`), and the store's
commits make a stopped run resume where it was when tracked again.

Progress is read from the store (frames committed, `VideoSession.progress`), never from the
child, so the same answer comes from a server restarted meanwhile, or one serving a store that
another process is tracking into. With `--lock-timeout 0` a child finds a video another process
is writing busy at once and exits; the job says so (`busy`) instead of waiting.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from trackannot.errors import NotFoundError, TrackannotError
from trackannot.integrations.labelstudio_tasks import VideoSource, fetch_video

__all__ = ["TrackingJob", "TrackingJobs", "detections_file"]

_TAIL_CHARS = 600
_STOP_WAIT_S = 10.0


@dataclass
class TrackingJob:
    """One video's background run.

    Attributes:
        key: the video's group in the store.
        source: where the video is.
        state: "queued", "fetching", "running", then "done", "busy" (another process is
            writing the video) or "failed".
        message: what happened, for people (the run's last output when it failed).
        returncode: the child's exit code once it ended.
        started: `time.time()` when the job was made.
    """

    key: str
    source: VideoSource
    state: str = "queued"
    message: str = ""
    returncode: int | None = None
    started: float = field(default_factory=time.time)
    _process: subprocess.Popen[str] | None = field(default=None, repr=False)

    @property
    def alive(self) -> bool:
        return self.state in ("queued", "fetching", "running")

    def as_dict(self) -> dict[str, object]:
        return {"video": self.key, "state": self.state, "message": self.message,
                "returncode": self.returncode, "source": self.source.reference}


def detections_file(directory: Path, key: str) -> Path:
    """The detections of video `key` in a folder of them: `<key>.txt`, or MOTChallenge's
    `<key>/det/det.txt` (whose `<key>/seqinfo.ini` scales the boxes to the video).

    Raises:
        NotFoundError: neither exists.
    """
    candidates = [directory / f"{key}.txt", directory / key / "det" / "det.txt"]
    for path in candidates:
        if path.is_file():
            return path
    raise NotFoundError(f"no detections for video {key!r} in {directory}: looked for "
                        + " and ".join(str(p) for p in candidates))


class TrackingJobs:
    """Background runs into one store, at most one per video (module docstring).

    Args:
        store: the store the runs write: a directory or `s3://bucket/prefix` (`trackannot track
            -o` writes either).
        track_args: detector and settings options for `trackannot track` (`--weights W`,
            `--config C`, `--set K=V`, ...).
        detections_dir: a folder of precomputed detections (`detections_file`), instead of a
            model.
        python: the interpreter that runs `trackannot track`.
    """

    def __init__(self, store: str | Path, track_args: Sequence[str] = (), *,
                 detections_dir: str | Path | None = None, python: str = sys.executable) -> None:
        from trackannot.store import location

        self.store = location(store)  # a Path, or a Remote whose str() is its s3:// URL
        self.track_args = list(track_args)
        self.detections_dir = Path(detections_dir) if detections_dir is not None else None
        self.python = python
        self._jobs: dict[str, TrackingJob] = {}
        self._lock = threading.Lock()
        self._closed = False

    def get(self, key: str) -> TrackingJob | None:
        """The video's latest job, if this server started one."""
        with self._lock:
            return self._jobs.get(key)

    def all(self) -> list[TrackingJob]:
        with self._lock:
            return list(self._jobs.values())

    def start(self, key: str, source: VideoSource,
              headers: dict[str, str] | None = None) -> TrackingJob:
        """Track the video in the background, unless a job of it is alive or has finished
        (a failed job is not retried: its message says why; a busy one is, as the other
        process may have stopped). Returns at once. `headers` go with a download (Label
        Studio's authorization for its uploads)."""
        with self._lock:
            job = self._jobs.get(key)
            if self._closed or (job is not None and job.state != "busy"):
                return job if job is not None else TrackingJob(key, source, "failed",
                                                               "the server is stopping")
            job = self._jobs[key] = TrackingJob(key, source)
        threading.Thread(target=self._run, args=(job, headers), name=f"trackannot-track-{key}",
                         daemon=True).start()
        return job

    def close(self) -> None:
        """Stop every running child (their committed work stays; a rerun resumes it)."""
        with self._lock:
            self._closed = True
            processes = [j._process for j in self._jobs.values() if j._process is not None]
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(_STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                process.kill()

    def _command(self, job: TrackingJob, video: Path) -> list[str]:
        command = [self.python, "-m", "trackannot.cli.main", "track", str(video), "-o",
                   str(self.store), "--lock-timeout", "0", "--quiet", *self.track_args]
        if self.detections_dir is not None:
            command += ["--detections", str(detections_file(self.detections_dir, job.key))]
        return command

    def _run(self, job: TrackingJob, headers: dict[str, str] | None) -> None:
        try:
            video = job.source.path
            if job.source.url is not None:
                job.state, job.message = "fetching", f"downloading {job.source.url}"
                video = fetch_video(job.source, headers)
            command = self._command(job, video)
            with self._lock:
                if self._closed:
                    job.state, job.message = "failed", "the server stopped before tracking"
                    return
                job.state, job.message = "running", f"tracking {video}"
                job._process = subprocess.Popen(command, stdout=subprocess.PIPE,
                                                stderr=subprocess.STDOUT, text=True)
            output, _ = job._process.communicate()
            job.returncode = job._process.returncode
            job.state, job.message = _outcome(job.key, job.returncode, output)
        except TrackannotError as err:
            job.state, job.message = "failed", str(err)
        except OSError as err:
            job.state, job.message = "failed", f"cannot run trackannot track: {err}"


def _outcome(key: str, returncode: int, output: str) -> tuple[str, str]:
    """(state, message) of a finished `trackannot track` child."""
    lines = [line for line in output.splitlines() if line.strip()]
    if any(line.startswith(f"{key}: BUSY") for line in lines):
        return "busy", "another process is tracking this video"
    if returncode == 0:
        return "done", lines[-1] if lines else "tracked"
    tail = "\n".join(lines)[-_TAIL_CHARS:]
    return "failed", f"trackannot track exited with {returncode}: {tail}"
