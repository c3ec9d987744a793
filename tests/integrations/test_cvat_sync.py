"""`push cvat` / `pull cvat` through cvat-sdk, with only the HTTP transport faked.

No CVAT server runs here. cvat-sdk builds, serialises and sends every request and parses every
answer itself; only its urllib3 pool manager is replaced (`FakeCvat`), which answers as CVAT
2.x does for the few endpoints used and records each request, so the tests assert on the exact
requests (method, path, query, headers, JSON body).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import numpy as np
import pytest
import urllib3
from click.testing import CliRunner

from tests._store import store_digest
from tests.test_annotate import NUM_FRAMES, make_store
from trackannot.cli.main import main
from trackannot.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    StaleRevisionError,
    http_status,
)
from trackannot.export.meta import close_tracks, fit_to_frame
from trackannot.integrations.cvat_sync import connect, pull_cvat, push_cvat
from trackannot.session import VideoSession

URL = "http://cvat.test"
TOKEN = "tok-123"
TASK = 12
PERSON, CAR = 7, 8  # the task's label ids (make_store's classes are person, car)
WIDTH, HEIGHT = 320, 240  # make_store's video


class FakeCvat:
    """A CVAT server's answers to push/pull, as cvat-sdk's urllib3 pool manager sees them.

    Attributes:
        requests: every request: {"method", "path", "query", "headers", "body"} (JSON decoded).
        annotations: what GET /api/tasks/{TASK}/annotations/ returns (PUT replaces it).
        status: path -> HTTP status to answer instead (errors).
    """

    def __init__(self, *, size: int = NUM_FRAMES, width: int = WIDTH, height: int = HEIGHT,
                 start: int = 0, frame_filter: str = "",
                 labels: tuple[tuple[str, int], ...] = (("person", PERSON), ("car", CAR))) -> None:
        self.meta = {
            "chunks_updated_date": "2026-11-30T10:00:00Z", "chunk_size": 36, "size": size,
            "image_quality": 70, "start_frame": start, "stop_frame": start + size - 1,
            "frame_filter": frame_filter, "deleted_frames": [], "included_frames": None,
            "chapters": None, "frames": [{"name": "clip.mp4", "related_files": 0,
                                          "width": width, "height": height,
                                          "has_related_context": False}]}
        self.labels = [{"id": i, "name": n, "color": "#33ddff", "type": "rectangle",
                        "attributes": [], "sublabels": [], "has_parent": False,
                        "task_id": TASK, "project_id": None, "parent_id": None}
                       for n, i in labels]
        self.annotations: dict[str, Any] = {"version": 0, "tags": [], "shapes": [],
                                            "tracks": []}
        self.status: dict[str, int] = {}
        self.requests: list[dict[str, Any]] = []
        self._next_id = 500

    # what urllib3.PoolManager.request gets from cvat-sdk's RESTClientObject
    def request(self, method: str, url: str, fields: Any = None, body: Any = None,
                headers: dict[str, str] | None = None, **_: Any) -> urllib3.HTTPResponse:
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query)) | {k: str(v) for k, v in (fields or [])}
        self.requests.append({"method": method, "path": parts.path, "query": query,
                              "headers": dict(headers or {}),
                              "body": json.loads(body) if body else None})
        if parts.path in self.status:
            return self._answer({"detail": "refused"}, self.status[parts.path])
        return self._route(method, parts.path)

    def _route(self, method: str, path: str) -> urllib3.HTTPResponse:
        task = f"/api/tasks/{TASK}"
        if (method, path) == ("GET", f"{task}/data/meta"):
            return self._answer(self.meta)
        if (method, path) == ("GET", "/api/labels"):
            return self._answer({"count": len(self.labels), "next": None, "previous": None,
                                 "results": self.labels})
        if (method, path) == ("GET", f"{task}/annotations/"):
            return self._answer(self.annotations)
        if (method, path) == ("PUT", f"{task}/annotations/"):
            self.annotations = self._with_ids(self.requests[-1]["body"])
            return self._answer(self.annotations)
        if (method, path) == ("POST", "/api/auth/login"):
            return self._answer({"key": "session"}, headers={
                "Set-Cookie": "sessionid=s3ss; Path=/, csrftoken=c5rf; Path=/"})
        return self._answer({"detail": "Not found."}, 404)

    def _with_ids(self, data: dict[str, Any]) -> dict[str, Any]:
        """What CVAT stores: every track, shape and tracked shape gets an id of its own."""
        data = copy.deepcopy(data)
        for item in [*data["tracks"], *data["shapes"],
                     *(s for t in data["tracks"] for s in t["shapes"])]:
            item["id"] = self._next_id
            self._next_id += 1
        return data

    @staticmethod
    def _answer(doc: Any, status: int = 200,
                headers: dict[str, str] | None = None) -> urllib3.HTTPResponse:
        return urllib3.HTTPResponse(body=json.dumps(doc).encode(), status=status,
                                    headers={"Content-Type": "application/json",
                                             **(headers or {})}, preload_content=True)

    def calls(self) -> list[tuple[str, str]]:
        return [(r["method"], r["path"]) for r in self.requests]


@pytest.fixture
def cvat(monkeypatch: pytest.MonkeyPatch) -> FakeCvat:
    """The fake server; every cvat-sdk client made in the test talks to it."""
    fake = FakeCvat()
    monkeypatch.setattr("cvat_sdk.api_client.rest.urllib3.PoolManager", lambda **_: fake)
    return fake


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """Two automatic tracks (1 moving, 2 still) over frames 0-39 of a 60-frame video."""
    return make_store(tmp_path / "out.zarr")


def _push(store: Path, **kwargs: Any):
    with connect(URL, token=TOKEN) as client:
        return push_cvat(store, client, task=TASK, **kwargs)


def _pull(store: Path, **kwargs: Any):
    with connect(URL, token=TOKEN) as client:
        return pull_cvat(store, client, task=TASK, author="ana", **kwargs)


def _expected_tracks(store: Path) -> list[dict[str, Any]]:
    """The tracks a task must get: the video's sparse keyframes, clipped, closed."""
    session = VideoSession.open(store)
    keys = close_tracks(fit_to_frame(session.keyframes(), session.meta), NUM_FRAMES)
    tracks = []
    for track in np.unique(keys.track_id).tolist():
        rows = keys[keys.track_id == track]
        tracks.append({
            "label_id": PERSON, "frame": int(rows.frame[0]), "group": 0, "source": "auto",
            "attributes": [],
            "shapes": [{"type": "rectangle", "frame": int(f), "outside": bool(o),
                        "occluded": False, "z_order": 0, "rotation": 0.0, "attributes": [],
                        "points": [float(v) for v in box]}
                       for f, o, box in zip(rows.frame, rows.outside, rows.xyxy)]})
    return tracks


