"""`trackannot push/pull labelstudio` against a real Label Studio 1.23 (fixture `labelstudio`).

PETS09-S2L1 (the 480x360 re-encode in ../shared/data/video) tracked from the official MOT15
detections; its annotation pushed as a prediction, an annotation made from it (a moved box, a
deleted track) submitted to Label Studio, and pulled back as a corrections batch.
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from click.testing import CliRunner
from trackannot.cli.main import main

from tests.integrations._labelstudio import (
    LabelStudioServer,
    submit_annotation,
    update_annotation,
    video_label_config,
    video_project,
)
from trackannot.corrections import Corrections, Op
from trackannot.errors import (
    InvalidInputError,
    NotFoundError,
    StaleRevisionError,
    StoreNotFoundError,
)
from trackannot.integrations.labelstudio_sync import (
    labeling_names,
    pull_labelstudio,
    push_labelstudio,
)
from trackannot.session import VideoSession

VIDEO = "video/vtest_PETS09-S2L1_480x360_h264.avi"
DETECTIONS = "MOT15/PETS09-S2L1/det/det.txt"
KEY = "vtest_PETS09-S2L1_480x360_h264"


def _invoke(*args: str, code: int = 0, env: dict[str, str] | None = None) -> str:
    result = CliRunner().invoke(main, list(args), env=env)
    assert result.exit_code == code, result.output
    return result.output


@pytest.fixture(scope="module")
def tracked(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    store = tmp_path_factory.mktemp("pets") / "pets.zarr"
    _invoke("track", str(data_dir / VIDEO), "-o", str(store), "--detections",
            str(data_dir / DETECTIONS))
    return store


@pytest.fixture
def store(tracked: Path, tmp_path: Path) -> Path:
    """A copy of the tracked store for one test."""
    return Path(shutil.copytree(tracked, tmp_path / "pets.zarr"))


@pytest.fixture
def task(labelstudio: LabelStudioServer, data_dir: Path, tracked: Path,
         request: pytest.FixtureRequest) -> tuple[int, int]:
    """(project, task) of a new project for this test, offering the store's class names."""
    labels = VideoSession.open(tracked, mode="r").meta.class_names  # a detections file: class<i>
    return video_project(labelstudio, data_dir / VIDEO, video_label_config(10.0, labels),
                         title=request.node.name[:50])


def _push(ls: LabelStudioServer, store: Path, task: tuple[int, int]) -> Any:
    return push_labelstudio(store, ls.url, ls.token, project=task[0], task=task[1],
                            client=ls.client)


def _pull(ls: LabelStudioServer, store: Path, task: tuple[int, int], **kw: Any) -> Any:
    return pull_labelstudio(store, ls.url, ls.token, project=task[0], task=task[1],
                            client=ls.client, **kw)


def _prediction_result(ls: LabelStudioServer, prediction_id: int) -> list[dict[str, Any]]:
    return list(ls.client.predictions.get(id=prediction_id).result)


def _region(result: list[dict[str, Any]], track: int) -> dict[str, Any]:
    [region] = [r for r in result if r["id"] == f"t{track}"]
    return region


