"""The Label Studio ML backend through a real Label Studio 1.23 on PETS09-S2L1 (issue 12, "Must
show"): the time from a webhook to updated predictions for a one-keyframe edit, and two reviewers
editing one video at once.

Set-up: Label Studio from `.venv-labelstudio/` (`bash .ci/setup_servers.sh`) on loopback, as the
integration tests start it (`tests/integrations/_labelstudio.py`), and `trackannot serve
labelstudio` as its own process (`tests/integrations/_backend.py`) on an empty store with the
official MOT15 detections of PETS09-S2L1 (795 frames, 480x360, 10 fps). A project with the
video's task and the backend connected; "Retrieve Predictions" until the backend, which tracks
the video in the background, answers with one (the time to the first prediction is reported).

Edit timing, --edits times (after --warmup untimed edits): a reviewer starts from the task's
latest prediction, moves the first keyframe of one track by 0.5% of the width (alternately right
and left) and submits through Label Studio's API; Label Studio calls the backend's /webhook
before it answers (its webhooks are synchronous without Redis, with a 1 s time-out), so

* **submit**: Label Studio's annotation POST, which includes the webhook: the corrections batch
  applied and re-interpolated (**webhook**: the backend's own time for it);
* **retrieve**: "Retrieve Predictions" until the task holds a prediction of the new version
  (Label Studio calls /setup, then /predict);
* **webhook to prediction**: webhook + retrieve: from the webhook reaching the backend to
  Label Studio holding the updated prediction (Label Studio's own work on the annotation
  before and after it calls the webhook left out). Goal: under 1 s;
* **total**: submit + retrieve: from sending the edit to Label Studio holding the updated
  prediction. Each new prediction is checked to show the moved box.

The machine's load average is recorded before and after: timings on a shared machine vary.

The same edit straight to the backend (POST /webhook, then POST /predict, no Label Studio) is
timed too (**direct**), to tell the backend's share from Label Studio's.

Two reviewers, --rounds rounds of each case: both open the task's latest prediction and submit
at the same moment (two threads, each its own Label Studio client):

* different cells: reviewer A moves track a, reviewer B track b: both must land;
* the same cell: both move the same keyframe of track a, in opposite directions: exactly one
  lands and the other gets 409 (the store then holds the box that landed, never a silent mix).

Usage:
    python -m benchmarks.bench_labelstudio_backend [--edits 9] [--rounds 5]
        [--out benchmarks/results/labelstudio_backend.json]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks._common import result_doc, write_json  # noqa: E402
from tests.conftest import DATA  # noqa: E402
from trackannot.export.labelstudio import region_track_id  # noqa: E402
from tests.integrations._backend import (  # noqa: E402
    PETS_KEY, PETS_LABELS, PETS_VIDEO, Backend, pets_detections, retrieve_predictions,
    serve_backend, wait_for_predictions,
)
from tests.integrations._labelstudio import (  # noqa: E402
    LabelStudioServer, connect_ml_backend, start_label_studio, stop_label_studio,
    submit_annotation, video_label_config, video_project,
)

STEP_PERCENT = 0.5


def _result(prediction: Any) -> list[dict[str, Any]]:
    return json.loads(json.dumps([dict(r) for r in prediction.result]))


def _tracks_to_move(result: list[dict[str, Any]], count: int) -> list[int]:
    """Indices of regions whose first keyframe can move a step either way and stay inside."""
    found = []
    for i, region in enumerate(result):
        first = region["value"]["sequence"][0]
        if first["x"] > 2 * STEP_PERCENT and first["x"] + first["width"] < 100 - 2 * STEP_PERCENT:
            found.append(i)
    if len(found) < count:
        raise RuntimeError(f"only {len(found)} regions can move; need {count}")
    return found[:count]


def _moved(result: list[dict[str, Any]], index: int, dx: float) -> list[dict[str, Any]]:
    edited = copy.deepcopy(result)
    edited[index]["value"]["sequence"][0]["x"] += dx
    return edited


def _outcome(backend: Backend, annotation_id: int) -> dict[str, Any]:
    return next(o for o in reversed(backend.status()["webhooks"])
                if o["annotation"] == annotation_id)


def _time_edits(ls: LabelStudioServer, backend: Backend, project_id: int, task_id: int,
                edits: int, warmup: int) -> list[dict[str, float]]:
    """One-keyframe edits through Label Studio (module docstring)."""
    timings = []
    latest = retrieve_predictions(ls, project_id, task_id)[-1]
    for k in range(warmup + edits):
        result = _result(latest)
        [index] = _tracks_to_move(result, 1)
        dx = STEP_PERCENT if k % 2 == 0 else -STEP_PERCENT
        edited = _moved(result, index, dx)
        t0 = time.perf_counter()
        annotation_id = submit_annotation(ls, task_id, edited, parent_prediction=latest.id)
        t1 = time.perf_counter()
        predictions = wait_for_predictions(ls, project_id, task_id,
                                           version_not=latest.model_version, poll_s=0.0)
        t2 = time.perf_counter()
        outcome = _outcome(backend, annotation_id)
        if outcome["status"] != "applied":
            raise RuntimeError(f"edit {k} was not applied: {outcome}")
        latest = predictions[-1]
        shown = {region_track_id(r): r for r in _result(latest)}[
            region_track_id(edited[index])]
        if abs(shown["value"]["sequence"][0]["x"] - edited[index]["value"]["sequence"][0]["x"]) \
                > 1e-4:
            raise RuntimeError(f"edit {k}: the next prediction does not show the moved box")
        if k >= warmup:
            timings.append({"submit_s": t1 - t0, "webhook_s": outcome["seconds"],
                            "retrieve_s": t2 - t1,
                            "webhook_to_prediction_s": outcome["seconds"] + t2 - t1,
                            "total_s": t2 - t0})
    return timings


def _time_direct(backend: Backend, ls: LabelStudioServer, task_id: int, project_id: int,
                 edits: int) -> list[dict[str, float]]:
    """The same edits straight to the backend: POST /webhook, then POST /predict."""
    config = video_label_config(10.0, labels=PETS_LABELS)
    task = {"id": task_id, "data": {"video": ls.local_files_url(DATA / PETS_VIDEO)}}
    project = {"id": project_id, "label_config": config}
    timings = []
    with httpx.Client(base_url=backend.url, timeout=60) as client:
        def predict() -> dict[str, Any]:
            return client.post("/predict", json={"tasks": [task], "label_config": config,
                                                 "project": str(project_id)}).json()

        prediction = predict()["results"][0][0]
        # one annotation, created from Label Studio's latest prediction, then updated: each
        # update is diffed against what its previous submission made
        parent = retrieve_predictions(ls, project_id, task_id)[-1].id
        for k in range(edits):
            result = prediction["result"]
            [index] = _tracks_to_move(result, 1)
            edited = _moved(result, index, STEP_PERCENT if k % 2 == 0 else -STEP_PERCENT)
            annotation = {"id": 900000, "result": edited, "completed_by": ls.user_id,
                          "parent_prediction": parent}
            action = "ANNOTATION_UPDATED" if k else "ANNOTATION_CREATED"
            t0 = time.perf_counter()
            answer = client.post("/webhook", json={"action": action, "annotation": annotation,
                                                   "task": task, "project": project})
            t1 = time.perf_counter()
            prediction = predict()["results"][0][0]
            t2 = time.perf_counter()
            if answer.status_code != 200:
                raise RuntimeError(f"direct edit {k}: {answer.status_code} {answer.text}")
            timings.append({"webhook_s": t1 - t0, "predict_s": t2 - t1, "total_s": t2 - t0})
    return timings


def _at_once(ls: LabelStudioServer, task_id: int, prediction: Any,
             results: list[list[dict[str, Any]]]) -> list[int]:
    """Submit annotations from several reviewers at the same moment; their ids."""
    from label_studio_sdk import LabelStudio

    barrier = threading.Barrier(len(results))
    ids: list[int] = [0] * len(results)
    errors: list[BaseException] = []

    def reviewer(i: int) -> None:
        own = copy.copy(ls)
        own.client = LabelStudio(base_url=ls.url, api_key=ls.token)
        try:
            barrier.wait()
            ids[i] = submit_annotation(own, task_id, results[i], parent_prediction=prediction.id)
        except BaseException as err:  # noqa: BLE001 - re-raised below
            errors.append(err)

    threads = [threading.Thread(target=reviewer, args=(i,)) for i in range(len(results))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return ids


def _two_reviewers(ls: LabelStudioServer, backend: Backend, project_id: int, task_id: int,
                   rounds: int) -> dict[str, Any]:
    from trackannot.session import VideoSession

    counts: dict[str, Any] = {
        "different_cells": {"rounds": rounds, "both_landed": 0, "conflicts": 0, "lost": 0},
        "same_cell": {"rounds": rounds, "one_landed_one_409": 0, "both_landed": 0,
                      "both_refused": 0, "store_shows_the_landed_box": 0}}
    latest = retrieve_predictions(ls, project_id, task_id)[-1]
    for _ in range(rounds):
        for case in ("different_cells", "same_cell"):
            result = _result(latest)
            a, b = _tracks_to_move(result, 2)
            if case == "different_cells":
                edits = [_moved(result, a, STEP_PERCENT), _moved(result, b, -STEP_PERCENT)]
            else:
                edits = [_moved(result, a, STEP_PERCENT), _moved(result, a, -STEP_PERCENT)]
            ids = _at_once(ls, task_id, latest, edits)
            outcomes = [_outcome(backend, i) for i in ids]
            applied = [o["status"] == "applied" for o in outcomes]
            refused = [o for o in outcomes if o["status"] == "refused"]
            boxes = VideoSession.open(backend.store).boxes()
            width = 480

            def shows(edit: list[dict[str, Any]], index: int) -> bool:
                region = edit[index]
                track, key = region_track_id(region), region["value"]["sequence"][0]
                row = (boxes.track_id == track) & (boxes.frame == key["frame"] - 1)
                return bool(row.any()) and abs(float(boxes.xyxy[row][0][0])
                                               - key["x"] * width / 100) < 1e-2
            row = counts[case]
            if case == "different_cells":
                row["both_landed"] += all(applied) and shows(edits[0], a) and shows(edits[1], b)
                row["conflicts"] += len(refused)
                row["lost"] += not all(applied)
            else:
                one = sum(applied) == 1 and len(refused) == 1 and \
                    "changed the same cells" in refused[0]["error"]
                row["one_landed_one_409"] += one
                row["both_landed"] += all(applied)
                row["both_refused"] += not any(applied)
                if one:
                    row["store_shows_the_landed_box"] += shows(edits[applied.index(True)], a)
            latest = wait_for_predictions(ls, project_id, task_id,
                                          version_not=latest.model_version, poll_s=0.0)[-1]
    return counts


def _summary(timings: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    return {key: {"median": statistics.median(t[key] for t in timings),
                  "min": min(t[key] for t in timings), "max": max(t[key] for t in timings)}
            for key in timings[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--edits", type=int, default=9)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path,
                        default=REPO / "benchmarks" / "results" / "labelstudio_backend.json")
    args = parser.parse_args()

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-ls-") as tmp:
        work = Path(tmp)
        ls = start_label_studio(work / "labelstudio", DATA)
        try:
            with serve_backend(work / "pets.zarr", work, ls,
                               detections_dir=pets_detections(work / "dets", DATA)) as backend:
                project_id, task_id = video_project(
                    ls, DATA / PETS_VIDEO, video_label_config(10.0, labels=PETS_LABELS))
                connect_ml_backend(ls, project_id, backend.url)
                t0 = time.perf_counter()
                first = wait_for_predictions(ls, project_id, task_id, poll_s=0.2)[-1]
                first_s = time.perf_counter() - t0
                edits = _time_edits(ls, backend, project_id, task_id, args.edits, args.warmup)
                direct = _time_direct(backend, ls, task_id, project_id, args.edits)
                reviewers = _two_reviewers(ls, backend, project_id, task_id, args.rounds)
                revision = backend.status()["videos"][0]["revision"]
        finally:
            stop_label_studio(ls)
    results = {
        "video": PETS_KEY, "label_studio_start_s": ls.start_s,
        "first_prediction_s": first_s, "regions_in_first_prediction": len(first.result),
        "edit_through_label_studio": {"per_edit": edits, **_summary(edits)},
        "edit_direct_to_backend": {"per_edit": direct, **_summary(direct)},
        "two_reviewers": reviewers, "final_revision": revision,
        "load_average_before": load_before, "load_average_after": os.getloadavg(),
    }
    write_json(args.out, result_doc("benchmarks.bench_labelstudio_backend", results,
                                    edits=args.edits, warmup=args.warmup, rounds=args.rounds))
    through = results["edit_through_label_studio"]
    print(f"first prediction after {first_s:.1f} s (tracking included); one-keyframe edit "
          f"through Label Studio, webhook to updated prediction: median "
          f"{through['webhook_to_prediction_s']['median']:.3f} s (webhook "
          f"{through['webhook_s']['median']:.3f}, retrieve {through['retrieve_s']['median']:.3f});"
          f" from submit: {through['total_s']['median']:.3f} s; direct: "
          f"{results['edit_direct_to_backend']['total_s']['median']:.3f} s")
    print(json.dumps(reviewers))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
