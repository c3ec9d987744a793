"""The Ray executor (`--executor ray`) on a local Ray cluster started once for this module.

Its stores equal the local executor's, array for array, for a mixed directory (good, damaged and
non-video files) with the bundled demo model and from a detections file; an actor's process
killed mid-video (SIGKILL of the pid it reports) is restarted by Ray and the video resumes from
its last commit; a killed driver's rerun skips finished videos; bad input (an unreachable
address, GPUs asked of a cluster without any, Ray not installed) is refused before any store
exists.
"""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
import ray
from click.testing import CliRunner

from tests._kill import content, make_detections
from tests._video import truncate, write_clip
from tests.test_pipeline_resume import ColourDetector, _cfg, _frames, make_clips
from trackannot.config import RayConfig
from trackannot.detect import Detector
from trackannot.pipeline import track_videos
from trackannot.store import open_store

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def cluster() -> str:
    """A local Ray cluster with this machine's 2 CPUs; its GCS address."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


def _run_cli(args: list[str]) -> tuple[int, str]:
    from trackannot.cli.main import main

    result = CliRunner().invoke(main, args, catch_exceptions=False)
    return result.exit_code, result.output


def _summary(output: str, store: Path) -> list[str]:
    """The summary lines of `trackannot track`, frames/s and the store's name left out."""
    return [(line.rsplit(",", 1)[0] if line.endswith("frames/s") else line)
            .replace(str(store), "STORE") for line in output.splitlines()]


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two demo clips, a damaged one (an MKV cut at 60%: some frames, then failed), a text
    file and an image-less file."""
    from trackannot.demo.run import DEMO_FPS
    from trackannot.demo.synth import write_demo_clip

    folder = tmp_path_factory.mktemp("mixed")
    for i in range(2):
        write_demo_clip(folder / f"good{i}.mp4", seed=i, seconds=1.0, fps=DEMO_FPS, width=320,
                        height=192)
    full = write_clip(folder.parent / "full.mkv", _frames(40, seed=3), fps=10,
                      container="matroska")
    truncate(full, folder / "damaged.mkv", 0.6)
    (folder / "notes.txt").write_text("not a video\n")
    (folder / "empty.mp4").write_bytes(b"")
    return folder


DEMO_SETTINGS = ["--quiet", "--set", "detect.imgsz=320"]


@pytest.fixture(scope="module")
def local_mixed(mixed: Path, tmp_path_factory: pytest.TempPathFactory
                ) -> tuple[int, str, Path]:
    """The local executor's run over `mixed`: exit code, output, store."""
    store = tmp_path_factory.mktemp("local") / "local.zarr"
    rc, out = _run_cli(["track", str(mixed), *DEMO_SETTINGS, "-o", str(store)])
    return rc, out, store


def test_mixed_directory_with_the_demo_model_equals_local(
        cluster: str, mixed: Path, local_mixed: tuple[int, str, Path], tmp_path: Path) -> None:
    rc_local, out_local, local_store = local_mixed
    rc_ray, out_ray = _run_cli(["track", str(mixed), *DEMO_SETTINGS, "-o",
                                str(tmp_path / "ray.zarr"), "--executor", "ray", "--jobs", "2"])
    assert rc_local == rc_ray == 1  # the damaged video failed; the others completed
    assert _summary(out_ray, tmp_path / "ray.zarr") == _summary(out_local, local_store)
    assert "damaged: FAILED after" in out_ray and "good1: 15 frames" in out_ray
    assert "skipped" in out_ray and "notes.txt" in out_ray
    local, remote = content(local_store), content(tmp_path / "ray.zarr")
    assert sorted(remote) == ["damaged", "good0", "good1"]
    assert remote == local
    assert open_store(tmp_path / "ray.zarr")["damaged"].status == "failed"