def _edited(result: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int, int, int,
                                                   list[float]]:
    """The prediction with one box moved (a middle keyframe of the longest track) and another
    track deleted; returns (result, moved track, its frame (0-based), deleted track, new box)."""
    result = copy.deepcopy(result)
    longest = max(result, key=lambda r: len(r["value"]["sequence"]))
    moved = int(longest["id"][1:])
    key = longest["value"]["sequence"][len(longest["value"]["sequence"]) // 2]
    key["x"] += 2.0  # percent of 480 px: 9.6 px to the right
    key["y"] -= 1.0
    frame = int(key["frame"]) - 1
    box = [key["x"] * 4.8, key["y"] * 3.6, (key["x"] + key["width"]) * 4.8,
           (key["y"] + key["height"]) * 3.6]
    deleted = int(next(r for r in result if r is not longest)["id"][1:])
    result = [r for r in result if r["id"] != f"t{deleted}"]
    return result, moved, frame, deleted, box


def test_push_uploads_the_sparse_keyframes_of_the_export(labelstudio: LabelStudioServer,
                                                          store: Path, task: tuple[int, int],
                                                          tmp_path: Path) -> None:
    out = _invoke("push", "labelstudio", str(store), "--url", labelstudio.url, "--project",
                  str(task[0]), "--task", str(task[1]), env={"LABEL_STUDIO_API_KEY":
                                                             labelstudio.token})
    assert f"{KEY}: revision 0 pushed to task {task[1]} (project {task[0]})" in out

    [prediction] = labelstudio.client.predictions.list(task=task[1])
    assert prediction.model_version == f"trackannot {KEY} r0"
    # the very regions `export --format labelstudio-predictions` writes, with the task's video
    _invoke("export", str(store), "--format", "labelstudio-predictions", "-o", str(tmp_path / "x"))
    [exported] = json.loads((tmp_path / "x" / f"{KEY}.predictions.json").read_text())
    assert prediction.result == exported["predictions"][0]["result"]
    assert len(prediction.result) > 10
    assert {r["from_name"] for r in prediction.result} == {"box"}
    assert all(r["value"]["framesCount"] == 795 for r in prediction.result)
    # Label Studio shows it as the task's pre-annotation
    data = labelstudio.get(f"/api/tasks/{task[1]}").json()
    assert data["total_predictions"] == 1


def test_pull_applies_a_moved_box_and_a_deleted_track(labelstudio: LabelStudioServer,
                                                      store: Path, task: tuple[int, int]) -> None:
    pushed = _push(labelstudio, store, task)
    before = VideoSession.open(store, mode="r").boxes()
    result, moved, frame, deleted, box = _edited(_prediction_result(labelstudio,
                                                                    pushed.prediction_id))
    annotation = submit_annotation(labelstudio, task[1], result,
                                   parent_prediction=pushed.prediction_id)

    out = _invoke("pull", "labelstudio", str(store), "--url", labelstudio.url, "--task",
                  str(task[1]), "--token", labelstudio.token)
    assert f"annotation {annotation} by {labelstudio.email} applied as batch 0" in out

    session = VideoSession.open(store, mode="r")
    [record] = session.result.batches()
    assert record["author"] == labelstudio.email
    assert record["source"].startswith(
        f"labelstudio:{labelstudio.url} task {task[1]} annotation {annotation} updated ")
    log, _ = session.result.read_log()
    ops = {(Op(int(o)).name, int(t)) for o, t in zip(log.op, log.track_id)}
    assert ("ADJUST", moved) in ops and ("ABSENT", deleted) in ops
    assert {t for _, t in ops} == {moved, deleted}  # nothing else was touched
    now = session.boxes()
    at = (now.track_id == moved) & (now.frame == frame)
    np.testing.assert_allclose(now.xyxy[at][0], box, atol=1e-3)
    assert not (now.track_id == deleted).any()
    others = ~np.isin(before.track_id, [moved, deleted])
    assert (now.track_id != deleted).sum() >= others.sum()

    # pulled again while unchanged: nothing recorded
    again = _pull(labelstudio, store, task)
    assert again.summary is None and session.revision == 1


def test_an_updated_annotation_brings_only_its_new_edits(labelstudio: LabelStudioServer,
                                                         store: Path, task: tuple[int, int],
                                                         ) -> None:
    pushed = _push(labelstudio, store, task)
    result, moved, _, deleted, _ = _edited(_prediction_result(labelstudio, pushed.prediction_id))
    annotation = submit_annotation(labelstudio, task[1], result,
                                   parent_prediction=pushed.prediction_id)
    first = _pull(labelstudio, store, task)
    assert first.expect_revision == 0 and first.summary.revision == 1

    third = next(r for r in result if int(r["id"][1:]) not in (moved, deleted))
    third["value"]["sequence"][0]["width"] -= 1.0
    update_annotation(labelstudio, annotation, result)
    second = _pull(labelstudio, store, task)
    assert second.expect_revision == 1  # against what the first pull made
    assert second.summary.revision == 2
    log, _ = VideoSession.open(store, mode="r").result.read_log(
        VideoSession.open(store, mode="r").result.batches(1)[0]["rows"][0])
    assert set(log.track_id.tolist()) == {int(third["id"][1:])}


def test_an_edit_of_a_box_changed_since_the_push_is_refused(labelstudio: LabelStudioServer,
                                                            store: Path, task: tuple[int, int],
                                                            ) -> None:
    pushed = _push(labelstudio, store, task)
    result, moved, frame, _, _ = _edited(_prediction_result(labelstudio, pushed.prediction_id))
    submit_annotation(labelstudio, task[1], result, parent_prediction=pushed.prediction_id)
    # meanwhile someone else moves the same box in the store
    session = VideoSession.open(store)
    session.apply(Corrections.create(op=[int(Op.ADJUST)], track_id=[moved], frame=[frame],
                                     xyxy=[[10.0, 10.0, 40.0, 90.0]], author="bo"), author="bo")
    with pytest.raises(StaleRevisionError, match=f"track {moved} frame {frame}") as caught:
        _pull(labelstudio, store, task)
    assert caught.value.expected == 0 and caught.value.current == 1
    assert session.revision == 1  # nothing written

    out = _invoke("pull", "labelstudio", str(store), "--url", labelstudio.url, "--task",
                  str(task[1]), "--token", labelstudio.token, code=1)
    assert "re-read the video at revision 1" in out


def test_refusals_name_what_is_wrong(labelstudio: LabelStudioServer, store: Path,
                                     task: tuple[int, int], data_dir: Path) -> None:
    ls = labelstudio
    with pytest.raises(NotFoundError, match="task 999999"):
        push_labelstudio(store, ls.url, ls.token, task=999999, client=ls.client)
    with pytest.raises(NotFoundError, match=f"is in project {task[0]}, not in project 999"):
        push_labelstudio(store, ls.url, ls.token, project=999, task=task[1], client=ls.client)
    with pytest.raises(StoreNotFoundError):
        push_labelstudio(store, ls.url, ls.token, task=task[1], video="nope", client=ls.client)
    with pytest.raises(InvalidInputError, match="token is refused"):
        push_labelstudio(store, ls.url, "not-a-token", task=task[1])
    with pytest.raises(NotFoundError, match="no submitted annotation"):
        _pull(ls, store, task)
    # a project whose Video framerate is not the video's 10 fps
    _, task24 = video_project(ls, data_dir / VIDEO, video_label_config(24.0),
                              title="framerate 24")
    with pytest.raises(InvalidInputError, match='framerate 24.*10 fps.*framerate="10"'):
        push_labelstudio(store, ls.url, ls.token, task=task24, client=ls.client)
    # a label the config does not offer
    _, task_car = video_project(ls, data_dir / VIDEO, video_label_config(10.0, ("car",)),
                                title="only cars")
    with pytest.raises(InvalidInputError, match=r"offers labels \['car'\].*classes \['class1'\]"):
        push_labelstudio(store, ls.url, ls.token, task=task_car, client=ls.client)
    # a server that is not there
    with pytest.raises(NotFoundError, match="no Label Studio answers"):
        push_labelstudio(store, "http://127.0.0.1:9", ls.token, task=1)


def test_a_malformed_annotation_is_refused_and_nothing_written(labelstudio: LabelStudioServer,
                                                               store: Path,
                                                               task: tuple[int, int]) -> None:
    pushed = _push(labelstudio, store, task)
    result = copy.deepcopy(_prediction_result(labelstudio, pushed.prediction_id))
    result[1]["value"]["sequence"][-1]["frame"] = 900  # past the video's 795 frames
    annotation = submit_annotation(labelstudio, task[1], result)
    with pytest.raises(InvalidInputError,
                       match=rf"task {task[1]} annotation {annotation} result\[1\].*frame 900"):
        _pull(labelstudio, store, task)
    second = submit_annotation(labelstudio, task[1], result)
    with pytest.raises(InvalidInputError, match=f"{annotation}, {second}.*--annotation"):
        _pull(labelstudio, store, task)
    with pytest.raises(NotFoundError, match="has no annotation 12345"):
        _pull(labelstudio, store, task, annotation=12345)
    assert VideoSession.open(store, mode="r").revision == 0


@pytest.mark.parametrize(("config", "match"), [
    ("<View><Image name='i' value='$image'/></View>", "no <VideoRectangle"),
    ("<View", "not XML"),
    (("<View><Video name='v' value='$v' framerate='fast'/><VideoRectangle name='b' toName='v'/>"
     "</View>"), "is not a number"),
], ids=["no-video", "not-xml", "bad-framerate"])
def test_labeling_names_refuses_configs_it_cannot_use(config: str, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        labeling_names(config)


def test_labeling_names_reads_the_default_config() -> None:
    names = labeling_names(video_label_config(7.5, ("person", "car")))
    assert (names.from_name, names.to_name, names.data_key) == ("box", "video", "video")
    assert names.framerate == 7.5 and names.labels == ("person", "car")


# label-studio-sdk 2.0.18 parses the refresh answer with pydantic's deprecated parse_obj
@pytest.mark.filterwarnings("ignore:The `parse_obj` method is deprecated:DeprecationWarning")
def test_a_personal_access_token_works_too(labelstudio: LabelStudioServer, store: Path,
                                           task: tuple[int, int]) -> None:
    """Label Studio 1.23's default kind of token: a JWT refresh token the SDK exchanges."""
    created = httpx.post(labelstudio.url + "/api/token/", timeout=30,
                         headers={"Authorization": f"Token {labelstudio.token}"})
    assert created.status_code == 201, created.text[:300]
    pat = created.json()["token"]
    assert pat.count(".") == 2  # a JWT, not the legacy token
    pushed = push_labelstudio(store, labelstudio.url, pat, project=task[0], task=task[1])
    assert pushed.revision == 0 and pushed.tracks > 10
