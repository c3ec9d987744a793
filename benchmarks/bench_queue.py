"""Review queue orders on real detections: error runs each order shows, and candidate quality.

Protocol (issue 13, parts 3 and 4):
- Pre-labels: `benchmarks.bench_risk.labelled` (`track_detections` with the default
  `TrackConfig`, smoothed 0.1 s) on MOT15's 10 train sequences (SORT's Faster R-CNN detections)
  and KITTI tracking Car 0000-0013 (PointRCNN). The queue sees the pre-labels and every
  detection, as `trackannot review` sees a store.
- Split as `bench_risk`: sequences 0, 2, 4, ... of each dataset fit (`--fit`: the candidate model
  of `trackannot.candidates` and the constants of `trackannot.proposals`); every figure is on
  sequences 1, 3, 5, ... (held out).
- Error runs, two definitions:
  * gt runs (issue 13): maximal runs of consecutive frames where a gt object has no correct box
    (a box at IoU >= 0.5, Hungarian per frame, of a track whose majority gt object it is) or is
    covered by a wrong one: missed objects, late starts, early ends and gaps included;
  * track runs (issue 4, `bench_risk.error_runs`, how its 68% was measured): runs of consecutive
    wrong boxes of one track (boxes that exist only).
- What shows a run: a queued frame shows every run at that frame (a reviewer sees the whole
  frame; the frames order queues every box of it). A one-box item (keyframes order: a proposal,
  a candidate, a spot check) at frame f shows the runs at f of the gt objects its box overlaps at
  IoU >= 0.5 and, for a track's box, of the track's majority gt object (gt runs), and the run of
  its track through f (track runs).
- Queues: `trackannot.review.build_queue` over an `AnnotationState` of the pre-labels, no
  honeypots. Frames order: the top 10% of frames (budget = ceil(0.1 * frames)), candidates
  ranked in; against today's ranking (`rank_frames`, no candidates), every 10th frame and the
  frames that show the most runs (chosen greedily from the truth: a bound for any ranking).
  Keyframes order at two budgets: as many items as the frames order queued frames (equal looks),
  and as many items as the frames order showed boxes (equal verification seconds: every item
  is one box). Candidate quality: precision (a candidate is real when its hint box overlaps at
  IoU >= 0.5 a gt object with no correct box at the hint frame), the reliability of `p_real`,
  and recall of missed gt runs (runs where no box matches the object at all) by the candidates'
  chains (a chain detection at IoU >= 0.5 with the object inside the run).

Run (writes benchmarks/results/queue.json, prints tables):
    python -m benchmarks.bench_queue          # held-out report with the shipped constants
    python -m benchmarks.bench_queue --fit    # refit on the fit half first, print the constants
    python -m benchmarks.bench_queue --sweep  # also review.missing_box_weight on both halves
    python -m benchmarks.bench_queue --spread # the frames order with the spread ranking it had
                                              # before the run-aware one (for comparison)
    python -m benchmarks.bench_queue --speed  # build_queue seconds on 380k boxes / 20k frames
    python -m benchmarks.bench_queue --anchor-frames 10  # the frames order with its coverage
                                              # skeleton (ReviewConfig.anchor_frames) ->
                                              # results/queue_anchor10.json
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from trackannot.kernels.risk import max_iou_same_frame, spread_rank

from benchmarks._common import result_doc, write_json
from benchmarks.bench_risk import (
    DATA_DIR,
    LOADERS,
    auc,
    error_runs,
    fit_logistic,
    gt_tracks,
    labelled,
)
from benchmarks.effort.oracle import owners
from trackannot import candidates as cand
from trackannot import proposals as prop
from trackannot import ranking
from trackannot import risk
from trackannot.boxes import Boxes, pair_iou
from trackannot.config import ReviewConfig
from trackannot.review import ItemKind, ReviewQueue, build_queue
from trackannot.state import AnnotationState

OUT = Path(__file__).resolve().parent / "results" / "queue.json"
SHARE = 0.1  # top 10% of frames
MATCH_IOU = 0.5
# the run-aware frames order alone, every candidate and missing box shown (the library's default
# since issue 13's switch is skeleton 5 + both rules at 0.27): --anchor-frames N adds the skeleton
CFG = ReviewConfig(honeypot_rate=0.0, anchor_frames=0, frames_candidate_min_p=0.0,
                   frames_missing_min_p=0.0)
BUCKETS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0)
WEIGHTS = (0.0, 1.0, 2.0, 3.0, 4.0, 6.0)  # review.missing_box_weight values (--sweep)
LENGTHS = {"1": (1, 1), "2-5": (2, 5), "6+": (6, 1 << 40)}  # gt run lengths reported apart
KINDS = ("never tracked", "late start", "early end", "gap", "poor box", "wrong track")


@dataclass
class Seq:
    """One sequence's pre-labels, truth and error runs."""

    name: str
    dataset: str
    num_frames: int
    tracks: Boxes
    detections: Boxes
    gt: Boxes  # sorted by frame
    owner: dict[int, int]
    gt_run: np.ndarray  # per gt row: its gt run, -1 if the row is right
    gt_missed: np.ndarray  # per gt row: no box matches it at all
    track_order: np.ndarray  # bench_risk.error_runs
    track_run: np.ndarray
    wrong: np.ndarray
    gt_kind: np.ndarray  # per gt run: its index in KINDS (`run_kinds`)
    track_fp: np.ndarray  # per track run: every box of it on no gt object (a false positive)