def test_detections_file_equals_local(cluster: str, tmp_path: Path) -> None:
    (clip,) = make_clips(tmp_path / "clips", lengths=(37,))
    det = make_detections(clip, tmp_path / "det.txt")
    common = [str(clip), "--detections", str(det), "--quiet", "--set", "store.chunk_frames=4"]
    rc_local, out_local = _run_cli(["track", *common, "-o", str(tmp_path / "local.zarr")])
    rc_ray, out_ray = _run_cli(["track", *common, "-o", str(tmp_path / "ray.zarr"),
                                "--executor", "ray", "--ray-address", cluster])
    assert rc_local == rc_ray == 0, out_ray
    assert _summary(out_ray, tmp_path / "ray.zarr") == _summary(out_local,
                                                                tmp_path / "local.zarr")
    assert content(tmp_path / "ray.zarr") == content(tmp_path / "local.zarr")


class SlowColour(ColourDetector):
    """`ColourDetector`, 0.15 s per batch: a video lasts long enough to be killed halfway."""

    def detect(self, batch):  # noqa: ANN001, ANN201
        time.sleep(0.15)
        return super().detect(batch)


def slow_colour() -> Detector:
    return SlowColour()


def _committed(store: Path, key: str) -> int:
    try:
        return open_store(store)[key].committed()[0]
    except Exception:  # noqa: BLE001 - the group is being created
        return 0


def test_killed_actor_resumes_from_its_last_commit(cluster: str, tmp_path: Path) -> None:
    from trackannot.ray_executor import RayExecutor

    clips = make_clips(tmp_path / "clips", lengths=(60,))
    cfg = _cfg()
    track_videos(clips, tmp_path / "clean.zarr", cfg, ColourDetector())
    store = tmp_path / "s.zarr"
    with RayExecutor.start(RayConfig(workers=1), slow_colour) as pool:
        (pid,) = pool.pids()
        out: list = []
        runner = threading.Thread(target=lambda: out.append(track_videos(
            clips, store, cfg, pool.detector, executor=pool)))
        runner.start()
        deadline = time.monotonic() + 60
        while _committed(store, "v0") < 8 and time.monotonic() < deadline:
            time.sleep(0.02)
        killed_at = _committed(store, "v0")
        assert 8 <= killed_at < 60
        os.kill(pid, signal.SIGKILL)
        runner.join(timeout=90)
        assert not runner.is_alive()
        (summary,) = out[0]
        assert pool.pids() != [pid]  # Ray restarted the actor
    assert summary.ok and summary.resumed_from >= killed_at
    assert content(store) == content(tmp_path / "clean.zarr")


def _environ(pid: int) -> dict[str, str]:
    """The environment process `pid` was started with (what glibc's malloc read then)."""
    items = Path(f"/proc/{pid}/environ").read_bytes().decode().split("\0")
    return dict(item.split("=", 1) for item in items if "=" in item)


@pytest.mark.parametrize(("file_spec", "env_vars", "arenas"), [
    (False, None, "1"), (False, {"MALLOC_ARENA_MAX": "2"}, "2"), (True, None, None)],
    ids=["executor-default", "caller-overrides", "detections-file-keeps-glibc-default"])
def test_actor_processes_start_with_the_actor_environment(
        cluster: str, tmp_path: Path, file_spec: bool, env_vars: dict[str, str] | None,
        arenas: str | None) -> None:
    """MALLOC_ARENA_MAX works only if it is there when the process starts (set later in
    os.environ, malloc never reads it): a model actor's process is started with it, a
    detections-file actor's keeps the cluster's. The warmed-up heap is frozen (out of the
    garbage collector's full collections)."""
    from trackannot.config import DetectConfig
    from trackannot.ray_executor import ACTOR_ENV, DetectorSpec, RayExecutor

    spec = slow_colour
    if file_spec:
        (tmp_path / "det.txt").write_text("1,-1,10,10,20,20,0.9,-1,-1,-1\n")
        spec = DetectorSpec(DetectConfig(), str(tmp_path / "det.txt"))
    extra = {**(env_vars or {}), "TRACKANNOT_TEST_MARK": "1"}
    driver = os.environ.get("MALLOC_ARENA_MAX")
    with RayExecutor.start(RayConfig(workers=1), spec, env_vars=extra) as pool:
        (pid,) = pool.pids()
        environ = _environ(pid)
        frozen = ray.get(pool.actors[0].__ray_call__.remote(lambda _w: gc.get_freeze_count()))
    assert frozen > 10_000  # the imports and Ray's objects, at least
    assert ACTOR_ENV["MALLOC_ARENA_MAX"] == "1"
    assert environ.get("MALLOC_ARENA_MAX") == (arenas or driver)  # the cluster's, when not set
    assert environ["TRACKANNOT_TEST_MARK"] == "1"
    assert os.environ.get("MALLOC_ARENA_MAX") == driver  # the driver's own is untouched


