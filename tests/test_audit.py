"""Reviewer audit: honeypot outcomes and correction-rate flags."""

from __future__ import annotations

import numpy as np
import pytest

from tests._review import BOX, CFG, TRUTH, answer, make_queue, ops_with
from trackannot.audit import MIN_WINDOW_ITEMS, honeypot_outcomes, reviewer_stats
from trackannot.corrections import Op
from trackannot.errors import InputFormatError
from trackannot.review import Answers, ItemKind

# ---- honeypot outcomes --------------------------------------------------------------------------

def test_honeypot_outcomes_caught_fixed_missed():
    q = make_queue([ItemKind.HONEYPOT] * 4 + [ItemKind.RISK])
    off = [15.0, 10.0, 55.0, 90.0]  # moved half way back: IoU 35/45 = 0.78 with TRUTH
    xyxy = np.float32([TRUTH, off, BOX, [np.nan] * 4, BOX])
    a = answer(range(5), [Op.ADJUST, Op.ADJUST, Op.ACCEPT, Op.ABSENT, Op.ADJUST], xyxy=xyxy)
    out = honeypot_outcomes(q, a, catch_iou=0.7)
    assert out.item.tolist() == [0, 1, 2, 3]  # the risk item is not a honeypot
    assert out.caught.tolist() == [True, True, False, True]
    assert out.fixed.tolist() == [True, True, False, False]
    assert out.missed.tolist() == [False, False, True, False]
    assert out.iou == pytest.approx([1.0, 35 / 45, 0.6, 0.0])
    assert honeypot_outcomes(q, a, catch_iou=0.8).fixed.tolist() == [True, False, False, False]


def test_an_answer_to_an_unknown_item_names_the_queue_and_item():
    with pytest.raises(InputFormatError, match="queue q0: answer for item 7, expected an item 0..2"):
        honeypot_outcomes(make_queue([ItemKind.RISK] * 3), answer([1, 7], Op.ACCEPT), 0.7)


# ---- reviewer stats -----------------------------------------------------------------------------

def test_reviewer_stats_counts_items_corrections_batches_and_honeypots():
    q = make_queue([ItemKind.RISK] * 10 + [ItemKind.HONEYPOT] * 2, scores=[0.2] * 5 + [0.6] * 7)
    a = Answers.concat([
        answer(range(5), ops_with(5, 1), batch=3, time_ns=10),
        answer(range(5, 10), ops_with(5, 4), batch=1, time_ns=50),  # later in time, lower number
        answer([10, 11], [Op.ACCEPT, Op.ADJUST], batch=1, time_ns=50, xyxy=np.float32([BOX, TRUTH])),
        answer([0, 1], ops_with(2, 2), batch=4, author="bo", time_ns=99),
    ])
    ana, bo = reviewer_stats([q], {"q0": a}, CFG)
    assert (ana.author, ana.items, ana.corrections) == ("ana", 10, 5)
    assert ana.correction_rate == 0.5
    assert [(b.batch, b.items, b.corrections) for b in ana.batches] == [(3, 5, 1), (1, 5, 4)]
    assert [b.mean_risk for b in ana.batches] == pytest.approx([0.2, 0.6])
    assert (ana.honeypots, ana.caught, ana.fixed, ana.catch_rate) == (2, 1, 1, 0.5)
    assert ana.flags == []  # too few items and honeypots to judge
    assert any("too few to judge" in n for n in ana.notes)
    assert (bo.items, bo.corrections, bo.honeypots, bo.catch_rate) == (2, 2, 0, None)


def _two_windows(rate0: float, rate1: float, risk0: float, risk1: float, n: int = 40):
    """ana: an earlier batch of n items and a latest batch of n items at these rates and risks."""
    q = make_queue([ItemKind.RISK] * 2 * n, scores=[risk0] * n + [risk1] * n)
    a = Answers.concat([answer(range(n), ops_with(n, round(rate0 * n)), batch=0),
                        answer(range(n, 2 * n), ops_with(n, round(rate1 * n)), batch=1)])
    (stats,) = reviewer_stats([q], {"q0": a}, CFG)
    return stats


def test_a_correction_rate_drop_against_own_earlier_batches_is_flagged_with_numbers():
    stats = _two_windows(0.35, 0.05, risk0=0.4, risk1=0.4)
    assert stats.baseline == "own earlier batches"
    assert (stats.earlier_rate, stats.latest_rate) == pytest.approx((0.35, 0.05))
    assert stats.flags == ["correction rate fell from 35% (own earlier batches) to 5% (latest "
                           "batches < flag_drop 0.5 x earlier); mean risk of the items seen "
                           "0.40 -> 0.40"]


