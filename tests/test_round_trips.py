"""Honest round trips on real footage: export, import the file unchanged, and nothing is invented.

PETS09-S2L1 (the 480x360 re-encode in ../shared/data/video) tracked from the official MOT15
detections, with a few corrections applied first. For every format that can be imported back
(CVAT for video, Label Studio annotations and predictions, and the review queue's CVAT-images
and Label Studio task files), importing the exported file unchanged must not record an edit a
person did not make.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tests.test_annotate import write_lines
from trackannot.annotate import apply_corrections, load_state, video_meta
from trackannot.boxes import Boxes
from trackannot.cli.main import main
from trackannot.corrections import Op
from trackannot.results import open_store

VIDEO = "video/vtest_PETS09-S2L1_480x360_h264.avi"
DETECTIONS = "MOT15/PETS09-S2L1/det/det.txt"
KEY = "vtest_PETS09-S2L1_480x360_h264"
# a few corrections a person might make: a moved box, a track ended early, a new track
FIXES = [
    {"op": "adjust", "track": 3, "frame": 120, "box": [232.0, 115.0, 252.0, 160.0]},
    {"op": "absent", "track": 20, "frame": 200},
    {"op": "create", "frame": 300, "box": [10.0, 200.0, 40.0, 280.0], "class": 0},
]
TOOL_FORMATS = [("cvat", "{}.xml"), ("labelstudio", "{}.json"),
                ("labelstudio-predictions", "{}.predictions.json")]


def _invoke(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def corrected(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tracked store with FIXES applied (batch 0)."""
    root = tmp_path_factory.mktemp("pets")
    store = root / "pets.zarr"
    _invoke("track", str(data_dir / VIDEO), "-o", str(store), "--detections",
            str(data_dir / DETECTIONS))
    summary = apply_corrections(store, write_lines(root / "fix.jsonl", FIXES), author="ana")
    assert summary.counts == {"adjust": 1, "absent": 1, "create": 1}
    return store


@pytest.fixture
def store(corrected: Path, tmp_path: Path) -> Path:
    """A copy of the corrected store for one test."""
    return Path(shutil.copytree(corrected, tmp_path / "pets.zarr"))


def _state_boxes(store: Path) -> Boxes:
    return load_state(open_store(store)[KEY]).boxes()


def _log_rows(store: Path) -> int:
    return int(open_store(store)[KEY].log_info().rows)


def _table(boxes: Boxes) -> dict[tuple[int, int], np.ndarray]:
    return {(t, f): b for t, f, b in zip(boxes.track_id.tolist(), boxes.frame.tolist(), boxes.xyxy)}


@pytest.mark.parametrize(("fmt", "name"), TOOL_FORMATS, ids=[f for f, _ in TOOL_FORMATS])
def test_a_tool_file_imported_unchanged_records_nothing(store: Path, tmp_path: Path, fmt: str,
                                                        name: str) -> None:
    before, rows = _state_boxes(store), _log_rows(store)
    _invoke("export", str(store), "--format", fmt, "-o", str(tmp_path / "out"))
    output = _invoke("correct", str(store), str(tmp_path / "out" / name.format(KEY)),
                     "--author", "cy")
    assert "applied as batch 1: 0 corrections" in output, output
    assert _log_rows(store) == rows  # the edits log holds nothing new
    after = _state_boxes(store)
    assert after.frame.tolist() == before.frame.tolist()
    assert after.track_id.tolist() == before.track_id.tolist()
    np.testing.assert_array_equal(after.xyxy, before.xyxy)


