"""The Label Studio ML backend's protocol, in-process (Starlette's TestClient): predictions,
webhooks, bad input that leaves the store byte for byte, background tracking, a store another
process is tracking into, and two reviewers at once. The same calls against a real Label Studio:
`test_labelstudio_backend.py`."""

from __future__ import annotations

import copy
import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from starlette.testclient import TestClient

from tests._store import store_digest
from tests.integrations._labelstudio import video_label_config
from tests.test_annotate import NUM_FRAMES, make_store
from trackannot.corrections import Op
from trackannot.export.labelstudio import format_labelstudio, region_track_id
from trackannot.integrations.labelstudio_backend import LabelStudioBackend, create_app
from trackannot.integrations.tracking_jobs import TrackingJobs
from trackannot.session import VideoSession
from trackannot.store import group_lock

CONFIG = video_label_config(10.0, labels=("person", "car"))  # make_store: 10 fps, these classes
TASK = {"id": 1, "data": {"video": "/data/local-files/?d=videos/clip.mp4"}}  # key "clip"
VERSION = re.compile(r"^trackannot-r(\d+)-[0-9a-f]{8}$")
TRACKING_TIMEOUT_S = 180.0


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return make_store(tmp_path / "out.zarr")


@pytest.fixture
def client(store: Path) -> Iterator[TestClient]:
    with TestClient(create_app(LabelStudioBackend(store))) as test_client:
        yield test_client


def _predict(client: TestClient, *tasks: dict[str, Any]) -> dict[str, Any]:
    answer = client.post("/predict", json={"tasks": list(tasks or [TASK]), "project": "1.1700",
                                           "label_config": CONFIG})
    assert answer.status_code == 200, answer.text
    return answer.json()


def _webhook(client: TestClient, annotation: dict[str, Any], *, task: dict[str, Any] = TASK,
             action: str = "ANNOTATION_CREATED") -> Any:
    return client.post("/webhook", json={
        "action": action, "annotation": annotation, "task": task,
        "project": {"id": 1, "label_config": CONFIG}})


def _annotation(ann_id: int, result: list[dict[str, Any]], user: int = 7,
                parent_prediction: int | None = 55) -> dict[str, Any]:
    return {"id": ann_id, "result": result, "completed_by": user, "task": TASK["id"],
            "parent_prediction": parent_prediction, "was_cancelled": False}


def _region(result: list[dict[str, Any]], track: int) -> dict[str, Any]:
    return next(r for r in result if region_track_id(r) == track)


def _move(result: list[dict[str, Any]], track: int, key: int, dx_percent: float
          ) -> tuple[list[dict[str, Any]], int]:
    """A copy of `result` with keyframe `key` of a track moved right; its 0-based frame."""
    moved = copy.deepcopy(result)
    item = _region(moved, track)["value"]["sequence"][key]
    item["x"] += dx_percent
    return moved, item["frame"] - 1


def _box_at(store: Path, track: int, frame: int) -> np.ndarray:
    boxes = VideoSession.open(store).boxes(frame, frame + 1)
    return boxes.xyxy[boxes.track_id == track][0]


def _log(store: Path) -> tuple[Any, list[dict[str, Any]]]:
    result = VideoSession.open(store).result
    return result.read_log()[0], result.batches()


# ---------------------------------------------------------------------------------- health/setup

def test_health_and_setup_name_a_model_version(client: TestClient) -> None:
    for path in ("/health", "/"):
        assert client.get(path).json()["status"] == "UP"
    answer = client.post("/setup", json={"project": "1.1700", "schema": CONFIG,
                                         "hostname": "http://127.0.0.1:9", "access_token": "x"})
    assert answer.status_code == 200
    assert VERSION.match(answer.json()["model_version"]).group(1) == "0"


@pytest.mark.parametrize(("schema", "pattern"), [
    ("<View><Image name='i' value='$image'/></View>", "no <VideoRectangle> on a <Video>"),
    ("<View><Video name='v' value='$video'", "not XML"),
    ("<View><Video name='v' value='video'/><VideoRectangle name='b' toName='v'/></View>",
     "expected a task data key"),
    ("<View><Video name='v' value='$v' framerate='fast'/><VideoRectangle name='b' "
     "toName='v'/></View>", "framerate.*expected a frame rate > 0"),
    (None, "expected a labelling config"),
], ids=["no-video", "not-xml", "value-not-a-key", "bad-framerate", "missing"])
def test_setup_refuses_a_config_it_cannot_serve(client: TestClient, schema: Any,
                                                pattern: str) -> None:
    answer = client.post("/setup", json={"project": "1.1700", "schema": schema})
    assert answer.status_code == 422
    assert re.search(pattern, answer.json()["error"]), answer.json()