def gt_error_runs(tracks: Boxes, gt: Boxes) -> tuple[dict[int, int], np.ndarray, np.ndarray]:
    """(owner of each track, gt run of each gt row (-1: right), whether no box matches the row).

    A gt row is right when a box matched to it (Hungarian at IoU >= 0.5, `owners`) belongs to a
    track whose majority gt object is this one; a run is a maximal stretch of consecutive frames
    of one gt object with wrong rows."""
    owner, matched = owners(tracks, gt)
    own = np.array([owner.get(int(t), -2) for t in tracks.track_id], np.int64)
    good = (matched >= 0) & (matched == own)
    right = set(zip(tracks.frame[good].tolist(), matched[good].tolist()))
    hit = set(zip(tracks.frame[matched >= 0].tolist(), matched[matched >= 0].tolist()))
    pairs = list(zip(gt.frame.tolist(), gt.track_id.tolist()))
    wrong = np.array([p not in right for p in pairs], bool)
    missed = np.array([p not in hit for p in pairs], bool)
    order = np.lexsort((gt.frame, gt.track_id))
    g, f, w = gt.track_id[order], gt.frame[order], wrong[order]
    cont = np.r_[False, (g[1:] == g[:-1]) & (f[1:] == f[:-1] + 1) & w[:-1]] if len(g) else w
    run_sorted = np.where(w, np.cumsum(w & ~cont) - 1, -1)
    run = np.empty(len(gt), np.int64)
    run[order] = run_sorted
    return owner, run, missed


def run_kinds(tracks: Boxes, gt: Boxes, owner: dict[int, int], gt_run: np.ndarray
              ) -> np.ndarray:
    """Kind of each gt run (index in KINDS): the object is never any track's majority object
    (never tracked); a box of another track matches it in the run (wrong track: an identity
    switch or a track that took it over); its own track has a box there that misses it at IoU
    0.5 (poor box); else it has no box, before its tracks' first frame (late start), after their
    last (early end) or between (gap)."""
    _, matched = owners(tracks, gt)
    mine: dict[int, list[int]] = {}
    for t, g in owner.items():
        mine.setdefault(g, []).append(t)
    t_first: dict[int, int] = {}
    t_last: dict[int, int] = {}
    for t, f in zip(tracks.track_id.tolist(), tracks.frame.tolist()):
        t_first[t] = min(t_first.get(t, f), f)
        t_last[t] = max(t_last.get(t, f), f)
    taken = set(zip(tracks.frame[matched >= 0].tolist(), matched[matched >= 0].tolist()))
    has_box = set(zip(tracks.frame.tolist(), tracks.track_id.tolist()))
    n = int(gt_run.max(initial=-1)) + 1
    kind = np.zeros(n, np.int64)
    rows = np.argsort(gt_run, kind="stable")
    bounds = np.searchsorted(gt_run[rows], np.arange(n + 1))
    for r in range(n):
        at = rows[bounds[r]:bounds[r + 1]]
        g, frames = int(gt.track_id[at[0]]), gt.frame[at].tolist()
        ts = mine.get(g, [])
        if not ts:
            kind[r] = KINDS.index("never tracked")
        elif any((f, g) in taken for f in frames):
            kind[r] = KINDS.index("wrong track")
        elif any((f, t) in has_box for f in frames for t in ts):
            kind[r] = KINDS.index("poor box")
        elif max(frames) < min(t_first[t] for t in ts):
            kind[r] = KINDS.index("late start")
        elif min(frames) > max(t_last[t] for t in ts):
            kind[r] = KINDS.index("early end")
        else:
            kind[r] = KINDS.index("gap")
    return kind


