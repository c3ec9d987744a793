"""The Ray executor: `trackannot track --executor ray` runs each video on a pool of Ray actors.

Only the CLI imports this module, and only for `--executor ray`; nothing in the engine imports
Ray (`pip install 'trackannot[ray]'` adds it).

Actors. `RayExecutor.start` connects to the cluster (`RayConfig.address`), checks that it has the
CPUs and GPUs the actors ask for, and starts `workers` actors, each holding `num_cpus` CPUs and
`num_gpus` GPUs. Every actor builds its detector once, from a picklable spec (`DetectorSpec`:
the detection settings and the detections file, never the model), and keeps it warm for every
video it runs; decoding, tracking and writing run in the actor's process beside it. All of this
happens before `track_videos` plans or writes anything, so a cluster that cannot be reached or
lacks the resources is refused with nothing written.

Videos. The driver (`RayExecutor.run`) hands one video at a time to each idle actor; the actor
calls `trackannot.pipeline.track_video` on the store exactly as the local path does (the
group's lock, chunk commits, resume from the last commit), so each group has one writer and the
store is the same as a local run's, array for array. The driver draws one progress bar over all
videos (frames/s in total; per worker in the postfix) and returns the summaries `trackannot
track` prints.

Priority. Ray runs its worker processes at nice 15 by default, below everything else on the
machine; on a shared machine that slows the actors, not the executor. A Ray instance this module
starts (no address) runs them at nice 0, as the local executor's threads run; for a cluster of
your own, start it with `RAY_worker_niceness=0 ray start ...` for the same.

Memory. Each model actor's process starts with `MALLOC_ARENA_MAX=1` (`ACTOR_ENV`, through
Ray's runtime_env, so glibc reads it at start; `env_vars` of `RayExecutor.start` go on top).
Beside the detector, an actor holds Ray's ~25 core-worker threads; with glibc's default of 8
malloc arenas per core, the per-video decode and detect threads land in arenas of their own,
whose freed frame buffers go back to the system and are faulted in again (so the page faults
say). On the demo-model path that cost the actor 1.3-2.2x the page faults and 1.1-1.8x the
system CPU of the local run and 0-16% of wall time at 1 worker; one arena took the faults and
system CPU to the local run's or below, used 130-175 MiB less memory and made the actor 3-15%
faster (benchmarks/RESULTS.md, "Ray executor"). It costs ~0.3 s once per run: the actor gets
a worker process of its own. Actors that replay a detections file (`DetectorSpec.detections`)
keep glibc's default: they move no pixels, and one arena made them 5-8% slower (more page
faults and system CPU). After its warm-up every actor also moves everything on its heap (Ray's
objects, the detector, the imports) out of the garbage collector's reach (`gc.freeze()`): on
the detections-file path the actor otherwise ran one full collection per 8-video run that the
local process did not, ~0.09 s of ~3.5 s.

Faults. Actors are started with Ray's `max_restarts` and `max_task_retries`: when an actor's
process dies mid-video, Ray starts it again (a fresh detector) and runs the video again; the
dead process's lock went with it (flock), so the video resumes from its last commit. A video
whose actor died more often than that is reported (status "running", rerun to resume) and the
other actors go on. A killed driver takes its actors with it; rerunning the command skips
finished videos and resumes the others, as on the local path.
"""

from __future__ import annotations

import gc
import logging
import os
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from dataclasses import replace as replace_
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Mapping

from trackannot.config import DetectConfig, PipelineConfig, RayConfig
from trackannot.detect.base import Detector
from trackannot.errors import (
    ConfigError, ConflictError, InvalidInputError, LockedError, TrackannotError, VideoDecodeError,
)

__all__ = ["ACTOR_ENV", "DetectorSpec", "RayExecutor", "VideoTiming", "import_ray"]

INSTALL_HINT = "pip install 'trackannot[ray]'"
# seconds the driver waits for a finished video before it refreshes the progress bar
_POLL_S = 0.5
# seconds a HOST:PORT address gets to accept a connection (ray.init itself waits minutes)
_CONNECT_TIMEOUT_S = 5.0
# the environment a model actor's process starts with (see "Memory" above): one glibc malloc arena
ACTOR_ENV = MappingProxyType({"MALLOC_ARENA_MAX": "1"})


def import_ray() -> Any:
    """The `ray` module, or a ConfigError saying how to install it."""
    try:
        import ray
    except ImportError as err:
        raise ConfigError(f"--executor ray needs Ray, which is not installed: {INSTALL_HINT} "
                          f"(or run with --executor local); {err}") from err
    return ray


