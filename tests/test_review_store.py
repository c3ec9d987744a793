"""Review queues in the store: round trip, supersede, answers committed by the log, the active loop."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.test_annotate import digest, make_store, write_lines
from trackannot.annotate import apply_corrections, load_state
from trackannot.config import ReviewConfig
from trackannot.corrections import Op
from trackannot.errors import InputFormatError, StoreError
from trackannot.review import ItemKind, build_queue
from trackannot.results import open_store

SETTINGS = {"spot_check_rate": 0.1, "honeypot_rate": 0.1, "honeypot_shift": 0.25, "seed": 0}


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return make_store(tmp_path / "out.zarr")


def new_queue(store: Path, queue_id: str, budget: int = 10,
              cfg: ReviewConfig | None = None):
    """Build a queue from the store's current state and write it."""
    cfg = cfg or ReviewConfig(honeypot_rate=0.1)
    with open_store(store, mode="a").writer("clip") as video:
        queue = build_queue(load_state(video), video.read(table="detections"), video.num_frames,
                            budget, cfg, queue_id=queue_id, based_on=video.log_info().rows,
                            frame_size=(320, 240))
        video.write_queue(queue, SETTINGS)
    return queue


def test_a_queue_round_trips_with_its_record(store):
    queue = new_queue(store, "q0000-a")
    video = open_store(store)["clip"]
    back = video.read_queue("q0000-a")
    for name, col in queue.columns().items():
        np.testing.assert_array_equal(getattr(back, name), col, err_msg=name)
    assert (back.queue_id, back.based_on, back.mode, back.budget) == ("q0000-a", 0, "fast", 10)
    (record,) = video.queue_records()
    assert record["id"] == "q0000-a" and record["status"] == "open" and record["superseded_by"] is None
    assert record["items"] == len(queue) == 20 and record["frames"] == 10 and record["budget"] == 10
    # the record keeps the queue's own check policy whatever the settings passed say
    assert record["settings"] == {**SETTINGS, "check_min_risk": 0.0}
    assert record["created"].startswith("20")
    assert len(video.read_answers("q0000-a")) == 0


def test_a_queue_keeps_its_check_policy(store):
    queue = new_queue(store, "q0000-a", cfg=ReviewConfig(honeypot_rate=0.1, check_min_risk=0.3))
    back = open_store(store)["clip"].read_queue("q0000-a")
    assert back.check_min_risk == queue.check_min_risk == 0.3
    np.testing.assert_array_equal(back.asked(), queue.asked())


def test_a_new_queue_supersedes_the_open_one(store):
    new_queue(store, "q0000-a")
    new_queue(store, "q0001-b")
    records = open_store(store)["clip"].queue_records()
    assert [(r["id"], r["status"], r["superseded_by"]) for r in records] == [
        ("q0000-a", "superseded", "q0001-b"), ("q0001-b", "open", None)]


def test_unknown_and_repeated_queue_ids_are_errors(store):
    new_queue(store, "q0000-a")
    with pytest.raises(StoreError, match="no review queue 'nope'; queues: q0000-a"):
        open_store(store)["clip"].read_queue("nope")
    with pytest.raises(StoreError, match="already exists"):
        new_queue(store, "q0000-a")


