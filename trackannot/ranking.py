"""Review order: which boxes, frames, keyframe proposals and missed-object candidates a review
queue shows, and in what order (the items `trackannot.review.build_queue` wraps).

* `frame_items` (order "frames"): frames ranked by the error runs they are expected to show
  that no frame ranked before them shows (`frame_order`, `trackannot.kernels.risk.run_rank`)
  over the annotation's boxes (their risk), the cells where a track probably lacks a box
  (`trackannot.proposals.missing_boxes`: gaps, late starts, early ends, open ends; their
  probability times `ReviewConfig.missing_box_weight`, as a missing box is mostly an error run
  of its own) and the frames of the missed-object candidates' chains (`p_real` at each). A
  track's boxes and missing boxes in frame order, and a candidate's chain, form runs: once a
  frame is queued, the rows of its tracks next to it count only for the chance that their
  error run does not reach it (`run_links`). Every box of a queued frame is an item, and so is every
  missing box (its hint box; reason GAP or OPEN_END) and every candidate with a chain frame
  there (kind CANDIDATE, at its first queued chain frame) whose `p_real` is at least
  `ReviewConfig.frames_candidate_min_p` (default 0.27, the break-even of a whole-frame look);
  a probably missing box is shown under the same rule (`ReviewConfig.frames_missing_min_p`),
  but always where propagation stopped at a conflict or a cut. Rows not shown still rank
  frames; only frames with an item to show are queued. By default (`ReviewConfig.anchor_frames`
  5) those frames are put in `anchored_order` first: an even coverage skeleton, one look about
  every 5 frames, coarse to fine, then the rest by error runs.
* `keyframe_items` (order "keyframes"): one box per item, the keyframe proposals
  (`trackannot.proposals.propose_keyframes`) and the candidates merged by expected wrong boxes
  fixed per second (`candidate_gain`).

Both keep today's checks: strict-mode spot checks of confident frames or boxes spread through the
order, and honeypots (boxes moved off a known truth). Every function returns item columns
(`trackannot.review.ITEM_COLUMNS` and `EVIDENCE_COLUMNS`) by name.

A check policy (`ReviewConfig.check_min_risk` > 0: reviewers check only box items of at least
that risk, `asked_items`) must not let them skip the checks: honeypots are then that share of
the asked box items, and `disguise_checks` gives every honeypot and spot check the score and
reason of an asked item.
"""

from __future__ import annotations

import hashlib
import heapq
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import numpy.typing as npt

from trackannot.boxes import Boxes, Origin
from trackannot.candidates import Candidates
from trackannot.config import ReviewConfig
from trackannot.cost import DEFAULT_COST, CostModel
from trackannot.kernels.risk import run_rank
from trackannot.keyframes import Keyframes
from trackannot.proposals import (
    MissingBoxes,
    Proposals,
    missing_boxes,
    propose_keyframes,
)
from trackannot.risk import Reason, Risk

if TYPE_CHECKING:
    from trackannot.propagate import Stop

__all__ = ["EVIDENCE_COLUMNS", "MISSING_REASONS", "ItemKind", "QueueInput", "anchored_order",
           "asked_items", "box_items", "candidate_gain", "disguise_checks",
           "frame_items", "frame_order", "honeypot_count", "keyframe_items", "queue_rng",
           "run_links", "spot_check_count"]

# honeypots need a queue of at least this many items before one is forced in at a small rate
_MIN_ITEMS_FOR_HONEYPOT = 20
# honeypots are drawn among this many times as many low-risk candidates as are needed
_HONEYPOT_POOL = 3
# the frame ranking stops discounting a run's rows where the chance it reaches them is below this
_RUN_EPS = 1e-4


class ItemKind(IntEnum):
    """Why an item is in the queue (the `kind` column; only CANDIDATE is shown to reviewers)."""

    RISK = 0  # ranked by risk
    SPOT_CHECK = 1  # strict mode: a random confident box
    HONEYPOT = 2  # a perturbed box with known truth
    CANDIDATE = 3  # a possible missed object (its hint box; shown as such)
    PROPOSAL = 4  # a keyframe proposal (keyframes order): the track's box at the frame


EVIDENCE_COLUMNS: dict[str, tuple[np.dtype[Any], tuple[int, ...]]] = {
    "first_frame": (np.dtype(np.int64), ()),
    "last_frame": (np.dtype(np.int64), ()),
    "support": (np.dtype(np.int32), ()),
    "det_score": (np.dtype(np.float32), ()),
    "class_id": (np.dtype(np.int32), ()),
    "gain": (np.dtype(np.float32), ()),
}
"""What a candidate or proposal item rests on (`trackannot.review.ReviewQueue` documents each)."""

MISSING_REASONS = (Reason.GAP, Reason.OPEN_END, Reason.CONFLICT, Reason.CUT)
"""Reasons of the items that show a probably missing box (`trackannot.proposals.missing_boxes`)
rather than a box of the annotation."""


def box_items(kind: npt.NDArray[np.uint8], reason: npt.NDArray[np.uint8]
              ) -> npt.NDArray[np.bool_]:
    """(n,) bool: the items that show a box of the annotation ranked by its risk (kind RISK, not
    a probably missing box)."""
    return (kind == ItemKind.RISK) & ~np.isin(reason, MISSING_REASONS)