@dataclass(frozen=True)
class DetectorSpec:
    """What an actor builds its detector from (picklable; the model itself never travels)."""

    detect: DetectConfig
    detections: str | None = None

    def __call__(self) -> Detector:
        from trackannot.detect import make_detector

        return make_detector(self.detect, detections=self.detections)


@dataclass(frozen=True)
class VideoTiming:
    """Where one video's time went: `driver_s` from handing it to an actor to its summary back
    in the driver, `actor_s` inside the actor's `track_video` call (the difference is the
    scheduling overhead of the executor)."""

    key: str
    worker: int
    driver_s: float
    actor_s: float


class _Described(Detector):
    """The driver's stand-in for the actors' detector: what planning needs (pixel format, class
    names) and what the detections-file policy did (`counts`), no model."""

    def __init__(self, pixel_format: str, names: Mapping[int, str],
                 counts: dict[str, int] | None) -> None:
        self.pixel_format = pixel_format
        self.names = MappingProxyType(dict(names))
        self.counts = counts

    def detect(self, batch: Any) -> Any:  # pragma: no cover - never called
        raise TypeError("the Ray executor's detectors live in its actors")


class _Worker:
    """One Ray actor: a warm detector and `track_video` for one video at a time. Threaded
    (max_concurrency 2) so that the driver's progress calls are answered while a video runs."""

    def __init__(self, spec: Callable[[], Detector]) -> None:
        self._error: BaseException | None = None
        self._detector: Detector | None = None
        try:
            self._detector = spec()
        except (TrackannotError, OSError) as err:  # reported by describe(), before any work
            self._error = err
        _warm_up(self._detector)
        # what the warm-up and Ray left on the heap stays: out of every later collection
        gc.collect()
        gc.freeze()
        self._frames: dict[str, int] = {}
        self._key: str | None = None
        self._lock = threading.Lock()

    def describe(self) -> tuple[int, BaseException | None, str, dict[int, str]]:
        """(pid, the error building the detector or None, pixel format, class names)."""
        d = self._detector
        return (os.getpid(), self._error, getattr(d, "pixel_format", "rgb24"),
                dict(getattr(d, "names", {}) or {}))

    def pid(self) -> int:
        return os.getpid()

    def progress(self) -> dict[str, int]:
        """Frames decoded so far per video, in this process's life."""
        with self._lock:
            return dict(self._frames)

    # the `trackannot.pipeline.Progress` of the running video
    def start(self, name: str, total_frames: int | None) -> None:
        pass

    def advance(self, frames: int) -> None:
        with self._lock:
            if self._key is not None:
                self._frames[self._key] = self._frames.get(self._key, 0) + frames

    def close(self) -> None:
        pass

    def run(self, key: str, path: Path, store: Any, cfg: PipelineConfig,
            detector_info: dict | None, replace: bool, discard_corrections: bool,
            lock_timeout: float) -> tuple[Any, float, dict[str, int] | None]:
        """(the video's summary, or the library error to raise in the driver; seconds inside
        `track_video`; what the detections-file policy did in this call)."""
        from trackannot.pipeline import VideoSummary, track_video
        from trackannot.store import STATUS_FAILED, STATUS_RUNNING

        assert self._detector is not None, self._error
        counts = getattr(self._detector, "counts", None)
        before = dict(counts) if isinstance(counts, dict) else None
        with self._lock:
            self._key = key
            self._frames[key] = 0
        t0 = time.perf_counter()
        try:
            out: Any = track_video(path, store, key, cfg, self._detector,
                                   detector_info=detector_info, progress=self, replace=replace,
                                   discard_corrections=discard_corrections,
                                   lock_timeout=lock_timeout)
        except VideoDecodeError as err:  # the file changed since it was probed
            out = VideoSummary(key, str(path), 0, 0, 0, 0, 0.0, status=STATUS_FAILED,
                               error=str(err))
        except LockedError as err:  # another process writes it: the others go on
            out = VideoSummary(key, str(path), 0, 0, 0, 0, 0.0, status=STATUS_RUNNING,
                               error=str(err), busy=True)
        except (TrackannotError, OSError) as err:
            out = err
        seconds = time.perf_counter() - t0
        with self._lock:
            self._key = None
        delta = None
        if before is not None:
            delta = {k: int(v) - before.get(k, 0) for k, v in counts.items()}
        return out, seconds, delta


