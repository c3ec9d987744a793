"""Effort benchmark: human seconds per frame vs final quality, on MOT15 and KITTI Car 0000-0013.

Strategies (`benchmarks.effort.strategies`), each at several budget levels (`STRATEGIES`):

* manual (a): keyframes drawn from ground truth every k frames, linear interpolation;
* uniform (b): automatic tracks (TrackConfig() defaults, smoothed over 0.1 s as the annotation
  does) reviewed at every k-th frame by the keying annotator of issue 4 (a drawn missed object is
  keyed over its visible run every MANUAL_K frames, `Oracle(manual_k=...)`), no propagation,
  guided interpolation in between; the reference, unchanged since issue 4;
* uniform_prop (b'): the same frames, the engine's propagation on and the propagating annotator
  (one box per missed object, only the reviewed frames' truth); uniform_onebox: that annotator
  with propagation off (what propagation itself adds); uniform_prop_check<R>: (b') checking
  only box items of risk >= R/100 (`UNIFORM_CHECK`: the queue's reviewer policies at uniform
  frames);
* queue_keying (c, no propagation): the review queue (`trackannot.review.build_queue`) worked
  through in frames order by the keying annotator, propagation off;
* queue_frames / queue_frames_risk / queue_keyframes (c): the queue with propagation and the
  propagating annotator, frames order (every box item checked / only items with risk >=
  MIN_RISK), keyframes order (per-track keyframe proposals); candidates wherever the queue has
  them. (c) is the variant picked per half (`summarize`);
* queue_anchor<G>_risk (c): queue_frames_risk with the frames order's coverage skeleton
  (`ReviewConfig.anchor_frames` = G, `trackannot.ranking.anchored_order`: first looks that leave
  no stretch of more than G frames unlooked, then frames by error runs) and only the candidates
  that pay in a whole-frame look (`ReviewConfig.frames_candidate_min_p` = CANDIDATE_MIN_P);
  queue_frames_risk_cand: that candidate rule alone (no skeleton); queue_anchor5_keying: the
  skeleton (5) and the candidate rule with issue 4's keying annotator, every box checked, no
  propagation (what (b) does at the frames the queue picks);
* queue_anchor5_{risk,keying,keyrisk}_looks (c): the queue at the library's default settings
  (even skeleton 5, candidates and missing boxes shown at p >= CANDIDATE_MIN_P), each video's
  budget in looks (LOOK_SHARES of its frames, as uniform review and `trackannot review
  --budget` spend it) instead of seconds; the propagating annotator checking box items of risk
  >= MIN_RISK / the keying annotator checking every box / the keying annotator checking risk >=
  MIN_RISK; queue_anchor5_risk_looks_allmissing: every missing box shown;
  queue_anchor5_check<R>_looks: the propagating annotator checking box items of risk >= R/100
  only (`CHECK_RISK`: the reviewer's policy, picked per half like any variant);
  queue_anchor5_keycheck<R>_looks: the same policies with the keying annotator (a missed object
  drawn is keyed over its run, no propagation: where detections cannot carry a drawn box);
  queue_anchor5_hybrid<R>_looks: the propagating annotator with the same policies, keying
  every MANUAL_K frames a box it drew along its object's run where the engine did not carry it
  (`Oracle.key_uncarried`); queue_anchor5_check80_pots{,10}_looks: that policy at 0.8 set in
  the library (`ReviewConfig.check_min_risk`), with honeypots at the default rate (2%) / 10% of the asked
  box items, each caught and fixed (an adjust);
* risk, active: issue 4's risk-filtered uniform review and active loop (not run by default).

Queue strategies run until budgets of human seconds per frame (`BUDGETS`) or of looks
(`LOOK_SHARES`, the *_looks variants), re-ranking every QUEUE_BATCH of the frames' worth of looks
(`strategies.queue_review`).

Human seconds come from `benchmarks.effort.cost.CostModel` (sources in its docstring). Quality:
HOTA and IDF1 (`trackannot.evaluate.evaluate_dataset`, MOT15 / KITTI rules, as
benchmarks/bench_tracking.py) and box accuracy (share of gt boxes covered at IoU >= 0.5 by a box
of the track owned by that gt object, `strategies.box_accuracy`), for all sequences and for each
half (HALVES: even / odd sequence indices, the split the risk and candidate models were fit on).

    python -m benchmarks.effort.run --datasets KITTI-Car     # then MOT15, a process each
    python -m benchmarks.effort.run --report                 # tables from the written JSON

Writes benchmarks/results/effort_<dataset>.json and effort_<dataset>.png (`--strategies` runs
some and keeps the others' rows of an existing file). issue 4's effort.json is left as it was.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.datasets import Sequence, load_kitti_car, load_mot15
from benchmarks.effort.cost import DEFAULT_COST, ActionCounts, CostModel
from benchmarks.effort.oracle import owners
from benchmarks.effort.strategies import (
    PROPAGATION_AVAILABLE, SKIPPED, active_review, box_accuracy, manual, queue_review, review,
    uniform_frames,
)
from trackannot.boxes import Boxes
from trackannot.config import ReviewConfig, TrackConfig
from trackannot.evaluate import EvalSequence, evaluate_dataset
from trackannot.smooth import smooth_tracks, strength_for_fps
from trackannot.track import track_detections

DATA_DIR = Path(__file__).resolve().parents[3] / "shared" / "data"
RESULTS = Path(__file__).resolve().parents[1] / "results"
LOADERS = {"MOT15": load_mot15, "KITTI-Car": load_kitti_car}
PROTOCOLS = {"MOT15": "MOT15", "KITTI-Car": "KITTI"}
KITTI_CAR = 1  # trackannot.evaluate.KITTI_CLASS_IDS["car"]
KITTI_IGNORE = (2, 9)  # KITTI_CLASS_IDS: van (Car's distractor), dontcare
SMOOTH_SECONDS = 0.1
# every k-th frame; 3-8 resolve where the curves cross 93% / 95% (linear between levels)
KS = (1, 2, 3, 4, 5, 6, 7, 8, 10, 25, 50, 100)
KS_PROP = KS[1:]  # uniform_prop: every frame (k=1) is far past both targets
KS_MANUAL = (*KS[:8], 9, 10, 12, 15, 20, *KS[9:])  # (a): 9-20 resolve its 93% / 95% crossings
TARGET_ACCURACY = (0.93, 0.95)
PUBLISHED_S_PER_FRAME = 0.08  # the published recipe's claim, at 93% box accuracy
MIN_RISK = 0.15  # risk / active / queue_frames_risk: boxes below this risk are not checked
ACTIVE_SHARES = (0.01, 0.02, 0.05, 0.1, 0.2, 0.33)  # active: checkpoints, share of frames
ACTIVE_BATCH = 0.01  # active: share of the frames reviewed between two rankings
MANUAL_K = 10  # keying annotator: a missed object it draws is keyed every 10 frames
QUEUE_BATCH = 0.01  # queue strategies: frame looks between two rankings, share of the frames
BUDGETS = {  # queue strategies: human seconds per frame at which the annotation is scored
    "KITTI-Car": (0.1, 0.2, 0.3, 0.4, 0.6, 0.8, 1.2, 1.6, 2.4, 3.2, 4.8, 6.4),
    "MOT15": (0.4, 0.8, 1.6, 2.4, 3.2, 4.8, 6.4, 8.0, 9.6, 12.8),
}
# *_looks: frames looked at (0.12-0.29 resolve the 93% / 95% crossings, steps <= 0.04)
LOOK_SHARES = (0.01, 0.02, 0.04, 0.07, 0.1, 0.12, 0.14, 0.17, 0.2, 0.22, 0.25, 0.29, 0.33, 0.5)
HALVES = ("even", "odd")  # sequences 0, 2, 4, ... / 1, 3, 5, ... of each dataset
CHECK_LEVELS = (0.3, 0.45, 0.6, 0.8)  # queue_anchor5_{check,keycheck,hybrid}<R>_looks: risk checked
CANDIDATE_MIN_P = 0.27  # break-even p_real of a candidate in a whole-frame look (default costs)
ANCHOR_VARIANTS = {  # name: the queue's ReviewConfig settings (frames order, risk >= MIN_RISK)
    "queue_frames_risk_cand": {"frames_candidate_min_p": CANDIDATE_MIN_P},
    **{f"queue_anchor{g}_risk": {"anchor_frames": g, "frames_candidate_min_p": CANDIDATE_MIN_P}
       for g in (5, 10, 20)},
    "queue_anchor5_keying": {"anchor_frames": 5, "frames_candidate_min_p": CANDIDATE_MIN_P},
    # each video's budget in looks (LOOK_SHARES) at the library's default queue settings, and
    # without its rule for probably missing boxes (every one shown)
    **{f"queue_anchor5_{who}_looks": {"anchor_frames": 5, "frames_candidate_min_p": CANDIDATE_MIN_P,
                                      "frames_missing_min_p": CANDIDATE_MIN_P}
       for who in ("risk", "keying", "keyrisk")},
    "queue_anchor5_risk_looks_allmissing": {"anchor_frames": 5,
                                            "frames_candidate_min_p": CANDIDATE_MIN_P},
    # the reviewer checks only box items of risk >= CHECK_RISK[name] (library defaults, looks)
    # (keycheck: the keying annotator with the same policies; hybrid: the propagating one keying
    # what the engine does not carry)
    **{f"queue_anchor5_{who}{round(100 * r)}_looks": {
        "anchor_frames": 5, "frames_candidate_min_p": CANDIDATE_MIN_P,
        "frames_missing_min_p": CANDIDATE_MIN_P}
       for who in ("check", "keycheck", "hybrid") for r in CHECK_LEVELS},
    # the same policy set in the library (review.check_min_risk): honeypots on, among the asked
    # items and looking like them (`trackannot.ranking.disguise_checks`), at the default rate
    # and at 10%
    **{name: {"anchor_frames": 5, "frames_candidate_min_p": CANDIDATE_MIN_P,
              "frames_missing_min_p": CANDIDATE_MIN_P, "check_min_risk": 0.8,
              "honeypot_rate": rate}
       for name, rate in (("queue_anchor5_check80_pots_looks", 0.02),
                          ("queue_anchor5_check80_pots10_looks", 0.1))},
}
POLICY_POTS = ("queue_anchor5_check80_pots_looks", "queue_anchor5_check80_pots10_looks")
KEY_CHECK = {f"queue_anchor5_keycheck{round(100 * r)}_looks": r for r in CHECK_LEVELS}
HYBRID = {f"queue_anchor5_hybrid{round(100 * r)}_looks": r for r in CHECK_LEVELS}
CHECK_RISK = {**{f"queue_anchor5_check{round(100 * r)}_looks": r for r in CHECK_LEVELS},
              **{name: 0.8 for name in POLICY_POTS}, **KEY_CHECK, **HYBRID}
# (b') with the same reviewer policies: every k-th frame, propagation, box items of risk >= R
UNIFORM_CHECK = {f"uniform_prop_check{round(100 * r)}": r for r in (0.15, 0.45, 0.8)}
# the other queue variants: the run-aware frames order alone, every candidate shown (what they
# were measured with; since issue 13 the library's default is queue_anchor5_risk's settings)
RUN_AWARE = {"anchor_frames": 0, "frames_candidate_min_p": 0.0, "frames_missing_min_p": 0.0}
KEYING = ("queue_keying", "queue_anchor5_keying", "queue_anchor5_keying_looks",
          "queue_anchor5_keyrisk_looks", *KEY_CHECK)
RISK_GATED = ("queue_anchor5_keyrisk_looks", *KEY_CHECK)  # keying, only risk >= CHECK_RISK/MIN_RISK
BY_LOOKS = ("queue_anchor5_risk_looks", "queue_anchor5_keying_looks", "queue_anchor5_keyrisk_looks",
            "queue_anchor5_risk_looks_allmissing", *CHECK_RISK)  # budgets: LOOK_SHARES
C_VARIANTS = ("queue_frames", "queue_frames_risk", "queue_keyframes",
              *ANCHOR_VARIANTS)  # (c): one picked per half

LABELS = {
    "manual": "(a) manual keyframes + linear",
    "uniform": "(b) pre-labels, uniform review (issue 4)",
    "uniform_prop": "(b') uniform review, propagation",
    "uniform_onebox": "(b') uniform review, one box, no propagation",
    **{name: f"(b') uniform review, propagation, risk >= {r}" for name, r in UNIFORM_CHECK.items()},
    "queue_keying": "(c) queue, frames order, no propagation",
    "queue_frames": "(c) queue, frames order, propagation",
    "queue_frames_risk": f"(c) queue, frames order, propagation, risk >= {MIN_RISK}",
    "queue_keyframes": "(c) queue, keyframes order, propagation",
    "queue_frames_risk_cand": f"(c) queue, frames order, propagation, risk >= {MIN_RISK}, "
                              f"candidates p >= {CANDIDATE_MIN_P}",
    **{name: f"(c) queue, frames order, anchor_frames {g['anchor_frames']}, propagation, "
             f"risk >= {MIN_RISK}, candidates p >= {CANDIDATE_MIN_P}"
       for name, g in ANCHOR_VARIANTS.items()
       if "anchor_frames" in g and name not in KEYING and name not in BY_LOOKS},
    "queue_anchor5_keying": f"(c) queue, frames order, anchor_frames 5, no propagation (keying), "
                            f"candidates p >= {CANDIDATE_MIN_P}",
    "queue_anchor5_risk_looks": f"(c) queue, frames order, library defaults (anchor_frames 5, "
                                f"candidates and missing boxes p >= {CANDIDATE_MIN_P}), propagation, "
                                f"risk >= {MIN_RISK}, budget in looks",
    "queue_anchor5_keying_looks": f"(c) queue, frames order, library defaults, no propagation "
                                  f"(keying), budget in looks",
    "queue_anchor5_keyrisk_looks": f"(c) queue, frames order, library defaults, no propagation "
                                   f"(keying), risk >= {MIN_RISK}, budget in looks",
    **{name: f"(c) queue, frames order, library defaults, "
             f"{'no propagation (keying)' if name in KEY_CHECK else 'propagation'}"
             f"{', what it does not carry keyed' if name in HYBRID else ''}, risk >= {r}, "
             f"budget in looks"
       for name, r in CHECK_RISK.items() if name not in POLICY_POTS},
    **{name: f"(c) queue, frames order, library defaults, propagation, review.check_min_risk 0.8 "
             f"with honeypots at {rate}, budget in looks"
       for name, rate in zip(POLICY_POTS, ("0.02", "0.1"))},
    "queue_anchor5_risk_looks_allmissing": f"(c) queue, frames order, anchor_frames 5, candidates "
                                           f"p >= {CANDIDATE_MIN_P}, every missing box, "
                                           f"propagation, risk >= {MIN_RISK}, budget in looks",
    "risk": f"issue 4 (c): uniform frames, risk >= {MIN_RISK}",
    "active": "issue 4 (c'): active loop",
}
DEFAULT_STRATEGIES = ("manual", "uniform", "uniform_prop", "uniform_onebox", "queue_keying",
                      "queue_frames", "queue_frames_risk", "queue_keyframes", *ANCHOR_VARIANTS)


def gt_tracks(seq: Sequence, dataset: str) -> Boxes:
    """The gt objects a person annotates (evaluated MOT15 rows; KITTI Car rows with an id)."""
    if dataset == "MOT15":
        return seq.gt[seq.gt_extra["flag"] == 1]
    return seq.gt[(seq.gt.class_id == KITTI_CAR) & (seq.gt.track_id >= 0)]


def ignore_regions(seq: Sequence, dataset: str) -> Boxes:
    """Truth the evaluation does not count a box on: KITTI DontCare and Van rows, MOT15 rows
    flagged 0 (the propagating annotator leaves boxes there, `Oracle(ignore=...)`)."""
    if dataset == "MOT15":
        return seq.gt[seq.gt_extra["flag"] == 0]
    return seq.gt[np.isin(seq.gt.class_id, KITTI_IGNORE)]


def prelabels(seq: Sequence) -> Boxes:
    """Automatic tracks, smoothed over SMOOTH_SECONDS."""
    tracks = track_detections(seq.detections, TrackConfig(), frames=range(seq.num_frames))
    tracks = tracks[tracks.track_id >= 0]
    return smooth_tracks(tracks, strength_for_fps(seq.fps, SMOOTH_SECONDS))


def half_of(index: int) -> str:
    """The half a sequence belongs to by its index in the dataset."""
    return HALVES[index % 2]


# ------------------------------------------------------------------------------------ running


class Data:
    """One dataset's sequences, truth, ignore regions and pre-labels."""

    def __init__(self, dataset: str, seqs: list[Sequence]) -> None:
        self.dataset = dataset
        self.seqs = seqs
        self.gts = [gt_tracks(s, dataset) for s in seqs]
        self.ignores = [ignore_regions(s, dataset) for s in seqs]
        self.autos = [prelabels(s) for s in seqs]