def false_positive_runs(tracks: Boxes, gt: Boxes, order: np.ndarray, track_run: np.ndarray
                        ) -> np.ndarray:
    """Per track run (`bench_risk.error_runs`): whether none of its boxes matches a gt object."""
    _, matched = owners(tracks, gt)
    fp = np.ones(int(track_run.max(initial=-1)) + 1, bool)
    np.logical_and.at(fp, track_run[track_run >= 0], matched[order][track_run >= 0] < 0)
    return fp


def load(dataset: str, seq: Any) -> Seq:
    lab = labelled(seq, dataset)
    gt = gt_tracks(seq, dataset)
    owner, run, missed = gt_error_runs(lab["tracks"], gt)
    order, track_run = error_runs(lab["tracks"], lab["wrong"])
    return Seq(seq.name, dataset, seq.num_frames, lab["tracks"], seq.detections, gt, owner, run,
               missed, order, track_run, lab["wrong"], run_kinds(lab["tracks"], gt, owner, run),
               false_positive_runs(lab["tracks"], gt, order, track_run))


def _state(s: Seq) -> AnnotationState:
    return AnnotationState(s.tracks, num_frames=s.num_frames, detections=s.detections)


def best_frames(s: Seq, k: int) -> np.ndarray:
    """`k` frames chosen greedily from the truth to show the most gt runs (a bound for any
    frame ranking; greedy max coverage is within 1 - 1/e of the best)."""
    runs_at: dict[int, set[int]] = {}
    wrong = s.gt_run >= 0
    for f, run in zip(s.gt.frame[wrong].tolist(), s.gt_run[wrong].tolist()):
        runs_at.setdefault(f, set()).add(run)
    seen: set[int] = set()
    picked: list[int] = []
    while runs_at and len(picked) < k:
        f = max(sorted(runs_at), key=lambda g: len(runs_at[g] - seen))
        if not runs_at[f] - seen:
            break
        seen |= runs_at.pop(f)
        picked.append(f)
    return np.array(picked, np.int64)


def runs_at_frames(s: Seq, frames: np.ndarray) -> tuple[set[int], set[int]]:
    """(gt runs, track runs) a look at every box of `frames` shows."""
    gt_runs = s.gt_run[(s.gt_run >= 0) & np.isin(s.gt.frame, frames)]
    tr = s.track_run[(s.track_run >= 0) & np.isin(s.tracks.frame[s.track_order], frames)]
    return set(gt_runs.tolist()), set(tr.tolist())


def runs_of_items(s: Seq, frame: np.ndarray, track: np.ndarray, xyxy: np.ndarray
                  ) -> tuple[set[int], set[int]]:
    """(gt runs, track runs) one-box items show (module docstring)."""
    gt_seen: set[int] = set()
    tr_seen: set[int] = set()
    gt_at = np.searchsorted(s.gt.frame, np.r_[frame, frame + 1].reshape(2, -1))
    tr_frame, tr_track = s.tracks.frame[s.track_order], s.tracks.track_id[s.track_order]
    for i, (f, t) in enumerate(zip(frame.tolist(), track.tolist())):
        lo, hi = int(gt_at[0, i]), int(gt_at[1, i])
        if hi > lo:
            over = pair_iou(np.repeat(xyxy[i:i + 1], hi - lo, 0), s.gt.xyxy[lo:hi]) >= MATCH_IOU
            mine = s.gt.track_id[lo:hi] == s.owner.get(int(t), -3)
            run = s.gt_run[lo:hi][(over | mine) & (s.gt_run[lo:hi] >= 0)]
            gt_seen.update(run.tolist())
        if t >= 0:
            tr = s.track_run[(tr_frame == f) & (tr_track == t)]
            tr_seen.update(tr[tr >= 0].tolist())
    return gt_seen, tr_seen


def _shown(s: Seq, queue: ReviewQueue, whole_frames: bool) -> tuple[set[int], set[int]]:
    if whole_frames:
        return runs_at_frames(s, queue.frames)
    return runs_of_items(s, queue.frame, queue.track_id, queue.xyxy)