# push ---------------------------------------------------------------------------------------


def test_push_checks_the_task_then_puts_the_sparse_tracks(cvat: FakeCvat, store: Path) -> None:
    pushed = _push(store)
    assert cvat.calls() == [("GET", f"/api/tasks/{TASK}/data/meta"), ("GET", "/api/labels"),
                            ("GET", f"/api/tasks/{TASK}/annotations/"),
                            ("PUT", f"/api/tasks/{TASK}/annotations/")]
    assert cvat.requests[1]["query"] == {"task_id": str(TASK), "page": "1"}
    assert all(r["headers"]["Authorization"] == f"Bearer {TOKEN}" for r in cvat.requests)
    put = cvat.requests[-1]
    assert put["headers"]["Content-Type"] == "application/json"
    assert put["body"] == {"version": 0, "tags": [], "shapes": [],
                           "tracks": _expected_tracks(store)}
    # track 1 moves on a line (keyframes 0 and 36), track 2 stands still (keyframe 0); both
    # end at frame 39, closed by an outside keyframe at 40
    frames = [[s["frame"] for s in t["shapes"]] for t in put["body"]["tracks"]]
    outside = [[s["outside"] for s in t["shapes"]] for t in put["body"]["tracks"]]
    assert frames == [[0, 36, 40], [0, 40]] and outside == [[False, False, True], [False, True]]
    assert put["body"]["tracks"][1]["shapes"][0]["points"] == [200.0, 50.0, 240.0, 150.0]
    assert (pushed.video, pushed.task_id, pushed.revision, pushed.tracks, pushed.keyframes,
            pushed.replaced) == ("clip", TASK, 0, 2, 5, 0)


