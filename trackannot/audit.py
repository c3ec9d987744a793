"""Reviewer audit: honeypot outcomes and per-reviewer correction rates, with flags.

Pure functions over review queues (`trackannot.review.ReviewQueue`), the answers given to them
(`trackannot.review.Answers`) and the corrections log, so they run without a store.

Automation bias: a reviewer who stops looking accepts what is shown. Two signs of it are measured.
Honeypots (boxes moved away from a known truth) that were accepted, and a correction rate that falls
between the reviewer's earlier and latest batches. A falling rate is only suspicious when the items
were as risky as before, so the mean risk score of the items seen is compared too.

Which review mode pays is `trackannot.advise`'s job.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Mapping

import numpy as np
import numpy.typing as npt

from trackannot.boxes import pair_iou
from trackannot.config import ReviewConfig
from trackannot.corrections import Op
from trackannot.errors import InputFormatError
from trackannot.review import Answers, ItemKind, ReviewQueue

__all__ = ["AnsweredItems", "BatchStats", "HoneypotOutcomes", "ReviewerStats", "changed_ops",
           "duration", "honeypot_outcomes", "item_rows", "join_answers", "percent",
           "reviewer_stats"]

# Minimum samples. A rate over fewer items says little: at 20 items a 30% rate has a 95% interval
# of about +-20 points, so one small batch must not flag anyone.
MIN_WINDOW_ITEMS = 20  # items in each window before a correction-rate drop is flagged
MIN_HONEYPOTS = 3  # honeypots a reviewer must have seen before a low catch rate is flagged


def percent(x: float) -> str:
    """A share for a report: 0.423 -> "42%" (whole percent)."""
    return f"{100 * x:.0f}%"


def duration(seconds: float | None) -> str:
    """A duration for a report: seconds under 2 min, minutes under 2 h, then hours; "n/a" for
    None."""
    if seconds is None:
        return "n/a"
    if abs(seconds) < 120:
        return f"{seconds:.0f} s"
    if abs(seconds) < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def changed_ops(op: npt.NDArray[np.uint8]) -> npt.NDArray[np.bool_]:
    """Which answers changed what was shown: every op but ACCEPT (adjust, absent, ...)."""
    return op != Op.ACCEPT


def item_rows(queue: ReviewQueue, answers: Answers) -> npt.NDArray[np.int64]:
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
    rows = item_rows(queue, answers)
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
class AnsweredItems:
    """Every answer of every queue, joined with its item's kind and risk score (`join_answers`);
    one row per answer, columns as in `Answers` plus the item's `kind` (`ItemKind`) and `score`."""

    author: npt.NDArray[np.str_]
    batch: npt.NDArray[np.int32]
    time_ns: npt.NDArray[np.int64]
    op: npt.NDArray[np.uint8]
    kind: npt.NDArray[np.uint8]
    score: npt.NDArray[np.float32]


def join_answers(queues: list[ReviewQueue], answers: Mapping[str, Answers]) -> AnsweredItems:
    """The answers to every queue (by queue id) joined with their items, queue by queue.

    Raises:
        InputFormatError: an answer names an item its queue does not have.
    """
    parts = []
    for q in queues:
        a = answers.get(q.queue_id)
        if a is None or not len(a):
            continue
        rows = item_rows(q, a)
        parts.append((a.author, a.batch, a.time_ns, a.op, q.kind[rows], q.score[rows]))
    if not parts:
        return AnsweredItems(np.zeros(0, str), np.zeros(0, np.int32), np.zeros(0, np.int64),
                         np.zeros(0, np.uint8), np.zeros(0, np.uint8), np.zeros(0, np.float32))
    return AnsweredItems(*(np.concatenate(cols) for cols in zip(*parts)))


def _batches(a: AnsweredItems) -> list[BatchStats]:
    """Per batch of these answers, ordered by the batch's first answer time, then number."""
    numbers, inverse = np.unique(a.batch, return_inverse=True)
    first = np.full(len(numbers), np.iinfo(np.int64).max)
    np.minimum.at(first, inverse, a.time_ns)
    items = np.bincount(inverse, minlength=len(numbers))
    changed = np.bincount(inverse, weights=changed_ops(a.op), minlength=len(numbers))
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
    fell = (f"correction rate fell from {percent(rate0)} ({baseline}) to {percent(rate1)} "
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
        rate = percent(cfg.flag_catch_rate)
        return [f"{text} ({percent(caught / seen)} < flag_catch_rate {rate})"], []
    return [], []


def _baseline(joined: AnsweredItems, real: npt.NDArray[np.bool_], author: str,
              earlier: list[BatchStats]) -> tuple[str, tuple[int, float, float]]:
    """The reviewer's own earlier window, or (none) the other reviewers' answers pooled."""
    if earlier:
        return "own earlier batches", _rate_risk(earlier)
    others = real & (joined.author != author)
    n = int(others.sum())
    if not n:
        return "other reviewers", (0, 0.0, 0.0)
    return "other reviewers", (n, float(changed_ops(joined.op[others]).mean()),
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
    joined = join_answers(queues, answers)
    pots = [honeypot_outcomes(q, answers[q.queue_id], cfg.catch_iou) for q in queues
            if q.queue_id in answers]
    pot_author = np.concatenate([p.author for p in pots]) if pots else np.zeros(0, str)
    pot_caught = np.concatenate([p.caught for p in pots]) if pots else np.zeros(0, bool)
    pot_fixed = np.concatenate([p.fixed for p in pots]) if pots else np.zeros(0, bool)
    real = joined.kind != ItemKind.HONEYPOT
    out = []
    for author in sorted(set(joined.author.tolist())):
        mine = real & (joined.author == author)
        batches = _batches(AnsweredItems(*(getattr(joined, f.name)[mine]
                                           for f in fields(AnsweredItems))))
        earlier, latest = _window(batches)
        baseline, base = _baseline(joined, real, author, earlier)
        windows, flags, notes = _drop_check(baseline, base, _rate_risk(latest), cfg)
        p = pot_author == author
        seen, caught, fixed = int(p.sum()), int(pot_caught[p].sum()), int(pot_fixed[p].sum())
        pot_flags, pot_notes = _catch_check(seen, caught, fixed, cfg)
        out.append(ReviewerStats(
            author=author, items=int(mine.sum()),
            corrections=int(changed_ops(joined.op[mine]).sum()),
            batches=batches, honeypots=seen, caught=caught, fixed=fixed, baseline=baseline,
            flags=flags + pot_flags, notes=notes + pot_notes, **windows,
        ))
    return out
