"""Stores on S3-compatible object storage (`-o s3://bucket/prefix/out.zarr`), against moto's
S3 server (conftest): a run equals the same run into a directory, array for array; a run
SIGKILLed mid-video resumes to the same store; the read path of an annotation backend
(`VideoSession`, `trackannot export`) reads it; `review`, `correct`, `audit`, `eval` and `report`
give what they give on a directory; a group's lease admits one writer (and one
taker-over of an expired lease); bad credentials, a missing bucket or endpoint are refused
before anything is written.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tests import _kill
from tests.objectstore.conftest import Bucket, s3_env
from trackannot.cli.main import main
from trackannot.errors import LockedError
from trackannot.session import VideoSession
from trackannot.store import group_lock, open_store

SEQ = ("MOT15", "TUD-Campus")  # 71 frames, 321 SORT detections
SETTINGS = ["--batch-size", "5", "--set", "store.chunk_rows=32", "--set", "store.chunk_frames=8",
            "--quiet"]


@pytest.fixture(scope="module")
def seq(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("s3seq") / SEQ[1]
    (root / "det").mkdir(parents=True)
    src = data_dir.joinpath(*SEQ)
    shutil.copy(src / "seqinfo.ini", root / "seqinfo.ini")
    shutil.copy(src / "det" / "det_sort_frcnn.txt", root / "det" / "det.txt")
    return root


@pytest.fixture(scope="module")
def local_store(seq: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The uninterrupted run into a local directory, the reference of every comparison."""
    store = tmp_path_factory.mktemp("s3ref") / "out.zarr"
    result = CliRunner().invoke(main, _argv(seq, str(store)))
    assert result.exit_code == 0, result.output
    return store


def _argv(seq: Path, store: str, settings: list[str] = SETTINGS) -> list[str]:
    return ["track", "--seqinfo", str(seq / "seqinfo.ini"), "--detections",
            str(seq / "det" / "det.txt"), "-o", store, *settings]


# fewer, larger chunks where the test is about reading: a quarter of the requests
READ_SETTINGS = ["--set", "store.chunk_rows=256", "--set", "store.chunk_frames=64", "--quiet"]


def test_track_into_s3_equals_local_run(seq: Path, local_store: Path, bucket: Bucket) -> None:
    url = bucket.url()
    result = CliRunner().invoke(main, _argv(seq, url))
    assert result.exit_code == 0, result.output
    assert "TUD-Campus: 71 frames, 321 detections" in result.output
    assert _kill.content(url) == _kill.content(local_store)
    keys = bucket.keys()
    assert "runs/out.zarr/TUD-Campus/tracks/track_id/c/0" in keys
    assert not [k for k in keys if k.endswith(".partial")]  # PUTs are whole: no temporaries
    lease = json.loads(_get(bucket, "runs/out.zarr/.trackannot/locks/TUD-Campus.lease"))
    assert lease["released"] is True  # the writer handed its lease back
    again = CliRunner().invoke(main, _argv(seq, url))  # a rerun skips the finished video
    assert again.exit_code == 0, again.output
    assert "complete in an earlier run (71 frames), skipped" in again.output
    checked = CliRunner().invoke(main, ["check", url])  # every chunk read and verified
    assert checked.exit_code == 0, checked.output


def _get(bucket: Bucket, key: str) -> bytes:
    import boto3

    return boto3.client("s3").get_object(Bucket=bucket.name, Key=key)["Body"].read()


# ------------------------------------------------------------------------------ kill and resume

# zarr PUTs before the SIGKILL (a whole run makes about 600): while the group's arrays are
# being made (nothing committed: the rerun deletes the group and starts afresh), and mid-video
# (the first commit marker is at about PUT 220)
KILLS = {"setting up": 100, "mid-video": 400}