def test_push_refuses_a_task_that_holds_annotations_unless_overwrite(
        cvat: FakeCvat, store: Path) -> None:
    cvat.annotations["tracks"] = [{"id": 1, "label_id": CAR, "frame": 3, "group": 0,
                                   "source": "manual", "attributes": [], "shapes": []}]
    with pytest.raises(ConflictError, match=f"task {TASK} already holds 1 tracks, 0 shapes "
                                            "and 0 tags; pass --overwrite"):
        _push(store)
    assert ("PUT", f"/api/tasks/{TASK}/annotations/") not in cvat.calls()
    assert _push(store, overwrite=True).replaced == 1
    assert cvat.calls()[-1] == ("PUT", f"/api/tasks/{TASK}/annotations/")


@pytest.mark.parametrize(("fake", "message"), [
    ({"size": 50}, "50 frames, the video 60; frames 0..49, the video 0..59"),
    ({"width": 640, "height": 480}, "frame size 640x480, the video 320x240"),
    ({"start": 5}, "frames 5..64, the video 0..59"),
    ({"frame_filter": "step=2"}, "frame filter 'step=2', expected every frame"),
], ids=["frame-count", "frame-size", "start-frame", "step"])
def test_a_task_of_another_video_is_refused_before_anything_is_written(
        monkeypatch: pytest.MonkeyPatch, store: Path, fake: dict, message: str) -> None:
    cvat = FakeCvat(**fake)
    monkeypatch.setattr("cvat_sdk.api_client.rest.urllib3.PoolManager", lambda **_: cvat)
    before = store_digest(store)
    with pytest.raises(InvalidInputError, match=f"CVAT task {TASK} is not video 'clip': "
                                                f".*{message}"):
        _push(store)
    with pytest.raises(InvalidInputError, match=message):
        _pull(store)
    assert [m for m, _ in cvat.calls()] == ["GET", "GET"]  # the data meta, twice
    assert store_digest(store) == before


def test_push_refuses_a_task_without_the_store_classes(monkeypatch: pytest.MonkeyPatch,
                                                       store: Path) -> None:
    cvat = FakeCvat(labels=(("car", CAR), ("bike", 9)))
    monkeypatch.setattr("cvat_sdk.api_client.rest.urllib3.PoolManager", lambda **_: cvat)
    with pytest.raises(InvalidInputError, match="the CVAT task has no label 'person' "
                                                r"\(its labels: 'bike', 'car'\)"):
        _push(store)
    assert ("PUT", f"/api/tasks/{TASK}/annotations/") not in cvat.calls()


# pull ---------------------------------------------------------------------------------------


def test_an_unchanged_task_pulls_as_nothing(cvat: FakeCvat, store: Path) -> None:
    revision = _push(store).revision
    before = store_digest(store)
    pulled = _pull(store, revision=revision)
    assert (pulled.matched, pulled.created, pulled.deleted, pulled.summary) == (2, 0, 0, None)
    assert pulled.source == f"cvat:{URL} task {TASK}" and pulled.expect_revision == 0
    assert store_digest(store) == before
    assert cvat.calls()[-1] == ("GET", f"/api/tasks/{TASK}/annotations/")


def test_edits_made_in_cvat_come_back_as_one_batch(cvat: FakeCvat, store: Path) -> None:
    revision = _push(store).revision
    moving, _still = cvat.annotations["tracks"]
    # a person moves the moving track's box at frame 20 (a new keyframe), deletes the still
    # track, draws a new car track over frames 45-50 and a single box at frame 55
    moving["shapes"].insert(1, {"type": "rectangle", "frame": 20, "points": [50, 12, 80, 92],
                                "outside": False, "occluded": False, "z_order": 0,
                                "rotation": 0.0, "attributes": [], "id": 900})
    cvat.annotations["tracks"] = [moving, {
        "id": 901, "label_id": CAR, "frame": 45, "group": 0, "source": "manual",
        "attributes": [], "shapes": [
            {"type": "rectangle", "frame": 45, "points": [10, 150, 60, 200], "outside": False,
             "occluded": False, "z_order": 0, "rotation": 0.0, "attributes": [], "id": 902},
            {"type": "rectangle", "frame": 50, "points": [20, 150, 70, 200], "outside": True,
             "occluded": False, "z_order": 0, "rotation": 0.0, "attributes": [], "id": 903}]}]
    cvat.annotations["shapes"] = [{
        "id": 904, "type": "rectangle", "label_id": PERSON, "frame": 55, "group": 0,
        "source": "manual", "occluded": False, "outside": False, "z_order": 0, "rotation": 0.0,
        "points": [100, 100, 140, 180], "attributes": []}]
    pulled = _pull(store, revision=revision)
    assert (pulled.matched, pulled.created, pulled.deleted) == (1, 2, 1)
    assert pulled.summary is not None and pulled.summary.revision == 1
    session = VideoSession.open(store)
    shown = session.boxes()
    at20 = shown[(shown.track_id == 1) & (shown.frame == 20)]
    np.testing.assert_allclose(at20.xyxy, [[50, 12, 80, 92]])  # the moved box, pinned
    assert not len(shown[shown.track_id == 2])  # deleted in CVAT: absent from its first frame
    new = shown[~np.isin(shown.track_id, [1, 2])]
    assert sorted(set(new.frame.tolist())) == [*range(45, 50), 55]
    assert set(new.class_id[new.frame < 50].tolist()) == {1}  # the car track
    record = session.result.batches()[-1]
    assert (record["author"], record["source"]) == ("ana", f"cvat:{URL} task {TASK}")
    # the same task again: nothing new (made against the revision the last pull left)
    again = _pull(store)
    assert again.summary is None and again.expect_revision == 1