def orders(s: Seq) -> dict[str, Any]:
    """Runs shown per order (module docstring), and the looks and boxes each took."""
    n, k = s.num_frames, max(1, math.ceil(SHARE * s.num_frames))
    state = _state(s)
    r = risk.score_risk(s.tracks, s.detections, None, CFG)
    per_frame = np.bincount(s.tracks.frame, minlength=n)
    out: dict[str, Any] = {}
    for name, frames in (("today (rank_frames)", risk.rank_frames(s.tracks, r, n, CFG)[:k]),
                         ("every 10th frame", np.arange(0, n, round(1 / SHARE))[:k]),
                         ("best frames (from the truth)", best_frames(s, k))):
        gt_seen, tr_seen = runs_at_frames(s, frames)
        out[name] = {"looks": len(frames), "boxes": int(per_frame[frames].sum()),
                     "gt_runs": gt_seen, "track_runs": tr_seen}
    queue = build_queue(state, s.detections, n, k, CFG, queue_id="bench", based_on=0,
                        honeypots=False, order="frames")
    gt_seen, tr_seen = _shown(s, queue, True)
    boxes = int(per_frame[queue.frames].sum())
    out["frames order + candidates"] = {
        "looks": len(queue.frames), "boxes": boxes, "gt_runs": gt_seen, "track_runs": tr_seen,
        "candidates": int((queue.kind == ItemKind.CANDIDATE).sum())}
    for label, budget in (("keyframes order, equal looks", k),
                          ("keyframes order, equal boxes", max(boxes, 1))):
        queue = build_queue(state, s.detections, n, budget, CFG, queue_id="bench", based_on=0,
                            honeypots=False, order="keyframes")
        gt_seen, tr_seen = _shown(s, queue, False)
        out[label] = {"looks": len(queue), "boxes": len(queue), "gt_runs": gt_seen,
                      "track_runs": tr_seen,
                      "candidates": int((queue.kind == ItemKind.CANDIDATE).sum())}
    return out


def candidate_quality(s: Seq, found: cand.Candidates) -> dict[str, np.ndarray]:
    """Per candidate: real (hint box on a gt object with no correct box at the hint frame); per
    missed gt run: whether a chain covers it."""
    real = np.zeros(len(found), bool)
    at = np.searchsorted(s.gt.frame, np.r_[found.frame, found.frame + 1].reshape(2, -1))
    for i in range(len(found)):
        lo, hi = int(at[0, i]), int(at[1, i])
        if hi > lo:
            over = pair_iou(np.repeat(found.xyxy[i:i + 1], hi - lo, 0), s.gt.xyxy[lo:hi])
            real[i] = bool(((over >= MATCH_IOU) & (s.gt_run[lo:hi] >= 0)).any())
    det = s.detections
    missed_run = np.unique(s.gt_run[s.gt_run >= 0])
    all_missed = np.array([s.gt_missed[s.gt_run == r].all() for r in missed_run], bool)
    missed_run = missed_run[all_missed]

    def covers(rows: np.ndarray) -> np.ndarray:
        best, _ = max_iou_same_frame(s.gt.frame, s.gt.xyxy, np.full(len(s.gt), -1, np.int64),
                                     det.frame[rows], det.xyxy[rows],
                                     np.full(len(rows), -2, np.int64), False)
        return np.isin(missed_run, s.gt_run[(best >= MATCH_IOU) & (s.gt_run >= 0)])

    near, _ = max_iou_same_frame(det.frame, det.xyxy, np.full(len(det), -1, np.int64),
                                 s.tracks.frame, s.tracks.xyxy, s.tracks.track_id, False)
    loose = np.flatnonzero(near < CFG.candidate_gate_iou)  # every unexplained detection
    return {"real": real, "covered": covers(np.sort(found.det_row)), "reachable": covers(loose)}


def _features(s: Seq, cfg: ReviewConfig) -> tuple[np.ndarray, np.ndarray]:
    """(features, real) of every candidate chain of the pre-labels (for the fit)."""
    found = cand.find_candidates(s.tracks, s.detections, s.num_frames, cfg)
    near, _ = max_iou_same_frame(s.detections.frame, s.detections.xyxy,
                                 np.full(len(s.detections), -1, np.int64), s.tracks.frame,
                                 s.tracks.xyxy, s.tracks.track_id, False)
    x = cand.candidate_features(s.detections, found.det_row, found.chain_start,
                                near[found.det_row], found.track_id)
    return x, candidate_quality(s, found)["real"]