@pytest.mark.parametrize("kill_at", KILLS.values(), ids=list(KILLS))
def test_killed_run_resumes_to_the_same_store(seq: Path, local_store: Path, bucket: Bucket,
                                               kill_at: int) -> None:
    url = bucket.url()
    child = subprocess.run(
        [sys.executable, "-m", "tests.objectstore._s3child", "kill", str(kill_at),
         *_argv(seq, url)],
        env=_kill.child_env(), cwd=_kill.REPO, capture_output=True, text=True,
        timeout=_kill.CHILD_TIMEOUT_S)
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    killed = open_store(url)["TUD-Campus"]
    frames, _ = killed.committed()
    assert killed.status == "running"
    assert (0 < frames < 71) if kill_at == KILLS["mid-video"] else frames == 0
    lease = json.loads(_get(bucket, "runs/out.zarr/.trackannot/locks/TUD-Campus.lease"))
    assert lease["released"] is False  # the dead writer's lease: taken over once it expires
    repaired = CliRunner().invoke(main, ["check", url, "--repair"])  # cuts past the commit
    assert repaired.exit_code == 0, repaired.output
    result = CliRunner().invoke(main, _argv(seq, url))
    assert result.exit_code == 0, result.output
    assert ("(resumed after frame" in result.output) == (frames > 0)
    assert _kill.content(url) == _kill.content(local_store)


# ---------------------------------------------------------------------------------- read path


def test_backend_read_path_and_export(seq: Path, local_store: Path, bucket: Bucket,
                                      tmp_path: Path) -> None:
    url = bucket.url("team/a/out.zarr")
    assert CliRunner().invoke(main, _argv(seq, url, READ_SETTINGS)).exit_code == 0
    remote = VideoSession.open(url, mode="r")
    local = VideoSession.open(str(local_store), mode="r")
    assert remote.key == "TUD-Campus" and remote.num_frames == local.num_frames == 71
    for lo, hi in ((0, 71), (10, 30), (70, 71)):
        a, b = remote.boxes(lo, hi), local.boxes(lo, hi)
        assert a.columns().keys() == b.columns().keys()
        for name, column in a.columns().items():
            np.testing.assert_array_equal(column, b.columns()[name], err_msg=name)
    assert remote.track_ids == local.track_ids
    for fmt in ("mot", "cvat"):
        out = {}
        for name, store in (("s3", url), ("local", str(local_store))):
            result = CliRunner().invoke(main, ["export", store, "--format", fmt, "-o",
                                               str(tmp_path / f"{name}-{fmt}")])
            assert result.exit_code == 0, result.output
            out[name] = {p.name: p.read_bytes() for p in (tmp_path / f"{name}-{fmt}").iterdir()}
        assert out["s3"] == out["local"] and out["s3"]


def test_review_correct_audit_eval_report_on_s3_as_on_a_directory(
        seq: Path, data_dir: Path, bucket: Bucket, tmp_path: Path) -> None:
    """The rest of the commands that open a store, on S3 and on a directory, same run: the
    queue files, the applied answers, the audit, the scores and the dashboard alike."""
    url, local = bucket.url(), str(tmp_path / "local.zarr")
    gt = data_dir.joinpath(*SEQ, "gt", "gt.txt")
    seen: dict[str, dict[str, object]] = {}
    for name, store in (("local", local), ("s3", url)):
        out = tmp_path / name

        def run(*argv: str) -> str:
            result = CliRunner().invoke(main, list(argv))
            assert result.exit_code == 0, (argv, result.output)
            return result.output.replace(store, "STORE").replace(str(out), "OUT")

        run(*_argv(seq, store, READ_SETTINGS))
        run("review", store, "--budget", "5", "-o", str(out / "review"))
        [queue] = (p for p in (out / "review").glob("*.json")
                   if not p.name.endswith(".labelstudio.json"))
        items = json.loads(queue.read_text())
        answers = tmp_path / "answers.jsonl"  # one path: the batch records its source
        answers.write_text("".join(json.dumps({"item": i["item"], "op": "accept"}) + "\n"
                                   for i in items["items"]))
        seen[name] = {
            "review": {p.name: p.read_bytes() for p in (out / "review").iterdir()},
            "correct": run("correct", store, str(answers), "--queue", items["queue_id"],
                           "--author", "ana"),
            "audit": run("audit", store, "--json", str(out / "audit.json")),
            "audit.json": json.loads((out / "audit.json").read_text()) | {"store": "STORE"},
            "eval": run("eval", store, "--gt", str(gt)),
            "report": run("report", store, "-o", str(out / "report")).partition("dashboard")[2],
            "content": _kill.content(store),
        }
        assert json.loads((out / "audit.json").read_text())["store"] == store
        assert (out / "report" / "index.html").is_file()
        assert (out / "report" / "videos" / "TUD-Campus.html").is_file()
    assert "applied as batch 0" in str(seen["s3"]["correct"]) and "HOTA" in str(seen["s3"]["eval"])
    for part in seen["s3"]:
        assert seen["s3"][part] == seen["local"][part], part


