"""Mode advice: which review mode pays on a video, from the answers given so far.

`advise` turns the review answers and the corrections log into an acceptance rate, spot-check and
honeypot outcomes and projected human seconds per mode (the cost model of `trackannot.cost`),
and says when AI assistance does not pay. Pure functions, as `trackannot.audit`, whose per-reviewer
flags it takes into account.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Mapping

import numpy as np

from trackannot.audit import (
    MIN_HONEYPOTS, ReviewerStats, changed_ops, duration, honeypot_outcomes, item_rows,
    join_answers, percent, reviewer_stats,
)
from trackannot.config import ReviewConfig
from trackannot.corrections import Corrections, Op
from trackannot.cost import ActionCounts, CostModel, counts_from_ops
from trackannot.errors import InputFormatError
from trackannot.review import Answers, ItemKind, ReviewQueue

__all__ = ["MODES", "Advice", "advise", "review_actions"]

MIN_ANSWERS = 30  # answered items before a mode is recommended on the numbers
MIN_SPOT_CHECKS = 20  # spot-check answers before their error rate is trusted
SPOT_ERROR_MAX = 0.05  # spot checks changed above this share: confident boxes are wrong too
TOP_RISK_SHARE = 0.25  # "high-risk items": the top quarter of answered items by risk score
MIN_TOP_ITEMS = 10  # answered items in each of top / rest before concentration is judged
CONCENTRATION_RATIO = 3.0  # changed share in the top items >= this x the rest: errors concentrate

MODES = ("manual first", "fast review", "strict review", "active loop")


@dataclass(frozen=True)
class Advice:
    """Which review mode pays on this video, with the numbers behind it (see `advise`).

    Attributes:
        mode: one of MODES.
        reasons: plain-language reasons with their numbers.
        source: where the acceptance rate comes from: "queue" (answered non-honeypot items),
            "log" (accept / (accept + adjust + absent) in the corrections log) or "" (no data).
        answered, accepted: items (or log box edits) answered, and accepted as shown.
        spot_checks, spot_errors: spot-check answers, and those that changed the box.
        honeypots, caught: honeypot answers, and those that changed the box.
        top_items, top_changed, rest_items, rest_changed: answered items in the top
            TOP_RISK_SHARE by risk score and the rest, and how many of each were changed.
        seconds_spent: human seconds so far: the cost model on `review_actions` (each answered
            item by its answer, the other log rows by their ops).
        check_s: seconds to check one pre-label: verify_s + (1 - acceptance) x adjust_s.
        break_even_acceptance: acceptance where check_s == draw_s (below it review costs more).
        manual_k, num_frames, boxes_in_video: the projection's inputs.
        projected_s: whole-video human seconds per mode (None: not measurable yet).
        saved_s: manual minus the recommended mode's projection (0 for manual first).
    """

    mode: str
    reasons: list[str]
    source: str
    answered: int
    accepted: int
    spot_checks: int
    spot_errors: int
    honeypots: int
    caught: int
    top_items: int
    top_changed: int
    rest_items: int
    rest_changed: int
    seconds_spent: float
    check_s: float | None
    break_even_acceptance: float
    manual_k: int
    num_frames: int
    boxes_in_video: int
    projected_s: dict[str, float | None]
    saved_s: float | None

    @property
    def acceptance(self) -> float | None:
        return self.accepted / self.answered if self.answered else None

    @property
    def spot_error_rate(self) -> float | None:
        return self.spot_errors / self.spot_checks if self.spot_checks else None

    @property
    def catch_rate(self) -> float | None:
        return self.caught / self.honeypots if self.honeypots else None

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values, rates included."""
        return {**asdict(self), "acceptance": self.acceptance, "spot_error_rate": self.spot_error_rate,
                "catch_rate": self.catch_rate}

    def lines(self) -> list[str]:
        """The advice as printable lines."""
        out = [f"recommended mode: {self.mode}"]
        out += [f"  - {r}" for r in self.reasons]
        acc = "n/a" if self.acceptance is None else percent(self.acceptance)
        out.append(f"acceptance {acc} of {self.answered} answered ({self.source or 'no data'}); "
                   f"human time so far {duration(self.seconds_spent)}")
        if self.spot_checks:
            out.append(f"spot checks changed {self.spot_errors} of {self.spot_checks}")
        if self.honeypots:
            out.append(f"honeypots caught {self.caught} of {self.honeypots}")
        proj = ", ".join(f"{m} {duration(s)}" for m, s in self.projected_s.items() if s is not None)
        if proj:
            out.append(f"projected for the whole video (keyframe every {self.manual_k} frames, "
                       f"{self.boxes_in_video} boxes): {proj}")
        return out