Part = tuple[Boxes, ActionCounts]  # one sequence's final boxes and actions


def run_strategy(name: str, data: Data, cost: CostModel) -> list[dict[str, Any]]:
    """Every level of one strategy on one dataset, scored."""
    seqs, gts, autos, ignores = data.seqs, data.gts, data.autos, data.ignores
    z = list(zip(seqs, gts, autos, ignores))
    levels: list[dict[str, Any]] = []
    if name == "manual":
        for k in KS_MANUAL:
            parts = [manual(g, s.num_frames, k) for s, g in zip(seqs, gts)]
            levels.append({"k": k, **score(data, parts, cost, [0] * len(seqs))})
    elif name in ("uniform", "uniform_prop", "uniform_onebox", "risk", *UNIFORM_CHECK):
        prop = name == "uniform_prop" or name in UNIFORM_CHECK
        onebox = prop or name == "uniform_onebox"  # the propagating annotator
        min_risk = UNIFORM_CHECK.get(name, MIN_RISK if name == "risk" else None)
        for k in ((*KS, None) if name == "uniform" else KS_PROP if onebox else KS):
            frames = [uniform_frames(s.num_frames, k) if k else np.empty(0, np.int64) for s in seqs]
            parts = [review(a, s.detections, g, s.num_frames, f, min_risk=min_risk,
                            manual_k=None if onebox else MANUAL_K, propagate=prop,
                            ignore=ig if onebox else None)
                     for (s, g, a, ig), f in zip(z, frames)]
            levels.append({"k": k, **score(data, parts, cost, [len(f) for f in frames])})
    elif name == "active":
        runs = [active_review(a, s.detections, g, s.num_frames,
                              [max(1, round(x * s.num_frames)) for x in ACTIVE_SHARES],
                              max(1, round(ACTIVE_BATCH * s.num_frames)), MIN_RISK,
                              manual_k=MANUAL_K) for s, g, a, _ in z]
        for i, share in enumerate(ACTIVE_SHARES):
            points = [r[min(i, len(r) - 1)] for r in runs]
            levels.append({"share": share, **score(
                data, [(p.boxes, p.counts) for p in points], cost,
                [p.frames_reviewed for p in points])})
    elif name in ("queue_keying", *C_VARIANTS):
        looks = name in BY_LOOKS
        budgets = LOOK_SHARES if looks else BUDGETS[data.dataset]
        runs = [queue_review(a, s.detections, g, s.num_frames,
                             [b * s.num_frames for b in budgets], _queue_batch(name, s, a),
                             ignore=ig, cost=cost, **queue_options(name))
                for s, g, a, ig in z]
        for i, budget in enumerate(budgets):
            points = [r[i] for r in runs]
            levels.append({"share" if looks else "budget_s_per_frame": budget, **score(
                data, [(p.boxes, p.counts) for p in points], cost,
                [p.frames_reviewed for p in points],
                [p.keyed for p in points] if name in HYBRID else None)})
            if name in POLICY_POTS:
                levels[-1]["honeypots"] = sum(p.honeypots for p in points)
    else:
        raise ValueError(f"unknown strategy {name!r}; known: {', '.join(LABELS)}")
    return levels