def test_answers_are_logged_with_the_batch_and_honeypots_are_not_applied(store, tmp_path):
    queue = new_queue(store, "q0000-a")
    honey = int(np.flatnonzero(queue.kind == ItemKind.HONEYPOT)[0])
    risk = np.flatnonzero(queue.kind == ItemKind.RISK)
    a, b = int(risk[0]), int(risk[1])
    fix = write_lines(tmp_path / "answers.jsonl", [
        {"item": a, "op": "accept"},
        {"item": b, "op": "adjust", "box": [1, 2, 31, 62]},
        {"item": honey, "op": "accept"},
    ])
    summary = apply_corrections(store, fix, author="ana", queue="q0000-a")
    assert summary.answers == 3 and summary.counts == {"accept": 1, "adjust": 1}
    video = open_store(store)["clip"]
    batch = video.batches()[0]
    assert batch["queue"] == "q0000-a" and batch["answers"] == [0, 3]
    answers = video.read_answers("q0000-a")
    assert answers.item.tolist() == [a, b, honey] and answers.batch.tolist() == [0, 0, 0]
    assert answers.op.tolist() == [Op.ACCEPT, Op.ADJUST, Op.ACCEPT]
    assert answers.author.tolist() == ["ana"] * 3
    np.testing.assert_array_equal(answers.xyxy[2], queue.xyxy[honey])  # what the reviewer saw
    state = load_state(video)
    keys = state.keyframes()
    assert len(keys) == 2  # the honeypot's fake box is not pinned
    np.testing.assert_array_equal(state.box_at(int(queue.track_id[b]), int(queue.frame[b]))[0],
                                  [1, 2, 31, 62])
    truth, _ = state.box_at(int(queue.track_id[honey]), int(queue.frame[honey]))
    np.testing.assert_array_equal(truth, queue.truth_xyxy[honey])

    # a second batch answering the same queue appends after the committed answers
    more = write_lines(tmp_path / "more.jsonl", [{"item": int(risk[2]), "op": "absent"}])
    apply_corrections(store, more, author="bo", queue="q0000-a")
    video = open_store(store)["clip"]
    assert video.batches()[1]["answers"] == [3, 4]
    answers = video.read_answers("q0000-a")
    assert answers.item.tolist() == [a, b, honey, int(risk[2])]
    assert answers.batch.tolist() == [0, 0, 0, 1] and answers.author.tolist()[-1] == "bo"
    assert np.isnan(answers.xyxy[3]).all()


def test_answer_rows_past_the_commit_point_are_not_read(store):
    new_queue(store, "q0000-a")
    video = open_store(store, mode="a")["clip"]
    item = video.group["review/q0000-a/answers/item"]  # made empty with the queue
    item.resize((2,))
    item[:] = [4, 5]  # a crash's leftovers: written, never committed
    assert len(video.read_answers("q0000-a")) == 0


def test_a_honeypot_only_batch_records_answers_without_corrections(store, tmp_path):
    queue = new_queue(store, "q0000-a")
    honey = np.flatnonzero(queue.kind == ItemKind.HONEYPOT).tolist()
    fix = write_lines(tmp_path / "answers.jsonl", [{"item": h, "op": "absent"} for h in honey])
    summary = apply_corrections(store, fix, author="ana", queue="q0000-a")
    video = open_store(store)["clip"]
    assert summary.counts == {} and video.log_info().rows == 0
    assert video.read_answers("q0000-a").item.tolist() == honey


def test_the_active_loop_fixes_boxes_and_the_next_queue_moves_on(store, tmp_path):
    cfg = ReviewConfig(honeypot_rate=0.0)
    first = new_queue(store, "q0000-a", budget=5, cfg=cfg)
    # every queued box is adjusted to its true place (here: the automatic box moved by 3 px)
    lines = [{"item": int(i), "op": "adjust", "box": (first.xyxy[i] + 3).tolist()}
             for i in first.item]
    fix = write_lines(tmp_path / "answers.jsonl", lines)
    apply_corrections(store, fix, author="ana", queue="q0000-a")
    video = open_store(store)["clip"]
    state = load_state(video)
    for i in first.item.tolist():
        box, _ = state.box_at(int(first.track_id[i]), int(first.frame[i]))
        np.testing.assert_allclose(box, first.xyxy[i] + 3)
    second = new_queue(store, "q0001-b", budget=5, cfg=cfg)
    assert second.based_on == len(lines)
    # the fixed frames are near certain now: they drop out of the top of the next queue
    assert not set(second.frames.tolist()) & set(first.frames.tolist())
    fixed = np.isin(second.frame, first.frames)
    assert not fixed.any()
    records = open_store(store)["clip"].queue_records()
    assert [r["status"] for r in records] == ["superseded", "open"]


