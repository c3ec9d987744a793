"""The Label Studio ML backend against a real Label Studio 1.23 (fixture `labelstudio`; never
skipped): PETS09-S2L1 from ../shared/data, tracked by the backend in the background from the
official MOT15 detections when Label Studio first asks for predictions; the predictions Label
Studio stores; an annotation submitted through Label Studio (which calls our /webhook itself)
that moves a box and deletes a track, then updated; the store's corrections log; the next
predictions. The protocol in detail, in-process: `test_labelstudio_backend_unit.py`."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests._store import store_digest
from tests.integrations._backend import (
    PETS_FRAMES,
    PETS_KEY,
    PETS_LABELS,
    PETS_VIDEO,
    Backend,
    pets_detections,
    retrieve_predictions,
    serve_backend,
    wait_for_predictions,
)
from tests.integrations._labelstudio import (
    LabelStudioServer,
    connect_ml_backend,
    submit_annotation,
    update_annotation,
    video_label_config,
    video_project,
)
from trackannot.corrections import Op
from trackannot.export.labelstudio import format_labelstudio, region_track_id
from trackannot.session import VideoSession

CONFIG = video_label_config(10.0, labels=PETS_LABELS)  # the AVI's 10 fps


def _result(prediction: Any) -> list[dict[str, Any]]:
    """A prediction's regions as plain JSON (what the editor starts an annotation from)."""
    return json.loads(json.dumps([dict(r) for r in prediction.result]))


def _movable(result: list[dict[str, Any]], dx: float) -> tuple[int, dict[str, Any]]:
    """The first region whose first keyframe can move `dx` percent right and stay inside."""
    for i, region in enumerate(result):
        first = region["value"]["sequence"][0]
        if first["x"] + first["width"] + dx <= 100 and len(region["value"]["sequence"]) > 2:
            return i, first
    raise AssertionError("no region to move")


@pytest.fixture
def backend(labelstudio: LabelStudioServer, data_dir: Path, tmp_path: Path) -> Iterator[Backend]:
    with serve_backend(tmp_path / "pets.zarr", tmp_path, labelstudio,
                       detections_dir=pets_detections(tmp_path / "dets", data_dir)) as served:
        yield served