def _queue_batch(name: str, seq: Sequence, auto: Boxes) -> int:
    """Looks between two rankings: QUEUE_BATCH of the frames; in the keyframes order (a look is
    one item) as many items as those frames show boxes, so both orders re-rank after about the
    same human time."""
    frames = QUEUE_BATCH * seq.num_frames
    if name == "queue_keyframes":
        frames *= max(1.0, len(auto) / seq.num_frames)
    return max(1, round(frames))


def score(data: Data, parts: list[Part], cost: CostModel, reviewed: list[int],
          keyed: list[ActionCounts] | None = None) -> dict[str, Any]:
    """Quality and human time of one level: all sequences (with HOTA, IDF1) and each half.
    `keyed` (the hybrid annotator, per sequence): the part of its actions spent keying what the
    engine did not carry, recorded as `keyed_s_per_frame` (and `keyed_actions`)."""
    seqs, gts = data.seqs, data.gts
    outs = [b for b, _ in parts]
    evals = [EvalSequence(tracks=b, gt=s.gt, gt_extra=s.gt_extra, num_frames=s.num_frames,
                          name=s.name) for s, b in zip(seqs, outs)]
    combined = evaluate_dataset(evals, benchmark=PROTOCOLS[data.dataset]).combined  # type: ignore[arg-type]
    right = [box_accuracy(b, g) * len(g) for b, g in zip(outs, gts)]
    seconds = [cost.seconds(c) for _, c in parts]
    keyed_s = [cost.seconds(c) for c in keyed] if keyed is not None else None

    def scope(rows: list[int]) -> dict[str, float]:
        frames = sum(seqs[i].num_frames for i in rows)
        out = {"human_s_per_frame": sum(seconds[i] for i in rows) / frames,
               "box_accuracy": sum(right[i] for i in rows) / sum(len(gts[i]) for i in rows)}
        if keyed_s is not None:
            out["keyed_s_per_frame"] = sum(keyed_s[i] for i in rows) / frames
        return out

    halves = {h: scope([i for i in range(len(seqs)) if half_of(i) == h]) for h in HALVES}
    extra = {} if keyed is None else {"keyed_actions": _total(keyed).as_dict()}
    return {**scope(list(range(len(seqs)))), "human_s": sum(seconds),
            "hota": combined.hota, "idf1": combined.idf1, "frames_reviewed": int(sum(reviewed)),
            "actions": _total(c for _, c in parts).as_dict(), **extra, "halves": halves}


