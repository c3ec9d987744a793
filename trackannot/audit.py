"""Reviewer audit and mode advice: honeypot outcomes, per-reviewer correction rates, which mode pays.

Pure functions over review queues (`trackannot.review.ReviewQueue`), the answers given to them
(`trackannot.review.Answers`) and the corrections log, so they run without a store.

Automation bias: a reviewer who stops looking accepts what is shown. Two signs of it are measured.
Honeypots (boxes moved away from a known truth) that were accepted, and a correction rate that falls
between the reviewer's earlier and latest batches. A falling rate is only suspicious when the items
were as risky as before, so the mean risk score of the items seen is compared too.

Mode advice (`advise`) turns the answers so far into an acceptance rate and projected human
seconds per mode, and says when AI assistance does not pay.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Mapping

import numpy as np
import numpy.typing as npt

from trackannot.boxes import pair_iou
from trackannot.config import ReviewConfig
from trackannot.corrections import Corrections, Op
from trackannot.cost import ActionCounts, CostModel, counts_from_log
from trackannot.errors import InputFormatError
from trackannot.review import Answers, ItemKind, ReviewQueue

__all__ = [
    "Advice", "BatchStats", "HoneypotOutcomes", "ReviewerStats", "advise", "honeypot_outcomes",
    "reviewer_stats",
]

# Minimum samples. A rate over fewer items says little: at 20 items a 30% rate has a 95% interval
# of about +-20 points, so one small batch must not flag anyone.
MIN_WINDOW_ITEMS = 20  # items in each window before a correction-rate drop is flagged
MIN_HONEYPOTS = 3  # honeypots a reviewer must have seen before a low catch rate is flagged
MIN_ANSWERS = 30  # answered items before a mode is recommended on the numbers
MIN_SPOT_CHECKS = 20  # spot-check answers before their error rate is trusted
SPOT_ERROR_MAX = 0.05  # spot checks changed above this share: confident boxes are wrong too
TOP_RISK_SHARE = 0.25  # "high-risk items": the top quarter of answered items by risk score
MIN_TOP_ITEMS = 10  # answered items in each of top / rest before concentration is judged
CONCENTRATION_RATIO = 3.0  # changed share in the top items >= this x the rest: errors concentrate

MODES = ("manual first", "fast review", "strict review", "active loop")


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def _hours(seconds: float | None) -> str:
    """A human duration: seconds under 2 min, minutes under 2 h, then hours."""
    if seconds is None:
        return "n/a"
    if abs(seconds) < 120:
        return f"{seconds:.0f} s"
    if abs(seconds) < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _changed(op: npt.NDArray[np.uint8]) -> npt.NDArray[np.bool_]:
    return op != Op.ACCEPT


def _item_rows(queue: ReviewQueue, answers: Answers) -> npt.NDArray[np.int64]:
    """Row of each answer's item in the queue.

    Raises:
        InputFormatError: an answer names an item the queue does not have.
    """
    order = np.argsort(queue.item, kind="stable")
    known = queue.item[order]
    pos = np.searchsorted(known, answers.item)
    ok = pos < len(known)
    ok[ok] = known[pos[ok]] == answers.item[ok]
    if not np.all(ok):
        bad = int(answers.item[~ok][0])
        raise InputFormatError(
            f"queue {queue.queue_id}: answer for item {bad}, expected an item 0..{len(queue) - 1}")
    return order[pos]


@dataclass(frozen=True, slots=True, eq=False)
class HoneypotOutcomes:
    """One row per answer given to a honeypot.

    Attributes:
        item: (n,) int64, the honeypot's queue item.
        author: (n,) str.
        batch: (n,) int32.
        op: (n,) uint8 `Op` answered.
        iou: (n,) float64, IoU of the reviewer's box with the truth (ABSENT: 0; ACCEPT: the shown box's).
        caught: (n,) bool, the reviewer changed the box (adjust or absent).
        fixed: (n,) bool, adjusted to IoU >= catch_iou with the truth.
        missed: (n,) bool, accepted as shown.
    """

    item: npt.NDArray[np.int64]
    author: npt.NDArray[np.str_]
    batch: npt.NDArray[np.int32]
    op: npt.NDArray[np.uint8]
    iou: npt.NDArray[np.float64]
    caught: npt.NDArray[np.bool_]
    fixed: npt.NDArray[np.bool_]
    missed: npt.NDArray[np.bool_]

    def __len__(self) -> int:
        return len(self.item)


def honeypot_outcomes(queue: ReviewQueue, answers: Answers, catch_iou: float) -> HoneypotOutcomes:
    """What each reviewer did with each honeypot they answered.

    Args:
        queue: the queue the answers belong to.
        answers: its answers (any items; those to non-honeypots are ignored).
        catch_iou: a honeypot is fixed when the reviewer's box has IoU >= this with the truth
            (`ReviewConfig.catch_iou`).

    Returns:
        One row per honeypot answer: caught (adjust or absent), fixed (adjust with IoU >=
        catch_iou), missed (accept).

    Raises:
        InputFormatError: an answer names an item the queue does not have.
    """
    rows = _item_rows(queue, answers)
    is_pot = queue.kind[rows] == ItemKind.HONEYPOT
    rows, ans = rows[is_pot], answers[is_pot]
    iou = pair_iou(ans.xyxy, queue.truth_xyxy[rows])
    missed = ans.op == Op.ACCEPT
    return HoneypotOutcomes(
        item=ans.item, author=ans.author, batch=ans.batch, op=ans.op, iou=iou,
        caught=~missed, fixed=(ans.op == Op.ADJUST) & (iou >= catch_iou), missed=missed,
    )


@dataclass(frozen=True, slots=True)
class BatchStats:
    """One reviewer's non-honeypot answers in one batch."""

    batch: int
    items: int
    corrections: int
    mean_risk: float

    @property
    def correction_rate(self) -> float:
        return self.corrections / self.items if self.items else 0.0