@dataclass(frozen=True, slots=True)
class _Measured:
    """Counts `advise` decides on."""

    source: str
    answered: int
    accepted: int
    spot: tuple[int, int]
    pots: tuple[int, int]
    top: tuple[int, int]
    rest: tuple[int, int]


def _measure(queues: list[ReviewQueue], answers: Mapping[str, Answers], log: Corrections,
             cfg: ReviewConfig) -> _Measured:
    joined = join_answers(queues, answers)
    changed = changed_ops(joined.op)
    real = joined.kind != ItemKind.HONEYPOT
    if real.any():
        source, answered, accepted = "queue", int(real.sum()), int((real & ~changed).sum())
    else:
        box_ops = np.isin(log.op, [Op.ACCEPT, Op.ADJUST, Op.ABSENT])
        answered, accepted = int(box_ops.sum()), int((log.op == Op.ACCEPT).sum())
        source = "log" if answered else ""
    spot = joined.kind == ItemKind.SPOT_CHECK
    pots = [honeypot_outcomes(q, answers[q.queue_id], cfg.catch_iou) for q in queues
            if q.queue_id in answers]
    pot_op = np.concatenate([p.op for p in pots]) if pots else np.zeros(0, np.uint8)
    # top TOP_RISK_SHARE of the answered risk-ranked items by score vs the rest; ties with the
    # cut-off score go to the top, so equal scores never split items arbitrarily
    risk_items = np.flatnonzero(joined.kind == ItemKind.RISK)
    score = joined.score[risk_items]
    k = math.ceil(TOP_RISK_SHARE * len(risk_items))
    cut = np.sort(score)[::-1][k - 1] if k else np.inf
    top, rest = risk_items[score >= cut], risk_items[score < cut]
    return _Measured(
        source=source, answered=answered, accepted=accepted,
        spot=(int(spot.sum()), int((spot & changed).sum())),
        pots=(len(pot_op), int((pot_op != Op.ACCEPT).sum())),
        top=(len(top), int(changed[top].sum())), rest=(len(rest), int(changed[rest].sum())),
    )


# an item's answer -> the action it cost (a candidate adjusted is a box drawn: there was none)
_ACTION_OF_ANSWER = {Op.ACCEPT: "verify", Op.ADJUST: "adjust", Op.ABSENT: "delete"}


def review_actions(queues: list[ReviewQueue], answers: Mapping[str, Answers],
                   log: Corrections) -> ActionCounts:
    """The human actions behind a video's review: one figure for the store, whoever prices it.

    Each answered queue item counts as its answer: accept a verification, adjust an adjust (a
    candidate's: a draw), absent a delete; honeypot answers too. The log rows the answers made
    (`trackannot.review.answers_from_lines`: one per answered box item, with the answer's op;
    one per candidate accepted or adjusted, a create of a new object or an adjust of the track
    it continues; none for a honeypot or a rejected candidate) are not counted again; every
    other log row, the ordinary correction lines, counts by its op (`counts_from_ops`). Priced
    row by row instead, an adjust answer that gives the box seen and a candidate drawn onto
    the track it continues would both read as adjusts.

    Args:
        queues: the video's queues.
        answers: queue_id -> its answers.
        log: the committed corrections log (every batch, answers' rows included; rows the
            answers made that it lacks are not taken off).

    Returns:
        The action counts; `CostModel.seconds` of them is the human time so far.

    Raises:
        InputFormatError: an answer names an item its queue does not have.
    """
    counts = ActionCounts()
    made = np.zeros(len(Op), np.int64)  # log rows the answers made, by op
    for q in queues:
        a = answers.get(q.queue_id)
        if a is None or not len(a):
            continue
        rows = item_rows(q, a)
        kind, op = q.kind[rows], a.op.astype(np.int64)
        candidate = kind == ItemKind.CANDIDATE
        for answer, action in _ACTION_OF_ANSWER.items():
            mine = op == answer
            drawn = int((mine & candidate).sum()) if answer == Op.ADJUST else 0
            setattr(counts, action, getattr(counts, action) + int(mine.sum()) - drawn)
            counts.draw += drawn
        boxes = ~candidate & (kind != ItemKind.HONEYPOT)
        made += np.bincount(op[boxes], minlength=len(Op))
        created = candidate & (op != Op.ABSENT)
        new = q.track_id[rows] < 0
        made[Op.CREATE] += int((created & new).sum())
        made[Op.ADJUST] += int((created & ~new).sum())
    # a log given without the answers' rows (a part of it, or none) has none to take off
    per_op = np.maximum(np.bincount(log.op.astype(np.int64), minlength=len(Op)) - made, 0)
    counts.add(counts_from_ops(per_op))
    return counts


