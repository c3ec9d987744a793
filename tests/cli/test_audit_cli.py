"""CLI: `trackannot audit` over a store with a review queue and answers (table, advice, JSON)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tests.test_annotate import digest, make_store, write_lines
from trackannot.annotate import apply_corrections
from trackannot.cli.audit import audit
from trackannot.review import ItemKind, ReviewQueue
from trackannot.results import open_store

FRAMES = 30  # queue frames 0..29, two boxes each (tracks 1 and 2 of make_store)


def _box(track: int, frame: int) -> list[float]:
    return [2.0 * frame, 10, 2.0 * frame + 30, 90] if track == 1 else [200, 50, 240, 150]


def _queue() -> ReviewQueue:
    """60 items: both tracks at frames 0..29; items 58, 59 (frame 29) are honeypots."""
    frame = np.repeat(np.arange(FRAMES, dtype=np.int64), 2)
    track = np.tile(np.array([1, 2], np.int64), FRAMES)
    truth = np.float32([_box(t, f) for t, f in zip(track.tolist(), frame.tolist())])
    kind = np.zeros(2 * FRAMES, np.uint8)
    kind[-2:] = ItemKind.HONEYPOT
    shown = truth.copy()
    shown[kind == ItemKind.HONEYPOT, 0::2] += 10  # moved 10 px right
    truth[kind != ItemKind.HONEYPOT] = np.nan
    n = len(frame)
    return ReviewQueue(queue_id="q0000-test", based_on=0, mode="fast", budget=FRAMES,
                       item=np.arange(n, dtype=np.int64), rank=np.repeat(np.arange(FRAMES, dtype=np.int32), 2),
                       frame=frame, track_id=track, score=np.full(n, 0.3, np.float32),
                       reason=np.zeros(n, np.uint8), kind=kind, xyxy=shown, truth_xyxy=truth)


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return make_store(tmp_path / "out.zarr")


def _answer(store: Path, tmp_path: Path) -> None:
    """ana answers every item: 6 risk items adjusted, the rest accepted, both honeypots accepted."""
    with open_store(store, mode="a").writer("clip") as video:
        video.write_queue(_queue(), {})
    lines: list[dict] = []
    for item in range(2 * FRAMES):
        track, frame = (1, 2)[item % 2], item // 2
        if item < 12 and item % 2 == 0:
            lines.append({"item": item, "op": "adjust", "box": [b + 1 for b in _box(track, frame)]})
        else:
            lines.append({"item": item, "op": "accept"})
    apply_corrections(store, write_lines(tmp_path / "a.jsonl", lines), author="ana",
                      queue="q0000-test")


def test_audit_of_a_store_without_corrections_says_what_to_do(store):
    result = CliRunner().invoke(audit, [str(store)])
    assert result.exit_code == 0, result.output
    assert "clip: no corrections yet: run `trackannot review STORE" in result.output


def test_audit_prints_reviewers_and_advice_and_writes_json(store, tmp_path):
    _answer(store, tmp_path)
    before = digest(store)
    out = tmp_path / "audit.json"
    result = CliRunner().invoke(audit, [str(store), "--video", "clip", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert digest(store) == before  # read only
    assert "clip: 1 queues, 1 reviewers" in result.output
    assert "  ana                  58      6   10%  10%" in result.output
    assert "caught 0 of 2 honeypots, fixed 0: too few to judge (< 3)" in result.output
    # 58 answered, 52 accepted: a = 0.897 -> fast review (no spot checks, equal risk scores)
    assert "recommended mode: fast review" in result.output
    doc = json.loads(out.read_text())
    advice = doc["videos"]["clip"]["advice"]
    assert (advice["source"], advice["answered"], advice["accepted"]) == ("queue", 58, 52)
    assert (advice["honeypots"], advice["caught"]) == (2, 0)
    # 52 verify x 1.6 + 6 adjust x 7 + 2 honeypot verifies x 1.6
    assert advice["seconds_spent"] == pytest.approx(54 * 1.6 + 6 * 7.0)
    assert advice["boxes_in_video"] == 80 and advice["mode"] == "fast review"
    (ana,) = doc["videos"]["clip"]["reviewers"]
    assert (ana["author"], ana["items"], ana["corrections"]) == ("ana", 58, 6)
    assert not out.with_name("audit.json.partial").exists()


def test_audit_with_manual_k_changes_the_projection(store, tmp_path):
    _answer(store, tmp_path)
    out = tmp_path / "audit.json"
    assert CliRunner().invoke(audit, [str(store), "--manual-k", "5", "--json", str(out)]).exit_code == 0
    advice = json.loads(out.read_text())["videos"]["clip"]["advice"]
    assert advice["projected_s"]["manual first"] == pytest.approx(80 / 5 * 7.0)


def test_audit_of_an_unknown_video_is_a_usage_error(store):
    result = CliRunner().invoke(audit, [str(store), "--video", "nope"])
    assert result.exit_code == 2 and "has no video 'nope'; videos: clip" in result.output


def test_audit_manual_k_below_one_is_a_usage_error(store):
    result = CliRunner().invoke(audit, [str(store), "--manual-k", "0"])
    assert result.exit_code == 2 and "--manual-k" in result.output


def test_audit_flags_a_reviewer_whose_correction_rate_drops_on_equally_risky_items(store, tmp_path):
    from dataclasses import replace

    first = replace(_queue(), kind=np.zeros(2 * FRAMES, np.uint8),
                    truth_xyxy=np.full((2 * FRAMES, 4), np.nan, np.float32))
    first = replace(first, xyxy=np.float32([_box(t, f) for t, f in zip(first.track_id.tolist(),
                                                                        first.frame.tolist())]))
    with open_store(store, mode="a").writer("clip") as video:
        video.write_queue(first, {})

    def answer(queue_id: str, adjusted: set[int], name: str) -> None:
        lines = []
        for item in range(2 * FRAMES):
            track, frame = (1, 2)[item % 2], item // 2
            if item in adjusted:
                lines.append({"item": item, "op": "adjust", "box": [b + 3 for b in _box(track, frame)]})
            else:
                lines.append({"item": item, "op": "accept"})
        apply_corrections(store, write_lines(tmp_path / name, lines), author="bo", queue=queue_id)

    answer("q0000-test", set(range(0, 48, 2)), "a1.jsonl")  # 24 of 60 changed: 40%
    with open_store(store, mode="a").writer("clip") as video:
        second = replace(first, queue_id="q0001-test", based_on=video.log_info().rows)
        video.write_queue(second, {})
    answer("q0001-test", {0}, "a2.jsonl")  # 1 of 60 on items as risky as before: rubber-stamping
    result = CliRunner().invoke(audit, [str(store)])
    assert result.exit_code == 0, result.output
    assert "bo" in result.output and "40%" in result.output
    assert "FLAG: correction rate fell from 40% (own earlier batches) to 2%" in result.output
    assert "mean risk of the items seen 0.30 -> 0.30" in result.output
    # the advice follows the flag: strict review (spot checks and honeypots) until it is explained
    assert "recommended mode: strict review" in result.output
    assert "reviewer bo is flagged: correction rate fell from 40%" in result.output
