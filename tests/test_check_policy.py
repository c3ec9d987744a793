"""The team's check policy (`review.check_min_risk`): which items are asked, honeypots and spot
checks that a reviewer following it still meets, and task files whose unasked boxes, left
unchanged, are no answer."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from tests.test_review import SIZE, queue_of
from trackannot.config import ReviewConfig
from trackannot.errors import ConfigError
from trackannot.export.meta import VideoMeta
from trackannot.export.review_tasks import (
    NOT_ASKED_LABEL,
    format_cvat_images,
    format_labelstudio_tasks,
    read_cvat_answers,
    read_labelstudio_answers,
)
from trackannot.ranking import MISSING_REASONS, asked_items
from trackannot.review import ItemKind, honeypot_count
from trackannot.risk import Reason

R = 0.6  # between the test video's confident boxes (0.36-0.59) and its risky ones (0.63-1)
CHECKS = (ItemKind.HONEYPOT, ItemKind.SPOT_CHECK)


def strict(check_min_risk: float) -> ReviewConfig:
    return ReviewConfig(mode="strict", spot_check_rate=0.2, honeypot_rate=0.1,
                        check_min_risk=check_min_risk)


def box_items(queue) -> np.ndarray:
    return (queue.kind == ItemKind.RISK) & ~np.isin(queue.reason, MISSING_REASONS)


def test_only_box_items_below_the_policy_are_not_asked():
    kinds = [ItemKind.RISK] * 4 + [ItemKind.HONEYPOT, ItemKind.SPOT_CHECK, ItemKind.CANDIDATE,
                                   ItemKind.PROPOSAL]
    reasons = [Reason.LOW_CONFIDENCE, Reason.NO_DETECTION, Reason.OPEN_END, Reason.CUT,
               Reason.NONE, Reason.NONE, Reason.NONE, Reason.GAP]
    score = np.array([0.79, 0.8, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1], np.float32)
    kind, reason = np.array(kinds, np.uint8), np.array(reasons, np.uint8)
    # a box below the policy is the only item not asked; a missing box (open end, cut), a
    # honeypot, a spot check, a candidate and a proposal are asked whatever their score
    assert asked_items(kind, score, reason, 0.8).tolist() == [False] + [True] * 7
    assert asked_items(kind, score, reason, 0.0).all()


def test_a_reviewer_following_the_policy_meets_every_honeypot_and_spot_check():
    everyone = queue_of(20, strict(0.0))
    policy = queue_of(20, strict(R))
    checks = np.isin(policy.kind, CHECKS)
    assert (policy.kind == ItemKind.HONEYPOT).any() and (policy.kind == ItemKind.SPOT_CHECK).any()
    # without the disguise a reviewer skipping risk < R would skip every honeypot, and the
    # confident boxes of the spot-check frames
    assert (everyone.score[everyone.kind == ItemKind.HONEYPOT] < R).all()
    assert (everyone.score[everyone.kind == ItemKind.SPOT_CHECK] < R).sum() >= 3
    # under the policy they show the score and reason of an asked box item
    assert policy.asked()[checks].all() and (policy.score[checks] >= R).all()
    asked_boxes = box_items(policy) & policy.asked()
    shown = set(zip(policy.score[asked_boxes].tolist(), policy.reason[asked_boxes].tolist()))
    own = dict(zip(zip(everyone.track_id.tolist(), everyone.frame.tolist()),
                   everyone.score.tolist()))
    disguised = [i for i in np.flatnonzero(checks).tolist()
                 if own[(int(policy.track_id[i]), int(policy.frame[i]))] < R]
    assert len(disguised) >= 4
    assert {(float(policy.score[i]), int(policy.reason[i])) for i in disguised} <= shown
    # the policy bites: some box items are not asked, and nothing else changed about them
    assert (box_items(policy) & ~policy.asked()).any()
    assert policy.check_min_risk == R and everyone.asked().all()
    np.testing.assert_array_equal(policy.frames, everyone.frames)


def test_honeypots_are_their_share_of_the_asked_box_items():
    cfg = ReviewConfig(honeypot_rate=0.2, check_min_risk=R)
    policy = queue_of(20, cfg)
    honey = policy.kind == ItemKind.HONEYPOT
    asked_boxes = int((box_items(policy) & policy.asked()).sum())
    assert 0 < asked_boxes < int(box_items(policy).sum())
    queued_boxes = int(box_items(policy).sum() + honey.sum())
    assert honey.sum() == honeypot_count(asked_boxes, cfg, queued_boxes) > 0
    # still drawn among the boxes whose truth is surest: the unasked, low-risk ones
    everyone = queue_of(20, ReviewConfig(honeypot_rate=0.2))
    risk = dict(zip(zip(everyone.track_id.tolist(), everyone.frame.tolist()),
                    everyone.score.tolist()))
    for t, f in zip(policy.track_id[honey].tolist(), policy.frame[honey].tolist()):
        assert risk[(t, f)] < R


def test_a_queue_where_no_box_is_asked_still_gets_its_honeypot():
    # 2% of no asked box item rounds to none; a queue of >= 20 items still gets one, shown
    # with the policy's own score (there is no asked box item to borrow one from)
    queue = queue_of(20, ReviewConfig(check_min_risk=1.0))
    honey = queue.kind == ItemKind.HONEYPOT
    assert len(queue) >= 20 and honey.sum() == 1
    assert not (box_items(queue) & queue.asked()).any()
    assert queue.score[honey].tolist() == [1.0] and queue.asked()[honey].all()
    assert honeypot_count(0, ReviewConfig(), 19) == 0 and honeypot_count(0, ReviewConfig()) == 0


def test_the_policy_must_be_a_share():
    with pytest.raises(ConfigError, match="review.check_min_risk"):
        ReviewConfig(check_min_risk=1.5)


@pytest.fixture
def policy_queue():
    return queue_of(20, strict(R))


def meta() -> VideoMeta:
    return VideoMeta(name="clip", width=SIZE[0], height=SIZE[1], fps=10.0, num_frames=60,
                     class_names=("car",))


def test_task_files_mark_the_boxes_not_asked(policy_queue):
    q, asked = policy_queue, policy_queue.asked()
    notes = {int(r["meta"]["item"]): r["meta"]["note"]
             for t in format_labelstudio_tasks(q, meta()) for r in t["predictions"][0]["result"]}
    assert {i for i, n in notes.items() if n == NOT_ASKED_LABEL} == set(
        np.flatnonzero(~asked).tolist())
    root = ET.fromstring(format_cvat_images(q, meta()))
    cvat = {int(b.find("attribute[@name='item']").text): b.find("attribute[@name='note']").text
            for b in root.iter("box")}
    assert cvat == notes
    # honeypots and spot checks read like asked items
    assert all(notes[i] != NOT_ASKED_LABEL for i in np.flatnonzero(np.isin(q.kind, CHECKS)))


def answered(lines) -> dict[int, str]:
    return {line["item"]: line["op"] for _, _, line in lines if "item" in line}


def test_an_unasked_box_left_unchanged_is_no_answer(policy_queue, tmp_path):
    q, asked = policy_queue, policy_queue.asked()
    unasked = np.flatnonzero(~asked)
    moved, deleted = int(unasked[0]), int(unasked[1])
    # the file as exported, then one unasked box moved and another deleted
    root = ET.fromstring(format_cvat_images(q, meta()))
    for image in root.iter("image"):
        for box in list(image.iter("box")):
            item = int(box.find("attribute[@name='item']").text)
            if item == moved:
                box.set("xtl", str(float(box.get("xtl")) + 3))
            elif item == deleted:
                image.remove(box)
    path = tmp_path / "answers.xml"
    path.write_bytes(ET.tostring(root))
    ops = answered(read_cvat_answers(path, q, SIZE))
    assert ops[moved] == "adjust" and ops[deleted] == "absent"
    assert set(ops) == set(np.flatnonzero(asked).tolist()) | {moved, deleted}
    assert all(ops[i] == "accept" for i in np.flatnonzero(asked).tolist())
    # Label Studio: the predictions accepted as they are
    tasks = format_labelstudio_tasks(q, meta())
    for task in tasks:
        task["annotations"] = [{"result": task["predictions"][0]["result"]}]
    ls = tmp_path / "ls.json"
    ls.write_text(json.dumps(tasks))
    ops = answered(read_labelstudio_answers(ls, q, SIZE))
    assert set(ops) == set(np.flatnonzero(asked).tolist())
    assert set(ops.values()) == {"accept"}


def test_a_disguised_check_shows_a_box_item_s_score_never_a_missing_box_s():
    from trackannot.ranking import disguise_checks

    def items():
        return {"kind": np.array([ItemKind.RISK, ItemKind.RISK, ItemKind.RISK, ItemKind.HONEYPOT,
                                  ItemKind.SPOT_CHECK], np.uint8),
                "score": np.array([0.95, 0.9, 0.2, 0.1, 0.85], np.float32),
                "reason": np.array([Reason.OPEN_END, Reason.LOW_CONFIDENCE, Reason.NONE,
                                    Reason.NONE, Reason.NONE], np.uint8)}

    got = items()
    disguise_checks(got, 0.8, np.random.default_rng(0))
    # the honeypot takes the asked box's score and reason; the spot check (already >= R) and
    # the other items keep theirs
    assert got["score"].tolist() == pytest.approx([0.95, 0.9, 0.2, 0.9, 0.85])
    assert got["reason"][3] == Reason.LOW_CONFIDENCE
    # no asked box item: the policy's own threshold; no policy: nothing changes
    lone = items()
    lone["score"][1] = 0.5
    disguise_checks(lone, 0.8, np.random.default_rng(0))
    assert lone["score"][3] == pytest.approx(0.8) and lone["reason"][3] == Reason.NONE
    same = items()
    disguise_checks(same, 0.0, np.random.default_rng(0))
    assert same["score"].tolist() == pytest.approx(items()["score"].tolist())
