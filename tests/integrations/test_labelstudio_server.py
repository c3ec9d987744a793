"""The Label Studio fixture works: a real server, a video project, a task, its video served,
an ML backend connected."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import httpx
import pytest
from label_studio_sdk.core.api_error import ApiError

from tests.integrations._labelstudio import (
    LabelStudioServer,
    connect_ml_backend,
    video_label_config,
    video_project,
)

VIDEO = "video/vtest_PETS09-S2L1_480x360_h264.avi"


def test_the_server_answers_with_the_pinned_version(labelstudio: LabelStudioServer) -> None:
    assert httpx.get(labelstudio.url + "/health", timeout=10).json() == {"status": "UP"}
    version = labelstudio.get("/api/version").json()
    assert version["release"] == "1.23.0"
    assert labelstudio.client.users.whoami().email == labelstudio.email


def test_an_unauthenticated_request_is_refused(labelstudio: LabelStudioServer) -> None:
    assert httpx.get(labelstudio.url + "/api/projects", timeout=10).status_code == 401


def test_a_video_project_serves_its_video(labelstudio: LabelStudioServer, data_dir: Path) -> None:
    project_id, task_id = video_project(labelstudio, data_dir / VIDEO, title="fixture check")

    project = labelstudio.client.projects.get(id=project_id)
    assert project.label_config == video_label_config(10.0)  # the AVI's 10 fps
    task = labelstudio.client.tasks.get(id=str(task_id))
    assert task.project == project_id
    url = task.data["video"]
    assert url == "/data/local-files/?d=video/vtest_PETS09-S2L1_480x360_h264.avi"

    served = labelstudio.get(url)
    assert served.status_code == 200, served.text[:200]
    assert served.content == (data_dir / VIDEO).read_bytes()
    # without the token, Label Studio does not serve it
    assert httpx.get(labelstudio.url + url, timeout=10).status_code in (401, 403)


def test_a_file_outside_the_registered_folder_is_not_served(labelstudio: LabelStudioServer,
                                                           data_dir: Path) -> None:
    video_project(labelstudio, data_dir / VIDEO, title="outside check")
    assert labelstudio.get("/data/local-files/?d=SOURCES.md").status_code == 404


class _StubBackend(BaseHTTPRequestHandler):
    """The least an ML backend answers for Label Studio to accept it: /health and /setup."""

    calls: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self._answer({"status": "UP", "model_class": "Stub"})

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._answer({"model_version": "stub-1"})

    def _answer(self, body: dict[str, str]) -> None:
        self.calls.append(f"{self.command} {self.path}")
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


def test_connect_ml_backend_registers_a_backend_that_answers(labelstudio: LabelStudioServer,
                                                             data_dir: Path) -> None:
    project_id, _ = video_project(labelstudio, data_dir / VIDEO, title="ml backend check")
    with ThreadingHTTPServer(("127.0.0.1", 0), _StubBackend) as stub:
        thread = threading.Thread(target=stub.serve_forever, daemon=True)
        thread.start()
        try:
            url = f"http://127.0.0.1:{stub.server_address[1]}"
            backend_id = connect_ml_backend(labelstudio, project_id, url, title="stub")
        finally:
            stub.shutdown()
            thread.join()
    assert "GET /health" in _StubBackend.calls and "POST /setup" in _StubBackend.calls
    [backend] = labelstudio.client.ml.list(project=project_id)
    assert (backend.id, backend.url, backend.title) == (backend_id, url, "stub")


def test_connect_ml_backend_refuses_a_url_where_nothing_answers(
        labelstudio: LabelStudioServer, data_dir: Path) -> None:
    project_id, _ = video_project(labelstudio, data_dir / VIDEO, title="no ml backend")
    with pytest.raises(ApiError) as caught:
        connect_ml_backend(labelstudio, project_id, "http://127.0.0.1:9")
    assert caught.value.status_code == 400
    assert labelstudio.client.ml.list(project=project_id) == []