# ---------------------------------------------------------------------------------- predict

def test_predictions_are_the_sparse_keyframes_of_the_export(client: TestClient,
                                                            store: Path) -> None:
    version = client.post("/setup", json={"project": "1.1700", "schema": CONFIG}).json()
    answer = _predict(client)
    session = VideoSession.open(store)
    want = format_labelstudio(session.keyframes(), session.meta, as_predictions=True,
                              model_version=version["model_version"], revision=0
                              )[0]["predictions"]
    assert answer["results"] == [want]  # one task, one prediction: exactly the export's
    assert [r["id"] for r in want[0]["result"]] == ["t1-r0", "t2-r0"]  # what was shown
    assert answer["model_version"] == version["model_version"]
    assert answer["tasks"][0] | {"message": ""} == {
        "task": 1, "video": "clip", "revision": 0, "status": "complete", "message": ""}
    for region in want[0]["result"]:
        for item in region["value"]["sequence"]:
            assert 1 <= item["frame"] <= NUM_FRAMES
            assert 0 <= item["x"] and item["x"] + item["width"] <= 100
            assert 0 <= item["y"] and item["y"] + item["height"] <= 100


def test_tasks_of_one_video_in_one_call_show_one_revision(client: TestClient) -> None:
    answer = _predict(client, TASK, {"id": 2, "data": dict(TASK["data"])})
    assert answer["results"][0] == answer["results"][1]
    assert [n["task"] for n in answer["tasks"]] == [1, 2]
    assert {n["revision"] for n in answer["tasks"]} == {0}


@pytest.mark.parametrize(("body", "status", "pattern"), [
    ({"tasks": []}, 422, "non-empty list of tasks"),
    ({"tasks": [{"id": 1}]}, 422, r"tasks\[0\]\.data is None"),
    ({"tasks": [{"id": "x", "data": {}}]}, 422, r"tasks\[0\]\.id is 'x'"),
    ({"tasks": [{"id": 1, "data": {"video": "/data/local-files/?d=nope/other.mp4"}}]}, 404,
     "no --local-files-root"),
    ({"tasks": [{"id": 1, "data": {"video": "/no/such/other.mp4"}}]}, 404,
     "not found on this machine"),
    ({"tasks": [{"id": 1, "data": {"image": "x.jpg"}}]}, 422, r"data\.video is None"),
], ids=["no-tasks", "no-data", "bad-id", "unknown-local-file", "unknown-path", "no-video-key"])
def test_bad_predict_requests(client: TestClient, body: dict[str, Any], status: int,
                              pattern: str) -> None:
    answer = client.post("/predict", json=body | {"label_config": CONFIG})
    assert answer.status_code == status, answer.text
    assert re.search(pattern, answer.json()["error"]), answer.json()


# ---------------------------------------------------------------------------------- webhook

def test_an_annotation_becomes_one_batch_and_the_next_prediction_shows_it(
        client: TestClient, store: Path) -> None:
    """The reviewer moves track 1 at its first keyframe and deletes track 2."""
    first = _predict(client)
    result = first["results"][0][0]["result"]
    moved, frame = _move(result, 1, 0, 2.5)
    kept = [r for r in moved if region_track_id(r) != 2]
    answer = _webhook(client, _annotation(11, kept))
    assert answer.status_code == 200, answer.text
    assert answer.json() | {"counts": None, "seconds": None} == {
        "status": "applied", "video": "clip", "annotation": 11, "batch": 0, "revision": 1,
        "counts": None, "seen_revision": 0, "based_on": "the revision its regions were served at",
        "seconds": None}

    log, batches = _log(store)
    assert batches[0]["source"] == "labelstudio task 1 annotation 11"
    assert set(log.author.tolist()) == {"labelstudio-user-7"}  # no API token: the user's id
    adjust = (log.op == Op.ADJUST) & (log.track_id == 1)
    assert log.frame[adjust].tolist() == [frame]
    width = 320
    np.testing.assert_allclose(_box_at(store, 1, frame)[0], log.xyxy[adjust][0][0])
    assert log.xyxy[adjust][0][0] == pytest.approx(
        _region(result, 1)["value"]["sequence"][0]["x"] * width / 100 + 2.5 * width / 100)
    gone = (log.op == Op.ABSENT) & (log.track_id == 2)
    assert log.frame[gone].tolist() == [0]  # absent from its first frame: deleted

    second = _predict(client)
    assert VERSION.match(second["model_version"]).group(1) == "1" != first["model_version"]
    regions = second["results"][0][0]["result"]
    assert [r["id"] for r in regions] == ["t1-r1"]
    shown = {k["frame"] - 1: k for k in regions[0]["value"]["sequence"]}
    assert shown[frame]["x"] == pytest.approx(_region(moved, 1)["value"]["sequence"][0]["x"],
                                              abs=1e-4)