def test_corrections_on_s3_store_under_its_lease(seq: Path, bucket: Bucket) -> None:
    """The write path of an annotation backend: a batch of corrections is appended under the
    group's lease and read back by a fresh reader."""
    from trackannot.corrections import Corrections, parse_line

    url = bucket.url()
    assert CliRunner().invoke(main, _argv(seq, url, READ_SETTINGS)).exit_code == 0
    session = VideoSession.open(url, mode="a")
    track = session.track_ids[0]
    frame = int(session.boxes().frame[session.boxes().track_id == track][0])
    row = parse_line({"op": "adjust", "track": track, "frame": frame, "box": [1, 2, 30, 40]},
                     "line 1", "ana", 1)
    session.apply(Corrections.create(**{k: [v] for k, v in row.items()}), author="ana")
    again = VideoSession.open(url, mode="r")
    assert again.revision == 1
    boxes = again.boxes(frame, frame + 1)
    np.testing.assert_allclose(boxes.xyxy[boxes.track_id == track][0], [1, 2, 30, 40])


# ------------------------------------------------------------------------------------ leases


def _race(url: str, names: list[str]) -> tuple[list, list[str]]:
    """Every writer in `names` tries once, at the same moment, to take video 'clip''s lease:
    (the locks that got it, the messages of those refused)."""
    barrier = threading.Barrier(len(names))
    won, refused = [], []

    def take(name: str) -> None:
        lock = group_lock(url, "clip", name, timeout=0)
        barrier.wait()
        try:
            lock.acquire()
            won.append(lock)
        except LockedError as err:
            refused.append(str(err))

    threads = [threading.Thread(target=take, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return won, refused


def _child(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "tests.objectstore._s3child", *args],
                            env=_kill.child_env(), cwd=_kill.REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _wait_stopped(proc: subprocess.Popen[str]) -> None:
    """Wait until the child has stopped itself (SIGSTOP: state T in /proc)."""
    import time

    give_up = time.monotonic() + _kill.CHILD_TIMEOUT_S
    while Path(f"/proc/{proc.pid}/stat").read_text().split(") ")[1][0] != "T":
        assert proc.poll() is None and time.monotonic() < give_up, proc.communicate()
        time.sleep(0.05)


def _expire(lease_s: float = 2.0, skew_s: float = 0.5) -> None:
    """Sleep until a lease not renewed since now has expired for everyone (conftest's env)."""
    import time

    time.sleep(lease_s + skew_s + 0.3)


def test_one_writer_per_lease_and_one_taker_of_an_expired_lease(bucket: Bucket) -> None:
    url = bucket.url()
    won, refused = _race(url, [f"writer {i}" for i in range(4)])
    assert len(won) == 1 and len(refused) == 3  # If-None-Match: * admits exactly one
    assert all(f"is being written by `{won[0].command}`" in m for m in refused)
    _expire()  # its renewal thread keeps a live holder's lease: nobody takes it
    late, late_refused = _race(url, ["late"])
    assert late == [] and len(late_refused) == 1
    won[0].fence()
    won[0].release()

    holder = _child("hold", url, "clip")  # a holder that stops (SIGSTOP): no more renewals
    assert holder.stdout.readline().strip() == "held"
    _wait_stopped(holder)
    _expire()
    takers, refused = _race(url, [f"taker {i}" for i in range(4)])
    assert len(takers) == 1 and len(refused) == 3  # If-Match on the stale etag: exactly one
    assert takers[0].took_over is not None and takers[0].took_over["command"] == "stalled holder"
    holder.send_signal(signal.SIGCONT)
    out, err = holder.communicate(timeout=_kill.CHILD_TIMEOUT_S)
    assert out.startswith("lost: ") and "lost its lease to `taker" in out, (out, err)
    takers[0].release()
    again, _ = _race(url, ["next"])
    assert len(again) == 1 and again[0].took_over is None  # released: taken at once
    again[0].release()


def test_stopped_writer_taken_over_commits_nothing_more(seq: Path, local_store: Path,
                                                         bucket: Bucket) -> None:
    """`trackannot track` stopped mid-video past its lease: another writer takes the group
    over; the stopped run, continued, stops at its next frame without committing and reports
    the video busy; a rerun then finishes the store as an uninterrupted run."""
    url = bucket.url()
    writer = _child("stop", "30", *_argv(seq, url))
    _wait_stopped(writer)
    _expire()
    thief = group_lock(url, "TUD-Campus", "thief", timeout=10)
    thief.acquire()
    assert thief.took_over is not None  # the stopped writer's lease, expired
    before = open_store(url)["TUD-Campus"].committed()
    assert 0 < before[0] < 71
    writer.send_signal(signal.SIGCONT)
    out, err = writer.communicate(timeout=_kill.CHILD_TIMEOUT_S)
    assert writer.returncode == 1, (out, err)
    assert "TUD-Campus: BUSY, not written" in out
    assert "lost its lease to `thief`" in err
    assert open_store(url)["TUD-Campus"].committed() == before  # nothing committed after
    thief.release()
    result = CliRunner().invoke(main, _argv(seq, url))
    assert result.exit_code == 0, result.output
    assert _kill.content(url) == _kill.content(local_store)


# ---------------------------------------------------------------------------------- bad input


def test_missing_bucket_is_refused_before_any_work(seq: Path, bucket: Bucket) -> None:
    url = f"s3://{bucket.name}-missing/runs/out.zarr"
    result = CliRunner().invoke(main, _argv(seq, url))
    assert result.exit_code == 1
    assert f"bucket '{bucket.name}-missing' does not exist at {bucket.endpoint}" in result.output
    exported = CliRunner().invoke(main, ["export", url, "-o", "unused"])
    assert exported.exit_code == 1 and "does not exist" in exported.output


def test_unreachable_endpoint_is_refused_quickly(seq: Path, bucket: Bucket,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", dead)
    result = CliRunner().invoke(main, _argv(seq, bucket.url()))
    assert result.exit_code == 1
    assert f"the object store at {dead} cannot be reached" in result.output


def test_overwrite_is_refused_on_object_storage(seq: Path, bucket: Bucket) -> None:
    result = CliRunner().invoke(main, [*_argv(seq, bucket.url()), "--overwrite"])
    assert result.exit_code == 1
    assert "--overwrite is not supported for stores on object storage" in result.output
    assert bucket.keys() == []  # refused before anything was written


def test_other_schemes_are_refused_clearly() -> None:
    for argv in (["export", "gs://b/p/out.zarr", "-o", "unused"],
                 ["serve", "labelstudio", "gs://b/p/out.zarr"]):
        result = CliRunner().invoke(main, argv)
        assert result.exit_code == 2 and "gs:// is not supported" in result.output, argv


def test_refused_credentials_are_reported_before_any_work(
        seq: Path, auth_server: tuple[str, dict[str, str]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3

    endpoint, good = auth_server
    admin = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                         aws_access_key_id=good["AWS_ACCESS_KEY_ID"],
                         aws_secret_access_key=good["AWS_SECRET_ACCESS_KEY"])
    admin.create_bucket(Bucket="guarded")
    for name, value in s3_env(endpoint, "AKIAWRONGWRONGWRONG0", "nope").items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(main, _argv(seq, "s3://guarded/runs/out.zarr"))
    assert result.exit_code == 1
    assert f"{endpoint} refuses the credentials (InvalidAccessKeyId" in result.output
    assert "AWS_ACCESS_KEY_ID AKIAWRONGWRONGWRONG0" in result.output
    assert admin.list_objects_v2(Bucket="guarded").get("KeyCount") == 0  # nothing written