def fit_candidates(fit: list[Seq], cfg: ReviewConfig) -> None:
    """Refit `trackannot.candidates`' logistic model on the fit half (sets it in the module)."""
    parts = [_features(s, cfg) for s in fit]
    x = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts]).astype(np.float64)
    beta = fit_logistic(x, y)
    cand.INTERCEPT = round(float(beta[0]), 3)
    cand.COEFFICIENTS = {k: round(float(b), 3) for k, b in zip(cand.FEATURES, beta[1:])}
    print(f"candidates: {len(y)} chains, {int(y.sum())} real\nINTERCEPT = {cand.INTERCEPT}\n"
          f"COEFFICIENTS = {cand.COEFFICIENTS}")


def fit_proposals(fit: list[Seq], cfg: ReviewConfig) -> None:
    """Measure `trackannot.proposals`' constants on the fit half (sets them in the module):
    RUN_FRAMES (wrong boxes per track run), GAP_RISK and START_RISK / END_RISK by distance (the
    share of such frames where the track's gt object is there without a correct box)."""
    wrong = sum(int(s.wrong.sum()) for s in fit)
    runs = sum(int(s.track_run.max(initial=-1)) + 1 for s in fit)
    counts: dict[str, list[int]] = {}
    for s in fit:
        err = set(zip(s.gt.frame[s.gt_run >= 0].tolist(), s.gt.track_id[s.gt_run >= 0].tolist()))
        t = s.tracks
        order = np.lexsort((t.frame, t.track_id))
        tid, fr = t.track_id[order], t.frame[order]
        first = np.r_[True, tid[1:] != tid[:-1]]
        last = np.r_[tid[1:] != tid[:-1], True]
        step = np.diff(fr)
        gap = np.flatnonzero((tid[1:] == tid[:-1]) & (step > 1) & (step <= prop.MAX_GAP_FRAMES + 1))
        probes = [("gap", int(tid[g]), f) for g in gap for f in range(fr[g] + 1, fr[g + 1])]
        for d in range(1, cfg.edge_frames + 1):
            probes += [(f"start{d}", int(a), int(b) - d) for a, b in zip(tid[first], fr[first])]
            probes += [(f"end{d}", int(a), int(b) + d) for a, b in zip(tid[last], fr[last])]
        for key, track, f in probes:
            hit = (f, s.owner.get(track, -3)) in err
            c = counts.setdefault(key, [0, 0])
            c[0] += int(hit)
            c[1] += 1
    share = {k: v[0] / max(v[1], 1) for k, v in counts.items()}
    prop.RUN_FRAMES = round(wrong / max(runs, 1), 2)
    prop.GAP_RISK = round(share["gap"], 3)
    prop.START_RISK = tuple(round(share[f"start{d}"], 3) for d in range(1, cfg.edge_frames + 1))
    prop.END_RISK = tuple(round(share[f"end{d}"], 3) for d in range(1, cfg.edge_frames + 1))
    prop.DECAY = math.exp(-1.0 / prop.RUN_FRAMES)
    prop.WINDOW_FRAMES = int(math.ceil(prop.RUN_FRAMES * math.log(1000.0)))
    print(f"proposals: RUN_FRAMES = {prop.RUN_FRAMES}\nGAP_RISK = {prop.GAP_RISK}\n"
          f"START_RISK = {prop.START_RISK}\nEND_RISK = {prop.END_RISK}  "
          f"(probes: { {k: v[1] for k, v in counts.items()} })")


