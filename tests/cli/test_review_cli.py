"""CLI: `trackannot review` (queue, task files, bad budgets) and `trackannot correct --queue`."""

from __future__ import annotations

import csv
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tests.test_annotate import digest, make_store, write_lines
from trackannot.boxes import Boxes
from trackannot.cli.main import main
from trackannot.config import PipelineConfig, StoreConfig, config_to_dict
from trackannot.review import ItemKind
from trackannot.results import open_store
from trackannot.store import StoreWriter


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return make_store(tmp_path / "out.zarr")


def review(store: Path, out: Path, *args: str):
    return CliRunner().invoke(main, ["review", str(store), "-o", str(out), *args])


def queue_id(output: str) -> str:
    match = re.search(r"queue (q\d{4}-[0-9a-f]{8})", output)
    assert match, output
    return match.group(1)


def test_review_writes_the_queue_and_four_task_files(store, tmp_path):
    out = tmp_path / "tasks"
    result = review(store, out, "--budget", "10", "--set", "review.honeypot_rate=0.1")
    assert result.exit_code == 0, result.output
    qid = queue_id(result.output)
    assert qid.startswith("q0000-")
    assert "10 frames, 20 items, 0 spot-check frames, 2 honeypots" in result.output
    assert "top items" in result.output and "next: answer the items" in result.output
    queue = open_store(store)["clip"].read_queue(qid)
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(f"clip.{qid}.{ext}" for ext in ("csv", "json", "cvat.xml", "labelstudio.json"))

    doc = json.loads((out / f"clip.{qid}.json").read_text())
    assert doc["queue_id"] == qid and doc["video"] == "clip"
    assert doc["frames"] == queue.frames.tolist() and len(doc["items"]) == 20
    assert set(doc["items"][0]) == {"item", "rank", "frame", "track", "box", "reason", "score"}
    for it in doc["items"]:  # honeypots show their shifted box like any other item
        np.testing.assert_allclose(it["box"], queue.xyxy[it["item"]], rtol=1e-6)
    rows = list(csv.DictReader((out / f"clip.{qid}.csv").read_text().splitlines()))
    assert len(rows) == 20 and list(rows[0]) == ["queue_id", "video", "item", "rank", "frame",
                                                  "track", "x1", "y1", "x2", "y2", "reason", "score"]
    for path in out.iterdir():  # nothing tells a honeypot apart
        text = path.read_text().lower()
        assert "honeypot" not in text and "truth" not in text and "kind" not in text

    root = ET.parse(out / f"clip.{qid}.cvat.xml").getroot()
    images = root.findall("image")
    assert [im.get("name") for im in images] == [f"frame_{f:06d}.png" for f in queue.frames]
    box = images[0].find("box")
    item = int(box.find("attribute[@name='item']").text)
    assert float(box.get("xtl")) == pytest.approx(float(queue.xyxy[item][0]))

    tasks = json.loads((out / f"clip.{qid}.labelstudio.json").read_text())
    assert len(tasks) == 10 and tasks[0]["data"]["image"] == f"frame_{queue.frames[0]:06d}.png"
    region = tasks[0]["predictions"][0]["result"][0]
    i = region["meta"]["item"]
    assert region["value"]["x"] == pytest.approx(100 * float(queue.xyxy[i][0]) / 320)
    assert region["value"]["height"] == pytest.approx(
        100 * float(queue.xyxy[i][3] - queue.xyxy[i][1]) / 240)


def test_strict_mode_and_no_honeypots(store, tmp_path):
    result = review(store, tmp_path, "--budget", "10", "--mode", "strict", "--no-honeypots",
                    "--set", "review.spot_check_rate=0.2")
    assert result.exit_code == 0, result.output
    assert "(strict): 10 frames, 20 items, 2 spot-check frames, 0 honeypots" in result.output
    video = open_store(store)["clip"]
    queue = video.read_queue(queue_id(result.output))
    assert len(np.unique(queue.frame[queue.kind == ItemKind.SPOT_CHECK])) == 2
    assert video.queue_records()[0]["settings"]["honeypot_rate"] == 0.0


def test_review_help_explains_the_loop():
    result = CliRunner().invoke(main, ["review", "--help"])
    assert result.exit_code == 0
    assert "correct out.zarr answers.jsonl --queue" in result.output and "re-ranked" in result.output


@pytest.mark.parametrize(("budget", "code", "message"), [
    ("0", 2, "--budget must be >= 1 frame"),
    ("61", 2, "the video has 60 frames"),
], ids=["zero", "more-than-frames"])
def test_bad_budget_exits_with_a_message_and_writes_nothing(store, tmp_path, budget, code, message):
    before = digest(store)
    result = review(store, tmp_path / "tasks", "--budget", budget)
    assert result.exit_code == code and message in result.output
    assert digest(store) == before and not (tmp_path / "tasks").exists()