def _bad(result: list[dict[str, Any]], edit: str) -> dict[str, Any] | str:
    """An annotation (or raw body) with one thing wrong."""
    result = copy.deepcopy(result)
    item = result[0]["value"]["sequence"][0]
    if edit == "frame-past-end":
        item["frame"] = NUM_FRAMES + 1
    elif edit == "x-below-0":
        item["x"] = -5.0
    elif edit == "past-right-edge":
        item["x"], item["width"] = 90.0, 20.0
    elif edit == "unknown-label":
        result[0]["value"]["labels"] = ["tractor"]
    elif edit == "framescount-of-another-video":
        result[0]["value"]["framesCount"] = 600
    elif edit == "sequence-not-a-list":
        result[0]["value"]["sequence"] = {"frame": 1}
    elif edit == "nan":
        return json.dumps(_annotation(12, result)).replace(f'"x": {item["x"]!r}', '"x": NaN', 1)
    return _annotation(12, result)


BAD_EDITS = {
    "frame-past-end": (422, r"frame 61 is outside 1\.\.60"),
    "x-below-0": (422, "is not inside the 320x240 frame"),
    "past-right-edge": (422, "is not inside the 320x240 frame"),
    "unknown-label": (422, r"labels is \['tractor'\]"),
    "framescount-of-another-video": (422, "framesCount is 600"),
    "sequence-not-a-list": (422, "sequence is .*expected list"),
    "nan": (422, "NaN"),
}


@pytest.mark.parametrize("edit", BAD_EDITS, ids=list(BAD_EDITS))
def test_a_bad_annotation_is_refused_and_the_store_is_unchanged(client: TestClient, store: Path,
                                                                edit: str) -> None:
    result = _predict(client)["results"][0][0]["result"]
    before = store_digest(store)
    annotation = _bad(result, edit)
    if isinstance(annotation, str):  # a raw body: the annotation is not JSON
        body = ('{"action": "ANNOTATION_CREATED", "task": ' + json.dumps(TASK)
                + ', "annotation": ' + annotation + "}")
        answer = client.post("/webhook", content=body,
                             headers={"Content-Type": "application/json"})
    else:
        answer = _webhook(client, annotation)
    status, pattern = BAD_EDITS[edit]
    assert answer.status_code == status, answer.text
    assert re.search(pattern, answer.json()["error"]), answer.json()["error"]
    assert store_digest(store) == before


@pytest.mark.parametrize(("body", "status", "pattern"), [
    ("{not json", 422, "malformed JSON at line 1, column 2"),
    ({"action": "ANNOTATION_CREATED", "annotation": [], "task": TASK}, 422,
     r"webhook annotation is \[\], expected a JSON object"),
    ({"action": "ANNOTATION_CREATED", "annotation": {"id": 1, "result": {}}, "task": TASK}, 422,
     "result is {}, expected a list"),
    ({"action": "ANNOTATION_UPDATED", "annotation": {"id": "one", "result": []}, "task": TASK},
     422, "annotation.id is 'one'"),
    ({"action": "ANNOTATION_CREATED", "annotation": {"id": 1, "result": []}, "task": {"id": 1}},
     422, r"task\.data is None"),
    ({"action": "ANNOTATION_CREATED", "annotation": {"id": 1, "result": []},
      "task": {"id": 9, "data": {"video": "/data/local-files/?d=v/unknown.mp4"}}}, 404,
     "the store has no video 'unknown'"),
], ids=["malformed-json", "annotation-not-object", "result-not-list", "bad-id", "task-no-data",
        "unknown-video"])
