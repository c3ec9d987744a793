"""`trackannot demo`'s whole loop on a short clip: track, queue, simulated review from the clip's
truth, answers applied, scores before and after, the human seconds under the cost model, the
dashboard; and the occlusion recovery that keeps the clip's objects on one track each."""

from __future__ import annotations

import json
from dataclasses import fields, replace
from pathlib import Path

import numpy as np
import pytest

from trackannot.config import PipelineConfig
from trackannot.corrections import Op
from trackannot.cost import DEFAULT_COST, CostModel, counts_from_log
from trackannot.demo.run import REVIEW_SHARE, REVIEWER, DemoReport, run_demo
from trackannot.demo.synth import make_scene
from trackannot.evaluate import evaluate
from trackannot.ranking import ItemKind
from trackannot.results import read_answers, read_log, read_queue
from trackannot.session import VideoSession
from trackannot.simulate import match_frame
from trackannot.store import open_store
from trackannot.track import track_detections

SECONDS, SEED = 4.0, 7  # 60 frames at 15 fps: object 1 still crosses the whole bar


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoReport:
    return run_demo(tmp_path_factory.mktemp("demo") / "out", seconds=SECONDS, seed=SEED)


@pytest.fixture(scope="module")
def truth(demo: DemoReport):
    return make_scene(SEED, demo.summary.frames)[1]


def test_the_loop_runs_end_to_end(demo: DemoReport) -> None:
    r = demo.review
    assert r is not None
    assert r.frames == round(REVIEW_SHARE * demo.summary.frames)  # default budget, all seen
    assert r.items >= r.frames and r.edits > 0
    video = open_store(demo.store)[demo.summary.key]
    log, _ = read_log(video)
    assert len(log) == r.edits and set(log.author.tolist()) == {REVIEWER}
    assert [q["id"] for q in video.queue_records()] == [r.queue_id]
    # the corrected export is the store's annotation after the answers
    assert demo.corrected_file is not None and demo.corrected_file.stat().st_size > 0
    text = "\n".join(demo.lines())
    for part in ("review     queue", "human cost", "after      HOTA", "corrected"):
        assert part in text


def test_scores_are_the_store_before_and_after_the_answers(demo: DemoReport, truth) -> None:
    session = VideoSession.open(demo.store, mode="r")
    after = evaluate(session.boxes(), truth)
    assert demo.review is not None
    assert (after.hota, after.mota, after.idf1) == (
        demo.review.scores.hota, demo.review.scores.mota, demo.review.scores.idf1)
    auto = evaluate(open_store(demo.store)[demo.summary.key].read(), truth)
    assert auto.idf1 == pytest.approx(demo.scores.idf1, abs=0.02)  # before: the tracker's own
    # what the reviewer fixed at the frames it saw: every truth box there is covered after
    shown = np.unique(read_queue(open_store(demo.store)[demo.summary.key],
                                 demo.review.queue_id).frame)
    boxes = session.boxes()
    for f in shown.tolist():
        gt = truth.for_frame(f)
        assert (match_frame(boxes.for_frame(f).xyxy, gt.xyxy) >= 0).sum() == len(gt), f


def test_human_seconds_are_the_cost_model_of_the_actions(demo: DemoReport) -> None:
    r = demo.review
    assert r is not None
    a = r.actions.as_dict()
    per_action = {"verify": DEFAULT_COST.verify_s, "adjust": DEFAULT_COST.adjust_s,
                  "draw": DEFAULT_COST.draw_s, "delete": DEFAULT_COST.delete_s,
                  "split": DEFAULT_COST.identity_s, "merge": DEFAULT_COST.identity_s}
    assert set(a) == set(per_action)
    assert r.seconds == pytest.approx(sum(a[k] * per_action[k] for k in a))
    assert r.seconds > 0
    # the actions are the answers: every logged identity edit and drawn box was charged
    log, _ = read_log(open_store(demo.store)[demo.summary.key])
    ops = log.op.tolist()
    assert a["split"] >= ops.count(int(Op.SPLIT)) and a["merge"] >= ops.count(int(Op.MERGE))
    assert a["verify"] >= ops.count(int(Op.ACCEPT))
    assert a["delete"] >= ops.count(int(Op.ABSENT))