@dataclass(frozen=True)
class ReviewerStats:
    """One reviewer's audit.

    Attributes:
        author: the reviewer.
        items: non-honeypot items answered.
        corrections: of those, answers other than accept.
        batches: per batch, in time order.
        honeypots, caught, fixed: honeypot answers, and how many were changed / fixed.
        earlier_rate, latest_rate: correction rate of the baseline and the latest window (None
            when there were too few items to compare); baseline is the reviewer's earlier batches,
            or the other reviewers pooled when the latest window is all they did.
        earlier_risk, latest_risk: mean risk score of the items in those windows.
        baseline: "own earlier batches" or "other reviewers".
        flags: plain-language reasons to look at this reviewer's work.
        notes: what was checked and not flagged, and why.
    """

    author: str
    items: int
    corrections: int
    batches: list[BatchStats]
    honeypots: int
    caught: int
    fixed: int
    earlier_rate: float | None = None
    latest_rate: float | None = None
    earlier_risk: float | None = None
    latest_risk: float | None = None
    baseline: str = ""
    flags: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def correction_rate(self) -> float:
        return self.corrections / self.items if self.items else 0.0

    @property
    def catch_rate(self) -> float | None:
        return self.caught / self.honeypots if self.honeypots else None

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values."""
        out = asdict(self)
        out["correction_rate"] = self.correction_rate
        out["catch_rate"] = self.catch_rate
        out["batches"] = [{**asdict(b), "correction_rate": b.correction_rate} for b in self.batches]
        return out


@dataclass(frozen=True, slots=True, eq=False)
class _Answered:
    """Every answer of every queue, joined with its item's kind and risk score."""

    author: npt.NDArray[np.str_]
    batch: npt.NDArray[np.int32]
    time_ns: npt.NDArray[np.int64]
    op: npt.NDArray[np.uint8]
    kind: npt.NDArray[np.uint8]
    score: npt.NDArray[np.float32]


def _join(queues: list[ReviewQueue], answers: Mapping[str, Answers]) -> _Answered:
    parts = []
    for q in queues:
        a = answers.get(q.queue_id)
        if a is None or not len(a):
            continue
        rows = _item_rows(q, a)
        parts.append((a.author, a.batch, a.time_ns, a.op, q.kind[rows], q.score[rows]))
    if not parts:
        return _Answered(np.zeros(0, str), np.zeros(0, np.int32), np.zeros(0, np.int64),
                         np.zeros(0, np.uint8), np.zeros(0, np.uint8), np.zeros(0, np.float32))
    return _Answered(*(np.concatenate(cols) for cols in zip(*parts)))


