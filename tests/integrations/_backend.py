"""Our Label Studio ML backend as a real server for the integration tests and the benchmark:
`trackannot serve labelstudio` started as its own process on a free loopback port, and PETS09's
precomputed detections laid out the way `--detections-dir` reads them."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.integrations._labelstudio import LabelStudioServer

PETS_VIDEO = "video/vtest_PETS09-S2L1_480x360_h264.avi"
PETS_KEY = "vtest_PETS09-S2L1_480x360_h264"
PETS_FRAMES = 795
PETS_SEQUENCE = "MOT15/PETS09-S2L1"
# the classes a detections file's run names (it has none of its own): `annotate.video_meta`
PETS_LABELS = ("class0", "class1")
START_TIMEOUT_S = 60.0


@dataclass
class Backend:
    """A running `trackannot serve labelstudio`.

    Attributes:
        url: its base URL, e.g. "http://127.0.0.1:40123".
        store: the store it serves.
        process: the server process.
        log_path: its stdout and stderr.
    """

    url: str
    store: Path
    process: subprocess.Popen[bytes]
    log_path: Path

    def status(self) -> dict[str, Any]:
        return httpx.get(self.url + "/status", timeout=30).json()

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]


def pets_detections(folder: Path, data_dir: Path) -> Path:
    """A `--detections-dir` with PETS09's official MOT15 detections for the 480x360 video:
    `<key>/det/det.txt` and its `<key>/seqinfo.ini` (768x576: boxes scale by 0.625), linked."""
    sequence = folder / PETS_KEY
    (sequence / "det").mkdir(parents=True)
    (sequence / "det" / "det.txt").symlink_to(data_dir / PETS_SEQUENCE / "det" / "det.txt")
    (sequence / "seqinfo.ini").symlink_to(data_dir / PETS_SEQUENCE / "seqinfo.ini")
    return folder


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def serve_backend(store: Path, work: Path, ls: LabelStudioServer, *,
                  detections_dir: Path | None = None) -> Iterator[Backend]:
    """`trackannot serve labelstudio STORE` on loopback, with Label Studio's local files root and
    API token, until the block ends (then stopped: SIGTERM, which stops its background runs)."""
    port = _free_port()
    log_path = work / f"backend-{port}.log"
    command = [sys.executable, "-m", "trackannot.cli.main", "serve", "labelstudio", str(store),
               "--host", "127.0.0.1", "--port", str(port), "--local-files-root",
               str(ls.data_root), "--label-studio-url", ls.url, "--label-studio-token", ls.token]
    if detections_dir is not None:
        command += ["--detections-dir", str(detections_dir)]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log,
                                   stderr=subprocess.STDOUT)
    backend = Backend(f"http://127.0.0.1:{port}", store, process, log_path)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"trackannot serve exited with {process.returncode}:\n"
                                   f"{backend.log_tail()}")
            try:
                if httpx.get(backend.url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"trackannot serve did not answer in {START_TIMEOUT_S:.0f} s:"
                                   f"\n{backend.log_tail()}")
            time.sleep(0.1)
        yield backend
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(15)


def retrieve_predictions(ls: LabelStudioServer, project_id: int, task_id: int) -> list[Any]:
    """Label Studio's "Retrieve Predictions" on one task (it calls the backend's /setup, then
    /predict for a task without a prediction of the current version); the task's predictions,
    oldest first."""
    ls.client.actions.create(id="retrieve_tasks_predictions", project=project_id,
                             selected_items={"all": False, "included": [task_id]})
    return sorted(ls.client.predictions.list(task=task_id), key=lambda p: p.id)


def wait_for_predictions(ls: LabelStudioServer, project_id: int, task_id: int, *,
                         version_not: str | None = None, timeout_s: float = 180.0,
                         poll_s: float = 0.5) -> list[Any]:
    """Retrieve predictions until the task has one (of a version other than `version_not`):
    while the backend tracks the video, it answers with none."""
    deadline = time.monotonic() + timeout_s
    while True:
        predictions = retrieve_predictions(ls, project_id, task_id)
        if any(p.model_version != version_not for p in predictions):
            return predictions
        if time.monotonic() > deadline:
            raise AssertionError(f"no prediction for task {task_id} in {timeout_s:.0f} s")
        time.sleep(poll_s)