def asked_items(kind: npt.NDArray[np.uint8], score: npt.NDArray[np.float32],
                reason: npt.NDArray[np.uint8], check_min_risk: float) -> npt.NDArray[np.bool_]:
    """(n,) bool: the items a reviewer checks under the check policy `check_min_risk`
    (`ReviewConfig.check_min_risk`): every item but the box items (`box_items`) whose risk is
    below it. Every item when it is 0."""
    return ~box_items(kind, reason) | (score >= check_min_risk)


def disguise_checks(items: dict[str, np.ndarray], check_min_risk: float,
                    rng: np.random.Generator) -> None:
    """Under a check policy, show each honeypot and spot check whose score is below it with the
    score and reason of an asked box or proposal item drawn at random (not a missing box's: a
    honeypot shows a box; the score `check_min_risk` itself, reason kept, when there is none),
    in place: a reviewer who skips what looks confident still meets them. Nothing changes when
    `check_min_risk` is 0."""
    if check_min_risk <= 0:
        return
    kind, score = items["kind"], items["score"]
    checks = np.flatnonzero(np.isin(kind, (ItemKind.HONEYPOT, ItemKind.SPOT_CHECK))
                            & (score < check_min_risk))
    if not len(checks):
        return
    pool = np.flatnonzero(np.isin(kind, (ItemKind.RISK, ItemKind.PROPOSAL))
                          & ~np.isin(items["reason"], MISSING_REASONS) & (score >= check_min_risk))
    if not len(pool):
        score[checks] = check_min_risk
        return
    src = rng.choice(pool, size=len(checks))
    score[checks] = score[src]
    items["reason"][checks] = items["reason"][src]


def spot_check_count(budget: int, cfg: ReviewConfig) -> int:
    """Frames of a strict queue's budget given to random spot checks (0 in fast mode).

    round(spot_check_rate * budget), at least 1 when the rate is > 0 and the budget >= 2, and
    never the whole budget.
    """
    if cfg.mode != "strict" or cfg.spot_check_rate <= 0 or budget < 2:
        return 0
    return int(min(max(1, round(cfg.spot_check_rate * budget)), budget - 1))


def honeypot_count(items: int, cfg: ReviewConfig, queue_items: int | None = None) -> int:
    """Honeypots among `items` queue items: round(honeypot_rate * items), at least 1 when the
    rate is > 0 and the queue has at least 20 items (`queue_items`, default `items`: under a
    check policy `items` counts the asked box items only, and a queue where a reviewer checks
    few boxes still gets its honeypot)."""
    if cfg.honeypot_rate <= 0:
        return 0
    total = items if queue_items is None else queue_items
    n = int(round(cfg.honeypot_rate * items))
    if total >= _MIN_ITEMS_FOR_HONEYPOT:
        n = max(n, 1)
    return min(n, total)


def queue_rng(cfg: ReviewConfig, queue_id: str) -> np.random.Generator:
    """The queue's own random stream: the same seed and queue id draw the same checks."""
    digest = int(hashlib.sha256(queue_id.encode()).hexdigest()[:8], 16)
    return np.random.default_rng([int(cfg.seed), digest])


