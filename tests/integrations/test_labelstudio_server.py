"""The Label Studio fixture works: a real server, a video project, a task, its video served."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.integrations._labelstudio import (
    LabelStudioServer,
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