def test_killed_driver_rerun_skips_finished_videos(
        cluster: str, mixed: Path, local_mixed: tuple[int, str, Path], tmp_path: Path) -> None:
    clips = sorted(mixed.glob("good*.mp4"))
    store = tmp_path / "s.zarr"
    cmd = [sys.executable, "-m", "trackannot.cli.main", "track", *map(str, clips), "-o",
           str(store), *DEMO_SETTINGS, "--executor", "ray", "--ray-address", cluster,
           "--jobs", "1"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    driver = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if open_store(store)["good0"].status == "complete":
                break
        except Exception:  # noqa: BLE001 - not there yet
            pass
        time.sleep(0.05)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    assert open_store(store)["good0"].status == "complete"
    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "good0: complete in an earlier run (15 frames), skipped" in rerun.stdout
    local = content(local_mixed[2])
    assert content(store) == {key: local[key] for key in ("good0", "good1")}


def test_unreachable_address_is_refused_before_any_store(tmp_path: Path, mixed: Path) -> None:
    store = tmp_path / "s.zarr"
    with socket_port() as port:  # a port nothing listens on
        pass
    out = subprocess.run(
        [sys.executable, "-m", "trackannot.cli.main", "track", str(mixed / "good0.mp4"), "-o",
         str(store), "--executor", "ray", "--ray-address", f"127.0.0.1:{port}"],
        capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.returncode == 1, out.stdout + out.stderr
    assert f"--ray-address 127.0.0.1:{port}: no Ray cluster answers there" in out.stderr
    assert not store.exists()


def test_gpus_asked_of_a_cluster_without_gpus(cluster: str, mixed: Path, tmp_path: Path) -> None:
    store = tmp_path / "s.zarr"
    rc, output = _run_cli(["track", str(mixed / "good0.mp4"), "-o", str(store), "--executor",
                           "ray", "--ray-num-gpus", "1"])
    assert rc == 1
    assert "has 0 GPUs, each actor asks for num_gpus=1" in output
    assert not store.exists()


def test_more_workers_than_the_cluster_holds(cluster: str, mixed: Path, tmp_path: Path) -> None:
    store = tmp_path / "s.zarr"
    rc, output = _run_cli(["track", str(mixed), "-o", str(store), "--executor", "ray",
                           "--jobs", "3"])
    assert rc == 1
    assert "at most 2 workers" in output and "asked for 3" in output
    assert not store.exists()


def test_without_the_extra_says_how_to_install(mixed: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    store = tmp_path / "s.zarr"
    rc, output = _run_cli(["track", str(mixed / "good0.mp4"), "-o", str(store), "--executor",
                           "ray"])
    assert rc == 2
    assert "pip install 'trackannot[ray]'" in output
    assert not store.exists()


class socket_port:  # noqa: N801
    """A free TCP port (bound, then released)."""

    def __enter__(self) -> int:
        import socket

        self._s = socket.socket()
        self._s.bind(("127.0.0.1", 0))
        return self._s.getsockname()[1]

    def __exit__(self, *exc: object) -> None:
        self._s.close()