def _total(counts: Iterable[ActionCounts]) -> ActionCounts:
    total = ActionCounts()
    for c in counts:
        total.add(c)
    return total


# ---------------------------------------------------------------------------------- summaries


def _first_reach(accuracy: list[float], target: float) -> tuple[int | None, int, float] | None:
    """Where a curve (its levels' accuracies, cheapest first) first reaches `target`: (the level
    before, or None when the cheapest reaches it or the two are level; the level; the weight of
    that level, linear between the two); None: no level reaches it."""
    for i, a1 in enumerate(accuracy):
        if a1 >= target:
            if i == 0 or a1 == accuracy[i - 1]:
                return None, i, 1.0
            a0 = accuracy[i - 1]
            return i - 1, i, (target - a0) / (a1 - a0)
    return None


def crossing(points: list[tuple[float, float]], target: float) -> float | None:
    """Human s/frame where a curve of (s/frame, accuracy) points first reaches `target`,
    linear between the two levels around it (from (0, no accuracy) below the cheapest: that
    level's cost); None: no level reaches it."""
    pts = sorted(points)
    reach = _first_reach([a for _, a in pts], target)
    if reach is None:
        return None
    i0, i1, w = reach
    return pts[i1][0] if i0 is None else pts[i0][0] + w * (pts[i1][0] - pts[i0][0])