def test_budget_past_the_frames_with_boxes_queues_them_all_with_a_note(store, tmp_path):
    note = (r"note: only (\d+) frames have boxes \(40\) or other items to show \(probably missing "
            r"boxes, possible missed objects\); all of them are queued")
    # by default the frames just past the tracks' automatic ends are too unlikely to show a
    # missing box there (review.frames_missing_min_p): the 40 frames with boxes
    result = review(store, tmp_path / "default", "--budget", "50")
    assert result.exit_code == 0, result.output
    match = re.search(note, result.output)
    assert match and int(match.group(1)) == 40, result.output
    queue = open_store(store)["clip"].read_queue(queue_id(result.output))
    assert sorted(queue.frames.tolist()) == list(range(40))
    # every missing box shown: those frames too (issue 13: missing boxes are ranked with the rest)
    result = review(store, tmp_path / "all", "--budget", "50",
                    "--set", "review.frames_missing_min_p=0")
    assert result.exit_code == 0, result.output
    match = re.search(note, result.output)
    assert match, result.output
    queue = open_store(store)["clip"].read_queue(queue_id(result.output))
    assert set(range(40)) <= set(queue.frames.tolist())
    assert len(queue.frames) == int(match.group(1)) > 40
    assert f"{match.group(1)} frames, " in result.output


def test_a_video_without_boxes_is_an_error(tmp_path):
    path = tmp_path / "empty.zarr"
    writer = StoreWriter.create(path, "clip", StoreConfig(), attrs={
        "config": config_to_dict(PipelineConfig()),
        "video": {"width": 320, "height": 240, "fps": 10.0, "frame_count": 5}})
    for f in range(5):
        writer.add_frame(f, f / 10, Boxes.empty(), Boxes.empty())
    writer.close()
    result = review(path, tmp_path, "--budget", "2")
    assert result.exit_code == 1 and "clip: the annotation has no boxes to review" in result.output


def test_the_loop_through_the_cli(store, tmp_path):
    first = review(store, tmp_path, "--budget", "5", "--no-honeypots")
    qid = queue_id(first.output)
    doc = json.loads((tmp_path / f"clip.{qid}.json").read_text())
    lines = [{"item": it["item"], "op": "adjust", "box": [v + 2 for v in it["box"]]}
             for it in doc["items"]]
    fix = write_lines(tmp_path / "answers.jsonl", lines)
    result = CliRunner().invoke(main, ["correct", str(store), str(fix), "--queue", qid,
                                       "--author", "ana"])
    assert result.exit_code == 0, result.output
    assert "10 corrections (10 adjust)" in result.output
    assert f"10 answers to queue {qid} recorded" in result.output
    second = review(store, tmp_path, "--budget", "5", "--no-honeypots")
    qid2 = queue_id(second.output)
    assert qid2.startswith("q0001-") and qid2 != qid
    # answering the old queue now names the new one; the store stays as it was
    before = digest(store)
    again = CliRunner().invoke(main, ["correct", str(store), str(fix), "--queue", qid])
    assert again.exit_code == 1 and f"re-ranked as {qid2}" in again.output
    assert digest(store) == before


def test_item_lines_without_queue_exit_1(store, tmp_path):
    fix = write_lines(tmp_path / "answers.jsonl", [{"item": 0, "op": "accept"}])
    before = digest(store)
    result = CliRunner().invoke(main, ["correct", str(store), str(fix)])
    assert result.exit_code == 1 and "line 1: refers to a review queue item; pass --queue" in result.output
    assert digest(store) == before


def test_a_check_policy_marks_the_boxes_not_asked_and_keeps_the_honeypots_asked(store, tmp_path):
    result = review(store, tmp_path, "--budget", "10", "--check-min-risk", "0.4",
                    "--set", "review.honeypot_rate=0.2")
    assert result.exit_code == 0, result.output
    qid = queue_id(result.output)
    queue = open_store(store)["clip"].read_queue(qid)
    honey = queue.kind == ItemKind.HONEYPOT
    assert queue.check_min_risk == 0.4 and honey.sum() >= 1 and not queue.asked().all()
    assert (f"check policy: box items of risk >= 0.4 are asked; {int((~queue.asked()).sum())} of "
            f"20 items show as 'low risk, not asked'") in result.output
    rows = list(csv.DictReader((tmp_path / f"clip.{qid}.csv").read_text().splitlines()))
    reasons = {int(r["item"]): r["reason"] for r in rows}
    assert {i for i, r in reasons.items() if r == "low risk, not asked"} == set(
        np.flatnonzero(~queue.asked()).tolist())
    assert all(reasons[i] != "low risk, not asked" for i in np.flatnonzero(honey).tolist())


def test_a_check_policy_outside_0_1_is_refused_and_writes_nothing(store, tmp_path):
    before = digest(store)
    result = review(store, tmp_path / "tasks", "--budget", "5", "--check-min-risk", "1.5")
    assert result.exit_code == 2 and "--check-min-risk" in result.output
    assert "1.5 is not in the range 0.0<=x<=1.0" in result.output
    assert digest(store) == before and not (tmp_path / "tasks").exists()