def report(seqs: list[Seq]) -> dict[str, Any]:
    """Held-out figures of one set of sequences (module docstring)."""
    gt_total = sum(int(s.gt_run.max(initial=-1)) + 1 for s in seqs)
    tr_total = sum(int(s.track_run.max(initial=-1)) + 1 for s in seqs)
    per: dict[str, dict[str, float]] = {}
    real, p_real, covered, reachable = [], [], [], []
    n_candidates = 0
    lengths = {name: 0 for name in LENGTHS}
    kinds = {name: 0 for name in KINDS}
    gt_boxes = 0
    fp_total = 0
    for s in seqs:
        run_len = np.bincount(s.gt_run[s.gt_run >= 0], minlength=int(s.gt_run.max(initial=-1)) + 1)
        gt_boxes += int(run_len.sum())
        fp_total += int(s.track_fp.sum())
        for i, k in enumerate(np.bincount(s.gt_kind, minlength=len(KINDS)).tolist()):
            kinds[KINDS[i]] += k
        for name, (lo, hi) in LENGTHS.items():
            lengths[name] += int(((run_len >= lo) & (run_len <= hi)).sum())
        for name, got in orders(s).items():
            row = per.setdefault(name, {"looks": 0, "boxes": 0, "gt_runs": 0, "track_runs": 0,
                                        "candidates": 0, "gt_boxes_in_runs": 0,
                                        "false_positive_track_runs": 0,
                                        **{f"gt_runs_{k}": 0 for k in LENGTHS},
                                        **{f"gt_runs_{k}": 0 for k in KINDS}})
            for key in ("looks", "boxes", "candidates"):
                row[key] += got.get(key, 0)
            row["gt_runs"] += len(got["gt_runs"])
            row["track_runs"] += len(got["track_runs"])
            row["false_positive_track_runs"] += int(s.track_fp[sorted(got["track_runs"])].sum())
            seen_kind = np.bincount(s.gt_kind[sorted(got["gt_runs"])], minlength=len(KINDS))
            for i, k in enumerate(KINDS):
                row[f"gt_runs_{k}"] += int(seen_kind[i])
            seen_len = run_len[sorted(got["gt_runs"])]
            row["gt_boxes_in_runs"] += int(seen_len.sum())
            for k, (lo, hi) in LENGTHS.items():
                row[f"gt_runs_{k}"] += int(((seen_len >= lo) & (seen_len <= hi)).sum())
        found = cand.find_candidates(s.tracks, s.detections, s.num_frames, CFG)
        q = candidate_quality(s, found)
        real.append(q["real"])
        p_real.append(found.p_real)
        covered.append(q["covered"])
        reachable.append(q["reachable"])
        n_candidates += len(found)
    for row in per.values():
        row["gt_runs_shown"] = row["gt_runs"] / max(gt_total, 1)
        row["track_runs_shown"] = row["track_runs"] / max(tr_total, 1)
        row["gt_boxes_in_runs_shown"] = row["gt_boxes_in_runs"] / max(gt_boxes, 1)
        for k in LENGTHS:
            row[f"gt_runs_{k}_shown"] = row[f"gt_runs_{k}"] / max(lengths[k], 1)
        for k in KINDS:
            row[f"gt_runs_{k}_shown"] = row[f"gt_runs_{k}"] / max(kinds[k], 1)
        row["false_positive_track_runs_shown"] = row["false_positive_track_runs"] / max(fp_total, 1)
        row["gt_and_false_positive_runs_shown"] = (
            (row["gt_runs"] + row["false_positive_track_runs"]) / max(gt_total + fp_total, 1))
    y, p, c = np.concatenate(real), np.concatenate(p_real), np.concatenate(covered)
    reliability = []
    for lo, hi in zip(BUCKETS[:-1], BUCKETS[1:]):
        m = (p >= lo) & ((p < hi) if hi < 1.0 else (p <= hi))
        reliability.append({"bucket": f"{lo:.2f}-{hi:.2f}", "candidates": int(m.sum()),
                            "mean_p": float(p[m].mean()) if m.any() else None,
                            "real": float(y[m].mean()) if m.any() else None})
    return {
        "sequences": [s.name for s in seqs], "frames": sum(s.num_frames for s in seqs),
        "gt_runs": gt_total, "gt_runs_by_length": lengths, "gt_runs_by_kind": kinds,
        "gt_run_boxes": gt_boxes, "track_runs": tr_total, "false_positive_track_runs": fp_total,
        "orders": per,
        "candidates": {"found": n_candidates, "real": int(y.sum()),
                       "precision": float(y.mean()) if len(y) else None,
                       "auc": auc(p, y.astype(np.float64)) if len(y) else None,
                       "mean_p_real": float(p.mean()) if len(p) else None,
                       "missed_gt_runs": int(len(c)),
                       "recall_missed_gt_runs": float(c.mean()) if len(c) else None,
                       "missed_gt_runs_with_an_unexplained_detection":
                           float(np.concatenate(reachable).mean()) if len(c) else None,
                       "reliability": reliability},
    }