def test_malformed_webhooks_are_refused_and_the_store_is_unchanged(
        client: TestClient, store: Path, body: Any, status: int, pattern: str) -> None:
    before = store_digest(store)
    answer = client.post("/webhook", content=body if isinstance(body, str) else json.dumps(body),
                         headers={"Content-Type": "application/json"})
    assert answer.status_code == status, answer.text
    assert re.search(pattern, answer.json()["error"]), answer.json()["error"]
    assert store_digest(store) == before


def test_other_actions_and_skipped_tasks_are_ignored(client: TestClient, store: Path) -> None:
    before = store_digest(store)
    assert client.post("/webhook", json={"action": "PROJECT_UPDATED", "project": {"id": 1}}
                       ).json() == {"status": "ignored", "action": "PROJECT_UPDATED"}
    skipped = _annotation(5, []) | {"was_cancelled": True}
    assert _webhook(client, skipped).json()["status"] == "ignored"
    assert store_digest(store) == before


def _named_by_hand(result: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The regions with ids "t<track>" (an exported file's), without the revision."""
    return [r | {"id": f"t{region_track_id(r)}"} for r in result]


def test_after_a_restart_the_regions_say_what_the_reviewer_saw(store: Path) -> None:
    with TestClient(create_app(LabelStudioBackend(store))) as first:
        result = _predict(first)["results"][0][0]["result"]  # ana opens revision 0
        ben = _move(result, 2, 0, 1.0)[0]
        assert _webhook(first, _annotation(1, ben, user=8)).status_code == 200
    with TestClient(create_app(LabelStudioBackend(store))) as restarted:  # no API, no memory
        answer = _webhook(restarted, _annotation(2, _move(result, 1, 0, 1.0)[0]))
    assert answer.status_code == 200, answer.text
    assert answer.json()["seen_revision"] == 0 and answer.json()["revision"] == 2
    assert answer.json()["based_on"] == "the revision its regions were served at"
    log, batches = _log(store)
    assert set(log.track_id[batches[1]["rows"][0]:batches[1]["rows"][1]].tolist()) == {1}


def test_an_annotation_whose_revision_is_unknown_is_refused(store: Path) -> None:
    """A backend restarted since it served the prediction, regions named without the revision,
    and no Label Studio API to read the prediction's version: applying against the current
    revision could silently undo others' edits, so the annotation is refused (409) and nothing
    is written."""
    with TestClient(create_app(LabelStudioBackend(store))) as first:
        result = _named_by_hand(_predict(first)["results"][0][0]["result"])
    before = store_digest(store)
    with TestClient(create_app(LabelStudioBackend(store))) as restarted:
        answer = _webhook(restarted, _annotation(3, _move(result, 1, 1, 1.0)[0]))
    assert answer.status_code == 409
    assert "cannot tell which revision of clip" in answer.json()["error"]
    assert store_digest(store) == before


class _LabelStudioApiStub(BaseHTTPRequestHandler):
    """Label Studio's API as the backend reads it: a prediction's version, a user's email."""

    version = ""

    def do_GET(self) -> None:
        if self.headers.get("Authorization") != "Token secret":
            self._answer(401, {"detail": "no"})
        elif self.path == "/api/predictions/55":
            self._answer(200, {"id": 55, "model_version": self.version})
        elif self.path == "/api/users/7":
            self._answer(200, {"id": 7, "email": "ana@example.org"})
        else:
            self._answer(404, {"detail": "not found"})

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


def test_after_a_restart_the_prediction_version_is_read_back_from_label_studio(
        store: Path) -> None:
    """The backend restarted since it served the prediction; Label Studio's API (with a token)
    tells the prediction's version, whose revision the backend recomputes from the store."""
    with TestClient(create_app(LabelStudioBackend(store))) as first:
        served = _predict(first)
        assert _webhook(first, _annotation(1, _move(served["results"][0][0]["result"], 2, 0,
                                                    1.0)[0])).status_code == 200
    result = _named_by_hand(served["results"][0][0]["result"])  # ana opened revision 0
    _LabelStudioApiStub.version = served["model_version"]
    with ThreadingHTTPServer(("127.0.0.1", 0), _LabelStudioApiStub) as api:
        threading.Thread(target=api.serve_forever, daemon=True).start()
        try:
            backend = LabelStudioBackend(store, label_studio_token="secret",
                                         label_studio_url=f"http://127.0.0.1:{api.server_port}")
            with TestClient(create_app(backend)) as restarted:
                answer = _webhook(restarted, _annotation(2, _move(result, 1, 0, 1.0)[0]))
        finally:
            api.shutdown()
    assert answer.status_code == 200, answer.text
    assert answer.json()["seen_revision"] == 0 and answer.json()["revision"] == 2
    assert answer.json()["based_on"] == f"its prediction's model version {served['model_version']}"
    log, batches = _log(store)
    assert batches[1]["author"] == "ana@example.org"
    assert set(log.track_id[batches[1]["rows"][0]:batches[1]["rows"][1]].tolist()) == {1}


def test_an_annotation_drawn_from_nothing_adds_a_track_and_deletes_none(
        client: TestClient, store: Path) -> None:
    template = _predict(client)["results"][0][0]["result"][0]
    drawn = copy.deepcopy(template) | {"id": "Xk9_2aBc"}  # Label Studio's random region id
    drawn["value"]["sequence"] = [{"frame": 3, "enabled": False, "x": 10.0, "y": 10.0,
                                   "width": 5.0, "height": 5.0, "rotation": 0}]
    answer = _webhook(client, _annotation(21, [drawn], parent_prediction=None))
    assert answer.status_code == 200, answer.text
    assert answer.json()["seen_revision"] is None
    session = VideoSession.open(store)
    assert session.track_ids == [1, 2, 3]  # a new id; tracks 1 and 2 stay
    np.testing.assert_allclose(_box_at(store, 3, 2), [32, 24, 48, 36], atol=1e-4)


def test_an_updated_annotation_is_diffed_against_its_own_submission(client: TestClient,
                                                                   store: Path) -> None:
    result = _predict(client)["results"][0][0]["result"]
    ana, frame = _move(result, 1, 1, 2.0)
    assert _webhook(client, _annotation(31, ana)).status_code == 200          # revision 1
    ben, _ = _move(result, 2, 1, -2.0)
    assert _webhook(client, _annotation(32, ben, user=8)).status_code == 200  # revision 2
    ana_again, frame2 = _move(ana, 1, 2, 1.0)  # ana edits her own annotation once more
    answer = _webhook(client, _annotation(31, ana_again), action="ANNOTATION_UPDATED")
    assert answer.status_code == 200, answer.text
    assert answer.json()["seen_revision"] == 1
    assert answer.json()["based_on"] == "its previous submission"
    log, batches = _log(store)
    rows = batches[2]["rows"]
    assert set(log.track_id[rows[0]:rows[1]].tolist()) == {1}  # ben's track 2 kept as it is
    assert _box_at(store, 2, _move(result, 2, 1, 0)[1])[0] == pytest.approx(
        (_region(result, 2)["value"]["sequence"][1]["x"] - 2.0) * 3.2, abs=1e-3)
    assert frame2 != frame


def test_two_reviewers_other_cells_merge_the_same_cell_is_one_conflict(client: TestClient,
                                                                       store: Path) -> None:
    result = _predict(client)["results"][0][0]["result"]  # both reviewers open revision 0
    ana, frame = _move(result, 1, 1, 2.0)
    ben, _ = _move(result, 2, 1, -2.0)
    assert _webhook(client, _annotation(41, ana)).status_code == 200
    merged = _webhook(client, _annotation(42, ben, user=8))
    assert merged.status_code == 200 and merged.json()["seen_revision"] == 0
    before = store_digest(store)
    clash, _ = _move(result, 1, 1, -3.0)  # a third reviewer moved the same box elsewhere
    conflict = _webhook(client, _annotation(43, clash, user=9))
    assert conflict.status_code == 409
    body = conflict.json()
    assert {"track": 1, "frame": frame} in body["cells"]
    assert body["expected_revision"] == 0 and body["current_revision"] == 2
    assert store_digest(store) == before
    log, batches = _log(store)
    assert [b["source"] for b in batches] == ["labelstudio task 1 annotation 41",
                                             "labelstudio task 1 annotation 42"]
    assert _box_at(store, 1, frame)[0] == pytest.approx(
        (_region(result, 1)["value"]["sequence"][1]["x"] + 2.0) * 3.2, abs=1e-3)  # ana's


# ---------------------------------------------------------------------------------- tracking

def test_a_store_another_process_is_tracking_serves_what_is_committed(tmp_path: Path) -> None:
    store = make_store(tmp_path / "out.zarr")
    make_store(store, key="other")
    import zarr

    zarr.open_group(str(store / "other"), mode="a").attrs["status"] = "running"
    jobs = TrackingJobs(store, detections_dir=tmp_path)
    other = {"id": 2, "data": {"video": "/data/local-files/?d=videos/other.mp4"}}
    with group_lock(store, "other", "trackannot track (another process)"), \
            TestClient(create_app(LabelStudioBackend(store, jobs=jobs))) as client:
        answer = _predict(client, TASK, other)
        status = client.get("/status").json()
    assert len(answer["results"][0]) == 1 and answer["results"][1] == []
    note = answer["tasks"][1]
    assert note["status"] == "tracking" and note["frames_committed"] == 40
    assert "being tracked by another process (40 of 60 frames committed)" in note["message"]
    assert jobs.all() == []  # nothing started beside the other process
    assert {v["video"]: v["status"] for v in status["videos"]} == {"clip": "complete",
                                                                   "other": "running"}


def _clip_and_detections(folder: Path, name: str = "walk") -> tuple[Path, Path]:
    """A 40-frame 10 fps clip of one square moving right, and its detections (MOT det.txt)."""
    from tests._video import write_clip

    frames = np.full((40, 96, 128, 3), 30, np.uint8)
    lines = []
    for i in range(40):
        x = 10 + 2 * i
        frames[i, 30:60, x:x + 20] = 220
        lines.append(f"{i + 1},-1,{x},30,20,30,0.9,-1,-1,-1")
    video = write_clip(folder / f"{name}.mp4", frames, fps=10)
    (folder / "dets").mkdir()
    (folder / "dets" / f"{name}.txt").write_text("\n".join(lines) + "\n")
    return video, folder / "dets"


def test_a_video_the_store_lacks_is_tracked_in_the_background(tmp_path: Path) -> None:
    video, dets = _clip_and_detections(tmp_path)
    store = tmp_path / "new.zarr"
    jobs = TrackingJobs(store, detections_dir=dets)
    task = {"id": 5, "data": {"video": str(video)}}
    config = video_label_config(10.0, labels=("object",))
    with TestClient(create_app(LabelStudioBackend(store, jobs=jobs))) as client:
        def predict() -> dict[str, Any]:
            return client.post("/predict", json={"tasks": [task], "label_config": config}).json()

        first = predict()
        assert first["results"] == [[]]  # answered at once, nothing yet
        assert first["tasks"][0]["status"] == "tracking"
        assert "being tracked by this server" in first["tasks"][0]["message"]
        assert predict()["results"] == [[]] and len(jobs.all()) == 1  # one run per video
        deadline = time.monotonic() + TRACKING_TIMEOUT_S
        while jobs.get("walk").alive and time.monotonic() < deadline:
            time.sleep(0.2)
        assert jobs.get("walk").state == "done", jobs.get("walk").message
        last = predict()
    assert last["tasks"][0]["status"] == "complete"
    session = VideoSession.open(store)
    assert session.status == "complete" and session.num_frames == 40
    want = format_labelstudio(session.keyframes(), session.meta, as_predictions=True,
                              model_version=last["model_version"], revision=0)[0]["predictions"]
    assert last["results"] == [want]
    [region] = want[0]["result"]  # the one square, one track, to the last frame
    last_key = region["value"]["sequence"][-1]
    assert last_key["frame"] == 40 and last_key["x"] == pytest.approx(100 * 88 / 128, abs=0.5)


def test_a_failed_run_is_reported_not_retried(tmp_path: Path) -> None:
    video, _ = _clip_and_detections(tmp_path)
    store = tmp_path / "new.zarr"
    jobs = TrackingJobs(store, detections_dir=tmp_path / "empty")
    (tmp_path / "empty").mkdir()
    task = {"id": 5, "data": {"video": str(video)}}
    with TestClient(create_app(LabelStudioBackend(store, jobs=jobs))) as client:
        client.post("/predict", json={"tasks": [task], "label_config": CONFIG})
        deadline = time.monotonic() + 30
        while jobs.get("walk").alive and time.monotonic() < deadline:
            time.sleep(0.05)
        answer = client.post("/predict", json={"tasks": [task], "label_config": CONFIG}).json()
    assert answer["results"] == [[]] and answer["tasks"][0]["status"] == "failed"
    assert "no detections for video 'walk'" in answer["tasks"][0]["message"]
    assert len(jobs.all()) == 1