def test_a_cvat_edit_to_a_box_changed_since_the_push_is_refused(cvat: FakeCvat,
                                                               store: Path) -> None:
    revision = _push(store).revision
    session = VideoSession.open(store)
    from trackannot.keyframes import Keyframes

    mine = Keyframes.create(track_id=[1], frame=[36], xyxy=[[70, 10, 100, 90]])
    session.apply(mine, author="bo")  # meanwhile, in the store
    cvat.annotations["tracks"][0]["shapes"][1]["points"] = [74, 10, 104, 90]  # frame 36
    before = store_digest(store)
    with pytest.raises(StaleRevisionError, match="revision 0, but 1 batch.*track 1 frame 36"):
        _pull(store, revision=revision)
    assert store_digest(store) == before


@pytest.mark.parametrize(("change", "message"), [
    (lambda a: a["tags"].append({"id": 3, "frame": 4, "label_id": PERSON, "group": 0,
                                 "source": "manual", "attributes": []}),
     "holds 1 tags \\(frame 4 first\\); trackannot reads rectangles"),
    (lambda a: a["tracks"][0]["shapes"][0].update(type="polygon"),
     "track 5\\d\\d frame 0: a 'polygon'; trackannot reads rectangles only"),
    (lambda a: a["tracks"][0]["shapes"][0].update(rotation=30.0),
     "frame 0: rotated by 30.0 degrees"),
    (lambda a: a["tracks"][0].update(label_id=99),
     "label id 99 \\(not a label of the task\\); expected one of the store's classes"),
    (lambda a: a.update(tracks=[]), "holds no rectangles; nothing to pull"),
], ids=["tags", "polygon", "rotated", "unknown-label", "empty"])
def test_what_trackannot_cannot_hold_is_refused_and_the_store_kept(
        cvat: FakeCvat, store: Path, change: Any, message: str) -> None:
    _push(store)
    change(cvat.annotations)
    before = store_digest(store)
    with pytest.raises(InvalidInputError, match=message):
        _pull(store)
    assert store_digest(store) == before


def test_a_box_outside_the_frame_is_refused_naming_the_source(cvat: FakeCvat,
                                                             store: Path) -> None:
    _push(store)
    cvat.annotations["tracks"][0]["shapes"][1]["points"] = [300, 10, 330, 90]  # x2 > 320
    before = store_digest(store)
    with pytest.raises(InvalidInputError, match=f"cvat:{URL} task {TASK}"):
        _pull(store)
    assert store_digest(store) == before


# errors and credentials ---------------------------------------------------------------------