def _print(name: str, res: dict[str, Any]) -> None:
    print(f"\n== {name} held out {res['sequences']}: {res['frames']} frames, {res['gt_runs']} gt "
          f"runs, {res['track_runs']} track runs")
    print(f"{'order':32} {'looks':>6} {'boxes':>7} {'cands':>6} {'gt runs':>8} {'track runs':>10}"
          f" {'gt boxes':>8} {'len 1':>6} {'2-5':>6} {'6+':>6}   (runs by length: "
          f"{res['gt_runs_by_length']})")
    for order, row in res["orders"].items():
        print(f"{order:32} {row['looks']:6d} {row['boxes']:7d} {row['candidates']:6d} "
              f"{row['gt_runs_shown']:8.3f} {row['track_runs_shown']:10.3f} "
              f"{row['gt_boxes_in_runs_shown']:8.3f} " +
              " ".join(f"{row[f'gt_runs_{k}_shown']:6.3f}" for k in LENGTHS))
    print(f"{'gt runs shown by kind':32} " + " ".join(f"{k:>13}" for k in KINDS) +
          f" {'false pos.':>10} {'gt + f.p.':>9}")
    print(f"{'  (runs)':32} " + " ".join(f"{res['gt_runs_by_kind'][k]:13d}" for k in KINDS) +
          f" {res['false_positive_track_runs']:10d}"
          f" {res['gt_runs'] + res['false_positive_track_runs']:9d}")
    for order, row in res["orders"].items():
        print(f"{order:32} " + " ".join(f"{row[f'gt_runs_{k}_shown']:13.3f}" for k in KINDS) +
              f" {row['false_positive_track_runs_shown']:10.3f}"
              f" {row['gt_and_false_positive_runs_shown']:9.3f}")
    c = res["candidates"]
    print(f"candidates: {c['found']} found, precision {c['precision']:.3f}, AUC {c['auc']:.3f}, "
          f"mean p_real {c['mean_p_real']:.3f}; missed gt runs {c['missed_gt_runs']}, covered by "
          f"a chain {c['recall_missed_gt_runs']:.3f}, with any unexplained detection "
          f"{c['missed_gt_runs_with_an_unexplained_detection']:.3f}")
    for row in c["reliability"]:
        if row["candidates"]:
            print(f"  p_real {row['bucket']}: {row['candidates']:5d} candidates, mean p "
                  f"{row['mean_p']:.3f}, real {row['real']:.3f}")


def sweep_missing_weight(halves: dict[str, list[Seq]]) -> dict[str, Any]:
    """gt and track runs the frames order shows in the top 10% of frames, per
    `ReviewConfig.missing_box_weight` (chosen on the fit half), pooled per half."""
    out: dict[str, Any] = {}
    for weight in WEIGHTS:
        cfg = replace(CFG, missing_box_weight=weight)
        row = {}
        for half, seqs in halves.items():
            shown = [0, 0]
            for s in seqs:
                k = max(1, math.ceil(SHARE * s.num_frames))
                queue = build_queue(_state(s), s.detections, s.num_frames, k, cfg,
                                    queue_id="bench", based_on=0, honeypots=False)
                gt_seen, tr_seen = runs_at_frames(s, queue.frames)
                shown[0] += len(gt_seen)
                shown[1] += len(tr_seen)
            row[half] = {
                "gt_runs_shown": shown[0] / sum(int(s.gt_run.max(initial=-1)) + 1 for s in seqs),
                "track_runs_shown": shown[1] / sum(int(s.track_run.max(initial=-1)) + 1
                                                   for s in seqs)}
        out[str(weight)] = row
        print(f"missing_box_weight {weight}: " + "; ".join(
            f"{half} gt runs {r['gt_runs_shown']:.3f}, track runs {r['track_runs_shown']:.3f}"
            for half, r in row.items()))
    return out


def spread_frame_order(frame: np.ndarray, track: np.ndarray, p: np.ndarray, num_frames: int,
                       cfg: ReviewConfig, weight: np.ndarray | None = None,
                       whole: np.ndarray | None = None) -> np.ndarray:
    """The frames order's ranking before the run-aware one (`--spread`): the spread ranking of
    `trackannot.risk.rank_frames` over the rows' p times weight (a candidate's chain rows one
    key, not one run)."""
    del whole
    order = np.lexsort((frame, track))
    tid = track[order]
    seg = np.cumsum(np.r_[True, tid[1:] != tid[:-1]]) - 1 if len(tid) else np.zeros(0, np.int64)
    value = p * (weight if weight is not None else 1.0)
    return spread_rank(frame, value.astype(np.float64), order.astype(np.int64),
                       seg.astype(np.int64), int(num_frames), int(cfg.spread_frames))