class _OneBox(Detector):
    """One box a frame, moving: enough for the warm-up video to start and grow a track."""

    def detect(self, batch: Any) -> Any:
        import numpy as np

        from trackannot.boxes import Boxes

        f = batch.index.astype(np.float32)[:, None]
        return Boxes.create(xyxy=np.hstack([f, f, f + 40, f + 40]).astype(np.float32),
                            frame=batch.index, score=np.full(len(batch.index), 0.9),
                            det_index=np.zeros(len(batch.index), np.int64))


def _warm_up(detector: Detector | None) -> None:
    """Pay the first-call costs while the actor starts, not in its first video: a 12-frame
    video without pixels (a seqinfo.ini) goes through `track_video` into a temporary store
    (imports, the store's first writes, the tracker's compiled kernels), and a model detector
    detects two blank 640x360 frames (its first inference; a detections file has none)."""
    import shutil
    import tempfile

    import numpy as np

    from trackannot.detect.from_file import FileDetector
    from trackannot.frames import FrameBatch
    from trackannot.pipeline import track_video

    if detector is not None and not isinstance(detector, FileDetector):
        if detector.pixel_format == "yuv420p":
            frames = np.full((2, 540, 640), 128, np.uint8)
            frames[:, :360] = 16  # black: Y 16, U and V 128
        else:
            frames = np.zeros((2, 360, 640, 3), np.uint8)
        detector.detect(FrameBatch(frames, np.arange(2, dtype=np.int64), np.zeros(2),
                                   pixel_format=detector.pixel_format))

    folder = Path(tempfile.mkdtemp(prefix="trackannot-warm-"))
    try:
        (folder / "seqinfo.ini").write_text("[Sequence]\nname=warm\nframeRate=10\n"
                                            "seqLength=12\nimWidth=320\nimHeight=240\n")
        track_video(folder / "seqinfo.ini", folder / "warm.zarr", "warm", PipelineConfig(),
                    _OneBox())
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _actor_env(spec: Callable[[], Detector]) -> Mapping[str, str]:
    """`ACTOR_ENV` for actors that decode pixels; none for a detections file's (see "Memory")."""
    return {} if isinstance(spec, DetectorSpec) and spec.detections else ACTOR_ENV


def _runtime_env(env: Mapping[str, str]) -> dict[str, Any]:
    """The actor options that set `env` in its process; none for an empty one (a runtime_env
    gives the actor a worker process of its own, ~0.3 s per run)."""
    return {"runtime_env": {"env_vars": dict(env)}} if env else {}


def _check_reachable(address: str) -> None:
    """A HOST:PORT address must accept a connection (Ray's own connect retries for minutes)."""
    target = address.removeprefix("ray://")
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit():
        raise InvalidInputError(f"--ray-address {address!r}: expected auto or HOST:PORT (the "
                                "head node's GCS port, 6379 by default)")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=_CONNECT_TIMEOUT_S).close()
    except OSError as err:
        raise InvalidInputError(
            f"--ray-address {address}: no Ray cluster answers there ({err.strerror or err}); "
            "start one with `ray start --head` on that machine, or check the host and port "
            "(nothing was written)") from err


