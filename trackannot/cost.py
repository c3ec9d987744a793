"""Cost model: seconds a person spends on each annotation action.

Used by the reviewer audit and mode advice (`trackannot.audit`) and the effort benchmark
(`benchmarks.effort`, which re-exports these names).

Every figure is a per-action time from a published user study, or an assumption said to be one.

Sources (title, authors, venue, year):

* [P17] "Extreme clicking for efficient object annotation", D. P. Papadopoulos, J. R. R. Uijlings,
  F. Keller, V. Ferrari, ICCV 2017. Abstract: a box by extreme clicking (four clicks on the
  object's extreme points) takes 7 s, 5x faster than drawing it the traditional way; the
  traditional ILSVRC box took about 35 s for one high-quality box, citing [S12].
* [S12] "Crowdsourcing annotations for visual object detection", H. Su, J. Deng, L. Fei-Fei,
  AAAI Human Computation workshop (HCOMP) 2012: the drawing task with quality verification,
  25.5 s drawing + quality control, 34.5 s in all as quoted by [P17] (median times; the
  breakdown is from [P17]'s citation, not re-read here).
* [P16] "We don't need no bounding-boxes: Training object class detectors using only human
  verification", D. P. Papadopoulos, J. R. R. Uijlings, F. Keller, V. Ferrari, CVPR 2016: the
  yes/no verification of one box is very quick; the paper reports about 1.6 s per verification
  (the figure is from the paper body, not its abstract; checked here only against the abstract,
  which says "the verification task is very quick" and gives a 6x-9x saving).
* [V13] "Efficiently scaling up crowdsourced video annotation: a set of best practices for high
  quality, economical video labeling", C. Vondrick, D. Patterson, D. Ramanan, IJCV 101(1), 2013
  (VATIC): keyframes plus interpolation is how video is annotated; its cost is measured per
  keyframe/box, which is what this model counts. It gives no per-action seconds used here.

Figures:

* verify_s = 1.6 ([P16]): look at a box and accept it.
* draw_s = 7.0 ([P17], extreme clicking): draw a new box.
* adjust_s = 7.0: ASSUMPTION, fixing a wrong box costs one redraw by extreme clicking ([P17]);
  dragging two corners is usually faster, so this is an upper bound.
* delete_s = 2.0: ASSUMPTION, a verification ([P16], 1.6 s) plus one key press.
* identity_s = 5.0: ASSUMPTION, per split or merge (find the right track id and link it); no
  published per-action time was found.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

from trackannot.corrections import Corrections, Op

__all__ = ["ActionCounts", "CostModel", "DEFAULT_COST", "counts_from_log", "counts_from_ops"]


@dataclass(slots=True)
class ActionCounts:
    """How many times a person did each action (mutable: strategies add to it).

    Attributes:
        verify: boxes looked at and accepted as they were.
        adjust: boxes moved or resized.
        draw: boxes drawn where there was none (new track or missed frame of a track).
        delete: boxes removed (false positives; "absent"/outside marks).
        split: tracks cut in two at an identity switch.
        merge: track pieces joined under one identity.
    """

    verify: int = 0
    adjust: int = 0
    draw: int = 0
    delete: int = 0
    split: int = 0
    merge: int = 0

    def add(self, other: ActionCounts) -> None:
        """Add `other`'s counts to these, in place."""
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def as_dict(self) -> dict[str, int]:
        """The counts by action name."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, slots=True)
class CostModel:
    """Seconds per human action (see the module docstring for each figure's source).

    Attributes:
        verify_s: accept a shown box, seconds.
        adjust_s: correct a shown box, seconds.
        draw_s: draw a new box, seconds.
        delete_s: remove a box / mark the object outside, seconds.
        identity_s: one split or one merge, seconds.
        sources: the figure -> citation map, for result files.
    """

    verify_s: float = 1.6
    adjust_s: float = 7.0
    draw_s: float = 7.0
    delete_s: float = 2.0
    identity_s: float = 5.0
    sources: dict[str, str] = field(default_factory=lambda: dict(_SOURCES), compare=False)

    def seconds(self, counts: ActionCounts) -> float:
        """Total human seconds for these action counts."""
        return (
            counts.verify * self.verify_s
            + counts.adjust * self.adjust_s
            + counts.draw * self.draw_s
            + counts.delete * self.delete_s
            + (counts.split + counts.merge) * self.identity_s
        )


_SOURCES = {
    "verify_s": "Papadopoulos, Uijlings, Keller, Ferrari, 'We don't need no bounding-boxes', CVPR 2016",
    "draw_s": "Papadopoulos, Uijlings, Keller, Ferrari, 'Extreme clicking for efficient object "
    "annotation', ICCV 2017 (7 s/box)",
    "adjust_s": "assumption: one extreme-clicking redraw (ICCV 2017, 7 s)",
    "delete_s": "assumption: one verification (CVPR 2016) + a key press",
    "identity_s": "assumption: no published per-action time found",
}

DEFAULT_COST = CostModel()


# log operation -> the action it cost; CLASS: ASSUMPTION, picking a class from a list costs about
# one verification ([P16]), so it is counted as one.
_ACTION_OF_OP = {
    Op.ACCEPT: "verify",
    Op.ADJUST: "adjust",
    Op.ABSENT: "delete",
    Op.CREATE: "draw",
    Op.SPLIT: "split",
    Op.MERGE: "merge",
    Op.CLASS: "verify",
}


def counts_from_log(corrections: Corrections) -> ActionCounts:
    """The human actions behind a corrections log (or one batch of it).

    accept -> verify, adjust -> adjust, absent -> delete, create -> draw, split -> split,
    merge -> merge, class -> verify (an assumption: choosing a class costs about one verification).

    Args:
        corrections: the log rows (`VideoResult.read_log()[0]`) or a batch.

    Returns:
        The action counts; `DEFAULT_COST.seconds(counts)` is the human time they took. A log
        that records answers to review queues is priced by `trackannot.advise.review_actions`
        instead (each answered item by its answer).
    """
    return counts_from_ops(np.bincount(corrections.op.astype(np.int64), minlength=len(Op)))


def counts_from_ops(per_op: np.ndarray) -> ActionCounts:
    """The human actions of log rows counted by op: `per_op[op]` rows of each `Op` (mapped as
    in `counts_from_log`)."""
    counts = ActionCounts()
    for op, action in _ACTION_OF_OP.items():
        setattr(counts, action, getattr(counts, action) + int(per_op[op]))
    return counts