def speed(num_frames: int = 20_000, per_frame: int = 19, life: int = 500, budget: int = 2000
          ) -> dict[str, float]:
    """Seconds of `build_queue` (best of 3, after a warm-up) on a synthetic annotation of
    `per_frame` tracks a frame over `num_frames` frames (~380k boxes; tracks ~`life` frames
    long with 1% of frames missing; a detection at 90% of the boxes): the frames order with the
    run-aware and the spread ranking, and the keyframes order."""
    import time

    rng = np.random.default_rng(0)
    parts: list[tuple[np.ndarray, int, np.ndarray]] = []
    tid = 0
    for slot in range(per_frame):
        start = -int(rng.integers(0, life))
        while start < num_frames:
            end = min(start + life + int(rng.integers(-100, 100)), num_frames)
            f = np.arange(max(start, 0), end)
            f = f[rng.uniform(size=len(f)) > 0.01]
            x = 50.0 * slot + 20 * np.sin(f / 50.0)
            parts.append((f, tid, np.c_[x, np.full(len(f), 100.0), x + 40, np.full(len(f), 180.0)]))
            tid += 1
            start = end + int(rng.integers(1, 5))
    frame = np.concatenate([p[0] for p in parts])
    boxes = Boxes.create(frame=frame, xyxy=np.concatenate([p[2] for p in parts]).astype(np.float32),
                         track_id=np.concatenate([np.full(len(p[0]), p[1]) for p in parts]),
                         score=rng.uniform(0.3, 1.0, len(frame)).astype(np.float32), sort=True)
    keep = rng.uniform(size=len(boxes)) > 0.1
    dets = Boxes.create(frame=boxes.frame[keep], score=boxes.score[keep], sort=True,
                        xyxy=boxes.xyxy[keep] + rng.normal(0, 2, (int(keep.sum()), 4)).astype(
                            np.float32))
    state = AnnotationState(boxes, num_frames=num_frames, detections=dets)
    out: dict[str, float] = {"boxes": len(boxes), "frames": num_frames}
    run_aware = ranking.frame_order
    for name, order, rank in (("frames order (run-aware)", "frames", run_aware),
                              ("frames order (spread, before)", "frames", spread_frame_order),
                              ("keyframes order", "keyframes", run_aware)):
        ranking.frame_order = rank
        times = []
        for i in range(4):
            t = time.perf_counter()
            build_queue(state, dets, num_frames, budget, CFG, queue_id="speed", based_on=0,
                        honeypots=False, order=order)
            times.append(time.perf_counter() - t)
        out[name] = min(times[1:])
        print(f"build_queue, {len(boxes)} boxes / {num_frames} frames, {name}: {out[name]:.2f} s")
    ranking.frame_order = run_aware
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fit", action="store_true", help="refit the constants first")
    parser.add_argument("--sweep", action="store_true",
                        help="also try review.missing_box_weight values on both halves")
    parser.add_argument("--spread", action="store_true",
                        help="rank the frames order by the spread ranking (the ranking before)")
    parser.add_argument("--speed", action="store_true",
                        help="only time build_queue on a synthetic 380k-box annotation")
    parser.add_argument("--anchor-frames", type=int, default=0, metavar="N",
                        help="ReviewConfig.anchor_frames for the queues (0: off, this benchmark's default; "
                             "the library's is 5; "
                             "writes results/queue_anchor<N>.json)")
    args = parser.parse_args(argv)
    global CFG
    CFG = replace(CFG, anchor_frames=args.anchor_frames)
    if args.speed:
        speed()
        return
    if args.spread:
        ranking.frame_order = spread_frame_order
    data = {name: [load(name, s) for s in loader(DATA_DIR)] for name, loader in LOADERS.items()}
    fit_half = [s for seqs in data.values() for s in seqs[0::2]]
    if args.fit:
        fit_proposals(fit_half, CFG)
        fit_candidates(fit_half, CFG)
    sweep = sweep_missing_weight({"fit": fit_half, "held_out": [
        s for seqs in data.values() for s in seqs[1::2]]}) if args.sweep else None
    held = {name: seqs[1::2] for name, seqs in data.items()}
    results = {name: report(seqs) for name, seqs in held.items()}
    results["pooled"] = report([s for seqs in held.values() for s in seqs])
    for name, res in results.items():
        _print(name, res)
    doc = result_doc("benchmarks.bench_queue", results, fit=args.fit, missing_box_weight_sweep=sweep,
                     frames_order_ranking="spread" if args.spread else "run-aware",
                     fit_sequences=[s.name for s in fit_half],
                     candidates={"intercept": cand.INTERCEPT, "coefficients": cand.COEFFICIENTS},
                     proposals={"run_frames": prop.RUN_FRAMES, "gap_risk": prop.GAP_RISK,
                                "start_risk": prop.START_RISK, "end_risk": prop.END_RISK})
    out = OUT.with_name("queue_spread.json") if args.spread else \
        OUT.with_name(f"queue_anchor{args.anchor_frames}.json") if args.anchor_frames else OUT
    write_json(out, dict(doc, anchor_frames=args.anchor_frames))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