def test_the_answers_are_the_queue_s_in_one_batch(demo: DemoReport) -> None:
    """The simulated reviewer answers the queue's items the way a person's answer file does:
    one logged batch of the queue, its answers stored with it, timed look by look."""
    r = demo.review
    assert r is not None
    video = open_store(demo.store)[demo.summary.key]
    batches = video.batches(0)
    assert len(batches) == 1 and batches[0].get("queue") == r.queue_id
    answers = read_answers(video, r.queue_id)
    queue = read_queue(video, r.queue_id)
    assert len(answers) == r.answered and 0.5 * r.items < r.answered <= r.items
    assert len(np.unique(answers.item)) == len(answers)  # each item answered once
    assert set(answers.author.tolist()) == {REVIEWER} and set(answers.batch.tolist()) == {0}
    assert set(answers.op.tolist()) <= {int(Op.ACCEPT), int(Op.ADJUST), int(Op.ABSENT)}
    assert (answers.op == Op.ACCEPT).sum() > (answers.op != Op.ACCEPT).sum()
    # answered over time: in review order, each look's answers when that look ends, the looks
    # spaced by their seconds under the cost model (the first look's own seconds before it)
    rank = queue.rank[answers.item]
    order = np.argsort(rank, kind="stable")
    assert (np.diff(answers.time_ns[order]) >= 0).all()
    looks = len(np.unique(answers.time_ns))
    assert 1 < looks <= r.frames
    span = (answers.time_ns.max() - answers.time_ns.min()) / 1e9
    assert 0 < span < r.seconds
    # each line is timed when its look ends: measured back from the last look's end, the
    # answer times fall on the looks' ends under the cost model (the ISO times hold microseconds)
    assert len(r.look_seconds) == r.frames and sum(r.look_seconds) == pytest.approx(r.seconds)
    ends = np.cumsum(r.look_seconds) - sum(r.look_seconds)
    last = int(batches[0]["time_ns"])  # the batch is committed after the last answer
    back = (answers.time_ns - answers.time_ns.max()) / 1e9
    assert 0 <= (last - answers.time_ns.max()) / 1e9 < 60
    on_ends = [np.abs(back[:, None] - (ends - ends[k])[None, :]).min(axis=1).max() < 1e-5
               for k in range(len(ends))]  # k: the look of the last answer
    assert any(on_ends)
    # the file committed is kept beside the store, item lines and ordinary lines in one file
    assert r.answers_file is not None and r.answers_file.parent == demo.store.parent
    assert batches[0]["source"] == str(r.answers_file.resolve())
    text = r.answers_file.read_text(encoding="utf-8")
    assert text.count('"item": ') == r.answered
    # the audit and the advice count them
    audit = VideoSession.open(demo.store, mode="r").audit()
    assert audit.advice.answered == r.answered
    assert [s.author for s in audit.reviewers] == [REVIEWER]


def test_the_dashboard_shows_the_demo_s_human_seconds(demo: DemoReport) -> None:
    """One store, one human-time figure: the seconds the demo prints are the store's audit's and
    the dashboard's "human time so far" (each answered item priced by its answer)."""
    import re

    r = demo.review
    assert r is not None and demo.dashboard is not None
    audit = VideoSession.open(demo.store, mode="r").audit()
    assert audit.advice.seconds_spent == pytest.approx(r.seconds)
    page = (demo.dashboard.parent / "videos" / f"{demo.summary.key}.html").read_text()
    shown = re.search(r'human time so far</span><b data-seconds="([0-9.]+)">([0-9.]+) min</b>'
                      r'<span class="muted">([0-9,]+) s under the cost model', page)
    assert shown is not None
    assert float(shown.group(1)) == pytest.approx(r.seconds, abs=0.05)
    assert shown.group(3) == f"{r.seconds:,.0f}" and f"human cost {r.seconds:.0f} s" in \
        "\n".join(demo.lines())
    # the answers are priced by what they say, not by the log rows they made: a candidate
    # accepted onto the track it continues is logged as an adjust (priced as a verification),
    # one rejected makes no row (priced as a delete), so the log's rows price the review
    # differently exactly when candidates were answered (the default queue shows only those
    # whose p_real pays for a rejection, review.frames_candidate_min_p; no honeypots here)
    video = open_store(demo.store)[demo.summary.key]
    log, _ = read_log(video)
    queue = read_queue(video, r.queue_id)
    items = [json.loads(line)["item"] for line in r.answers_file.read_text().splitlines()
             if '"item": ' in line]
    candidates = int((queue.kind[items] == ItemKind.CANDIDATE).sum())
    rows_priced = DEFAULT_COST.seconds(counts_from_log(log))
    assert (rows_priced != pytest.approx(r.seconds)) == (candidates > 0)


def test_another_cost_model_prices_the_same_answers(tmp_path: Path) -> None:
    flat = CostModel(**{f.name: 1.0 for f in fields(CostModel) if f.name.endswith("_s")})
    report = run_demo(tmp_path, seconds=2.0, seed=SEED, cost=flat, dashboard=False)
    assert report.review is not None
    assert report.review.seconds == sum(report.review.actions.as_dict().values())


def test_the_dashboard_is_written_and_named(demo: DemoReport) -> None:
    assert demo.dashboard is not None and demo.dashboard.name == "index.html"
    assert demo.dashboard.is_file()
    assert f"dashboard  open {demo.dashboard}" in demo.lines()


def _fragments(tracks, truth) -> int:
    """Track pieces per truth object summed over objects (1 per object: no fragmentation)."""
    pieces: dict[int, list[int]] = {}
    for f in np.unique(truth.frame).tolist():
        gt, b = truth.for_frame(f), tracks.for_frame(f)
        for i, j in enumerate(match_frame(b.xyxy, gt.xyxy).tolist()):
            if j >= 0:
                seq = pieces.setdefault(int(gt.track_id[j]), [])
                if not seq or seq[-1] != int(b.track_id[i]):
                    seq.append(int(b.track_id[i]))
    return sum(len(v) for v in pieces.values())


def test_occlusion_recovery_keeps_objects_on_one_track(demo: DemoReport, truth) -> None:
    video = open_store(demo.store)[demo.summary.key]
    stored = video.read()
    frames = range(demo.summary.frames)
    off = track_detections(video.read(table="detections"),
                           replace(PipelineConfig().track, recover_distance=0.0), frames=frames)
    objects = len(np.unique(truth.track_id))
    # the default settings break tracks behind the occluder; the demo's recovery does not
    assert len(np.unique(off.track_id)) > objects
    assert demo.summary.tracks == len(np.unique(stored.track_id)) == objects
    assert _fragments(stored, truth) < _fragments(off, truth)
    assert evaluate(stored, truth).idf1 > evaluate(off, truth).idf1