def _batches(a: _Answered) -> list[BatchStats]:
    """Per batch of these answers, ordered by the batch's first answer time, then number."""
    numbers, inverse = np.unique(a.batch, return_inverse=True)
    first = np.full(len(numbers), np.iinfo(np.int64).max)
    np.minimum.at(first, inverse, a.time_ns)
    items = np.bincount(inverse, minlength=len(numbers))
    changed = np.bincount(inverse, weights=_changed(a.op), minlength=len(numbers))
    risk = np.bincount(inverse, weights=a.score.astype(np.float64), minlength=len(numbers))
    order = np.lexsort((numbers, first))
    return [BatchStats(int(numbers[i]), int(items[i]), int(changed[i]), float(risk[i] / items[i]))
            for i in order]


def _window(batches: list[BatchStats]) -> tuple[list[BatchStats], list[BatchStats]]:
    """(earlier, latest): latest = the last batches, back until they hold >= MIN_WINDOW_ITEMS."""
    total, k = 0, len(batches)
    while k > 0 and total < MIN_WINDOW_ITEMS:
        k -= 1
        total += batches[k].items
    return batches[:k], batches[k:]


def _rate_risk(batches: list[BatchStats]) -> tuple[int, float, float]:
    n = sum(b.items for b in batches)
    if not n:
        return 0, 0.0, 0.0
    return (n, sum(b.corrections for b in batches) / n,
            sum(b.mean_risk * b.items for b in batches) / n)


def _drop_check(baseline: str, base: tuple[int, float, float], latest: tuple[int, float, float],
                cfg: ReviewConfig) -> tuple[dict[str, Any], list[str], list[str]]:
    """(window numbers, flags, notes) of the correction-rate trend; see `reviewer_stats`."""
    (n0, rate0, risk0), (n1, rate1, risk1) = base, latest
    if n0 < MIN_WINDOW_ITEMS or n1 < MIN_WINDOW_ITEMS:
        return {}, [], [f"correction-rate trend not judged: {n0} baseline and {n1} latest items "
                        f"(< {MIN_WINDOW_ITEMS} in each window)"]
    windows = {"earlier_rate": rate0, "latest_rate": rate1, "earlier_risk": risk0,
               "latest_risk": risk1}
    if rate0 <= 0 or rate1 >= cfg.flag_drop * rate0:
        return windows, [], []
    fell = (f"correction rate fell from {_pct(rate0)} ({baseline}) to {_pct(rate1)} "
            f"(latest batches < flag_drop {cfg.flag_drop:g} x earlier)")
    # the rate a reviewer should give scales with the risk of what they saw: compare per unit risk
    # (rate1 / rate0) / (risk1 / risk0) >= flag_drop, multiplied out so a zero risk cannot divide
    risk_ratio = risk1 / risk0 if risk0 > 0 else 1.0
    if rate1 / rate0 >= cfg.flag_drop * risk_ratio:
        return windows, [], [f"{fell}, but the mean risk of the items seen fell as much "
                             f"({risk0:.2f} to {risk1:.2f}): not flagged"]
    return windows, [f"{fell}; mean risk of the items seen {risk0:.2f} -> {risk1:.2f}"], []


def _catch_check(seen: int, caught: int, fixed: int, cfg: ReviewConfig) -> tuple[list[str], list[str]]:
    """(flags, notes) of the honeypot catch rate; see `reviewer_stats`."""
    if not seen:
        return [], []
    text = f"caught {caught} of {seen} honeypots, fixed {fixed}"
    if seen < MIN_HONEYPOTS:
        return [], [f"{text}: too few to judge (< {MIN_HONEYPOTS})"]
    if caught < cfg.flag_catch_rate * seen:
        return [f"{text} ({_pct(caught / seen)} < flag_catch_rate {_pct(cfg.flag_catch_rate)})"], []
    return [], []