def quality_at(levels: list[dict[str, Any]], target: float) -> dict[str, float] | None:
    """HOTA and IDF1 (all sequences) where the curve first reaches `target` box accuracy,
    linear between the two levels around it as `crossing` (box accuracy does not count false
    positives; these do); None if it never does or the levels were not scored for them."""
    if not all("hota" in r and "idf1" in r for r in levels):
        return None
    rows = sorted(levels, key=lambda r: (r["human_s_per_frame"], r["box_accuracy"]))
    reach = _first_reach([r["box_accuracy"] for r in rows], target)
    if reach is None:
        return None
    i0, i1, w = reach
    if i0 is None:
        return {k: rows[i1][k] for k in ("hota", "idf1")}
    return {k: rows[i0][k] + w * (rows[i1][k] - rows[i0][k]) for k in ("hota", "idf1")}


def _points(levels: list[dict[str, Any]], half: str | None, carried: bool = False
            ) -> list[tuple[float, float]]:
    """(s/frame, accuracy) per level; `carried`: without the seconds spent keying what the
    engine did not carry (as if it carried every drawn box as well as those keys do)."""
    rows = [r if half is None else r["halves"][half] for r in levels]
    return [(r["human_s_per_frame"] - (r["keyed_s_per_frame"] if carried else 0.0),
             r["box_accuracy"]) for r in rows]


def crossings(rows: dict[str, list[dict[str, Any]]], carried: bool = False
              ) -> dict[str, dict[str, dict[str, Any]]]:
    """{strategy: {scope ("all", "even", "odd"): {"0.93": s/frame or None, "0.95": ...}}};
    `carried`: the strategies whose levels record their keying seconds, without them."""
    return {name: {scope: {f"{t:.2f}": crossing(
        _points(levels, None if scope == "all" else scope, carried), t) for t in TARGET_ACCURACY}
                   for scope in ("all", *HALVES)}
            for name, levels in rows.items()
            if not carried or all("keyed_s_per_frame" in r for r in levels)}


def _best_variant(cross: dict[str, dict[str, dict[str, Any]]], scope: str, target: str
                  ) -> str | None:
    """The (c) variant with the lowest crossing of `target` on `scope` (None: none reaches it)."""
    got = [(cross[v][scope][target], v) for v in C_VARIANTS if v in cross
           and cross[v][scope][target] is not None]
    return min(got)[1] if got else None