@pytest.mark.parametrize(("path", "status", "kind", "message"), [
    (f"/api/tasks/{TASK}/data/meta", 404, NotFoundError, "HTTP 404.*no such task"),
    (f"/api/tasks/{TASK}/data/meta", 401, InvalidInputError, "credentials are refused"),
    ("/api/labels", 403, InvalidInputError, "credentials are refused"),
    (f"/api/tasks/{TASK}/annotations/", 500, ConflictError, "the server failed, try again"),
    (f"/api/tasks/{TASK}/annotations/", 400, InvalidInputError, "HTTP 400"),
], ids=["no-task", "unauthorised", "forbidden", "server-error", "bad-request"])
def test_http_errors_become_error_kinds(cvat: FakeCvat, store: Path, path: str, status: int,
                                        kind: type, message: str) -> None:
    cvat.status[path] = status
    with pytest.raises(kind, match=message) as caught:
        _push(store)
    assert http_status(caught.value) == {NotFoundError: 404, InvalidInputError: 422,
                                         ConflictError: 409}[kind]


def test_an_unreachable_server_is_not_found(monkeypatch: pytest.MonkeyPatch,
                                            store: Path) -> None:
    class Down:
        def request(self, method: str, url: str, **_: Any) -> None:
            raise urllib3.exceptions.MaxRetryError(None, url, "connection refused")

    monkeypatch.setattr("cvat_sdk.api_client.rest.urllib3.PoolManager", lambda **_: Down())
    with pytest.raises(NotFoundError, match=f"no CVAT server answers at {URL}"):
        _push(store)


def test_a_password_login_sends_the_session_cookie_and_csrf_token(cvat: FakeCvat,
                                                                  store: Path) -> None:
    with connect(URL, user="ana", password="pw") as client:
        push_cvat(store, client, task=TASK)
    login = cvat.requests[0]
    assert (login["method"], login["path"]) == ("POST", "/api/auth/login")
    assert login["body"] == {"username": "ana", "password": "pw"}
    put = cvat.requests[-1]
    assert "sessionid=s3ss" in put["headers"]["Cookie"]
    assert put["headers"]["X-CSRFToken"] == "c5rf"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"url": "cvat.test", "token": "t"}, "CVAT URL 'cvat.test': expected http"),
    ({"url": URL}, "no CVAT credentials"),
    ({"url": URL, "user": "ana"}, "no CVAT credentials"),
], ids=["no-scheme", "nothing", "user-without-password"])
def test_connect_refuses_what_cannot_work(kwargs: dict, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message), connect(**kwargs):
        pass


# CLI ----------------------------------------------------------------------------------------


def test_cli_push_then_pull(cvat: FakeCvat, store: Path) -> None:
    runner = CliRunner()
    pushed = runner.invoke(main, ["push", "cvat", str(store), "--url", URL, "--task", str(TASK)],
                           env={"CVAT_ACCESS_TOKEN": TOKEN})
    assert pushed.exit_code == 0, pushed.output
    assert pushed.output == (f"clip: revision 0 pushed to CVAT task {TASK}: 2 tracks, 5 "
                             "keyframes; pull with --revision 0\n")
    cvat.annotations["tracks"] = cvat.annotations["tracks"][:1]  # track 2 deleted in CVAT
    pulled = runner.invoke(main, ["pull", "cvat", str(store), "--url", URL, "--task", str(TASK),
                                  "--video", "clip", "--revision", "0", "--author", "ana",
                                  "--token", TOKEN])
    assert pulled.exit_code == 0, pulled.output
    assert pulled.output == (f"clip: CVAT task {TASK} applied as batch 0 (1 absent); "
                             "revision 1 (1 tracks matched, 0 new, 1 deleted)\n")
    again = runner.invoke(main, ["pull", "cvat", str(store), "--url", URL, "--task", str(TASK),
                                 "--author", "ana"], env={"CVAT_USER": "ana",
                                                          "CVAT_PASSWORD": "pw"})
    assert again.exit_code == 0, again.output
    assert again.output == f"clip: CVAT task {TASK} changes nothing; nothing recorded\n"


def test_cli_errors_are_messages(cvat: FakeCvat, store: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["push", "cvat", str(store), "--url", URL, "--task", "12"],
                           env={"CVAT_ACCESS_TOKEN": None, "CVAT_USER": None})
    assert result.exit_code == 1
    assert "Error: no CVAT credentials: pass --token" in result.output
    cvat.annotations["tracks"] = [{"id": 1, "label_id": CAR, "frame": 3, "group": 0,
                                   "source": "manual", "attributes": [], "shapes": []}]
    result = runner.invoke(main, ["push", "cvat", str(store), "--url", URL, "--task", "12",
                                  "--token", TOKEN])
    assert result.exit_code == 1 and "already holds 1 tracks" in result.output