def test_label_studio_round_trip_on_pets09(labelstudio: LabelStudioServer, backend: Backend,
                                           data_dir: Path) -> None:
    ls = labelstudio
    project_id, task_id = video_project(ls, data_dir / PETS_VIDEO, CONFIG, title="round trip")
    ml_id = connect_ml_backend(ls, project_id, backend.url)  # Label Studio: /health, /setup
    assert ls.client.ml.get(id=ml_id).state == "CO"  # connected

    # the store has no PETS09 yet: the first "Retrieve Predictions" starts tracking it and
    # Label Studio gets none; asking again once it is complete gives the prediction
    assert retrieve_predictions(ls, project_id, task_id) == []
    jobs = backend.status()["jobs"]
    assert [(j["video"], j["source"]) for j in jobs] == [(PETS_KEY, ls.local_files_url(
        data_dir / PETS_VIDEO))]
    [prediction] = wait_for_predictions(ls, project_id, task_id)
    session = VideoSession.open(backend.store)
    assert session.status == "complete" and session.num_frames == PETS_FRAMES
    version = prediction.model_version
    assert re.fullmatch(r"trackannot-r0-[0-9a-f]{8}", version)
    assert ls.client.ml.get(id=ml_id).model_version == version  # what /setup names

    shown = _result(prediction)
    want = format_labelstudio(session.keyframes(), session.meta, as_predictions=True,
                              model_version=version, revision=0)[0]["predictions"][0]["result"]
    assert shown == want  # the export's sparse keyframes, as Label Studio stored them
    tracks = {int(t) for t in session.boxes().track_id}
    assert len(shown) == len(tracks) > 20
    for region in shown:
        assert (region["type"], region["from_name"], region["to_name"]) == (
            "videorectangle", "box", "video")
        assert region["value"]["framesCount"] == PETS_FRAMES
        for item in region["value"]["sequence"]:
            assert 1 <= item["frame"] <= PETS_FRAMES
            assert 0 <= item["x"] < item["x"] + item["width"] <= 100
            assert 0 <= item["y"] < item["y"] + item["height"] <= 100

    # a reviewer moves one box and deletes one track, and submits: Label Studio calls /webhook
    edited = copy.deepcopy(shown)
    index, first = _movable(edited, 1.0)
    first["x"] += 1.0
    moved_track, moved_frame = region_track_id(edited[index]), first["frame"] - 1
    deleted = edited.pop(index + 1 if index + 1 < len(edited) else index - 1)
    deleted_track = region_track_id(deleted)
    before = session.boxes()
    annotation_id = submit_annotation(ls, task_id, edited, parent_prediction=prediction.id)

    [outcome] = backend.status()["webhooks"]
    assert outcome | {"counts": None, "seconds": None} == {
        "task": task_id, "status": "applied", "video": PETS_KEY, "annotation": annotation_id,
        "batch": 0, "revision": 1, "counts": None, "seen_revision": 0,
        "based_on": "the revision its regions were served at", "seconds": None}
    result = VideoSession.open(backend.store).result
    [batch] = result.batches()
    assert batch["source"] == f"labelstudio task {task_id} annotation {annotation_id}"
    log, _ = result.read_log()
    assert set(log.author.tolist()) == {ls.email}  # the Label Studio user
    adjust = log.op == Op.ADJUST
    assert list(zip(log.track_id[adjust].tolist(), log.frame[adjust].tolist())) == [
        (moved_track, moved_frame)]
    old = before.xyxy[(before.track_id == moved_track) & (before.frame == moved_frame)][0]
    np.testing.assert_allclose(log.xyxy[adjust][0], old + [4.8, 0, 4.8, 0], atol=1e-3)  # 1%
    gone = (log.op == Op.ABSENT) & (log.track_id == deleted_track)
    assert log.frame[gone].tolist() == [int(before.frame[before.track_id == deleted_track][0])]

    # the next predictions Label Studio retrieves show the edit, under a new version
    predictions = wait_for_predictions(ls, project_id, task_id, version_not=version)
    latest = predictions[-1]
    assert re.fullmatch(r"trackannot-r1-[0-9a-f]{8}", latest.model_version)
    regions = {region_track_id(r): r for r in _result(latest)}
    assert {r["id"][-3:] for r in _result(latest)} == {"-r1"}
    assert deleted_track not in regions and len(regions) == len(shown) - 1
    keys = {k["frame"]: k for k in regions[moved_track]["value"]["sequence"]}
    assert keys[moved_frame + 1]["x"] == pytest.approx(first["x"], abs=1e-4)

    # the reviewer updates the annotation: diffed against what their submission made
    edited[index]["value"]["sequence"][0]["y"] += 0.5
    update_annotation(ls, annotation_id, edited)
    outcome = backend.status()["webhooks"][-1]
    assert (outcome["status"], outcome["seen_revision"], outcome["revision"]) == (
        "applied", 1, 2)
    assert outcome["based_on"] == "its previous submission"
    assert outcome["counts"]["adjust"] == 1


def test_a_bad_annotation_through_label_studio_leaves_the_store_unchanged(
        labelstudio: LabelStudioServer, backend: Backend, data_dir: Path) -> None:
    ls = labelstudio
    project_id, task_id = video_project(ls, data_dir / PETS_VIDEO, CONFIG, title="bad input")
    connect_ml_backend(ls, project_id, backend.url)
    [prediction] = wait_for_predictions(ls, project_id, task_id)
    before = store_digest(backend.store)
    bad = _result(prediction)
    bad[0]["value"]["sequence"][0]["frame"] = PETS_FRAMES + 5  # past the end
    submit_annotation(ls, task_id, bad, parent_prediction=prediction.id)  # Label Studio keeps it
    outcome = backend.status()["webhooks"][-1]
    assert outcome["status"] == "refused"
    assert f"frame {PETS_FRAMES + 5} is outside 1..{PETS_FRAMES}" in outcome["error"]
    assert store_digest(backend.store) == before