def summarize(dataset: str, rows: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Crossings per strategy and scope, (c) picked per half, the goals, the budget transfer.

    (c) on the whole dataset is the variant with the lowest crossing there (in sample). (c)
    held out on half H is the variant picked on the other half (lowest crossing of the same
    target there), measured on H. Every other figure of a half is that half's own curve: (a)
    and (b) fit nothing.
    """
    cross = crossings(rows)
    picks: dict[str, dict[str, Any]] = {}
    for target in (f"{t:.2f}" for t in TARGET_ACCURACY):
        all_pick = _best_variant(cross, "all", target)
        picks[target] = {"all": {"variant": all_pick,
                                 "s_per_frame": cross[all_pick]["all"][target] if all_pick else None}}
        for h in HALVES:
            other = HALVES[1 - HALVES.index(h)]
            pick = _best_variant(cross, other, target)
            picks[target][h] = {"variant": pick, "picked_on": other,
                                "s_per_frame": cross[pick][h][target] if pick else None}
    quality = {name: {f"{t:.2f}": quality_at(levels, t) for t in TARGET_ACCURACY}
               for name, levels in rows.items()}
    return {"crossings": cross, "quality_at_crossing": quality, "c_picks": picks,
            "goals": goals(dataset, cross, picks), "budget_transfer": budget_transfer(rows),
            "crossings_carried": crossings(rows, carried=True)}


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def goals(dataset: str, cross: dict[str, Any], picks: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 13's goals at 95% box accuracy, all sequences and held-out halves."""
    out = []
    for scope in ("all", *HALVES):
        c = picks["0.95"][scope]["s_per_frame"]
        a = cross.get("manual", {}).get(scope, {}).get("0.95")
        b = cross.get("uniform", {}).get(scope, {}).get("0.95")
        if dataset == "KITTI-Car":
            checks = [("(c) <= 0.6x (b)", _ratio(c, b), 0.6), ("(c) <= 0.25x (a)", _ratio(c, a), 0.25),
                      ("(c) <= 0.40 s/frame", c, 0.40)]
        else:
            checks = [("(c) <= 0.8x (a)", _ratio(c, a), 0.8)]
        for goal, value, limit in checks:
            out.append({"scope": scope, "goal": goal, "value": value, "limit": limit,
                        "met": value is not None and value <= limit,
                        "c_variant": picks["0.95"][scope]["variant"]})
    return out


def budget_transfer(rows: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Per strategy and target: the cheapest measured level reaching it on one half, and what
    that level gives on the other half (does the budget picked on one half hold on the other?)."""
    out: dict[str, Any] = {}
    for name, levels in rows.items():
        for t in TARGET_ACCURACY:
            for fit in HALVES:
                other = HALVES[1 - HALVES.index(fit)]
                ok = [r for r in levels if r["halves"][fit]["box_accuracy"] >= t]
                best = min(ok, key=lambda r: r["halves"][fit]["human_s_per_frame"]) if ok else None
                out.setdefault(name, {}).setdefault(f"{t:.2f}", {})[f"fit_{fit}"] = None if best is None else {
                    "level": _level(best), "fit": best["halves"][fit], "held_out": best["halves"][other]}
    return out


def _level(r: dict[str, Any]) -> Any:
    return r.get("k", r.get("share", r.get("budget_s_per_frame")))


def error_run_bound(data: Data, cost: CostModel, target: float) -> dict[str, Any]:
    """What no review can beat under the cost model: runs of wrong or missing gt boxes in the
    pre-labels (per gt object, consecutive frames of it not covered right), fixed by a person
    who knew where every run is, each run by ONE action that propagation carries over the whole
    run, until `target` box accuracy; seconds per frame.

    * one action each (the keyframes order at its best: an accepted candidate or proposal, a
      verification 1.6 s; or a draw 7 s), longest runs first (optimal: equal costs);
    * one frame look each (the frames order at its best: every box the pre-labels show at the
      run's cheapest frame looked at, the run's own answer counted as one of them, 1.6 s each; a
      missing box one more): the fractional-knapsack bound, runs by fixed boxes per second.
    """
    lengths, looks, n_gt, right_total, frames = [], [], 0, 0, 0
    for s, g, a in zip(data.seqs, data.gts, data.autos):
        owner, matched = owners(a, g)
        ok = (matched >= 0) & (np.array([owner.get(int(t), -2) for t in a.track_id]) == matched)
        key = set(zip(a.frame[ok].tolist(), matched[ok].tolist()))
        right = np.array([(int(f), int(t)) in key for f, t in zip(g.frame, g.track_id)], bool)
        order = np.lexsort((g.frame, g.track_id))
        tid, fr, bad = g.track_id[order], g.frame[order], ~right[order]
        cont = np.r_[False, (tid[1:] == tid[:-1]) & (fr[1:] == fr[:-1] + 1) & bad[:-1]]
        run = np.cumsum(bad & ~cont) - 1
        if bad.any():
            seen = set(zip(a.frame[matched >= 0].tolist(), matched[matched >= 0].tolist()))
            missing = np.array([(int(f), int(t)) not in seen for f, t in zip(fr[bad], tid[bad])])
            shown = np.bincount(a.frame, minlength=s.num_frames)[fr[bad]] + missing
            lengths.extend(np.bincount(run[bad]).tolist())
            cheapest = np.full(int(run.max()) + 1, np.inf)
            np.minimum.at(cheapest, run[bad], shown.astype(np.float64))
            looks.extend((cheapest * cost.verify_s).tolist())
        n_gt += len(g)
        right_total += int(right.sum())
        frames += s.num_frames
    need = max(0, math.ceil(target * n_gt) - right_total)
    runs_needed, got = 0, 0
    for length in sorted(lengths, reverse=True):
        if got >= need:
            break
        got += length
        runs_needed += 1
    reachable = got >= need
    look_s, left = 0.0, float(need)
    for length, secs in sorted(zip(lengths, looks), key=lambda r: r[1] / r[0]):
        if left <= 0:
            break
        take = min(1.0, left / length)
        look_s += take * secs
        left -= take * length
    return {"target": target, "error_runs": len(lengths), "prelabel_accuracy": right_total / n_gt,
            "runs_needed": runs_needed if reachable else None,
            "s_per_frame_verify": runs_needed * cost.verify_s / frames if reachable else None,
            "s_per_frame_draw": runs_needed * cost.draw_s / frames if reachable else None,
            "s_per_frame_frame_looks": look_s / frames if reachable else None}


def published_distance(dataset: str, rows: dict[str, list[dict[str, Any]]], cost: CostModel
                       ) -> dict[str, Any]:
    """Per strategy: s/frame at 93% against the published 0.08, and where its seconds go at the
    cheapest level reaching 93% (share of the seconds by action)."""
    out = {}
    cross = crossings(rows)
    for name, levels in rows.items():
        at = cross[name]["all"]["0.93"]
        ok = [r for r in levels if r["box_accuracy"] >= 0.93]
        best = min(ok, key=lambda r: r["human_s_per_frame"]) if ok else None
        split = None
        if best is not None and best["human_s"] > 0:
            a = best["actions"]
            secs = {"verify": a["verify"] * cost.verify_s, "adjust": a["adjust"] * cost.adjust_s,
                    "draw": a["draw"] * cost.draw_s, "delete": a["delete"] * cost.delete_s,
                    "identity": (a["split"] + a["merge"]) * cost.identity_s}
            split = {k: v / best["human_s"] for k, v in secs.items()}
        out[name] = {"s_per_frame_at_93": at, "times_published": _ratio(at, PUBLISHED_S_PER_FRAME),
                     "level": _level(best) if best else None, "seconds_by_action": split}
    return out


def diagnose(dataset: str, name: str, budget: float, cost: CostModel,
             limit: int | None = None) -> dict[str, Any]:
    """Where a queue strategy's seconds go, look by look, up to `budget` s/frame: looks that
    raised box accuracy, left it, or lowered it (a propagation or interpolation gone wrong,
    an absent mark that ended a track still right later), their seconds and net gt boxes."""
    data = Data(dataset, LOADERS[dataset](DATA_DIR)[:limit])
    tally = {k: {"looks": 0, "seconds": 0.0, "boxes": 0} for k in ("gain", "none", "loss")}
    for s, g, a, ig in zip(data.seqs, data.gts, data.autos, data.ignores):
        right = [box_accuracy(a, g) * len(g)]

        def look(state: Any, frame: int, counts: ActionCounts, g: Boxes = g,
                 right: list[float] = right) -> None:
            now = box_accuracy(state.boxes(), g) * len(g)
            delta = round(now - right[0])
            right[0] = now
            kind = "gain" if delta > 0 else "loss" if delta < 0 else "none"
            tally[kind]["looks"] += 1
            tally[kind]["seconds"] += cost.seconds(counts)
            tally[kind]["boxes"] += delta

        queue_review(a, s.detections, g, s.num_frames, [budget * s.num_frames],
                     _queue_batch(name, s, a), ignore=ig, cost=cost, on_look=look,
                     **{**queue_options(name), "unit": "seconds"})
    return {"dataset": dataset, "strategy": name, "budget_s_per_frame": budget, "looks": tally}


# ---------------------------------------------------------------------------------------- io


def queue_settings(name: str) -> ReviewConfig:
    """The queue's settings for a queue strategy: its ANCHOR_VARIANTS entry over RUN_AWARE."""
    return ReviewConfig(**{**RUN_AWARE, **ANCHOR_VARIANTS.get(name, {})})


def queue_options(name: str) -> dict[str, Any]:
    """`queue_review`'s options for a queue strategy: its order, annotator (keying or
    propagating), which box items are checked, its queue settings and its budget unit."""
    keying = name in KEYING
    risk = name == "queue_frames_risk" or name in RISK_GATED or (
        name in ANCHOR_VARIANTS and not keying)
    return {"order": "keyframes" if name == "queue_keyframes" else "frames",
            "min_risk": CHECK_RISK.get(name, MIN_RISK) if risk else None, "propagate": not keying,
            "manual_k": MANUAL_K if keying else None, "review_cfg": queue_settings(name),
            "unit": "looks" if name in BY_LOOKS else "seconds", "honeypots": name in POLICY_POTS,
            "carry_k": MANUAL_K if name in HYBRID else None}


def run_dataset(dataset: str, strategies: list[str], cost: CostModel,
                previous: dict[str, Any] | None = None, limit: int | None = None) -> dict[str, Any]:
    """The named strategies on one dataset (other strategies' rows kept from `previous`;
    `limit`: only the first sequences, a quick check)."""
    t0 = time.perf_counter()
    data = Data(dataset, LOADERS[dataset](DATA_DIR)[:limit])
    load_s = time.perf_counter() - t0
    rows = dict(previous["rows"]) if previous else {}
    seconds = dict(previous.get("strategy_seconds", {})) if previous else {}
    skipped = dict(previous.get("skipped_edits", {})) if previous else {}
    for name in strategies:
        t = time.perf_counter()
        SKIPPED["edits"] = 0
        rows[name] = run_strategy(name, data, cost)
        seconds[name] = time.perf_counter() - t
        skipped[name] = SKIPPED["edits"]
        print(f"{dataset} {name}: {seconds[name]:.0f} s", flush=True)  # noqa: T201
    rows = {k: rows[k] for k in LABELS if k in rows}
    return {
        "frames": sum(s.num_frames for s in data.seqs), "gt_boxes": sum(len(g) for g in data.gts),
        "sequences": {h: [s.name for i, s in enumerate(data.seqs) if half_of(i) == h] for h in HALVES},
        "frames_per_half": {h: sum(s.num_frames for i, s in enumerate(data.seqs) if half_of(i) == h)
                            for h in HALVES},
        "load_seconds": load_s, "strategy_seconds": seconds, "skipped_edits": skipped, "rows": rows,
        **summarize(dataset, rows),
        "published": published_distance(dataset, rows, cost),
        "bound": [error_run_bound(data, cost, t) for t in TARGET_ACCURACY],
    }


def _plot(dataset: str, res: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(16, 5))
    for metric, ax in zip(("box_accuracy", "hota", "idf1"), axes):
        for name, levels in res["rows"].items():
            pts = sorted((r["human_s_per_frame"], r[metric]) for r in levels)
            ax.plot([max(p[0], 1e-3) for p in pts], [p[1] for p in pts], marker="o", ms=3,
                    label=LABELS[name], ls="--" if name in ("manual", "uniform") else "-")
        ax.set_xscale("log")
        ax.set_xlabel("human seconds per frame")
        ax.set_ylabel(metric)
        ax.grid(True, alpha=0.3)
    for t in TARGET_ACCURACY:
        axes[0].axhline(t, color="grey", lw=0.8, ls=":")
    axes[0].axvline(PUBLISHED_S_PER_FRAME, color="red", lw=0.8, ls=":")
    axes[0].legend(fontsize=7)
    fig.suptitle(f"Annotation effort vs quality, {dataset} (issue 13)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    raise TypeError(type(value).__name__)


def result_path(out: Path, dataset: str) -> Path:
    return out / f"effort_{dataset}.json"


def _fmt(x: float | None, digits: int = 2) -> str:
    return "not reached" if x is None else f"{x:.{digits}f}"


def report(out: Path, datasets: list[str]) -> str:
    """Markdown tables of the written results (levels, crossings, goals, 0.08 s/frame)."""
    loaded = {d: json.loads(result_path(out, d).read_text()) for d in datasets
              if result_path(out, d).exists()}
    lines: list[str] = []
    for d, res in loaded.items():
        r = res["datasets"][d]
        lines += [f"{d} ({r['frames']:,} frames, {r['gt_boxes']:,} gt boxes):", "",
                  "| strategy | level | human s/frame | box accuracy | HOTA | IDF1 | even: s/frame, acc "
                  "| odd: s/frame, acc |", "|---|---|---:|---:|---:|---:|---:|---:|"]
        for name, levels in r["rows"].items():
            for row in levels:
                lv = ("k=" + str(row["k"]) if row["k"] else "none") if "k" in row else (
                    f"{row['share']:.0%} of frames" if "share" in row else f"{row['budget_s_per_frame']} s/frame")
                h = row["halves"]
                lines.append(f"| {LABELS[name]} | {lv} | {row['human_s_per_frame']:.2f} | "
                             f"{row['box_accuracy']:.3f} | {row['hota']:.3f} | {row['idf1']:.3f} | "
                             f"{h['even']['human_s_per_frame']:.2f}, {h['even']['box_accuracy']:.3f} | "
                             f"{h['odd']['human_s_per_frame']:.2f}, {h['odd']['box_accuracy']:.3f} |")
        lines.append("")
    lines += ["Human s/frame where each curve crosses 93% / 95% box accuracy (all sequences; even "
              "half; odd half):", "", "| strategy | " + " | ".join(
                  f"{d} {t}" for d in loaded for t in ("93%", "95%")) + " |",
              "|---|" + "---:|" * (2 * len(loaded))]
    names = [n for n in LABELS if any(n in res["datasets"][d]["rows"] for d, res in loaded.items())]
    for name in names:
        cells = []
        for d, res in loaded.items():
            c = res["datasets"][d]["crossings"].get(name)
            for t in ("0.93", "0.95"):
                cells.append("-" if c is None else "; ".join(_fmt(c[s][t]) for s in ("all", *HALVES)))
        lines.append(f"| {LABELS[name]} | " + " | ".join(cells) + " |")
    lines += ["", "HOTA / IDF1 where each curve crosses 95% box accuracy (all sequences; box "
              "accuracy does not count false positives, these do):", "",
              "| strategy | " + " | ".join(f"{d} HOTA | {d} IDF1" for d in loaded) + " |",
              "|---|" + "---:|" * (2 * len(loaded))]
    for name in names:
        cells = []
        for d, res in loaded.items():
            q = res["datasets"][d].get("quality_at_crossing", {}).get(name, {}).get("0.95")
            cells += ["-", "-"] if not q else [f"{q['hota']:.3f}", f"{q['idf1']:.3f}"]
        lines.append(f"| {LABELS[name]} | " + " | ".join(cells) + " |")
    lines += ["", "(c) picked per half (held out: picked on the other half):", ""]
    for d, res in loaded.items():
        for t, p in res["datasets"][d]["c_picks"].items():
            lines.append(f"- {d} {float(t):.0%}: all: {p['all']['variant']} {_fmt(p['all']['s_per_frame'])}; "
                         + "; ".join(f"{h} (picked on {p[h]['picked_on']}): {p[h]['variant']} "
                                     f"{_fmt(p[h]['s_per_frame'])}" for h in HALVES))
    lines += ["", "Goals at 95%:", "", "| dataset | goal | scope | value | met |", "|---|---|---|---:|---|"]
    for d, res in loaded.items():
        for g in res["datasets"][d]["goals"]:
            lines.append(f"| {d} | {g['goal']} | {g['scope']} | {_fmt(g['value'])} | "
                         f"{'yes' if g['met'] else '**NOT met**'} |")
    if any(res["datasets"][d].get("crossings_carried") for d, res in loaded.items()):
        lines += ["", "If the engine carried every box the person draws as well as keys every "
                  f"{MANUAL_K} frames do (the hybrid annotator's keying seconds left out; "
                  "crossings all; even; odd, and at 95% the ratio to (a) and to (b) on each):", ""]
    scopes = ("all", *HALVES)
    for d, res in loaded.items():
        r = res["datasets"][d]
        for name, c in r.get("crossings_carried", {}).items():
            at = {t: "; ".join(_fmt(c[s][t]) for s in scopes) for t in ("0.93", "0.95")}
            times = {ref: "; ".join(_fmt(_ratio(c[s]["0.95"], r["crossings"].get(ref, {})
                                                 .get(s, {}).get("0.95")), 3) for s in scopes)
                     for ref in ("manual", "uniform")}
            lines.append(f"- {d} {LABELS[name]}: 93% {at['0.93']}, 95% {at['0.95']}; "
                         f"x (a) {times['manual']}; x (b) {times['uniform']}")
    lines += ["", "Against 0.08 s/frame at 93%:", ""]
    for d, res in loaded.items():
        r = res["datasets"][d]
        for name, p in r["published"].items():
            split = p["seconds_by_action"]
            lines.append(f"- {d} {LABELS[name]}: {_fmt(p['s_per_frame_at_93'])} s/frame = "
                         f"{_fmt(p['times_published'], 1)}x; seconds at level {p['level']}: "
                         + (", ".join(f"{k} {v:.0%}" for k, v in split.items() if v) if split else "-"))
        for b in r["bound"]:
            lines.append(f"- {d} bound at {b['target']:.0%}: {b['error_runs']} error runs in the "
                         f"pre-labels ({b['prelabel_accuracy']:.3f} right), {b['runs_needed']} longest "
                         f"needed: {_fmt(b['s_per_frame_verify'], 3)} s/frame at one verification each, "
                         f"{_fmt(b['s_per_frame_draw'], 3)} at one draw each, "
                         f"{_fmt(b.get('s_per_frame_frame_looks'), 3)} at one frame look each")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(LOADERS), choices=list(LOADERS))
    parser.add_argument("--strategies", nargs="+", default=list(DEFAULT_STRATEGIES),
                        choices=list(LABELS))
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--report", action="store_true", help="print the tables of written results")
    parser.add_argument("--diagnose", nargs=2, metavar=("STRATEGY", "S_PER_FRAME"),
                        help="per-look gains and losses of a queue strategy up to a budget "
                        "(writes effort_diagnose_<dataset>_<strategy>.json)")
    parser.add_argument("--limit", type=int, default=None,
                        help="only the first N sequences of each dataset (a quick check; "
                        "N >= 2: each half needs one)")
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < len(HALVES):
        parser.error(f"--limit must be at least {len(HALVES)} (one sequence for each half), "
                     f"got {args.limit}")
    if args.report:
        if not any(result_path(args.out, d).exists() for d in args.datasets):
            parser.error(f"no results in {args.out} for {', '.join(args.datasets)}: run "
                         "python -m benchmarks.effort.run --datasets ... first")
        print(report(args.out, args.datasets))  # noqa: T201
        return
    cost = DEFAULT_COST
    args.out.mkdir(parents=True, exist_ok=True)
    if args.diagnose:
        for dataset in args.datasets:
            res = diagnose(dataset, args.diagnose[0], float(args.diagnose[1]), cost, args.limit)
            path = args.out / f"effort_diagnose_{dataset}_{args.diagnose[0]}.json"
            path.write_text(json.dumps(res, indent=1, default=_json_default) + "\n")
            print(json.dumps(res, default=_json_default))  # noqa: T201
        return
    for dataset in args.datasets:
        path = result_path(args.out, dataset)
        previous = json.loads(path.read_text())["datasets"][dataset] if path.exists() else None
        if previous is not None and previous.get("limit") != args.limit:
            previous = None  # rows of other sequences: not kept
        res = run_dataset(dataset, list(args.strategies), cost, previous, args.limit)
        res["limit"] = args.limit
        out = {
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "propagation": PROPAGATION_AVAILABLE, "min_risk": MIN_RISK, "manual_k": MANUAL_K,
            "queue_batch": QUEUE_BATCH, "budgets": BUDGETS[dataset], "halves": HALVES,
            "cost_model": {k: getattr(cost, k) for k in
                           ("verify_s", "adjust_s", "draw_s", "delete_s", "identity_s")},
            "cost_sources": cost.sources, "smooth_seconds": SMOOTH_SECONDS,
            "datasets": {dataset: res},
        }
        path.write_text(json.dumps(out, indent=1, default=_json_default) + "\n")
        _plot(dataset, res, args.out / f"effort_{dataset}.png")
        print(report(args.out, [dataset]), flush=True)  # noqa: T201


if __name__ == "__main__":
    main()
