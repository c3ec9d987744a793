"""The Label Studio ML backend over a store on S3 (moto, conftest): the scale-out case, workers
track into object storage and the annotation backend serves from it. The same store in a local
directory and copied to a bucket answers /predict alike and records a /webhook alike; a video
the S3 store lacks is tracked into it in the background; a video another process writes is seen
through its lease; `trackannot serve labelstudio s3://...` serves, and a missing bucket or
refused credentials stop it before it serves."""

from __future__ import annotations

import copy
import functools
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from tests import _kill
from tests.integrations._labelstudio import video_label_config
from tests.objectstore.conftest import Bucket, s3_env
from tests.test_annotate import make_store
from trackannot.cli.main import main
from trackannot.export.labelstudio import format_labelstudio, region_track_id
from trackannot.integrations.labelstudio_backend import (
    LabelStudioBackend, create_app, default_download_dir,
)
from trackannot.integrations.tracking_jobs import TrackingJobs
from trackannot.session import VideoSession
from trackannot.store import Remote, group_lock

CONFIG = video_label_config(10.0, labels=("person", "car"))  # make_store: 10 fps, these classes
TASK = {"id": 1, "data": {"video": "/data/local-files/?d=videos/clip.mp4"}}  # key "clip"
TRACKING_TIMEOUT_S = 180.0
START_TIMEOUT_S = 60.0


def upload(local: Path, bucket: Bucket, prefix: str) -> str:
    """Copy a local store into the bucket under `prefix`, object for file (its OS lock files
    aside: on S3 a lock is a lease); the store's URL."""
    import boto3

    client = boto3.client("s3")
    files = {p.relative_to(local).as_posix(): p for p in local.rglob("*") if p.is_file()}

    def put(rel: str) -> None:
        client.put_object(Bucket=bucket.name, Key=f"{prefix}/{rel}", Body=files[rel].read_bytes())

    with ThreadPoolExecutor(8) as pool:  # a few hundred small objects
        list(pool.map(put, [r for r in files if not r.startswith(".trackannot/locks/")]))
    return bucket.url(prefix)


@pytest.fixture
def stores(tmp_path: Path, bucket: Bucket) -> tuple[Path, str]:
    """(a local store, the same store copied to S3)."""
    local = make_store(tmp_path / "out.zarr")
    return local, upload(local, bucket, "team/out.zarr")


def _content(store: str | Path) -> dict[str, Any]:
    """What the store holds (`_kill.content`), the batches' sha256 aside: a batch that comes
    as edits in memory is hashed with its rows' times."""
    content = _kill.content(store)
    for entry in content.values():
        for record in entry["batch_records"]:
            record.pop("sha256")
    return content


def _predict(client: TestClient, *tasks: dict[str, Any]) -> dict[str, Any]:
    answer = client.post("/predict", json={"tasks": list(tasks or [TASK]), "project": "1.1700",
                                           "label_config": CONFIG})
    assert answer.status_code == 200, answer.text
    return answer.json()


def _webhook(client: TestClient, result: list[dict[str, Any]]) -> dict[str, Any]:
    annotation = {"id": 11, "result": result, "completed_by": 7, "task": TASK["id"],
                  "parent_prediction": 55, "was_cancelled": False}
    answer = client.post("/webhook", json={"action": "ANNOTATION_CREATED", "task": TASK,
                                           "annotation": annotation,
                                           "project": {"id": 1, "label_config": CONFIG}})
    assert answer.status_code == 200, answer.text
    return answer.json() | {"seconds": None}