def _frame_max(frame: npt.NDArray[np.int64], score: npt.NDArray[np.float64],
               frames: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """Highest row score at each of `frames` (which all have rows)."""
    uniq, inverse = np.unique(frame, return_inverse=True)
    top = np.full(len(uniq), -np.inf)
    np.maximum.at(top, inverse, score)
    return top[np.searchsorted(uniq, frames)]


def _pick_frames(eligible: npt.NDArray[np.int64], frame_max: npt.NDArray[np.float64], budget: int,
                 n_spot: int, rng: np.random.Generator, with_boxes: npt.NDArray[np.bool_]
                 ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """The queued frames in review order and which of them are spot checks.

    The risk part is the top `budget - n_spot` eligible frames. Spot checks are drawn among the
    other eligible frames that have boxes (`with_boxes`) whose highest risk is below the median
    (the confident frames; the lowest-risk ones if too few are), and put at one random position
    in each of n_spot equal stretches of the order, so they are spread through it rather than
    bunched at the end.
    """
    risk_part = eligible[: budget - n_spot]
    if n_spot == 0:
        return risk_part, np.zeros(len(risk_part), bool)
    boxed = with_boxes[budget - n_spot:]
    if boxed.sum() >= n_spot:
        rest, rest_max = eligible[budget - n_spot:][boxed], frame_max[budget - n_spot:][boxed]
    else:
        rest, rest_max = eligible[budget - n_spot:], frame_max[budget - n_spot:]
    confident = rest[rest_max < np.median(frame_max)]
    if len(confident) < n_spot:
        confident = rest[np.argsort(rest_max, kind="stable")[:n_spot]]
    spot = rng.choice(confident, size=n_spot, replace=False)
    slots = ((np.arange(n_spot) + rng.uniform(0.0, 1.0, n_spot)) * budget / n_spot).astype(np.int64)
    is_spot = np.zeros(budget, bool)
    is_spot[np.minimum(slots, budget - 1)] = True
    order = np.empty(budget, np.int64)
    order[is_spot] = spot
    order[~is_spot] = risk_part
    return order, is_spot


def _perturb(truth: npt.NDArray[np.float32], shift: float, rng: np.random.Generator,
             frame_size: tuple[int, int] | None) -> npt.NDArray[np.float32]:
    """Boxes moved by shift * (w, h) in a random direction (IoU with the truth about 0.5-0.6 for
    shift 0.25); inside the frame when its size is known, moving the other way if that clips less."""
    box = truth.astype(np.float64)
    wh = box[:, 2:] - box[:, :2]
    angle = rng.uniform(0.0, 2 * np.pi, len(box))
    step = shift * wh * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    moved = [box + np.tile(step, 2), box - np.tile(step, 2)]
    if frame_size is None:
        return moved[0].astype(np.float32)
    hi = np.array([frame_size[0], frame_size[1]] * 2, np.float64)
    clipped = [np.clip(m, 0.0, hi) for m in moved]
    lost = [np.abs(c - m).sum(axis=1) for c, m in zip(clipped, moved)]
    return np.where((lost[1] < lost[0])[:, None], clipped[1], clipped[0]).astype(np.float32)


def _pick_honeypots(items: dict[str, np.ndarray], origin: npt.NDArray[np.uint8], n: int,
                    rng: np.random.Generator) -> npt.NDArray[np.intp]:
    """Item rows to turn into honeypots, among the risk items (all items if too few).

    Boxes at human keyframes come first (their truth is known): drawn at random among them. The
    rest are drawn among the `_HONEYPOT_POOL` times as many lowest-risk automatic boxes as needed.
    """
    candidates = np.flatnonzero(items["kind"] == ItemKind.RISK)
    if len(candidates) < n:
        candidates = np.arange(len(items["kind"]))
    human = origin[candidates] == Origin.KEYFRAME
    keyed, auto = candidates[human], candidates[~human]
    if len(keyed) >= n:
        return np.sort(rng.choice(keyed, size=n, replace=False))
    need = n - len(keyed)
    pool = auto[np.argsort(items["score"][auto], kind="stable")[: need * _HONEYPOT_POOL]]
    return np.sort(np.r_[keyed, rng.choice(pool, size=need, replace=False)])


def candidate_gain(candidates: Candidates, cost: CostModel = DEFAULT_COST
                   ) -> npt.NDArray[np.float64]:
    """Expected wrong boxes fixed per second of each candidate: its expected boxes (p_real x the
    frames of its chain) over its expected seconds (real: a box drawn, `draw_s`; not real: a
    rejection, `delete_s`)."""
    p = candidates.p_real
    return candidates.expected_boxes / (p * cost.draw_s + (1.0 - p) * cost.delete_s)


def _rank_in(order_gain: npt.NDArray[np.float64], gain: npt.NDArray[np.float64]
             ) -> npt.NDArray[np.int64]:
    """Where each of `gain` goes in a ranked list with gains `order_gain`: before the first entry
    whose gain (made non-increasing: the lowest so far) is below it."""
    envelope = np.minimum.accumulate(order_gain) if len(order_gain) else order_gain
    return np.searchsorted(-envelope, -gain, side="left").astype(np.int64)


def _merged(first: npt.NDArray[np.int64], first_gain: npt.NDArray[np.float64],
            second: npt.NDArray[np.int64], second_gain: npt.NDArray[np.float64]
            ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """Ids of two rankings merged (`second` ranked into `first` by gain) and which of them are
    from `second`; `second` is re-sorted by gain, highest first (ties: its own order)."""
    by_gain = np.argsort(-second_gain, kind="stable")
    second, second_gain = second[by_gain], second_gain[by_gain]
    pos = _rank_in(first_gain, second_gain)
    slot = np.r_[np.arange(len(first)) + np.searchsorted(pos, np.arange(len(first)), side="right"),
                 pos + np.arange(len(second))]
    ids = np.empty(len(slot), np.int64)
    ids[slot] = np.r_[first, second]
    is_second = np.zeros(len(slot), bool)
    is_second[slot[len(first):]] = True
    return ids, is_second


def _candidate_items(candidates: Candidates, rows: npt.NDArray[np.int64],
                     rank: npt.NDArray[np.int64], gain: npt.NDArray[np.float64]
                     ) -> dict[str, np.ndarray]:
    """Items (and evidence) of candidates `rows` at ranks `rank`."""
    n = len(rows)
    return {
        "rank": rank.astype(np.int32), "frame": candidates.frame[rows],
        "track_id": candidates.track_id[rows], "score": candidates.p_real[rows].astype(np.float32),
        "reason": np.full(n, Reason.NONE, np.uint8),
        "kind": np.full(n, ItemKind.CANDIDATE, np.uint8), "xyxy": candidates.xyxy[rows],
        "truth_xyxy": np.full((n, 4), np.nan, np.float32),
        "first_frame": candidates.first_frame[rows], "last_frame": candidates.last_frame[rows],
        "support": candidates.detections[rows], "det_score": candidates.mean_score[rows],
        "class_id": candidates.class_id[rows], "gain": gain[rows].astype(np.float32),
    }


def _with_evidence(items: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """`items` with the evidence columns' defaults where they have none."""
    n = len(items["frame"])
    defaults = {"first_frame": items["frame"], "last_frame": items["frame"], "support": 0,
                "det_score": np.nan, "class_id": -1, "gain": np.nan}
    for name, (dtype, _) in EVIDENCE_COLUMNS.items():
        if name not in items:
            items[name] = np.broadcast_to(np.asarray(defaults[name], dtype), (n,)).copy()
    return items


def _concat_items(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    parts = [_with_evidence(p) for p in parts]
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}


def _frame_rows(boxes: Boxes, risk: Risk, missing: MissingBoxes, candidates: Candidates,
                detections: Boxes | None, missing_weight: float
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(frame, key, p, weight in the ranking, whether one run) of every row the frame ranking
    counts, sorted by frame: boxes, missing boxes (their track's key; `missing_weight`) and the
    candidates' chain detections (a key per candidate, each chain one run)."""
    size = np.diff(candidates.chain_start)
    chain_frame = detections.frame[candidates.det_row] if detections is not None and len(size) \
        else np.zeros(0, np.int64)
    base = int(max(boxes.track_id.max(initial=0), missing.track_id.max(initial=0))) + 1
    frame = np.r_[boxes.frame, missing.frame, chain_frame]
    track = np.r_[boxes.track_id, missing.track_id, base + np.repeat(np.arange(len(size)), size)]
    p = np.r_[risk.score, missing.p, np.repeat(candidates.p_real, size)]
    weight = np.r_[np.ones(len(boxes)), np.full(len(missing), missing_weight), np.ones(size.sum())]
    whole = np.r_[np.zeros(len(boxes) + len(missing), bool), np.ones(size.sum(), bool)]
    by_frame = np.argsort(frame, kind="stable")
    return (frame[by_frame].astype(np.int64), track[by_frame].astype(np.int64), p[by_frame],
            weight[by_frame], whole[by_frame])


def run_links(frame: npt.NDArray[np.int64], track: npt.NDArray[np.int64],
              p: npt.NDArray[np.float64], whole: npt.NDArray[np.bool_] | None = None
              ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """(rows sorted by (key, frame), the chance that each of them and the next one of its key
    are in one error run given that it is wrong) for `trackannot.kernels.risk.run_rank`.

    Rows of one key at consecutive frames: min(p) / max(p) of the two (P(next wrong | this
    wrong) when a wrong row implies every row of the key as likely or likelier to be wrong is
    wrong too: a run goes on as far as the probabilities stay, and fades where they fall); 0
    across a frame without a row or between keys; 1 between rows of a key marked `whole` (a
    candidate's chain: real or not as a whole)."""
    order = np.lexsort((frame, track))
    t, f, q = track[order], frame[order], np.clip(p[order].astype(np.float64), 0.0, 1.0)
    link = np.zeros(len(order), np.float64)
    if len(order) > 1:
        same = t[1:] == t[:-1]
        lo, hi = np.minimum(q[1:], q[:-1]), np.maximum(q[1:], q[:-1])
        ratio = np.divide(lo, hi, out=np.zeros(len(lo)), where=hi > 0)
        link[:-1] = np.where(same & (f[1:] == f[:-1] + 1), ratio, 0.0)
        if whole is not None:
            w = whole[order]
            link[:-1] = np.where(same & w[1:] & w[:-1], 1.0, link[:-1])
    return order.astype(np.int64), link


def frame_order(frame: npt.NDArray[np.int64], track: npt.NDArray[np.int64],
                p: npt.NDArray[np.float64], num_frames: int, cfg: ReviewConfig,
                weight: npt.NDArray[np.float64] | None = None,
                whole: npt.NDArray[np.bool_] | None = None) -> npt.NDArray[np.int64]:
    """Every frame in review order by the error runs it is expected to show that no earlier
    frame shows (`trackannot.kernels.risk.run_rank` over rows (frame, key, p), rows sorted by
    frame): a row's worth is p times `weight` (1 if None), and runs are `run_links` of the
    worths capped at 1 (a missing box weighted up counts as that likely in its run too, so a
    look at a track's last box leaves little of the missing box after it). `cfg` is kept for
    the signature (the spread ranking of `trackannot.risk.rank_frames` uses its spread_frames;
    this ranking has no setting of its own)."""
    del cfg
    value = p.astype(np.float64) * (weight if weight is not None else 1.0)
    order, link = run_links(frame, track, np.minimum(value, 1.0), whole)
    return run_rank(frame, value, link, order, int(num_frames), _RUN_EPS)


def anchored_order(order: npt.NDArray[np.int64], looked: npt.NDArray[np.int64], num_frames: int,
                   anchor_frames: int) -> npt.NDArray[np.int64]:
    """`order` with a coverage skeleton first: evenly spaced frames that leave no stretch of
    more than `anchor_frames` frames without a look, coarse to fine, then the rest of `order`
    as it was.

    A look anchors what the engine carries between looks (interpolation, propagation), and an
    object the detector missed has no risk signal at all: a ranking by risk alone clusters its
    looks on risky moments and leaves long stretches where nothing is anchored and nothing is
    found (effort benchmark, KITTI Car at 1.6 s/frame: a third of the gt boxes more than 5
    frames from any look, holding 57% of the wrong ones; uniform review: none). Each stretch
    between looks gets the fewest evenly spaced frames that cut it into pieces of at most
    `anchor_frames` (a stretch before the first look or after the last counts twice its length,
    as a look anchors it from one side only; with no look yet, the first is the video's middle).
    They come coarse to fine: the longest stretch is split first, at the frame that leaves its
    longer piece shortest, so any budget gets an even cover, and a finished skeleton has about
    one look every `anchor_frames` frames, as uniform review does. A frame that cannot be
    queued is replaced by the nearest one that can, within half the spacing (the better ranked
    of two as near); none there: that piece is left longer.

    Args:
        order: (m,) int64 distinct frames in review order (those that may be queued).
        looked: (k,) int64 frames already looked at (any order, duplicates allowed).
        num_frames: frames of the video (every frame < num_frames).
        anchor_frames: the skeleton's spacing; 0 returns `order`.

    Returns:
        (m,) int64 the frames of `order`, skeleton first.

    Example:
        >>> anchored_order(np.arange(10), np.zeros(0, np.int64), 10, 4).tolist()[:4]
        [4, 8, 1, 0]
    """
    order = np.asarray(order, np.int64)
    if anchor_frames <= 0 or not len(order):
        return order
    rank = np.full(num_frames, len(order), np.int64)
    rank[order] = np.arange(len(order))
    anchors = np.unique(np.asarray(looked, np.int64))
    anchors = anchors[(anchors >= 0) & (anchors < num_frames)]
    near = _Nearest(rank, len(order))
    first: list[int] = []
    if not len(anchors):  # the first look halves the video
        first = near.snap(np.array([(num_frames - 1) // 2]), -1, num_frames, num_frames).tolist()
        anchors = np.array(first, np.int64)
    skeleton = first + _coarse_to_fine(anchors, near, num_frames, anchor_frames)
    picked = np.array(skeleton, np.int64)
    return np.r_[picked, order[~np.isin(order, picked)]].astype(np.int64)


def _coarse_to_fine(anchors: npt.NDArray[np.int64], near: _Nearest, num_frames: int,
                    spacing: int) -> list[int]:
    """The skeleton's frames between `anchors` (sorted looks), longest stretch split first."""
    heap = []  # (-length, lo, hi, frames of the stretch's skeleton, sorted)
    for lo, hi in zip(np.r_[-1, anchors].tolist(), np.r_[anchors, num_frames].tolist()):
        targets = np.array(_even_targets(lo, hi, num_frames, spacing), np.int64)
        snapped = near.snap(targets, lo, hi, spacing // 2)
        frames = np.unique(snapped[snapped >= 0]).tolist()
        if frames:
            heap.append((-_stretch_length(lo, hi, num_frames), lo, hi, frames))
    heapq.heapify(heap)
    out: list[int] = []
    while heap:
        _, lo, hi, frames = heapq.heappop(heap)
        longer = [max(_stretch_length(lo, f, num_frames), _stretch_length(f, hi, num_frames))
                  for f in frames]
        k = int(np.argmin(longer))
        out.append(frames[k])
        for a, b, part in ((lo, frames[k], frames[:k]), (frames[k], hi, frames[k + 1:])):
            if part:
                heapq.heappush(heap, (-_stretch_length(a, b, num_frames), a, b, part))
    return out


def _even_targets(lo: int, hi: int, num_frames: int, spacing: int) -> list[int]:
    """The fewest evenly spaced frames strictly between looks `lo` and `hi` (-1 / num_frames:
    none that side) that leave no stretch longer than `spacing` (`_stretch_length`)."""
    if lo < 0 and hi >= num_frames:
        return []
    if lo >= 0 and hi < num_frames:  # m pieces of at most `spacing`
        length = hi - lo
        m = -(-length // spacing)
        return [lo + i * length // m for i in range(1, m)]
    # an edge: c frames, the last c + 1/2 pieces from the look (the half piece doubled at the edge)
    reach = hi if lo < 0 else num_frames - 1 - lo
    c = max(0, -(-(2 * reach - spacing) // (2 * spacing)))
    steps = [-(-(j * 2 * reach) // (2 * c + 1)) for j in range(1, c + 1)]
    return [hi - s for s in steps] if lo < 0 else [lo + s for s in steps]


class _Nearest:
    """The frames that may be queued nearest each frame, on either side."""

    def __init__(self, rank: npt.NDArray[np.int64], none: int) -> None:
        n = len(rank)
        self.rank = rank
        ok = rank < none
        frames = np.arange(n)
        self.left = np.maximum.accumulate(np.where(ok, frames, -1))  # nearest at or before
        self.right = np.minimum.accumulate(np.where(ok, frames, n)[::-1])[::-1]  # at or after

    def snap(self, targets: npt.NDArray[np.int64], lo: int, hi: int, reach: int
             ) -> npt.NDArray[np.int64]:
        """Per target, the frame that may be queued nearest it, strictly between `lo` and `hi`
        and at most `reach` away (the better ranked of two as near); -1 if none."""
        if not len(targets):
            return np.zeros(0, np.int64)
        n = len(self.rank)
        sides = np.stack([self.left[targets], self.right[targets]])  # (2, k)
        dist = np.abs(sides - targets)
        ok = (sides > lo) & (sides < hi) & (dist <= reach)  # lo >= -1, hi <= n: inside
        rank = self.rank[np.clip(sides, 0, n - 1)]
        key = np.where(ok, dist * (len(self.rank) + 1) + rank, np.iinfo(np.int64).max)
        pick = np.argmin(key, axis=0)
        col = np.arange(len(targets))
        return np.where(ok[pick, col], sides[pick, col], -1).astype(np.int64)


def _stretch_length(lo: int, hi: int, num_frames: int) -> int:
    """Frames between looks `lo` and `hi` (-1 / num_frames: none that side): hi - lo, or twice
    the frames to the video's edge (anchored from one side only)."""
    if lo < 0:
        return 2 * min(hi, num_frames)
    return 2 * (num_frames - 1 - lo) if hi >= num_frames else hi - lo


def _missing_items(missing: MissingBoxes, rank_of: npt.NDArray[np.int64],
                   is_spot: npt.NDArray[np.bool_]) -> dict[str, np.ndarray]:
    """One item per missing box at a queued frame, showing the box the track would have there:
    accept pins it, adjust gives the object's box, absent says the object is not there."""
    keep = np.flatnonzero(rank_of[missing.frame] >= 0)
    rank = rank_of[missing.frame[keep]].astype(np.int32)
    return {
        "rank": rank, "frame": missing.frame[keep], "track_id": missing.track_id[keep],
        "score": missing.p[keep].astype(np.float32), "reason": missing.reason[keep],
        "kind": np.where(is_spot[rank], ItemKind.SPOT_CHECK, ItemKind.RISK).astype(np.uint8),
        "xyxy": missing.xyxy[keep], "truth_xyxy": np.full((len(keep), 4), np.nan, np.float32),
    }


def _shown_missing(missing: MissingBoxes, cfg: ReviewConfig) -> npt.NDArray[np.bool_]:
    """The probably missing boxes a frames-order look shows: those likely enough to pay for a
    "no" (`cfg.frames_missing_min_p`), and always where propagation stopped at a conflict or a
    cut (the engine must say so)."""
    return (missing.p >= cfg.frames_missing_min_p) | np.isin(missing.reason,
                                                             (Reason.CONFLICT, Reason.CUT))


def _showing_frames(boxes: Boxes, missing_frames: npt.NDArray[np.int64], candidates: Candidates,
                    detections: Boxes | None, cfg: ReviewConfig) -> npt.NDArray[np.int64]:
    """Frames where a frames-order look would show an item: a box, a shown missing box or a
    candidate likely enough to be shown (the others rank frames but do not make a frame worth a
    look)."""
    parts = [boxes.frame, missing_frames]
    if len(candidates) and detections is not None:
        size = np.diff(candidates.chain_start)
        likely = np.repeat(candidates.p_real >= cfg.frames_candidate_min_p, size)
        parts.append(detections.frame[candidates.det_row[likely]])
    return np.unique(np.concatenate(parts)).astype(np.int64)


def _shown_candidates(candidates: Candidates, detections: Boxes | None,
                      rank_of: npt.NDArray[np.int64]) -> tuple[np.ndarray, np.ndarray]:
    """(candidates with a chain frame queued, the chain row shown: its earliest-ranked frame)."""
    if not len(candidates) or detections is None:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    size = np.diff(candidates.chain_start)
    chain = np.repeat(np.arange(len(candidates)), size)
    rank = rank_of[detections.frame[candidates.det_row]]
    rank = np.where(rank >= 0, rank, np.iinfo(np.int64).max)
    first = np.lexsort((rank, chain))
    first = first[np.r_[True, chain[first][1:] != chain[first][:-1]]]
    first = first[rank[first] < np.iinfo(np.int64).max]
    shown, det_row = chain[first], candidates.det_row[first]
    keep = _one_edit_per_cell(candidates.track_id[shown], detections.frame[det_row],
                              candidates.p_real[shown])
    return shown[keep], det_row[keep]


def _one_edit_per_cell(track: npt.NDArray[np.int64], frame: npt.NDArray[np.int64],
                       p: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
    """Which candidates to show so that no two continue one track at one frame (their answers
    would edit one cell twice): the most probable of each such pair (ties: the first)."""
    keep = np.ones(len(track), bool)
    order = np.lexsort((np.arange(len(track)), -p))
    seen: set[tuple[int, int]] = set()
    for i in order.tolist():
        cell = (int(track[i]), int(frame[i]))
        if cell[0] >= 0 and cell in seen:
            keep[i] = False
        seen.add(cell)
    return keep


def _cells(track: npt.NDArray[np.int64], frame: npt.NDArray[np.int64], num_frames: int
           ) -> npt.NDArray[np.int64]:
    """A key per (track, frame) cell."""
    return track.astype(np.int64) * (num_frames + 1) + frame


@dataclass(frozen=True, slots=True, eq=False)
class QueueInput:
    """What a queue is built from.

    Attributes:
        boxes: the current annotation.
        risk: `trackannot.risk.score_risk` of its boxes.
        keyframes: its human keyframes.
        candidates: the missed-object candidates (`trackannot.candidates.find_candidates`).
        detections: every stored detection (the candidates' rows), or None.
        stops: where its propagated runs stopped (`AnnotationState.propagation_stops`), or None.
        num_frames: frames of the video.
    """

    boxes: Boxes
    risk: Risk
    keyframes: Keyframes
    candidates: Candidates
    detections: Boxes | None
    stops: Sequence[Stop] | None
    num_frames: int


def frame_items(inp: QueueInput, budget: int, cfg: ReviewConfig, rng: np.random.Generator,
                frame_size: tuple[int, int] | None, honeypots: bool,
                cost: CostModel = DEFAULT_COST) -> dict[str, np.ndarray]:
    """Items of a frames-order queue of `budget` frames (module docstring)."""
    boxes, risk, candidates, detections = inp.boxes, inp.risk, inp.candidates, inp.detections
    num_frames = inp.num_frames
    missing = missing_boxes(boxes, inp.keyframes, num_frames, cfg, inp.stops)
    frame_all, track_all, p_all, weight, whole = _frame_rows(
        boxes, risk, missing, candidates, detections, cfg.missing_box_weight)
    order = frame_order(frame_all, track_all, p_all, num_frames, cfg, weight, whole)
    shown_missing = _shown_missing(missing, cfg)
    eligible = order[np.isin(order, _showing_frames(boxes, missing.frame[shown_missing],
                                                    candidates, detections, cfg))]
    if cfg.anchor_frames > 0:
        eligible = anchored_order(eligible, inp.keyframes.frame, num_frames, cfg.anchor_frames)
    frames = min(budget, len(eligible))
    frame_max = _frame_max(frame_all, p_all, eligible)
    queued, is_spot = _pick_frames(eligible, frame_max, frames, spot_check_count(frames, cfg), rng,
                                   np.isin(eligible, boxes.frame))
    rank_of = np.full(num_frames, -1, np.int64)
    rank_of[queued] = np.arange(len(queued))
    rows = np.flatnonzero(rank_of[boxes.frame] >= 0)
    items = _box_items(boxes, rows, rank_of[boxes.frame[rows]], risk, ItemKind.RISK)
    items["kind"] = np.where(is_spot[items["rank"]], ItemKind.SPOT_CHECK, ItemKind.RISK).astype(np.uint8)
    asked = asked_items(items["kind"], items["score"], items["reason"], cfg.check_min_risk)
    n_honey = honeypot_count(int(asked.sum()), cfg, len(rows)) if honeypots else 0
    if n_honey:
        pick = _pick_honeypots(items, boxes.origin[rows], n_honey, rng)
        items["truth_xyxy"][pick] = items["xyxy"][pick]
        items["xyxy"][pick] = _perturb(items["xyxy"][pick], cfg.honeypot_shift, rng, frame_size)
        items["kind"][pick] = ItemKind.HONEYPOT
    shown, det_row = _shown_candidates(candidates, detections, rank_of)
    if cfg.frames_candidate_min_p > 0:  # the person draws what is missing anyway
        keep = candidates.p_real[shown] >= cfg.frames_candidate_min_p
        shown, det_row = shown[keep], det_row[keep]
    found = _candidate_items(candidates, shown, np.zeros(len(shown), np.int64),
                             candidate_gain(candidates, cost))
    if len(shown):  # shown at the queued frame of its chain, with its detection there
        found["frame"] = detections.frame[det_row]
        found["xyxy"] = detections.xyxy[det_row]
        found["rank"] = rank_of[found["frame"]].astype(np.int32)
    # a candidate that continues a track asks for that track's box there: no second item for it
    taken = _cells(found["track_id"], found["frame"], num_frames)
    missing = missing.take(~np.isin(_cells(missing.track_id, missing.frame, num_frames), taken)
                           & shown_missing)
    return _concat_items([items, _missing_items(missing, rank_of, is_spot), found])


def _box_items(boxes: Boxes, rows: npt.NDArray[np.int64], rank: npt.NDArray[np.int64],
               risk: Risk, kind: ItemKind) -> dict[str, np.ndarray]:
    """Items showing boxes `rows` of the annotation, one rank each."""
    return {
        "rank": rank.astype(np.int32), "frame": boxes.frame[rows], "track_id": boxes.track_id[rows],
        "score": risk.score[rows].astype(np.float32), "reason": risk.reason[rows].astype(np.uint8),
        "kind": np.full(len(rows), kind, np.uint8), "xyxy": boxes.xyxy[rows],
        "truth_xyxy": np.full((len(rows), 4), np.nan, np.float32),
    }


def _proposal_items(proposals: Proposals, rows: npt.NDArray[np.int64],
                    rank: npt.NDArray[np.int64]) -> dict[str, np.ndarray]:
    n = len(rows)
    return {
        "rank": rank.astype(np.int32), "frame": proposals.frame[rows],
        "track_id": proposals.track_id[rows],
        "score": proposals.p_wrong[rows].astype(np.float32), "reason": proposals.reason[rows],
        "kind": np.full(n, ItemKind.PROPOSAL, np.uint8), "xyxy": proposals.xyxy[rows],
        "truth_xyxy": np.full((n, 4), np.nan, np.float32),
        "first_frame": proposals.first_frame[rows], "last_frame": proposals.last_frame[rows],
        "gain": proposals.gain[rows].astype(np.float32),
    }


def keyframe_items(inp: QueueInput, budget: int, cfg: ReviewConfig, rng: np.random.Generator,
                   frame_size: tuple[int, int] | None, honeypots: bool,
                   cost: CostModel = DEFAULT_COST) -> dict[str, np.ndarray]:
    """Items of a keyframes-order queue of `budget` items (module docstring)."""
    boxes, risk, candidates, num_frames = inp.boxes, inp.risk, inp.candidates, inp.num_frames
    proposals = propose_keyframes(boxes, risk, inp.keyframes, num_frames, budget, cfg, cost,
                                  inp.stops)
    c_gain = candidate_gain(candidates, cost)
    looks, is_candidate = _merged(np.arange(len(proposals)), proposals.gain,
                                  np.arange(len(candidates)), c_gain)
    n_looks = min(budget, len(looks))
    n_spot = min(spot_check_count(n_looks, cfg), max(len(boxes) - n_looks, 0))
    looks, is_candidate = looks[: n_looks - n_spot], is_candidate[: n_looks - n_spot]
    # one item per (track, frame): a candidate continuing a track there replaces its proposal,
    # and of two candidates continuing one track at one frame the more probable stays
    c_rows = looks[is_candidate]
    c_cells = _cells(candidates.track_id[c_rows], candidates.frame[c_rows], num_frames)
    c_keep = _one_edit_per_cell(candidates.track_id[c_rows], candidates.frame[c_rows],
                                candidates.p_real[c_rows])
    c_cells = c_cells[c_keep & (candidates.track_id[c_rows] >= 0)]
    p_rows = looks[~is_candidate]
    p_keep = ~np.isin(_cells(proposals.track_id[p_rows], proposals.frame[p_rows], num_frames),
                      c_cells)
    keep = np.ones(len(looks), bool)
    keep[np.flatnonzero(is_candidate)[~c_keep]] = False
    keep[np.flatnonzero(~is_candidate)[~p_keep]] = False
    looks, is_candidate = looks[keep], is_candidate[keep]
    n_looks = len(looks) + n_spot
    slots, spot_rows = _spot_boxes(boxes, risk, proposals, n_looks, n_spot, rng)
    rank = np.delete(np.arange(n_looks), slots)
    parts = [_proposal_items(proposals, looks[~is_candidate], rank[~is_candidate]),
             _candidate_items(candidates, looks[is_candidate], rank[is_candidate], c_gain),
             _box_items(boxes, spot_rows, slots, risk, ItemKind.SPOT_CHECK)]
    items = _concat_items(parts)
    n_honey = honeypot_count(n_looks, cfg) if honeypots else 0
    if not n_honey:
        return items
    # honeypots go to random places in the order; the other items keep theirs, moved down
    pots = _honeypot_boxes(boxes, risk, n_honey, rng)
    at = np.sort(rng.choice(n_looks + len(pots), size=len(pots), replace=False))
    honey = _box_items(boxes, pots, at, risk, ItemKind.HONEYPOT)
    honey["truth_xyxy"] = honey["xyxy"].copy()
    honey["xyxy"] = _perturb(honey["xyxy"], cfg.honeypot_shift, rng, frame_size)
    others = np.delete(np.arange(n_looks + len(pots)), at)
    items["rank"] = others[items["rank"]].astype(np.int32)  # ranks were 0..n_looks-1
    return _concat_items([items, honey])


def _spot_boxes(boxes: Boxes, risk: Risk, proposals: Proposals, n_looks: int, n_spot: int,
                rng: np.random.Generator) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """(ranks, box rows) of `n_spot` spot checks among `n_looks` items: random automatic boxes
    whose risk is below the median (the lowest-risk ones if too few are), not proposed, each at
    one random place in one of n_spot equal stretches of the order."""
    if n_spot == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    span = int(max(boxes.frame.max(initial=0), proposals.frame.max(initial=0))) + 1
    free = ~np.isin(boxes.track_id * span + boxes.frame,
                    proposals.track_id * span + proposals.frame)
    pool = np.flatnonzero(free & (boxes.origin != Origin.KEYFRAME))
    if len(pool) < n_spot:
        pool = np.flatnonzero(free)
    confident = pool[risk.score[pool] < np.median(risk.score)]
    if len(confident) < n_spot:
        confident = pool[np.argsort(risk.score[pool], kind="stable")[:n_spot]]
    rows = np.sort(rng.choice(confident, size=n_spot, replace=False))
    slots = ((np.arange(n_spot) + rng.uniform(0.0, 1.0, n_spot)) * n_looks / n_spot).astype(np.int64)
    return np.minimum(slots, n_looks - 1), rows


def _honeypot_boxes(boxes: Boxes, risk: Risk, n: int, rng: np.random.Generator
                    ) -> npt.NDArray[np.int64]:
    """Rows of the annotation to show as honeypots: boxes at human keyframes first (their truth
    is known), then among the `_HONEYPOT_POOL` times as many lowest-risk boxes as needed."""
    keyed = np.flatnonzero(boxes.origin == Origin.KEYFRAME)
    if len(keyed) >= n:
        return np.sort(rng.choice(keyed, size=n, replace=False))
    auto = np.flatnonzero(boxes.origin != Origin.KEYFRAME)
    need = min(n - len(keyed), len(auto))
    pool = auto[np.argsort(risk.score[auto], kind="stable")[: need * _HONEYPOT_POOL]]
    return np.sort(np.r_[keyed, rng.choice(pool, size=need, replace=False)]).astype(np.int64)