def _baseline(joined: _Answered, real: npt.NDArray[np.bool_], author: str,
              earlier: list[BatchStats]) -> tuple[str, tuple[int, float, float]]:
    """The reviewer's own earlier window, or (none) the other reviewers' answers pooled."""
    if earlier:
        return "own earlier batches", _rate_risk(earlier)
    others = real & (joined.author != author)
    n = int(others.sum())
    if not n:
        return "other reviewers", (0, 0.0, 0.0)
    return "other reviewers", (n, float(_changed(joined.op[others]).mean()),
                               float(joined.score[others].astype(np.float64).mean()))


def reviewer_stats(queues: list[ReviewQueue], answers: Mapping[str, Answers],
                   cfg: ReviewConfig) -> list[ReviewerStats]:
    """Per reviewer: items, correction rate and its trend, honeypots caught/fixed, and flags.

    Windows: a reviewer's batches in time order; the latest window is their last batches back
    until it holds >= MIN_WINDOW_ITEMS non-honeypot items, the earlier window is the rest. A
    reviewer whose latest window is all they did (e.g. a single batch) is compared with the other
    reviewers pooled. Both windows need >= MIN_WINDOW_ITEMS items, so one small batch never flags.
    A drop (latest rate < flag_drop x baseline rate) is flagged unless the mean risk score of the
    items seen fell as much (risk-adjusted ratio (rate1/rate0)/(risk1/risk0) >= flag_drop): then
    it is a note. Honeypots: flagged when caught/seen < flag_catch_rate with >= MIN_HONEYPOTS seen.

    Args:
        queues: the video's queues.
        answers: queue_id -> its answers.
        cfg: flag_drop, flag_catch_rate, catch_iou.

    Returns:
        One `ReviewerStats` per author, sorted by name.

    Raises:
        InputFormatError: an answer names an item its queue does not have.
    """
    joined = _join(queues, answers)
    pots = [honeypot_outcomes(q, answers[q.queue_id], cfg.catch_iou) for q in queues
            if q.queue_id in answers]
    pot_author = np.concatenate([p.author for p in pots]) if pots else np.zeros(0, str)
    pot_caught = np.concatenate([p.caught for p in pots]) if pots else np.zeros(0, bool)
    pot_fixed = np.concatenate([p.fixed for p in pots]) if pots else np.zeros(0, bool)
    real = joined.kind != ItemKind.HONEYPOT
    out = []
    for author in sorted(set(joined.author.tolist())):
        mine = real & (joined.author == author)
        batches = _batches(_Answered(*(getattr(joined, f.name)[mine] for f in fields(_Answered))))
        earlier, latest = _window(batches)
        baseline, base = _baseline(joined, real, author, earlier)
        windows, flags, notes = _drop_check(baseline, base, _rate_risk(latest), cfg)
        p = pot_author == author
        seen, caught, fixed = int(p.sum()), int(pot_caught[p].sum()), int(pot_fixed[p].sum())
        pot_flags, pot_notes = _catch_check(seen, caught, fixed, cfg)
        out.append(ReviewerStats(
            author=author, items=int(mine.sum()), corrections=int(_changed(joined.op[mine]).sum()),
            batches=batches, honeypots=seen, caught=caught, fixed=fixed, baseline=baseline,
            flags=flags + pot_flags, notes=notes + pot_notes, **windows,
        ))
    return out


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
        seconds_spent: human seconds so far (cost model on the log plus honeypot answers).
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
        acc = "n/a" if self.acceptance is None else _pct(self.acceptance)
        out.append(f"acceptance {acc} of {self.answered} answered ({self.source or 'no data'}); "
                   f"human time so far {_hours(self.seconds_spent)}")
        if self.spot_checks:
            out.append(f"spot checks changed {self.spot_errors} of {self.spot_checks}")
        if self.honeypots:
            out.append(f"honeypots caught {self.caught} of {self.honeypots}")
        proj = ", ".join(f"{m} {_hours(s)}" for m, s in self.projected_s.items() if s is not None)
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
    pot_counts: ActionCounts


