"""Review queue, issue 13: missed-object candidates in the queue and answered, the keyframes
order, stored queues with their evidence, and `trackannot review --order keyframes`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import zarr
from click.testing import CliRunner
from trackannot.cli.main import main

from tests.test_annotate import write_lines
from trackannot.boxes import Boxes, Origin
from trackannot.config import PipelineConfig, ReviewConfig, StoreConfig, config_to_dict
from trackannot.corrections import Op
from trackannot.results import LOG_COLUMNS, open_store
from trackannot.review import (
    EVIDENCE_COLUMNS,
    ITEM_COLUMNS,
    Answers,
    ItemKind,
    answers_from_lines,
    build_queue,
    rejected_candidates,
)
from trackannot.session import VideoSession
from trackannot.state import AnnotationState
from trackannot.store import StoreWriter

NUM_FRAMES = 60
SIZE = (320, 240)
MISSED = range(10, 30)  # object B: detected at these frames, never tracked
# every candidate shown as an item (frames_candidate_min_p 0): these tests are about what a shown
# candidate carries and what answering it does; B's p_real (0.10) is below the default 0.27
CFG = ReviewConfig(honeypot_rate=0.0, frames_candidate_min_p=0.0)
SHOWN = PipelineConfig(review=CFG)  # the same for the stored queues


def _b_box(f: int) -> list[float]:
    return [150.0 + f, 150.0, 190.0 + f, 230.0]


def make_inputs() -> tuple[Boxes, Boxes]:
    """Tracks 1 and 2 over frames 0..39 of a 60-frame 320x240 video, and the detections: theirs
    and those of object B at MISSED (score 0.7) that no track has."""
    rows, dets = [], []
    for f in range(40):
        for t, box in ((1, [2.0 * f, 10, 2.0 * f + 30, 90]), (2, [200.0, 20, 240, 120])):
            rows.append((f, t, box))
            dets.append((f, np.add(box, 0.5).tolist(), 0.9))
        if f in MISSED:
            dets.append((f, _b_box(f), 0.7))
    tracks = Boxes.create(frame=[r[0] for r in rows], track_id=[r[1] for r in rows],
                          xyxy=[r[2] for r in rows], score=0.9, det_index=0)
    detections = Boxes.create(frame=[d[0] for d in dets], xyxy=[d[1] for d in dets],
                              score=[d[2] for d in dets])
    return tracks, detections


def make_state() -> tuple[AnnotationState, Boxes]:
    tracks, dets = make_inputs()
    return AnnotationState(tracks, num_frames=NUM_FRAMES, detections=dets), dets


def queue_of(state, dets, budget, order="frames", cfg=CFG, **kw):
    return build_queue(state, dets, NUM_FRAMES, budget, cfg, queue_id="q0000-t", based_on=0,
                       frame_size=SIZE, order=order, **kw)


def _lines(queue, items_ops):
    return [(f"line {k}", k, {"item": int(i), "op": op, **extra})
            for k, (i, op, extra) in enumerate(items_ops, start=1)]


def test_the_frames_order_queues_the_missed_object_with_its_evidence():
    state, dets = make_state()
    queue = queue_of(state, dets, 15)
    cand = np.flatnonzero(queue.kind == ItemKind.CANDIDATE)
    assert len(cand) == 1
    i = int(cand[0])
    f = int(queue.frame[i])
    assert f in MISSED and f in queue.frames.tolist()
    np.testing.assert_array_equal(queue.xyxy[i], np.float32(_b_box(f)))  # its detection there
    assert queue.track_id[i] == -1 and 0 < queue.score[i] < 1
    assert (queue.first_frame[i], queue.last_frame[i], queue.support[i]) == (10, 29, 20)
    assert queue.det_score[i] == pytest.approx(0.7) and queue.class_id[i] == 0
    assert queue.gain[i] > 0
    # the candidate's frame is queued whole: every box there is an item too
    assert set(queue.track_id[queue.frame == f].tolist()) >= {1, 2}
    # other items carry the default evidence
    other = np.flatnonzero(queue.kind != ItemKind.CANDIDATE)
    np.testing.assert_array_equal(queue.first_frame[other], queue.frame[other])
    assert (queue.support[other] == 0).all() and np.isnan(queue.gain[other]).all()
    # by default a candidate is shown only when its p_real pays for its rejection: B's does
    # not, so the default queue has no candidate item, but B still ranks the same frames
    default = queue_of(state, dets, 15, cfg=ReviewConfig(honeypot_rate=0.0))
    assert queue.score[i] < ReviewConfig().frames_candidate_min_p
    assert not (default.kind == ItemKind.CANDIDATE).any()
    assert default.frames.tolist() == queue.frames.tolist()


def test_accepting_a_candidate_creates_its_object_and_propagation_carries_it():
    state, dets = make_state()
    queue = queue_of(state, dets, 15)
    i = int(np.flatnonzero(queue.kind == ItemKind.CANDIDATE)[0])
    corrections, answers = answers_from_lines(_lines(queue, [(i, "accept", {})]), queue, "ana", 5)
    assert corrections.op.tolist() == [Op.CREATE] and corrections.track_id.tolist() == [-1]
    np.testing.assert_array_equal(corrections.xyxy[0], queue.xyxy[i])
    assert corrections.frame.tolist() == [int(queue.frame[i])]
    assert answers.op.tolist() == [Op.ACCEPT]
    new_id = int(state.apply(corrections).track_id[0])
    created = state.track_boxes(new_id)
    assert int(queue.frame[i]) in created.frame.tolist()
    # propagation carries the created box along B's detections (issue 13, part 2)
    assert len(created) > 1 and (created.origin == Origin.PROPAGATED).any()
    assert set(created.frame.tolist()) <= set(MISSED)
    # and the next queue finds nothing left to ask about B
    again = queue_of(state, dets, 15)
    assert not (again.kind == ItemKind.CANDIDATE).any()


def test_adjusting_a_candidate_creates_it_with_the_reviewer_s_box():
    state, dets = make_state()
    queue = queue_of(state, dets, 15)
    i = int(np.flatnonzero(queue.kind == ItemKind.CANDIDATE)[0])
    box = (queue.xyxy[i] + np.float32([1, 2, 3, 4])).tolist()
    corrections, _ = answers_from_lines(_lines(queue, [(i, "adjust", {"box": box})]), queue,
                                        "ana", 5)
    assert corrections.op.tolist() == [Op.CREATE]
    np.testing.assert_allclose(corrections.xyxy[0], box)


def test_a_rejected_candidate_creates_nothing_and_is_not_queued_again():
    state, dets = make_state()
    queue = queue_of(state, dets, 15)
    i = int(np.flatnonzero(queue.kind == ItemKind.CANDIDATE)[0])
    corrections, answers = answers_from_lines(_lines(queue, [(i, "absent", {})]), queue, "ana", 5)
    assert len(corrections) == 0 and answers.op.tolist() == [Op.ABSENT]
    rejected = rejected_candidates([queue], {queue.queue_id: answers})
    assert rejected.frame.tolist() == [int(queue.frame[i])]
    for order in ("frames", "keyframes"):
        assert (queue_of(state, dets, 15, order).kind == ItemKind.CANDIDATE).any()
        again = queue_of(state, dets, 15, order, rejected=rejected)
        assert not (again.kind == ItemKind.CANDIDATE).any()
    # an answer given later wins: accepted after all, it is no longer a rejection
    later = Answers.concat([answers, Answers.create(item=[i], op=[Op.ACCEPT], batch=1)])
    assert len(rejected_candidates([queue], {queue.queue_id: later})) == 0


def test_a_candidate_that_continues_a_track_is_answered_as_that_track_s_box():
    tracks, dets = make_inputs()
    short = tracks[~((tracks.track_id == 1) & (tracks.frame >= 25))]  # track 1 lost at 25
    state = AnnotationState(short, num_frames=NUM_FRAMES, detections=dets)
    queue = queue_of(state, dets, 20)
    cand = np.flatnonzero((queue.kind == ItemKind.CANDIDATE) & (queue.track_id == 1))
    assert len(cand) == 1 and queue.first_frame[cand[0]] == 25
    corrections, _ = answers_from_lines(_lines(queue, [(int(cand[0]), "accept", {})]), queue,
                                        "ana", 5)
    assert corrections.op.tolist() == [Op.ADJUST] and corrections.track_id.tolist() == [1]
    # no second item asks for track 1's box at that frame
    f = int(queue.frame[cand[0]])
    assert ((queue.track_id == 1) & (queue.frame == f)).sum() == 1


def test_the_keyframes_order_proposes_one_box_per_item_with_candidates_ranked_in():
    state, dets = make_state()
    queue = queue_of(state, dets, 12, "keyframes")
    assert queue.order == "keyframes" and len(queue) == 12
    assert sorted(queue.rank.tolist()) == list(range(12))  # one rank per item
    assert set(queue.kind.tolist()) == {ItemKind.PROPOSAL, ItemKind.CANDIDATE}
    prop = queue.kind == ItemKind.PROPOSAL
    boxes = state.boxes()
    have = {(int(t), int(f)): b for t, f, b in zip(boxes.track_id, boxes.frame, boxes.xyxy)}
    for t, f, b in zip(queue.track_id[prop], queue.frame[prop], queue.xyxy[prop]):
        if (int(t), int(f)) in have:  # a box of the track; else a frame it probably misses
            np.testing.assert_array_equal(b, have[(int(t), int(f))])
    assert not np.isnan(queue.gain[prop]).any()
    # a proposal is answered like any box: accept pins it
    i = int(np.flatnonzero(prop)[0])
    corrections, _ = answers_from_lines(_lines(queue, [(i, "accept", {})]), queue, "ana", 5)
    assert corrections.op.tolist() == [Op.ACCEPT]
    assert (corrections.track_id[0], corrections.frame[0]) == (queue.track_id[i], queue.frame[i])


def test_the_keyframes_order_keeps_spot_checks_and_honeypots():
    state, dets = make_state()
    cfg = ReviewConfig(mode="strict", spot_check_rate=0.2, honeypot_rate=0.1)
    queue = queue_of(state, dets, 30, "keyframes", cfg)
    spot = queue.kind == ItemKind.SPOT_CHECK
    honey = queue.kind == ItemKind.HONEYPOT
    assert spot.sum() == round(0.2 * 30) and honey.sum() == 3
    assert len(queue) == 33 and sorted(queue.rank.tolist()) == list(range(33))
    assert not np.isnan(queue.truth_xyxy[honey]).any()
    assert (np.abs(queue.xyxy[honey] - queue.truth_xyxy[honey]).max(axis=1) > 1).all()
    # spot checks are automatic boxes that were not proposed, spread through the order
    proposed = set(zip(queue.track_id[queue.kind == ItemKind.PROPOSAL].tolist(),
                       queue.frame[queue.kind == ItemKind.PROPOSAL].tolist()))
    assert not proposed & set(zip(queue.track_id[spot].tolist(), queue.frame[spot].tolist()))
    assert queue.rank[spot].max() >= 15 and queue.rank[spot].min() < 15
    again = queue_of(state, dets, 30, "keyframes", cfg)
    for name in ITEM_COLUMNS:
        np.testing.assert_array_equal(getattr(again, name), getattr(queue, name))


def test_an_unknown_order_is_refused():
    state, dets = make_state()
    with pytest.raises(ValueError, match="order must be one of frames, keyframes"):
        queue_of(state, dets, 5, "tracks")


# ------------------------------------------------------------------------------ in a store


def make_store(path: Path) -> Path:
    """`make_inputs` as a store."""
    tracks, dets = make_inputs()
    writer = StoreWriter.create(path, "clip", StoreConfig(chunk_rows=16, chunk_frames=8), attrs={
        "config": config_to_dict(PipelineConfig()),
        "video": {"width": SIZE[0], "height": SIZE[1], "fps": 10.0, "frame_count": NUM_FRAMES},
        "detector": {"class_names": ["person"]},
    }, log=LOG_COLUMNS)
    for f in range(NUM_FRAMES):
        writer.add_frame(f, f / 10.0, dets.for_frame(f), tracks.for_frame(f))
    writer.close()
    return path


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return make_store(tmp_path / "out.zarr")


@pytest.mark.parametrize("order", ["frames", "keyframes"])
def test_a_stored_queue_round_trips_with_its_order_and_evidence(store, order):
    session = VideoSession.open(store)
    queue = session.review(12, SHOWN, honeypots=False, order=order).queue
    assert (queue.kind == ItemKind.CANDIDATE).any()
    back = open_store(store)["clip"].read_queue(queue.queue_id)
    assert back.order == order
    for name in [*ITEM_COLUMNS, *EVIDENCE_COLUMNS]:
        np.testing.assert_array_equal(getattr(back, name), getattr(queue, name), err_msg=name)


def test_a_queue_stored_before_orders_and_evidence_reads_as_a_frames_queue(store):
    queue = VideoSession.open(store).review(12, honeypots=False).queue
    root = zarr.open_group(str(store), mode="a")
    review = root["clip/review"]
    listing = dict(review.attrs["review"])
    listing["queues"] = [{k: v for k, v in r.items() if k not in ("order", "evidence")}
                         for r in listing["queues"]]
    review.attrs["review"] = listing
    old = open_store(store)["clip"].read_queue(queue.queue_id)
    assert old.order == "frames"
    for name in ITEM_COLUMNS:
        np.testing.assert_array_equal(getattr(old, name), getattr(queue, name))
    np.testing.assert_array_equal(old.first_frame, old.frame)
    assert (old.class_id == -1).all() and np.isnan(old.gain).all()


def test_a_candidate_rejected_through_the_store_is_not_queued_again(store, tmp_path):
    session = VideoSession.open(store)
    queue = session.review(12, SHOWN, honeypots=False).queue
    i = int(np.flatnonzero(queue.kind == ItemKind.CANDIDATE)[0])
    session.apply(write_lines(tmp_path / "a.jsonl", [{"item": i, "op": "absent"}]), author="ana",
                  queue=queue.queue_id)
    assert session.revision == 1 and len(session.result.read_log()[0]) == 0
    for order in ("frames", "keyframes"):
        again = VideoSession.open(store).review(12, SHOWN, honeypots=False, order=order).queue
        assert not (again.kind == ItemKind.CANDIDATE).any(), order


def test_review_order_keyframes_writes_the_queue_and_task_files(store, tmp_path):
    out = tmp_path / "tasks"
    result = CliRunner().invoke(main, ["review", str(store), "-o", str(out), "--budget", "10",
                                       "--order", "keyframes", "--no-honeypots"])
    assert result.exit_code == 0, result.output
    assert "keyframes order: 1 possible missed objects, 9 keyframe proposals" in result.output
    queue_id = re.search(r"queue (q\d{4}-[0-9a-f]{8})", result.output).group(1)
    paths = sorted(p.name for p in out.iterdir())
    assert paths == sorted(f"clip.{queue_id}.{ext}" for ext in
                           ("csv", "json", "cvat.xml", "labelstudio.json"))
    doc = json.loads((out / f"clip.{queue_id}.json").read_text())
    assert doc["order"] == "keyframes" and len(doc["items"]) == 10
    missed = [it for it in doc["items"] if it["reason"] == "possible missed object"]
    assert len(missed) == 1 and missed[0]["evidence"]["detections"] == 20
    assert "possible missed object" in (out / f"clip.{queue_id}.csv").read_text()
    assert '<attribute name="note">possible missed object</attribute>' in \
        (out / f"clip.{queue_id}.cvat.xml").read_text()
    tasks = json.loads((out / f"clip.{queue_id}.labelstudio.json").read_text())
    notes = [r["meta"]["note"] for t in tasks for r in t["predictions"][0]["result"]]
    assert notes.count("possible missed object") == 1
    stored = open_store(store)["clip"].read_queue(queue_id)
    assert stored.order == "keyframes" and len(stored) == 10