# ------------------------------------------------------------------------- bad input, unchanged


def answer_file(tmp_path: Path, lines=None) -> Path:
    return write_lines(tmp_path / "answers.jsonl", lines or [{"item": 0, "op": "accept"}])


def test_unknown_queue_lists_the_queues(store, tmp_path):
    new_queue(store, "q0000-a")
    before = digest(store)
    with pytest.raises(StoreError, match="no review queue 'q9'; queues: q0000-a"):
        apply_corrections(store, answer_file(tmp_path), author="ana", queue="q9")
    assert digest(store) == before


def test_a_superseded_queue_names_the_new_one(store, tmp_path):
    new_queue(store, "q0000-a")
    new_queue(store, "q0001-b")
    before = digest(store)
    with pytest.raises(StoreError, match="queue q0000-a was re-ranked as q0001-b.*answer q0001-b's items"):
        apply_corrections(store, answer_file(tmp_path), author="ana", queue="q0000-a")
    assert digest(store) == before


def test_a_stale_queue_says_how_many_corrections_landed(store, tmp_path):
    new_queue(store, "q0000-a")
    other = write_lines(tmp_path / "other.jsonl", [{"op": "accept", "track": 1, "frame": 3},
                                                   {"op": "accept", "track": 2, "frame": 3}])
    apply_corrections(store, other, author="bo")
    before = digest(store)
    with pytest.raises(StoreError, match="queue q0000-a is stale: 2 corrections in 1 batch"):
        apply_corrections(store, answer_file(tmp_path), author="ana", queue="q0000-a")
    assert digest(store) == before


@pytest.mark.parametrize(("lines", "message"), [
    ([{"item": 0, "op": "accept"}, {"item": 500, "op": "accept"}], "line 2: item 500 is not in queue"),
    ([{"item": 0, "op": "accept", "track": 99}], "line 1: item 0 is track"),
    ([{"item": 0, "op": "accept"}, {"op": "accept", "track": 99, "frame": 1}],
     "line 2: unknown track 99"),
], ids=["unknown-item", "track-disagrees", "bad-ordinary-line"])
def test_bad_answers_change_nothing(store, tmp_path, lines, message):
    new_queue(store, "q0000-a")
    before = digest(store)
    with pytest.raises(InputFormatError, match=message):
        apply_corrections(store, answer_file(tmp_path, lines), author="ana", queue="q0000-a")
    assert digest(store) == before


def test_item_lines_without_queue_change_nothing(store, tmp_path):
    new_queue(store, "q0000-a")
    before = digest(store)
    lines = [{"op": "accept", "track": 1, "frame": 3}, {"item": 0, "op": "accept"}]
    with pytest.raises(InputFormatError, match=r"answers.jsonl line 2: refers to a review queue.*--queue"):
        apply_corrections(store, answer_file(tmp_path, lines), author="ana")
    assert digest(store) == before


def test_dry_run_with_a_queue_writes_nothing(store, tmp_path):
    new_queue(store, "q0000-a")
    before = digest(store)
    summary = apply_corrections(store, answer_file(tmp_path), author="ana", queue="q0000-a",
                                dry_run=True)
    assert summary.answers == 1 and digest(store) == before



# ---------------------------------------------------------------- answers from CVAT / Label Studio


def edited_exports(store: Path, tmp_path: Path, queue):
    """The queue's CVAT for images and Label Studio task files, as written."""
    from trackannot.annotate import video_meta
    from trackannot.export.review_tasks import write_review_tasks

    meta = video_meta(open_store(store)["clip"])
    _, _, cvat, ls = write_review_tasks(tmp_path / "tasks", queue, meta)
    return cvat, ls