def _measure(queues: list[ReviewQueue], answers: Mapping[str, Answers], log: Corrections,
             cfg: ReviewConfig) -> _Measured:
    joined = _join(queues, answers)
    changed = _changed(joined.op)
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
        pot_counts=ActionCounts(verify=int((pot_op == Op.ACCEPT).sum()),
                                adjust=int((pot_op == Op.ADJUST).sum()),
                                delete=int((pot_op == Op.ABSENT).sum())),
    )


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
            f"AI assistance does not pay here: at {_pct(a)} acceptance checking a pre-label costs "
            f"{cost.verify_s:g} + (1 - {a:.2f}) x {cost.adjust_s:g} = {check_s:.1f} s, not less "
            f"than drawing it ({cost.draw_s:g} s); break-even acceptance {_pct(break_even)}",
            f"projected review {_hours(projected['fast review'])} vs manual "
            f"{_hours(projected['manual first'])}"]
    reasons = []
    spot_n, spot_err = m.spot
    if spot_n >= MIN_SPOT_CHECKS and spot_err > SPOT_ERROR_MAX * spot_n:
        reasons.append(f"spot checks found confident errors: {spot_err} of {spot_n} changed "
                       f"({_pct(spot_err / spot_n)} > {_pct(SPOT_ERROR_MAX)})")
    pot_n, caught = m.pots
    if pot_n >= MIN_HONEYPOTS and caught < cfg.flag_catch_rate * pot_n:
        reasons.append(f"reviewers caught {caught} of {pot_n} honeypots ({_pct(caught / pot_n)} < "
                       f"flag_catch_rate {_pct(cfg.flag_catch_rate)}): accepted boxes are not all "
                       f"looked at")
    for stats in flagged:
        reasons.append(f"reviewer {stats.author} is flagged: {stats.flags[0]}")
    if reasons:
        return "strict review", reasons
    (top_n, top_c), (rest_n, rest_c) = m.top, m.rest
    if top_n >= MIN_TOP_ITEMS and rest_n >= MIN_TOP_ITEMS and top_c > 0 and \
            top_c * rest_n >= CONCENTRATION_RATIO * rest_c * top_n:
        return "active loop", [
            f"errors concentrate in high-risk items: {_pct(top_c / top_n)} of the top "
            f"{_pct(TOP_RISK_SHARE)} by risk changed vs {_pct(rest_c / rest_n)} of the rest "
            f"(>= {CONCENTRATION_RATIO:g}x): review -> correct -> re-rank"]
    return "fast review", [
        f"at {_pct(a)} acceptance checking a pre-label costs {check_s:.1f} s vs {cost.draw_s:g} s "
        f"to draw it (break-even acceptance {_pct(break_even)}), and no sign of confident errors "
        f"or of unchecked accepts"]


def advise(queues: list[ReviewQueue], answers: Mapping[str, Answers], log: Corrections,
           num_frames: int, boxes_in_video: int, cost: CostModel, *, cfg: ReviewConfig | None = None,
           manual_k: int = 10) -> Advice:
    """Recommend a review mode from the answers so far, with the numbers behind it.

    Measured: acceptance a = accepted / answered non-honeypot items (from the log's accept /
    (accept + adjust + absent) when no queue was answered); spot-check error rate (share of
    spot-check items changed: confident boxes that were wrong); honeypot catch rate; changed share
    of the top TOP_RISK_SHARE risk-ranked items vs the rest; human seconds so far (the cost model
    on the log, plus honeypot answers, which never reach the log).

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
        reasons.append(f"{mode} projected {_hours(mode_s)} vs manual {_hours(manual_s)}: "
                       f"saves {_hours(saved)}")
    spent = counts_from_log(log)
    spent.add(m.pot_counts)
    return Advice(
        mode=mode, reasons=reasons, source=m.source, answered=m.answered, accepted=m.accepted,
        spot_checks=m.spot[0], spot_errors=m.spot[1], honeypots=m.pots[0], caught=m.pots[1],
        top_items=m.top[0], top_changed=m.top[1], rest_items=m.rest[0], rest_changed=m.rest[1],
        seconds_spent=cost.seconds(spent), check_s=check_s, break_even_acceptance=break_even,
        manual_k=manual_k, num_frames=num_frames, boxes_in_video=boxes_in_video,
        projected_s=projected, saved_s=saved,
    )
