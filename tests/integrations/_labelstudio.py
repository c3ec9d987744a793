"""A real Label Studio for the integration tests: start, stop, and the few calls tests need.

The server is Label Studio 1.23 from `.venv-labelstudio/` (made by `.ci/setup_servers.sh`), run
as `label-studio start` on loopback with SQLite in a temporary data directory and local file
serving rooted at `../shared/data`. `tests/integrations/conftest.py` starts one per test session
(fixture `labelstudio`) and documents the interface; the helpers below are what tests call.

How it is set up (read from Label Studio 1.23's `server.py`, `core/settings/base.py`,
`io_storages/localfiles/views.py` and label-studio-sdk 2.0's `tokens/client_ext.py`):

* The data directory is a copy of `.venv-labelstudio/template-data/`, whose SQLite database
  already has every migration applied (`setup_servers.sh` made it): a start takes seconds, not
  the half minute that migrating takes on two cores.
* `--username/--password/--user-token` create the superuser and set its legacy API token;
  `--enable-legacy-api-token` lets the organisation accept it (1.23 defaults to personal
  access tokens, JWTs that the SDK exchanges for access tokens). The SDK sends a non-JWT key as
  `Authorization: Token <key>`, so the client below works with no refresh round trip.
* Label Studio serves `/data/local-files/?d=<path relative to LOCAL_FILES_DOCUMENT_ROOT>` only
  to a user of a project holding a local-files import storage whose path is a prefix of the
  file's directory, so `video_project` registers one for the video's folder.
* No network: no PyPI version check (`LATEST_VERSION_CHECK`), no Sentry DSN, no analytics.
  `LABEL_STUDIO_CI=false`: Label Studio reads `CI=true` (set in CI) as its own development mode.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

REPO = Path(__file__).resolve().parents[2]
VENV = Path(os.environ.get("LABEL_STUDIO_VENV") or REPO / ".venv-labelstudio")
SETUP = ".ci/setup_servers.sh"
VERSION = "1.23.0"

EMAIL = "reviewer@trackannot.test"
PASSWORD = "trackannot-test-password"
# a legacy API token (Label Studio keeps any string longer than 5 characters)
TOKEN = "trackannot0test0token0000000000000000000"

START_TIMEOUT_S = 120.0  # migrations are done beforehand; a start takes ~7 s on 2 cores
STOP_TIMEOUT_S = 15.0
_POLL_S = 0.2


@dataclass
class LabelStudioServer:
    """A running Label Studio (see `tests/integrations/conftest.py` for the interface).

    Attributes:
        url: base URL, e.g. "http://127.0.0.1:41234" (no trailing slash).
        token: the legacy API token of `email` (send as `Authorization: Token <token>`).
        email, password: the superuser the server was started with.
        user_id: that user's id.
        client: a `label_studio_sdk.LabelStudio` client logged in with `token`.
        data_root: LOCAL_FILES_DOCUMENT_ROOT, absolute (`../shared/data`).
        data_dir: the server's own data directory (SQLite database, media), temporary.
        log_path: the server's stdout and stderr.
        process: the `label-studio start` process (its own process group).
        start_s: seconds from starting the process to a working API.
    """

    url: str
    token: str
    email: str
    password: str
    data_root: Path
    data_dir: Path
    log_path: Path
    process: subprocess.Popen[bytes]
    client: Any = field(repr=False)
    user_id: int = 0
    start_s: float = 0.0
    closer: ExitStack = field(default_factory=ExitStack, repr=False)  # the client's connections

    def local_files_url(self, path: str | Path) -> str:
        """The task data URL Label Studio serves `path` (a file under `data_root`) at."""
        relative = Path(path).resolve().relative_to(self.data_root)
        return f"/data/local-files/?d={quote(relative.as_posix())}"

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        """An authenticated GET of `path` (e.g. "/api/projects/1" or a task's video URL)."""
        return httpx.get(self.url + path, headers={"Authorization": f"Token {self.token}"},
                         timeout=60, **kwargs)

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def video_label_config(framerate: float, labels: tuple[str, ...] = ("object",)) -> str:
    """A video tracking labelling config: `<Video name="video" value="$video">`, a
    `VideoRectangle` named "box" and `Labels` named "videoLabels" (trackannot's export names).

    `framerate` must be the video's: Label Studio maps time to frames with it (default 24)."""
    items = "".join(f'<Label value="{name}"/>' for name in labels)
    return (
        "<View>"
        f'<Video name="video" value="$video" framerate="{framerate:g}"/>'
        '<VideoRectangle name="box" toName="video"/>'
        f'<Labels name="videoLabels" toName="video">{items}</Labels>'
        "</View>"
    )


def video_fps(video_path: str | Path) -> float:
    """The frame rate of a video's first video stream, as its container states it (PyAV)."""
    import av

    with av.open(str(video_path)) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        return float(rate)


def video_project(ls: LabelStudioServer, video_path: str | Path, label_config: str | None = None,
                  *, title: str | None = None) -> tuple[int, int]:
    """A project with a video labelling config and one task whose video Label Studio serves.

    Args:
        ls: the running server.
        video_path: a video file under `ls.data_root` (e.g. `data_dir / "video/vtest_....avi"`).
        label_config: the labelling config; default `video_label_config(<the video's fps>)`.
        title: the project's title; default the video's file name.

    Returns:
        (project_id, task_id); the task's `data["video"]` is `ls.local_files_url(video_path)`.
    """
    video_path = Path(video_path).resolve()
    config = label_config or video_label_config(video_fps(video_path))
    project = ls.client.projects.create(title=title or video_path.name, label_config=config)
    # local file serving answers only for folders a project's local-files storage names
    ls.client.import_storage.local.create(project=project.id, path=str(video_path.parent),
                                          title="trackannot test videos", use_blob_urls=True)
    task = ls.client.tasks.create(project=project.id,
                                  data={"video": ls.local_files_url(video_path)})
    return int(project.id), int(task.id)


def connect_ml_backend(ls: LabelStudioServer, project_id: int, url: str, *,
                       title: str = "trackannot", timeout_s: int = 100) -> int:
    """Connect the ML backend at `url` to a project; returns the ML backend's id.

    Label Studio checks the backend first (GET `/health`, then POST `/setup` with the project's
    config), so the backend must be up; a failing check raises `label_studio_sdk`'s `ApiError`
    (status 400, Label Studio's message in `.body`)."""
    backend = ls.client.ml.create(url=url, project=project_id, title=title,
                                  is_interactive=False, timeout=timeout_s)
    return int(backend.id)


def submit_annotation(ls: LabelStudioServer, task_id: int, result: list[dict[str, Any]], *,
                      parent_prediction: int | None = None, lead_time_s: float = 1.0) -> int:
    """Submit an annotation of a task as the test user, as the editor's Submit does; returns
    its id. `parent_prediction`: the prediction the person started from (the editor records it
    when a pre-annotation was loaded)."""
    extra = {"parent_prediction": parent_prediction} if parent_prediction is not None else None
    annotation = ls.client.annotations.create(
        id=task_id, result=result, lead_time=lead_time_s, completed_by=ls.user_id,
        request_options={"additional_body_parameters": extra} if extra else None,
    )
    return int(annotation.id)


def update_annotation(ls: LabelStudioServer, annotation_id: int,
                      result: list[dict[str, Any]]) -> None:
    """Replace an annotation's result, as the editor's Update does."""
    ls.client.annotations.update(id=annotation_id, result=result)


# ------------------------------------------------------------------------------- the server

def missing_message() -> str | None:
    """Why Label Studio cannot start here, or None when it is installed."""
    marker = VENV / ".trackannot-installed"
    if (VENV / "bin" / "label-studio").exists() and (VENV / "template-data").is_dir() \
            and marker.is_file() and f"label-studio=={VERSION}" in marker.read_text():
        return None
    return (f"Label Studio {VERSION} is not installed in {VENV}: run `bash {SETUP}` (the README's "
            "test command, `bash .ci/setup_servers.sh && python3 -m pytest -q`, runs it first)")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _server_env(data_dir: Path, data_root: Path, url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in {"DJANGO_SETTINGS_MODULE", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}}
    env.update({
        "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir),
        "LABEL_STUDIO_HOST": url,  # absolute URLs Label Studio builds (HOST is read otherwise)
        "LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED": "true",
        "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT": str(data_root),
        "LABEL_STUDIO_LATEST_VERSION_CHECK": "false",
        "LABEL_STUDIO_COLLECT_ANALYTICS": "false",
        "LABEL_STUDIO_SENTRY_DSN": "",
        "LABEL_STUDIO_FRONTEND_SENTRY_DSN": "",
        "LABEL_STUDIO_CI": "false",
        "LABEL_STUDIO_DEBUG": "false",
        "LABEL_STUDIO_LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    })
    return env


def start_label_studio(work_dir: Path, data_root: Path) -> LabelStudioServer:
    """Start Label Studio in `work_dir` (its data directory and log go there) and wait until
    `/health` answers and the API token works.

    Raises:
        RuntimeError: not installed, or the server exited or did not answer in time (with the
            end of its log).
    """
    from trackannot.integrations.labelstudio_sync import connect

    if (why := missing_message()) is not None:
        raise RuntimeError(why)
    data_root = data_root.resolve()
    data_dir = work_dir / "data"
    shutil.copytree(VENV / "template-data", data_dir)
    log_path = work_dir / "label-studio.log"
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    command = [str(VENV / "bin" / "label-studio"), "start", "--no-browser",
               "--internal-host", "127.0.0.1", "--port", str(port),
               "--username", EMAIL, "--password", PASSWORD, "--user-token", TOKEN,
               "--enable-legacy-api-token"]
    with open(log_path, "wb") as log:
        # its own process group, so stopping it reaches anything it started
        process = subprocess.Popen(command, cwd=data_dir, env=_server_env(data_dir, data_root, url),
                                   stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    server = LabelStudioServer(url=url, token=TOKEN, email=EMAIL, password=PASSWORD,
                               data_root=data_root, data_dir=data_dir, log_path=log_path,
                               process=process, client=None)
    started = time.monotonic()
    try:
        _wait_healthy(server)
        server.client = server.closer.enter_context(connect(url, TOKEN))  # SDK, without its warnings
        server.user_id = int(server.client.users.whoami().id)
        server.start_s = time.monotonic() - started
    except BaseException:
        stop_label_studio(server)
        raise
    return server


def _wait_healthy(server: LabelStudioServer) -> None:
    # Label Studio moves to the next port when the one asked for is taken, so a server on
    # another port means we lost a race for it: that fails here rather than talk to a stranger
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"Label Studio exited with {server.process.returncode} while "
                               f"starting; its log ends:\n{server.log_tail()}")
        try:
            health = httpx.get(server.url + "/health", timeout=2)
            if health.status_code == 200 and server.get("/api/current-user/whoami").status_code \
                    == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(_POLL_S)
    raise RuntimeError(f"Label Studio did not answer {server.url}/health within "
                       f"{START_TIMEOUT_S:.0f} s; its log ends:\n{server.log_tail()}")


def stop_label_studio(server: LabelStudioServer) -> None:
    """Stop the server and everything in its process group (SIGTERM, then SIGKILL)."""
    server.closer.close()
    process = server.process
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(STOP_TIMEOUT_S)
    try:  # children that outlived the leader
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