def test_answers_from_an_edited_cvat_images_file(store, tmp_path):
    import xml.etree.ElementTree as ET

    queue = new_queue(store, "q0000-a", budget=3, cfg=ReviewConfig(honeypot_rate=0.0))
    cvat, _ = edited_exports(store, tmp_path, queue)
    tree = ET.parse(cvat)
    images = tree.getroot().findall("image")
    moved = images[0].findall("box")[0]
    moved_item = int(moved.find("attribute[@name='item']").text)
    moved.set("xtl", "3.25")
    gone = images[1].findall("box")[0]
    gone_item = int(gone.find("attribute[@name='item']").text)
    images[1].remove(gone)
    ET.SubElement(images[2], "box", label="person", xtl="5", ytl="5", xbr="25", ybr="45")
    tree.write(cvat)
    summary = apply_corrections(store, cvat, author="ana", queue="q0000-a")
    assert summary.counts == {"accept": 4, "adjust": 1, "absent": 1, "create": 1}
    answers = open_store(store)["clip"].read_answers("q0000-a")
    assert sorted(answers.item.tolist()) == list(range(6))
    ops = dict(zip(answers.item.tolist(), answers.op.tolist()))
    assert ops[moved_item] == Op.ADJUST and ops[gone_item] == Op.ABSENT
    assert answers.xyxy[answers.item.tolist().index(moved_item)][0] == 3.25


def test_answers_from_annotated_labelstudio_tasks(store, tmp_path):
    import json

    queue = new_queue(store, "q0000-a", budget=3, cfg=ReviewConfig(honeypot_rate=0.0))
    _, ls = edited_exports(store, tmp_path, queue)
    tasks = json.loads(ls.read_text())
    for task in tasks[:2]:  # the reviewer saved two frames; LS drops our region meta
        result = [{k: v for k, v in r.items() if k != "meta"} for r in task["predictions"][0]["result"]]
        task["annotations"] = [{"result": result}]
    tasks[1]["annotations"][0]["result"][1]["value"]["x"] += 10.0
    ls.write_text(json.dumps(tasks))
    summary = apply_corrections(store, ls, author="ana", queue="q0000-a")
    assert summary.counts == {"accept": 3, "adjust": 1} and summary.answers == 4
    answers = open_store(store)["clip"].read_answers("q0000-a")
    assert sorted(queue.frame[answers.item].tolist()) == sorted(np.repeat(queue.frames[:2], 2).tolist())


def test_a_cvat_file_for_another_queue_is_refused(store, tmp_path):
    queue = new_queue(store, "q0000-a", budget=3, cfg=ReviewConfig(honeypot_rate=0.0))
    cvat, _ = edited_exports(store, tmp_path, queue)
    text = cvat.read_text()
    other = next(f for f in range(40) if f not in queue.frames)
    cvat.write_text(text.replace(f"frame_{queue.frames[0]:06d}.png", f"frame_{other:06d}.png"))
    before = digest(store)
    with pytest.raises(InputFormatError, match=rf"cvat.xml line \d+: frame {other} is not in queue q0000-a"):
        apply_corrections(store, cvat, author="ana", queue="q0000-a")
    assert digest(store) == before


def test_a_record_whose_check_policy_is_not_a_share_is_a_corrupt_store(store):
    import zarr

    from trackannot.errors import CorruptStoreError

    new_queue(store, "q0000-a", cfg=ReviewConfig(check_min_risk=0.3))
    review = zarr.open_group(str(store / "clip" / "review"), mode="a")
    attrs = dict(review.attrs["review"])
    attrs["queues"] = [{**r, "settings": {**r["settings"], "check_min_risk": 2.0}}
                       for r in attrs["queues"]]
    review.attrs["review"] = attrs
    with pytest.raises(CorruptStoreError, match="queue q0000-a: .*check_min_risk"):
        open_store(store)["clip"].read_queue("q0000-a")
