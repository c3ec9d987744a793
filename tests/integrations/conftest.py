"""Fixtures of the integration tests: a real Label Studio 1.23, started once per test session.

`labelstudio` (session scope) is a `tests.integrations._labelstudio.LabelStudioServer`:

=============  ===================================================================================
`url`          base URL on loopback, a free port, e.g. "http://127.0.0.1:41234" (no trailing /)
`token`        a legacy API token (`Authorization: Token <token>`) of the superuser `email`
`email`        that user's email (what Label Studio records as an annotation's author);
               `password`, `user_id` too
`client`       a `label_studio_sdk.LabelStudio` client logged in with `token`
`data_root`    LOCAL_FILES_DOCUMENT_ROOT: the absolute `../shared/data` (fixture `data_dir`)
`data_dir`     the server's own temporary data directory (SQLite database, media)
`get(path)`    an authenticated `httpx` GET of `url + path`
`local_files_url(path)`  "/data/local-files/?d=<path relative to data_root>"
`log_tail()`   the end of the server's log (stdout + stderr), for failure messages
`start_s`      seconds from starting the process to a working API (about 7 s on 2 cores)
=============  ===================================================================================

Helpers in `tests.integrations._labelstudio` (import them from there):

* `video_project(ls, video_path, label_config=None, *, title=None) -> (project_id, task_id)`:
  a project whose config is `video_label_config(<the video's fps>)` (`<Video name="video"
  value="$video" framerate=...>`, `<VideoRectangle name="box" toName="video">`, `<Labels
  name="videoLabels" toName="video">` with the label "object"), a local-files storage for the
  video's folder, and one task whose `data["video"]` is the video's local-files URL.
* `video_label_config(framerate, labels=("object",))`: that config, for other labels.
* `connect_ml_backend(ls, project_id, url, *, title="trackannot") -> ml_backend_id`: Label
  Studio checks the backend's `/health` and `/setup` before it accepts it.
* `submit_annotation(ls, task_id, result, *, parent_prediction=None) -> annotation_id` and
  `update_annotation(ls, annotation_id, result)`: an annotation by the test user.

Projects stay on the server for the session: give each test its own project. The server is
stopped, with everything it started, when the session ends. Without `.venv-labelstudio/` the
fixture fails (never skips: CI runs these tests) and says to run `bash .ci/setup_servers.sh`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integrations._labelstudio import (
    LabelStudioServer,
    missing_message,
    start_label_studio,
    stop_label_studio,
)


@pytest.fixture(scope="session")
def labelstudio(data_dir: Path, tmp_path_factory: pytest.TempPathFactory,
                ) -> Iterator[LabelStudioServer]:
    """A running Label Studio 1.23 (module docstring)."""
    if (why := missing_message()) is not None:
        pytest.fail(why, pytrace=False)
    server = start_label_studio(tmp_path_factory.mktemp("labelstudio"), data_dir)
    try:
        yield server
    finally:
        stop_label_studio(server)