@dataclass
class RayExecutor:
    """A pool of Ray actors that `track_videos(..., executor=...)` runs videos on.

    Made by `start`; `detector` is what the driver plans with; `timings` says where each
    video's time went in the last `run`; `pids()` are the actors' processes now.
    """

    ray: Any
    cfg: RayConfig
    actors: list[Any]
    detector: _Described
    workers: int
    owns_ray: bool
    timings: list[VideoTiming] = field(default_factory=list)

    @classmethod
    def start(cls, ray_cfg: RayConfig, spec: Callable[[], Detector],
              videos: int | None = None,
              env_vars: Mapping[str, str] | None = None) -> RayExecutor:
        """Connect, check the cluster's resources and start the actors (their detectors built).

        Args:
            ray_cfg: the cluster's address and what each actor holds.
            spec: a picklable callable that builds the detector (`DetectorSpec`).
            videos: at most this many actors are started (one per video is enough).
            env_vars: environment variables of the actors' processes (Ray's runtime_env), on
                top of the cluster's and of `ACTOR_ENV`.

        Raises:
            ConfigError: Ray is not installed (the message says how to install it).
            InvalidInputError: the address cannot be reached, or the cluster has fewer CPUs or
                GPUs than the actors ask for (num_gpus > 0 on a cluster without GPUs).
            TrackannotError: building the detector failed in the actor (e.g. the weights
                cannot be found).
        """
        ray = import_ray()
        owns = False
        if not ray.is_initialized():
            address = ray_cfg.address
            if address not in (None, "auto", "local"):
                _check_reachable(address)
            else:  # an instance started here: its workers are the work, not background jobs
                os.environ.setdefault("RAY_worker_niceness", "0")
            try:
                ray.init(address=address, include_dashboard=False, log_to_driver=False,
                         logging_level=logging.WARNING, configure_logging=True)
            except ConnectionError as err:
                raise InvalidInputError(f"--ray-address {address}: {err} (nothing was "
                                        "written)") from err
            owns = True
        try:
            return cls._start(ray, ray_cfg, spec, videos, owns, env_vars)
        except BaseException:
            if owns:
                ray.shutdown()
            raise

    @classmethod
    def _start(cls, ray: Any, ray_cfg: RayConfig, spec: Callable[[], Detector],
               videos: int | None, owns: bool,
               env_vars: Mapping[str, str] | None = None) -> RayExecutor:
        resources = ray.cluster_resources()
        cpus, gpus = float(resources.get("CPU", 0)), float(resources.get("GPU", 0))
        num_gpus = ray_cfg.num_gpus if ray_cfg.num_gpus is not None else (1.0 if gpus else 0.0)
        where = f"the Ray cluster ({ray_cfg.address or 'started here'})"
        if num_gpus > gpus:
            raise InvalidInputError(
                f"{where} has {gpus:g} GPUs, each actor asks for num_gpus={num_gpus:g}: pass "
                "--ray-num-gpus 0 to run the detector on the CPU, or join a cluster with GPUs "
                "(nothing was written)")
        if ray_cfg.num_cpus > cpus:
            raise InvalidInputError(f"{where} has {cpus:g} CPUs, each actor asks for "
                                    f"num_cpus={ray_cfg.num_cpus:g}: lower --ray-num-cpus "
                                    "(nothing was written)")
        fit = int(gpus // num_gpus) if num_gpus > 0 else int(cpus // ray_cfg.num_cpus)
        fit = min(fit, int(cpus // ray_cfg.num_cpus))
        workers = ray_cfg.workers if ray_cfg.workers is not None else max(fit, 1)
        if workers > fit:
            raise InvalidInputError(
                f"{where} has {cpus:g} CPUs and {gpus:g} GPUs: at most {fit} workers of "
                f"num_cpus={ray_cfg.num_cpus:g}, num_gpus={num_gpus:g} fit, asked for {workers} "
                "(nothing was written)")
        if videos is not None:
            workers = max(1, min(workers, videos))
        actor_cls = ray.remote(_Worker).options(
            num_cpus=ray_cfg.num_cpus, num_gpus=num_gpus, max_restarts=ray_cfg.max_restarts,
            max_task_retries=ray_cfg.max_task_retries, max_concurrency=2,
            **_runtime_env({**_actor_env(spec), **(env_vars or {})}))
        actors = [actor_cls.remote(spec) for _ in range(workers)]
        described = ray.get([a.describe.remote() for a in actors])
        for _, error, _, _ in described:
            if error is not None:
                for a in actors:
                    ray.kill(a)
                raise error
        _, _, pixel_format, names = described[0]
        counts = {} if isinstance(spec, DetectorSpec) and spec.detections else None
        return cls(ray, ray_cfg, actors, _Described(pixel_format, names, counts), workers, owns)

    def pids(self) -> list[int]:
        """The process id of each actor now (a restarted actor has a new one)."""
        return self.ray.get([a.pid.remote() for a in self.actors])

    def close(self) -> None:
        """Stop the actors (and the Ray instance this executor started)."""
        for a in self.actors:
            self.ray.kill(a)
        self.actors = []
        if self.owns_ray:
            self.ray.shutdown()

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(self, plan: dict[str, Path], store: Any, cfg: PipelineConfig,
            detector_info: dict | None, progress: Any, *, replace: bool,
            discard_corrections: bool, lock_timeout: float) -> dict[str, Any]:
        """Run every planned video on the actors, one at a time each (`VideoExecutor`)."""
        ray = self.ray
        from trackannot.decode import probe_input
        from trackannot.pipeline import VideoSummary, _expected_frames
        from trackannot.store import STATUS_RUNNING

        # a local directory is made absolute for actors in other folders (a shared file system
        # on other machines); an object store goes as its URL (each actor opens it, with the
        # credentials of its own environment)
        target = store.resolve() if isinstance(store, Path) else str(store)
        totals: dict[str, int] = {}
        for key, path in plan.items():
            try:
                info = probe_input(path)
                totals[key] = _expected_frames(info.frame_count, info.fps, cfg.decode.fps) or 0
            except VideoDecodeError:
                totals[key] = 0
        bar = _Bar(progress, sum(totals.values()), len(self.actors))
        queue = deque(plan.items())
        idle = list(range(len(self.actors)))
        running: dict[Any, tuple[str, Path, int, float]] = {}  # ref -> key, path, worker, t0
        polls: dict[int, Any] = {}  # worker -> its outstanding progress() call
        done: dict[str, VideoSummary] = {}
        error: BaseException | None = None
        self.timings = []
        while running or (queue and error is None and idle):
            while queue and idle and error is None:
                key, path = queue.popleft()
                w = idle.pop(0)
                ref = self.actors[w].run.remote(key, Path(path).resolve(), target, cfg,
                                                detector_info, replace, discard_corrections,
                                                lock_timeout)
                running[ref] = (key, path, w, time.perf_counter())
            ready, _ = ray.wait(list(running), num_returns=1, timeout=_POLL_S)
            for ref in ready:
                key, path, w, t0 = running.pop(ref)
                try:
                    out, actor_s, counts = ray.get(ref)
                except ray.exceptions.RayActorError as err:  # restarts and retries spent
                    out, actor_s, counts = VideoSummary(
                        key, str(path), 0, 0, 0, 0, 0.0, status=STATUS_RUNNING,
                        error=f"its Ray worker died ({type(err).__name__}) more often than "
                        f"max_task_retries={self.cfg.max_task_retries}; rerun the same command "
                        "to resume it from its last commit"), 0.0, None
                    polls.pop(w, None)
                else:
                    idle.append(w)
                self.timings.append(VideoTiming(key, w, time.perf_counter() - t0, actor_s))
                worked = isinstance(out, VideoSummary) and not (out.skipped or out.busy)
                bar.finish(key, w, out.frames if worked else totals[key], worked=worked)
                if isinstance(out, BaseException):
                    error = error or out
                    continue
                done[key] = replace_(out, path=str(path))  # as given (the actor's is absolute)
                if counts and self.detector.counts is not None:
                    for k, v in counts.items():
                        self.detector.counts[k] = self.detector.counts.get(k, 0) + v
            self._poll(running, polls, bar)
        bar.close()
        if error is not None:
            raise error
        if queue:
            raise ConflictError("every Ray worker died; rerun the same command to resume "
                                "the unfinished videos from their last commits")
        return done

    def _poll(self, running: dict[Any, tuple[str, Path, int, float]], polls: dict[int, Any],
              bar: _Bar) -> None:
        """Refresh the bar from the actors' frame counts (never waits on a busy actor)."""
        ray = self.ray
        busy = {w: key for key, _, w, _ in running.values()}
        for w, ref in list(polls.items()):
            ready, _ = ray.wait([ref], timeout=0)
            if not ready:
                continue
            del polls[w]
            try:
                frames = ray.get(ref)
            except ray.exceptions.RayError:
                continue  # a dead actor: its video's frames are counted again after the restart
            for key, n in frames.items():
                bar.seen(key, w, n)
        for w in busy:
            if w not in polls:
                polls[w] = self.actors[w].progress.remote()
        bar.refresh()


class _Bar:
    """One bar over all videos: `progress.start` once with every video's frames, `advance` as
    actors report frames, and per-worker frames/s through `progress.postfix` when it has one."""

    def __init__(self, progress: Any, total: int, workers: int) -> None:
        self._progress = progress
        self._seen: dict[str, int] = {}
        self._finished: set[str] = set()
        self._worker_frames = [0] * workers
        self._shown = 0
        self._t0 = time.perf_counter()
        if progress is not None:
            progress.start(f"{workers} Ray workers", total or None)

    def seen(self, key: str, worker: int, frames: int) -> None:
        if key in self._finished:
            return
        extra = frames - self._seen.get(key, 0)
        if extra > 0:
            self._seen[key] = frames
            self._worker_frames[worker] += extra

    def finish(self, key: str, worker: int, total: int, *, worked: bool) -> None:
        """The video is done: its frames count whole on the bar (also a skipped or damaged
        one's); the worker is credited with them when it decoded them (`worked`)."""
        if worked:
            self.seen(key, worker, total)
        self._seen[key] = max(self._seen.get(key, 0), total)
        self._finished.add(key)

    def refresh(self) -> None:
        if self._progress is None:
            return
        now = sum(self._seen.values())
        if now > self._shown:
            self._progress.advance(now - self._shown)
            self._shown = now
        postfix = getattr(self._progress, "postfix", None)
        if postfix is not None:
            elapsed = max(time.perf_counter() - self._t0, 1e-9)
            postfix({f"w{i}": f"{n / elapsed:.1f}/s" for i, n in enumerate(self._worker_frames)})

    def close(self) -> None:
        self.refresh()