@pytest.mark.parametrize("fmt", ["cvat", "labelstudio"])
def test_one_moved_keyframe_is_the_only_adjust(store: Path, tmp_path: Path, fmt: str) -> None:
    """A person moves one keyframe: that track is re-pinned (its other keyframes accepted, its
    ends absent), the move is the one adjust (for Label Studio too, whose file holds a disabled
    keyframe before every gap), and no other track gets an edit."""
    from trackannot.export.cvat import read_cvat_video, write_cvat_video
    from trackannot.export.labelstudio import read_labelstudio, write_labelstudio

    read, write, name = ((read_cvat_video, write_cvat_video, f"{KEY}.xml") if fmt == "cvat"
                         else (read_labelstudio, write_labelstudio, f"{KEY}.json"))
    _invoke("export", str(store), "--format", fmt, "-o", str(tmp_path / "out"))
    meta = video_meta(open_store(store)[KEY])
    keys = read(tmp_path / "out" / name, meta)
    track = 12  # a long track with gaps (several outside keyframes)
    present = np.flatnonzero((keys.track_id == track) & ~keys.outside)
    assert keys.outside[keys.track_id == track].sum() >= 2
    xyxy = keys.xyxy.copy()
    xyxy[present[len(present) // 2]] += np.float32(2)
    write(tmp_path / name, keys.replace(xyxy=xyxy), meta)
    rows = _log_rows(store)
    output = _invoke("correct", str(store), str(tmp_path / name), "--author", "cy")
    assert "1 adjust" in output and "; 1 tracks" in output, output
    log, _ = open_store(store)[KEY].read_log()
    new = log[rows:]
    assert set(new.track_id.tolist()) == {track}
    assert int((new.op == Op.ADJUST).sum()) == 1
    np.testing.assert_array_equal(new.xyxy[new.op == Op.ADJUST][0], xyxy[present[len(present) // 2]])


def _queue(store: Path, out: Path) -> str:
    output = _invoke("review", str(store), "--budget", "30", "-o", str(out))
    match = re.search(r"queue (q\d{4}-[0-9a-f]+)", output)
    assert match, output
    return match.group(1)


def _answered_unchanged_in_label_studio(path: Path) -> Path:
    """The tasks as Label Studio exports them after a reviewer submits every prediction as is."""
    tasks = json.loads(path.read_text())
    for task in tasks:
        task["annotations"] = [{"id": 1, "was_cancelled": False,
                                "result": task["predictions"][0]["result"]}]
    answered = path.with_name("answered.json")
    answered.write_text(json.dumps(tasks))
    return answered


@pytest.mark.parametrize("kind", ["cvat-images", "labelstudio-tasks"])
def test_a_queue_file_answered_unchanged_records_only_accepts(store: Path, tmp_path: Path,
                                                              kind: str) -> None:
    """Every item is answered accept (honeypots included: a missed honeypot), and every logged
    edit is an accept. Accepting pins the box as the file showed it (clipped to the frame), so
    each accepted item's box is now exactly that keyframe; no box is lost, and boxes change only
    where pinning re-interpolates (README, "Review"): between a track's keyframes (an open
    track end the queue asks about, "accept pins that box there", adds its box; a tracker gap
    between two accepted boxes is interpolated; a path between a person's earlier adjust and a
    new accept is blended), never before a track's first keyframe or after its last.
    """
    from trackannot.export.review_tasks import shown_boxes
    from trackannot.review import ItemKind
    from trackannot.risk import Reason

    queue = _queue(store, tmp_path / "queue")
    if kind == "cvat-images":
        answers = tmp_path / "queue" / f"{KEY}.{queue}.cvat.xml"
    else:
        answers = _answered_unchanged_in_label_studio(
            tmp_path / "queue" / f"{KEY}.{queue}.labelstudio.json")
    before, rows = _state_boxes(store), _log_rows(store)
    items = open_store(store)[KEY].read_queue(queue)
    output = _invoke("correct", str(store), str(answers), "--queue", queue, "--author", "cy")
    assert re.search(r"applied as batch 1: \d+ corrections \(\d+ accept[a-z0-9, ]*\);", output), \
        output
    video = open_store(store)[KEY]
    log, _ = video.read_log()
    batch = log[rows:]
    # every logged edit is an accept, but for the possible missed objects the file showed (issue
    # 13): left in place they are accepted, which creates the object (or, for one that continues
    # a track, keys that track) at exactly the box shown
    candidate = items.kind == ItemKind.CANDIDATE
    new_object = candidate & (items.track_id < 0)
    assert (batch.op == Op.CREATE).sum() == new_object.sum() > 0
    assert (batch.op == Op.ADJUST).sum() == (candidate & ~new_object).sum()
    assert (batch.op[~np.isin(batch.op, [Op.CREATE, Op.ADJUST])] == Op.ACCEPT).all()
    answered = video.read_answers(queue)
    assert len(answered) == len(items) and (answered.op == Op.ACCEPT).all()

    state = load_state(open_store(store)[KEY])
    after, keys = state.boxes(), state.keyframes()
    old, new = _table(before), _table(after)
    shown = shown_boxes(items, (480, 360))
    created = batch.op == Op.CREATE
    np.testing.assert_array_equal(batch.xyxy[created], shown[new_object])  # in item order
    for t, f, box in zip(batch.track_id[created].tolist(), batch.frame[created].tolist(),
                         batch.xyxy[created]):
        np.testing.assert_array_equal(new[(t, f)], box)
    pinned = np.flatnonzero((items.kind != ItemKind.HONEYPOT) & ~new_object)
    for i in pinned.tolist():  # the box the reviewer saw is now a keyframe, exactly
        np.testing.assert_array_equal(new[(int(items.track_id[i]), int(items.frame[i]))],
                                      shown[i])
    assert not old.keys() - new.keys()  # nothing lost
    touched = set(items.track_id[pinned].tolist())
    # a box pinned where its track had none (a candidate, a gap, a probably missing box past a
    # track's end) may be carried along the object's detections (propagation); other tracks
    # change only between their keyframes
    no_box = candidate | np.isin(items.reason, [Reason.OPEN_END, Reason.GAP])
    carried = set(items.track_id[no_box].tolist()) | set(batch.track_id[created].tolist())
    for t, f in [k for k in new if k not in old or not np.array_equal(old[k], new[k])]:
        if t in carried:
            continue
        frames = keys.frame[keys.track_id == t]  # present and outside keyframes
        assert t in touched and frames.min() <= f <= frames.max(), (t, f)