def _edit(result: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Track 1's first keyframe moved right, track 2 deleted."""
    moved = copy.deepcopy([r for r in result if region_track_id(r) != 2])
    moved[0]["value"]["sequence"][0]["x"] += 2.5
    return moved


def test_predict_and_webhook_on_s3_equal_the_local_store(stores: tuple[Path, str],
                                                         bucket: Bucket) -> None:
    local, url = stores
    answers: dict[str, dict[str, Any]] = {}
    for name, store in (("local", local), ("s3", url)):
        backend = LabelStudioBackend(store)
        with TestClient(create_app(backend)) as client:
            health = client.get("/health").json()
            first = _predict(client)
            outcome = _webhook(client, _edit(first["results"][0][0]["result"]))
            second = _predict(client)
        answers[name] = {"store": health["store"], "first": first, "outcome": outcome,
                         "second": second}
    assert answers["s3"]["store"] == url == "s3://" + bucket.name + "/team/out.zarr"
    assert answers["local"]["store"] == str(local)
    for part in ("first", "outcome", "second"):  # the model versions too: same run, same state
        assert answers["s3"][part] == answers["local"][part], part
    assert [r["id"] for r in answers["s3"]["first"]["results"][0][0]["result"]] == \
        ["t1-r0", "t2-r0"]
    assert answers["s3"]["outcome"]["status"] == "applied"
    assert answers["s3"]["outcome"]["revision"] == 1
    assert [r["id"] for r in answers["s3"]["second"]["results"][0][0]["result"]] == ["t1-r1"]
    # the batch is in the bucket: a fresh reader sees what the local store records
    reread = VideoSession.open(url, mode="r")
    assert reread.revision == 1
    assert reread.result.batches()[0]["source"] == "labelstudio task 1 annotation 11"
    assert _content(url) == _content(local)
    lease = bucket.keys()
    assert "team/out.zarr/.trackannot/locks/clip.lease" in lease  # written under its lease


def test_a_video_another_process_writes_is_seen_through_its_lease(tmp_path: Path,
                                                                  bucket: Bucket) -> None:
    import zarr

    local = make_store(tmp_path / "out.zarr")
    make_store(local, key="other")
    zarr.open_group(str(local / "other"), mode="a").attrs["status"] = "running"
    url = upload(local, bucket, "team/out.zarr")
    jobs = TrackingJobs(url, detections_dir=tmp_path)
    other = {"id": 2, "data": {"video": "/data/local-files/?d=videos/other.mp4"}}
    with group_lock(url, "other", "trackannot track (another machine)"), \
            TestClient(create_app(LabelStudioBackend(url, jobs=jobs))) as client:
        answer = _predict(client, TASK, other)
    assert len(answer["results"][0]) == 1 and answer["results"][1] == []
    assert "being tracked by another process (40 of 60 frames committed)" in \
        answer["tasks"][1]["message"]
    assert jobs.all() == []  # nothing started beside the lease's holder


@pytest.fixture
def web_folder(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """(a folder, the loopback URL an HTTP server serves it at)."""
    folder = tmp_path / "web"
    folder.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


def test_a_video_the_s3_store_lacks_is_tracked_into_it(
        tmp_path: Path, bucket: Bucket, web_folder: tuple[Path, str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A task's video given by URL: downloaded to this machine's cache folder for the S3 store
    (no "beside" a bucket), tracked in the background into the bucket, then predicted."""
    from tests.integrations.test_labelstudio_backend_unit import _clip_and_detections

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    folder, web = web_folder
    _, dets = _clip_and_detections(folder)
    url = bucket.url("new/out.zarr")  # no store there yet: the background run makes it
    jobs = TrackingJobs(url, detections_dir=dets)
    task = {"id": 5, "data": {"video": f"{web}/walk.mp4"}}
    config = video_label_config(10.0, labels=("object",))
    backend = LabelStudioBackend(url, jobs=jobs)
    assert backend.download_dir == tmp_path.joinpath("cache", "trackannot", "s3", bucket.name,
                                                     "new", "out.zarr.videos")
    with TestClient(create_app(backend)) as client:
        first = client.post("/predict", json={"tasks": [task], "label_config": config}).json()
        assert first["results"] == [[]] and first["tasks"][0]["status"] == "tracking"
        deadline = time.monotonic() + TRACKING_TIMEOUT_S
        while jobs.get("walk").alive and time.monotonic() < deadline:
            time.sleep(0.2)
        assert jobs.get("walk").state == "done", jobs.get("walk").message
        last = client.post("/predict", json={"tasks": [task], "label_config": config}).json()
    session = VideoSession.open(url, mode="r")
    assert session.status == "complete" and session.num_frames == 40
    want = format_labelstudio(session.keyframes(), session.meta, as_predictions=True,
                              model_version=last["model_version"], revision=0)[0]["predictions"]
    assert last["results"] == [want]
    assert "new/out.zarr/walk/zarr.json" in bucket.keys()
    assert (backend.download_dir / "walk.mp4").read_bytes() == (folder / "walk.mp4").read_bytes()


def test_default_download_dir_is_local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert default_download_dir(Remote("s3://b/team/out.zarr")) == \
        tmp_path / "cache" / "trackannot" / "s3" / "b" / "team" / "out.zarr.videos"
    assert default_download_dir(Remote("s3://b")) == tmp_path / "cache/trackannot/s3/b.videos"
    assert default_download_dir(tmp_path / "out.zarr") == tmp_path / "out.zarr.videos"


# ---------------------------------------------------------------------------------- the CLI


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def served(stores: tuple[Path, str], bucket: Bucket, tmp_path: Path) -> Iterator[str]:
    """`trackannot serve labelstudio s3://...` as its own process; its base URL."""
    _, url = stores
    port = _free_port()
    log = tmp_path / "serve.log"
    env = {**os.environ, **s3_env(bucket.endpoint), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "trackannot.cli.main", "serve", "labelstudio", url,
             "--port", str(port)], stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(base + "/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(15)
    text = log.read_text()
    assert f"Label Studio ML backend for {url} on {base}" in text
    assert f"downloaded to {tmp_path / 'cache' / 'trackannot' / 's3'}" in text


def test_serve_labelstudio_serves_an_s3_store(served: str, stores: tuple[Path, str]) -> None:
    local, url = stores
    assert httpx.get(served + "/health").json()["store"] == url
    answer = httpx.post(served + "/predict", timeout=30, json={
        "tasks": [TASK], "project": "1.1700", "label_config": CONFIG}).json()
    with TestClient(create_app(LabelStudioBackend(local))) as client:
        assert answer == _predict(client)
    status = httpx.get(served + "/status", timeout=30).json()
    assert [(v["video"], v["status"]) for v in status["videos"]] == [("clip", "complete")]


def test_serve_refuses_a_missing_bucket_before_serving(bucket: Bucket,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: pytest.fail("served"))
    url = f"s3://{bucket.name}-missing/out.zarr"
    result = CliRunner().invoke(main, ["serve", "labelstudio", url])
    assert result.exit_code == 1, result.output
    assert f"bucket '{bucket.name}-missing' does not exist at {bucket.endpoint}" in result.output


def test_serve_refuses_bad_credentials_before_serving(
        auth_server: tuple[str, dict[str, str]], monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    endpoint, _ = auth_server
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: pytest.fail("served"))
    for name, value in s3_env(endpoint, "AKIAWRONGWRONGWRONG0", "nope").items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(main, ["serve", "labelstudio", "s3://guarded/out.zarr"])
    assert result.exit_code == 1, result.output
    assert f"{endpoint} refuses the credentials (InvalidAccessKeyId" in result.output
