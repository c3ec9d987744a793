"""Mode advice: every branch of `advise`, with the numbers it gives."""

from __future__ import annotations

import pytest

from tests._review import CFG, COST, answer, make_queue, ops_with
from trackannot.advise import MIN_ANSWERS, advise
from trackannot.corrections import Corrections, Op
from trackannot.errors import InputFormatError
from trackannot.review import ItemKind


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


def test_review_actions_price_each_answer_by_what_it_says():
    """Answers and their log rows as the store makes them (`answers_from_lines`): every answer
    priced by its answer, the rows it made not again, ordinary lines by their op."""
    from dataclasses import replace

    from trackannot.advise import review_actions
    from trackannot.cost import counts_from_log
    from trackannot.review import answers_from_lines

    kinds = [ItemKind.RISK] * 3 + [ItemKind.CANDIDATE] * 3 + [ItemKind.HONEYPOT]
    q = make_queue(kinds)
    q = replace(q, track_id=q.track_id * [1, 1, 1, 1, -1, 1, 1])  # candidate 4: a new object
    box = [10.0, 10.0, 50.0, 90.0]
    lines = [{"item": 0, "op": "accept"}, {"item": 1, "op": "adjust", "box": box},
             {"item": 2, "op": "absent"},
             {"item": 3, "op": "accept"},  # onto the track it continues: an adjust row
             {"item": 4, "op": "adjust", "box": box},  # a new object drawn: a create row
             {"item": 5, "op": "absent"},  # rejected: no row
             {"item": 6, "op": "accept"},  # a honeypot: no row
             {"op": "create", "frame": 9, "box": box, "class": 0},
             {"op": "absent", "track": 1, "frame": 8}]
    log, given = answers_from_lines([(f"line {n}", n, x) for n, x in enumerate(lines, 1)], q,
                                    "ana", 0)
    assert sorted(Op(o).name for o in log.op) == ["ABSENT", "ABSENT", "ACCEPT", "ADJUST",
                                                  "ADJUST", "CREATE", "CREATE"]
    counts = review_actions([q], {"q0": given}, log)
    assert counts.as_dict() == {"verify": 3, "adjust": 1, "draw": 2, "delete": 3, "split": 0,
                                "merge": 0}
    adv = advise([q], {"q0": given}, log, num_frames=100, boxes_in_video=1000, cost=COST)
    assert adv.seconds_spent == pytest.approx(3 * 1 + 10 + 2 * 6 + 3 * 2)
    # priced row by row (before): the continued candidate read as an adjust, the rejected one
    # and the honeypot free
    assert COST.seconds(counts_from_log(log)) == pytest.approx(1 + 2 * 10 + 2 * 6 + 2 * 2)