def test_no_drop_flag_when_the_risk_of_the_items_fell_as_much():
    stats = _two_windows(0.35, 0.05, risk0=0.4, risk1=0.06)
    assert stats.flags == []
    assert stats.notes == ["correction rate fell from 35% (own earlier batches) to 5% (latest "
                           "batches < flag_drop 0.5 x earlier), but the mean risk of the items "
                           "seen fell as much (0.40 to 0.06): not flagged"]


def test_no_drop_flag_when_the_latest_items_had_no_risk_at_all():
    stats = _two_windows(0.35, 0.0, risk0=0.4, risk1=0.0)
    assert stats.flags == [] and stats.notes[0].endswith("(0.40 to 0.00): not flagged")


def test_a_drop_is_still_flagged_when_the_risk_fell_much_less():
    stats = _two_windows(0.35, 0.05, risk0=0.4, risk1=0.3)
    assert len(stats.flags) == 1 and "0.40 -> 0.30" in stats.flags[0]


def test_no_drop_flag_when_the_rate_holds():
    assert _two_windows(0.35, 0.25, risk0=0.4, risk1=0.4).flags == []


def test_a_small_latest_batch_does_not_flag():
    n = 40
    q = make_queue([ItemKind.RISK] * (n + 5))
    a = Answers.concat([answer(range(n), ops_with(n, 14), batch=0),
                        answer(range(n, n + 5), Op.ACCEPT, batch=1)])
    (stats,) = reviewer_stats([q], {"q0": a}, CFG)
    # the latest window reaches back to batch 0, so there is no earlier window of ana's own and
    # no other reviewer either
    assert stats.flags == [] and stats.latest_rate is None
    assert stats.notes == [f"correction-rate trend not judged: 0 baseline and 45 latest items "
                           f"(< {MIN_WINDOW_ITEMS} in each window)"]


def test_a_small_earlier_window_does_not_flag():
    q = make_queue([ItemKind.RISK] * 50)
    a = Answers.concat([answer(range(10), ops_with(10, 5), batch=0),
                        answer(range(10, 50), Op.ACCEPT, batch=1)])
    (stats,) = reviewer_stats([q], {"q0": a}, CFG)
    assert stats.flags == [] and "10 baseline and 40 latest items" in stats.notes[0]


def test_a_single_batch_reviewer_is_compared_with_the_others_pooled():
    q = make_queue([ItemKind.RISK] * 90)
    a = Answers.concat([answer(range(30), ops_with(30, 12), batch=0, author="ana"),
                        answer(range(30, 60), ops_with(30, 9), batch=1, author="bo"),
                        answer(range(60, 90), ops_with(30, 1), batch=2, author="cy")])
    stats = {s.author: s for s in reviewer_stats([q], {"q0": a}, CFG)}
    cy = stats["cy"]
    assert cy.baseline == "other reviewers"
    assert cy.earlier_rate == pytest.approx(21 / 60) and cy.latest_rate == pytest.approx(1 / 30)
    assert cy.flags == ["correction rate fell from 35% (other reviewers) to 3% (latest batches < "
                        "flag_drop 0.5 x earlier); mean risk of the items seen 0.50 -> 0.50"]
    assert stats["ana"].flags == [] and stats["bo"].flags == []


@pytest.mark.parametrize(("caught", "flagged"), [(2, True), (4, False)], ids=["low", "ok"])
def test_low_honeypot_catch_rate_is_flagged(caught, flagged):
    q = make_queue([ItemKind.HONEYPOT] * 5)
    a = answer(range(5), [Op.ABSENT] * caught + [Op.ACCEPT] * (5 - caught))
    (stats,) = reviewer_stats([q], {"q0": a}, CFG)
    assert stats.items == 0 and stats.honeypots == 5 and stats.caught == caught
    want = ["caught 2 of 5 honeypots, fixed 0 (40% < flag_catch_rate 80%)"] if flagged else []
    assert [f for f in stats.flags if "honeypot" in f] == want


def test_batches_across_queues_make_one_trend():
    q0, q1 = make_queue([ItemKind.RISK] * 40, queue_id="q0"), make_queue([ItemKind.RISK] * 40, queue_id="q1")
    answers = {"q0": answer(range(40), ops_with(40, 14), batch=0),
               "q1": answer(range(40), ops_with(40, 2), batch=1)}
    (stats,) = reviewer_stats([q0, q1], answers, CFG)
    assert [b.batch for b in stats.batches] == [0, 1] and stats.items == 80
    assert len(stats.flags) == 1 and stats.flags[0].startswith("correction rate fell from 35%")