def _project(m: _Measured, boxes_in_video: int, manual_k: int, cost: CostModel,
             cfg: ReviewConfig) -> tuple[float | None, dict[str, float | None]]:
    """(check_s, whole-video seconds per mode); see `advise` for the formulas."""
    keyframes = boxes_in_video / manual_k  # = frames to review (F / k) x boxes per frame (B / F)
    manual_s = keyframes * cost.draw_s
    if not m.answered:
        return None, {"manual first": manual_s, "fast review": None, "strict review": None,
                      "active loop": None}
    a = m.accepted / m.answered
    check_s = cost.verify_s + (1 - a) * cost.adjust_s
    fast_s = keyframes * check_s
    active_s = None
    if m.top[0]:
        top_accept = 1 - m.top[1] / m.top[0]
        active_s = keyframes * TOP_RISK_SHARE * (cost.verify_s + (1 - top_accept) * cost.adjust_s)
    return check_s, {
        "manual first": manual_s, "fast review": fast_s,
        "strict review": fast_s * (1 + cfg.spot_check_rate + cfg.honeypot_rate),
        "active loop": active_s,
    }


def _decide(m: _Measured, check_s: float | None, projected: dict[str, float | None],
            break_even: float, cost: CostModel, cfg: ReviewConfig,
            flagged: list[ReviewerStats]) -> tuple[str, list[str]]:
    """The rules of `advise`, in order; returns (mode, reasons)."""
    if m.answered < MIN_ANSWERS:
        return "strict review", [
            f"not enough data yet (n = {m.answered} < {MIN_ANSWERS} answered items): review in "
            f"strict mode to measure acceptance and confident errors"]
    a = m.accepted / m.answered
    check_s = check_s if check_s is not None else math.inf  # answered > 0: always set
    if check_s >= cost.draw_s:  # the same as fast >= manual: both cover the same B / k boxes
        return "manual first", [
            f"AI assistance does not pay here: at {percent(a)} acceptance checking a pre-label "
            f"costs {cost.verify_s:g} + (1 - {a:.2f}) x {cost.adjust_s:g} = {check_s:.1f} s, not "
            f"less than drawing it ({cost.draw_s:g} s); break-even acceptance {percent(break_even)}",
            f"projected review {duration(projected['fast review'])} vs manual "
            f"{duration(projected['manual first'])}"]
    reasons = []
    spot_n, spot_err = m.spot
    if spot_n >= MIN_SPOT_CHECKS and spot_err > SPOT_ERROR_MAX * spot_n:
        reasons.append(f"spot checks found confident errors: {spot_err} of {spot_n} changed "
                       f"({percent(spot_err / spot_n)} > {percent(SPOT_ERROR_MAX)})")
    pot_n, caught = m.pots
    if pot_n >= MIN_HONEYPOTS and caught < cfg.flag_catch_rate * pot_n:
        reasons.append(f"reviewers caught {caught} of {pot_n} honeypots "
                       f"({percent(caught / pot_n)} < flag_catch_rate "
                       f"{percent(cfg.flag_catch_rate)}): accepted boxes are not all looked at")
    for stats in flagged:
        reasons.append(f"reviewer {stats.author} is flagged: {stats.flags[0]}")
    if reasons:
        return "strict review", reasons
    (top_n, top_c), (rest_n, rest_c) = m.top, m.rest
    if top_n >= MIN_TOP_ITEMS and rest_n >= MIN_TOP_ITEMS and top_c > 0 and \
            top_c * rest_n >= CONCENTRATION_RATIO * rest_c * top_n:
        return "active loop", [
            f"errors concentrate in high-risk items: {percent(top_c / top_n)} of the top "
            f"{percent(TOP_RISK_SHARE)} by risk changed vs {percent(rest_c / rest_n)} of the rest "
            f"(>= {CONCENTRATION_RATIO:g}x): review -> correct -> re-rank"]
    return "fast review", [
        f"at {percent(a)} acceptance checking a pre-label costs {check_s:.1f} s vs "
        f"{cost.draw_s:g} s to draw it (break-even acceptance {percent(break_even)}), and no sign "
        f"of confident errors or of unchecked accepts"]


