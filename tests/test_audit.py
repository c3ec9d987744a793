"""Reviewer audit and mode advice: honeypot outcomes, correction-rate flags, every advice branch."""

from __future__ import annotations

import numpy as np
import pytest

from trackannot.audit import (
    MIN_ANSWERS, MIN_WINDOW_ITEMS, advise, honeypot_outcomes, reviewer_stats,
)
from trackannot.config import ReviewConfig
from trackannot.corrections import Corrections, Op
from trackannot.cost import CostModel
from trackannot.errors import InputFormatError
from trackannot.review import Answers, ItemKind, ReviewQueue

BOX = [10.0, 10.0, 50.0, 90.0]
TRUTH = [20.0, 10.0, 60.0, 90.0]  # BOX moved 10 px right: IoU 30/50 = 0.6 with BOX
COST = CostModel(verify_s=1.0, adjust_s=10.0, draw_s=6.0, delete_s=2.0, identity_s=5.0)
CFG = ReviewConfig()  # flag_drop 0.5, flag_catch_rate 0.8, catch_iou 0.7


def make_queue(kinds, scores=None, queue_id="q0", mode="fast") -> ReviewQueue:
    n = len(kinds)
    kind = np.asarray(kinds, np.uint8)
    truth = np.full((n, 4), np.nan, np.float32)
    truth[kind == ItemKind.HONEYPOT] = TRUTH
    return ReviewQueue(
        queue_id=queue_id, based_on=0, mode=mode, budget=n, item=np.arange(n, dtype=np.int64),
        rank=np.arange(n, dtype=np.int32), frame=np.arange(n, dtype=np.int64),
        track_id=np.ones(n, np.int64),
        score=np.full(n, 0.5, np.float32) if scores is None else np.asarray(scores, np.float32),
        reason=np.zeros(n, np.uint8), kind=kind, xyxy=np.tile(np.float32(BOX), (n, 1)),
        truth_xyxy=truth)


def answer(items, ops, batch=0, author="ana", time_ns=None, xyxy=None) -> Answers:
    items = list(items)
    ops = [ops] * len(items) if isinstance(ops, Op) else list(ops)
    box = np.tile(np.float32(BOX), (len(items), 1)) if xyxy is None else xyxy
    return Answers.create(item=items, op=ops, xyxy=box, batch=batch, author=author,
                          time_ns=batch * 1000 if time_ns is None else time_ns)


def ops_with(n: int, changed: int) -> list[Op]:
    """n ops, the first `changed` of them adjusts, the rest accepts."""
    return [Op.ADJUST] * changed + [Op.ACCEPT] * (n - changed)


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


# ---- advice -------------------------------------------------------------------------------------

def _advise(kinds, ops, scores=None, cfg=CFG, boxes=1000, log=None):
    q = make_queue(kinds, scores)
    a = answer(range(len(ops)), ops)
    return advise([q], {"q0": a}, Corrections.empty() if log is None else log, num_frames=100,
                  boxes_in_video=boxes, cost=COST, cfg=cfg)


def test_not_enough_data_recommends_strict_review_to_measure():
    adv = _advise([ItemKind.RISK] * 12, ops_with(12, 0))
    assert adv.mode == "strict review" and adv.answered == 12
    assert adv.reasons[0].startswith(f"not enough data yet (n = 12 < {MIN_ANSWERS} answered items)")


def test_low_acceptance_says_ai_assistance_does_not_pay():
    # check_s = 1 + (1 - 0.5) x 10 = 6 s = draw_s: break even a* = 1 - (6 - 1) / 10 = 0.5
    adv = _advise([ItemKind.RISK] * 40, ops_with(40, 20))
    assert adv.mode == "manual first"
    assert adv.acceptance == 0.5 and adv.check_s == pytest.approx(6.0)
    assert adv.break_even_acceptance == pytest.approx(0.5)
    assert adv.reasons[0] == ("AI assistance does not pay here: at 50% acceptance checking a "
                              "pre-label costs 1 + (1 - 0.50) x 10 = 6.0 s, not less than drawing "
                              "it (6 s); break-even acceptance 50%")
    # B / k = 100 keyframes: manual 600 s, review 600 s
    assert adv.projected_s["manual first"] == pytest.approx(600.0)
    assert adv.projected_s["fast review"] == pytest.approx(600.0)
    assert adv.reasons[1] == "projected review 10.0 min vs manual 10.0 min"
    assert adv.saved_s == 0.0


def test_high_acceptance_with_nothing_wrong_is_fast_review_with_savings():
    adv = _advise([ItemKind.RISK] * 40, ops_with(40, 4))  # a = 0.9: check 2 s vs draw 6 s
    assert adv.mode == "fast review"
    assert adv.check_s == pytest.approx(2.0) and adv.projected_s["fast review"] == pytest.approx(200)
    assert adv.saved_s == pytest.approx(400.0)
    assert "90% acceptance checking a pre-label costs 2.0 s vs 6 s" in adv.reasons[0]
    assert adv.reasons[-1] == "fast review projected 3.3 min vs manual 10.0 min: saves 6.7 min"
    assert adv.projected_s["strict review"] == pytest.approx(200 * (1 + 0.1 + 0.02))