def advise(queues: list[ReviewQueue], answers: Mapping[str, Answers], log: Corrections,
           num_frames: int, boxes_in_video: int, cost: CostModel, *, cfg: ReviewConfig | None = None,
           manual_k: int = 10) -> Advice:
    """Recommend a review mode from the answers so far, with the numbers behind it.

    Measured: acceptance a = accepted / answered non-honeypot items (from the log's accept /
    (accept + adjust + absent) when no queue was answered); spot-check error rate (share of
    spot-check items changed: confident boxes that were wrong); honeypot catch rate; changed share
    of the top TOP_RISK_SHARE risk-ranked items vs the rest; human seconds so far (the cost model
    on `review_actions`: each answered item by its answer, honeypots included, and the log's
    other rows by their ops).

    Projected whole-video seconds, with B = boxes_in_video and k = manual_k:
        manual first:  B / k x draw_s (a keyframe every k frames of each object track, drawn)
        fast review:   B / k x check_s, check_s = verify_s + (1 - a) x adjust_s (the same frames,
                       F / k frames x B / F boxes per frame, each pre-label checked, not drawn)
        strict review: fast x (1 + spot_check_rate + honeypot_rate) (spot checks and honeypots
                       on top of the same risk frames)
        active loop:   B / k x TOP_RISK_SHARE x (verify_s + (1 - a_top) x adjust_s): only the
                       top-risk items are checked each round (a lower bound: re-ranking rounds
                       after corrections add more)
    Break-even: check_s = draw_s, i.e. a* = 1 - (draw_s - verify_s) / adjust_s.

    Rules, first match wins:
        1. answered < MIN_ANSWERS: "strict review", to measure ("not enough data yet").
        2. check_s >= draw_s (the same as fast >= manual): "manual first": AI assistance does
           not pay.
        3. spot checks changed > SPOT_ERROR_MAX (>= MIN_SPOT_CHECKS of them), honeypot catch
           rate < flag_catch_rate (>= MIN_HONEYPOTS), or a reviewer flagged by `reviewer_stats`
           (e.g. a correction rate that fell on equally risky items): "strict review".
        4. changed share in the top-risk items >= CONCENTRATION_RATIO x the rest (>= MIN_TOP_ITEMS
           in each): "active loop".
        5. otherwise "fast review".

    Args:
        queues: the video's queues.
        answers: queue_id -> its answers.
        log: the committed corrections log.
        num_frames: frames in the video.
        boxes_in_video: boxes of the current annotation.
        cost: seconds per action.
        cfg: spot_check_rate, honeypot_rate, catch_iou, flag_catch_rate (default `ReviewConfig()`).
        manual_k: manual keyframe interval, frames.

    Returns:
        The `Advice`.

    Raises:
        InputFormatError: manual_k < 1, or an answer names an item its queue does not have.
    """
    if manual_k < 1:
        raise InputFormatError(f"manual_k must be an int >= 1, got {manual_k}")
    cfg = cfg or ReviewConfig()
    m = _measure(queues, answers, log, cfg)
    check_s, projected = _project(m, boxes_in_video, manual_k, cost, cfg)
    break_even = min(max(1 - (cost.draw_s - cost.verify_s) / cost.adjust_s, 0.0), 1.0)
    flagged = [r for r in reviewer_stats(queues, dict(answers), cfg) if r.flags]
    mode, reasons = _decide(m, check_s, projected, break_even, cost, cfg, flagged)
    manual_s, mode_s = projected["manual first"], projected[mode]
    saved = None if manual_s is None or mode_s is None else manual_s - mode_s
    if saved is not None and mode != "manual first" and m.answered >= MIN_ANSWERS:
        reasons.append(f"{mode} projected {duration(mode_s)} vs manual {duration(manual_s)}: "
                       f"saves {duration(saved)}")
    spent = review_actions(queues, answers, log)
    return Advice(
        mode=mode, reasons=reasons, source=m.source, answered=m.answered, accepted=m.accepted,
        spot_checks=m.spot[0], spot_errors=m.spot[1], honeypots=m.pots[0], caught=m.pots[1],
        top_items=m.top[0], top_changed=m.top[1], rest_items=m.rest[0], rest_changed=m.rest[1],
        seconds_spent=cost.seconds(spent), check_s=check_s, break_even_acceptance=break_even,
        manual_k=manual_k, num_frames=num_frames, boxes_in_video=boxes_in_video,
        projected_s=projected, saved_s=saved,
    )