def test_confident_errors_in_spot_checks_recommend_strict_review():
    kinds = [ItemKind.RISK] * 40 + [ItemKind.SPOT_CHECK] * 20
    adv = _advise(kinds, ops_with(40, 0) + ops_with(20, 2))
    assert adv.mode == "strict review"
    assert adv.spot_checks == 20 and adv.spot_error_rate == pytest.approx(0.1)
    assert adv.reasons[0] == "spot checks found confident errors: 2 of 20 changed (10% > 5%)"


def test_one_spot_error_in_twenty_is_not_enough():
    kinds = [ItemKind.RISK] * 40 + [ItemKind.SPOT_CHECK] * 20
    assert _advise(kinds, ops_with(40, 0) + ops_with(20, 1)).mode == "fast review"


def test_missed_honeypots_recommend_strict_review():
    kinds = [ItemKind.RISK] * 40 + [ItemKind.HONEYPOT] * 5
    adv = _advise(kinds, ops_with(40, 0) + [Op.ACCEPT] * 4 + [Op.ABSENT])
    assert adv.mode == "strict review" and (adv.honeypots, adv.caught) == (5, 1)
    assert adv.answered == 40  # honeypots are not answered items
    assert adv.reasons[0].startswith("reviewers caught 1 of 5 honeypots (20% < flag_catch_rate 80%)")


def test_errors_concentrated_in_high_risk_items_recommend_the_active_loop():
    # 40 risk items: top quarter (10, score 0.9) has 5 changed, the rest (30, score 0.1) 1
    scores = [0.9] * 10 + [0.1] * 30
    ops = ops_with(10, 5) + ops_with(30, 1)
    adv = _advise([ItemKind.RISK] * 40, ops, scores=scores)
    assert adv.mode == "active loop"
    assert (adv.top_items, adv.top_changed, adv.rest_items, adv.rest_changed) == (10, 5, 30, 1)
    assert adv.reasons[0] == ("errors concentrate in high-risk items: 50% of the top 25% by risk "
                              "changed vs 3% of the rest (>= 3x): review -> correct -> re-rank")
    # active: 100 keyframes x 0.25 x (1 + 0.5 x 10) = 150 s
    assert adv.projected_s["active loop"] == pytest.approx(150.0)


def test_errors_spread_evenly_are_not_an_active_loop():
    scores = [0.9] * 10 + [0.1] * 30
    adv = _advise([ItemKind.RISK] * 40, ops_with(10, 1) + ops_with(30, 3), scores=scores)
    assert adv.mode == "fast review"


def test_acceptance_comes_from_the_log_when_no_queue_was_answered():
    ops = [Op.ACCEPT] * 27 + [Op.ADJUST] * 2 + [Op.ABSENT] + [Op.CREATE, Op.MERGE]
    log = Corrections.create(op=ops, track_id=[1] * len(ops), frame=list(range(len(ops))))
    adv = advise([], {}, log, num_frames=100, boxes_in_video=1000, cost=COST)
    assert adv.source == "log" and (adv.answered, adv.accepted) == (30, 27)
    assert adv.mode == "fast review"
    # 27 verify + 2 adjust + 1 delete + 1 draw + 1 merge
    assert adv.seconds_spent == pytest.approx(27 + 20 + 2 + 6 + 5)


def test_seconds_spent_include_honeypot_answers_that_never_reach_the_log():
    kinds = [ItemKind.HONEYPOT] * 2
    adv = _advise(kinds, [Op.ACCEPT, Op.ADJUST])
    assert adv.seconds_spent == pytest.approx(1 + 10)


def test_no_data_at_all():
    adv = advise([], {}, Corrections.empty(), num_frames=10, boxes_in_video=20, cost=COST)
    assert adv.mode == "strict review" and adv.source == "" and adv.acceptance is None
    assert adv.projected_s["fast review"] is None and adv.check_s is None
    assert adv.as_dict()["acceptance"] is None and adv.lines()[0] == "recommended mode: strict review"


def test_bad_manual_k():
    with pytest.raises(InputFormatError, match="manual_k must be an int >= 1, got 0"):
        advise([], {}, Corrections.empty(), num_frames=10, boxes_in_video=20, cost=COST, manual_k=0)


def test_equal_risk_scores_do_not_split_items_into_top_and_rest():
    adv = _advise([ItemKind.RISK] * 40, ops_with(40, 4))  # every score 0.5
    assert (adv.top_items, adv.rest_items) == (40, 0)


def test_lines_show_the_mode_reasons_and_long_projections_in_hours():
    adv = _advise([ItemKind.RISK] * 40, ops_with(40, 4), boxes=100_000)
    lines = adv.lines()
    assert lines[0] == "recommended mode: fast review" and lines[1].startswith("  - at 90% acceptance")
    # manual: 10,000 keyframes x 6 s = 16.7 h; fast: x 2 s = 5.6 h
    assert "manual first 16.7 h, fast review 5.6 h" in lines[-1]
    assert adv.as_dict()["projected_s"]["manual first"] == pytest.approx(60_000)


def test_batches_across_queues_make_one_trend():
    q0, q1 = make_queue([ItemKind.RISK] * 40, queue_id="q0"), make_queue([ItemKind.RISK] * 40, queue_id="q1")
    answers = {"q0": answer(range(40), ops_with(40, 14), batch=0),
               "q1": answer(range(40), ops_with(40, 2), batch=1)}
    (stats,) = reviewer_stats([q0, q1], answers, CFG)
    assert [b.batch for b in stats.batches] == [0, 1] and stats.items == 80
    assert len(stats.flags) == 1 and stats.flags[0].startswith("correction rate fell from 35%")
