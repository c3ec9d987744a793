"""Annotation strategies under a budget, each returning the final boxes and the human actions.

* `manual`: a person draws keyframes from scratch every k frames (ground truth boxes), linear
  interpolation in between (`trackannot.interpolate.interpolate_linear`).
* `review`: pre-labels (automatic tracks) corrected by the simulated annotator (`Oracle`) at a
  set of frames, corrections applied through `AnnotationState.apply`, interpolation (guided by
  default) in between, at `uniform_frames` (every k-th). With `min_risk`, the person checks
  only the boxes whose current risk (`trackannot.risk.score_risk`, re-scored as corrections
  land) is at least `min_risk`, and draws what is missing: the risk-ranked review.
* `active_review`: the active loop: rank frames by risk (`trackannot.risk.rank_frames`, with
  open track ends), review a batch of the top frames, apply, re-interpolate, re-rank, repeat;
  returns checkpoints along the way.
* `queue_review` (issue 13): the annotator works through `trackannot.review.build_queue` output
  (frames order or keyframes order; box, open-end, candidate and proposal items), answering each
  item from the truth at its frame; answers applied through `AnnotationState.apply`; re-ranked
  every batch of items; checkpoints at budgets of human seconds.

`make_state` builds the annotation with or without the engine's propagation of human edits;
`make_oracle` the matching annotator (propagating: one box per missed object; keying: the issue 4
annotator, who keys a drawn object's run every manual_k frames).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace

import numpy as np
import numpy.typing as npt

from benchmarks.effort.cost import DEFAULT_COST, ActionCounts, CostModel
from trackannot.boxes import Boxes
from trackannot.config import InterpolateConfig, ReviewConfig
from trackannot.corrections import Corrections, Op
from trackannot.errors import InputFormatError
from trackannot.interpolate import interpolate_linear
from trackannot.keyframes import Keyframes
from trackannot.review import ReviewQueue, build_queue
from trackannot.risk import rank_frames, score_risk
from trackannot.simulate import Look as _Look
from trackannot.simulate import Oracle, owners
from trackannot.simulate import queue_looks as _looks
from trackannot.state import AnnotationState, PreviousValues

__all__ = [
    "Checkpoint", "ORDERS", "PROPAGATION_AVAILABLE", "active_review", "box_accuracy",
    "make_oracle", "make_state", "manual", "queue_review", "review", "uniform_frames",
]

ORDERS = ("frames", "keyframes")  # queue orders `queue_review` can work through

RESCORE_FRAMES = 20  # review: risk is re-scored after this many reviewed frames

def manual(gt: Boxes, num_frames: int, k: int) -> tuple[Boxes, ActionCounts]:
    """Keyframes from scratch every k frames of each gt object's visible runs, linear in between.

    Each run of consecutive frames of a gt object gets keyframes at its first frame, every k-th
    frame after it and its last frame, and an outside keyframe at last + 1 (none at the video end).
    Cost: the run's first keyframe of the object is drawn, later ones adjusted, outside marks
    deleted.

    Args:
        gt: gt boxes, identity in track_id.
        num_frames: frames in the video.
        k: keyframe spacing in frames, >= 1.

    Returns:
        The interpolated boxes (track ids = gt ids) and the action counts.
    """
    counts = ActionCounts()
    order = np.lexsort((gt.frame, gt.track_id))
    tid, frame, xyxy = gt.track_id[order], gt.frame[order], gt.xyxy[order]
    new_run = np.r_[True, (tid[1:] != tid[:-1]) | (frame[1:] != frame[:-1] + 1)]
    run_id = np.cumsum(new_run) - 1
    run_start = np.flatnonzero(new_run)
    run_end = np.r_[run_start[1:], len(tid)] - 1
    pos = np.arange(len(tid)) - run_start[run_id]
    key = (pos % k == 0)
    key[run_end] = True
    closing = run_end[frame[run_end] + 1 < num_frames]
    counts.draw = int(len(np.unique(tid)))
    counts.adjust = int(key.sum()) - counts.draw
    counts.delete = int(len(closing))
    kf = Keyframes.create(
        track_id=np.r_[tid[key], tid[closing]], frame=np.r_[frame[key], frame[closing] + 1],
        xyxy=np.r_[xyxy[key], xyxy[closing]], outside=np.r_[np.zeros(key.sum(), bool),
                                                             np.ones(len(closing), bool)],
        class_id=np.zeros(int(key.sum()) + len(closing), np.int32),
    )
    return interpolate_linear(kf), counts


def uniform_frames(num_frames: int, k: int) -> npt.NDArray[np.int64]:
    """Every k-th frame, starting at frame 0."""
    return np.arange(0, num_frames, k, dtype=np.int64)


def review(tracks: Boxes, detections: Boxes, gt: Boxes, num_frames: int,
           frames: npt.NDArray[np.int64], cfg: InterpolateConfig | None = None,
           min_risk: float | None = None, review_cfg: ReviewConfig | None = None,
           manual_k: int | None = None, propagate: bool = False,
           ignore: Boxes | None = None) -> tuple[Boxes, ActionCounts]:
    """Pre-labels reviewed by the simulated annotator at `frames` (in frame order).

    Args:
        tracks: the automatic tracks (the pre-labels).
        detections: every detector box (guides interpolation).
        gt: gt boxes the annotator knows, identity in track_id, sorted by frame.
        num_frames: frames in the video.
        frames: the frames the person looks at.
        cfg: interpolation settings (default `InterpolateConfig()`).
        min_risk: None: every box at a reviewed frame is checked. Else only boxes with risk >=
            min_risk (scored every RESCORE_FRAMES reviewed frames on the current state); boxes
            missing at the frame are drawn either way.
        review_cfg: risk settings (default `ReviewConfig()`).
        manual_k: a missed object the person draws is keyframed over its visible run every
            manual_k frames, as in `manual`, and tracks are picked up after absent marks (the
            keying annotator); None: one box, only what the reviewed frames show.
        propagate: the engine carries each human edit along its object (`make_state`).
        ignore: the truth's ignore regions (`Oracle`; None: boxes there are marked absent).

    Returns:
        The final annotation's boxes and the action counts.
    """
    state = make_state(tracks, num_frames, detections, cfg, propagate)
    oracle = make_oracle(gt, tracks, num_frames, manual_k, ignore)
    view = _FrameView(state)
    counts = ActionCounts()
    scores: _Scores | None = None
    for i, f in enumerate(np.sort(np.asarray(frames))):
        f = int(f)
        at = view.at(f)
        only = None
        if min_risk is not None:
            if scores is None or i % RESCORE_FRAMES == 0:
                scores = _Scores(state, detections, review_cfg or ReviewConfig())
            only = scores.flagged(f, at, min_risk)
        batch, c = oracle.review_frame(state, f, at, only)
        if len(batch):
            previous = apply_answers(state, batch, f)
            view.update(state, {*batch.track_id.tolist(), *batch.other_id.tolist(),
                                *previous.track_id.tolist()})
        counts.add(c)
    return state.boxes(), counts


@dataclass(frozen=True)
class Checkpoint:
    """The annotation after `frames_reviewed` frames of an active review, and the cost so far."""

    frames_reviewed: int
    boxes: Boxes
    counts: ActionCounts
    honeypots: int = 0  # queue_review: honeypots shown (each caught: one adjust in `counts`)
    keyed: ActionCounts = field(default_factory=ActionCounts)  # of `counts`: `key_uncarried`'s


def active_review(tracks: Boxes, detections: Boxes, gt: Boxes, num_frames: int,
                  checkpoints: list[int], batch_frames: int, min_risk: float | None = None,
                  cfg: InterpolateConfig | None = None, review_cfg: ReviewConfig | None = None,
                  manual_k: int | None = None, propagate: bool = False) -> list[Checkpoint]:
    """The active loop: rank frames by risk, review the top batch, apply, re-rank, repeat.

    Args:
        tracks, detections, gt, num_frames, cfg, manual_k, propagate: as `review`.
        checkpoints: numbers of reviewed frames at which to record the annotation (ascending);
            the loop stops after the last.
        batch_frames: frames reviewed between two rankings.
        min_risk: as `review` (None: every box of a reviewed frame is checked).
        review_cfg: risk and ranking settings (default `ReviewConfig()`).

    Returns:
        One `Checkpoint` per reached checkpoint.
    """
    review_cfg = review_cfg or ReviewConfig()
    state = make_state(tracks, num_frames, detections, cfg, propagate)
    oracle = make_oracle(gt, tracks, num_frames, manual_k)
    view = _FrameView(state)
    counts = ActionCounts()
    done = np.zeros(num_frames, bool)
    todo = [int(c) for c in checkpoints]
    out: list[Checkpoint] = []
    reviewed = 0
    while todo and not done.all():
        scores = _Scores(state, detections, review_cfg)
        order = rank_frames(scores.boxes, scores.risk, num_frames, review_cfg, scores.keyframes)
        order = order[~done[order]][: max(1, min(batch_frames, todo[0] - reviewed))]
        for f in np.sort(order).tolist():
            done[f] = True
            at = view.at(f)
            only = scores.flagged(f, at, min_risk) if min_risk is not None else None
            batch, c = oracle.review_frame(state, f, at, only)
            if len(batch):
                previous = apply_answers(state, batch, f)
                view.update(state, {*batch.track_id.tolist(), *batch.other_id.tolist(),
                                    *previous.track_id.tolist()})
            counts.add(c)
        reviewed += len(order)
        while todo and reviewed >= todo[0]:
            todo.pop(0)
            out.append(Checkpoint(reviewed, state.boxes(), ActionCounts(**counts.as_dict())))
    return out


# the engine propagates human edits (issue 13: `InterpolateConfig.propagate`)
PROPAGATION_AVAILABLE = "propagate" in {f.name for f in fields(InterpolateConfig)}


def make_state(tracks: Boxes, num_frames: int, detections: Boxes | None,
               cfg: InterpolateConfig | None = None, propagate: bool = False) -> AnnotationState:
    """The annotation the person edits: automatic tracks, interpolation settings `cfg`.

    Args:
        tracks, num_frames, detections: as `AnnotationState`.
        cfg: interpolation settings (default `InterpolateConfig()`).
        propagate: True: human edits are carried along their object by the engine (issue 13);
            False: only keyframes and interpolation between them (issue 4).
    """
    cfg = cfg or InterpolateConfig()
    if PROPAGATION_AVAILABLE:
        cfg = replace(cfg, propagate=replace(cfg.propagate, enabled=propagate))  # type: ignore[attr-defined]
    elif propagate:
        raise ValueError("this trackannot has no propagation (InterpolateConfig.propagate)")
    return AnnotationState(tracks, num_frames=num_frames, detections=detections, cfg=cfg)


def apply_answers(state: AnnotationState, batch: Corrections, frame: int) -> PreviousValues:
    """Apply one look's corrections; if the batch fails as a whole (with propagation an edit can
    take a box the oracle saw at this frame off another track, e.g. a run that now stops at a
    new keyframe, and a later split of that track no longer fits), apply it edit by edit as a
    person whose view updates after each edit would, skipping the edits that no longer fit
    (counted in `SKIPPED`). Returns the previous values of what was applied."""
    try:
        return state.apply(batch, source=f"oracle frame {frame}")
    except InputFormatError:
        pass
    parts, dropped = [], set()
    for i in range(len(batch)):
        row = batch[i:i + 1]
        if int(row.track_id[0]) in dropped or int(row.other_id[0]) in dropped:
            SKIPPED["edits"] += 1
            continue
        try:
            parts.append(state.apply(row, source=f"oracle frame {frame}"))
        except InputFormatError:
            SKIPPED["edits"] += 1
            if Op(int(row.op[0])) == Op.SPLIT:
                dropped.add(int(row.other_id[0]))  # the piece that was not made
    return PreviousValues(*(np.concatenate([getattr(p, f.name) for p in parts])
                            if parts else getattr(state.apply(Corrections.empty()), f.name)
                            for f in fields(PreviousValues)))


SKIPPED = {"edits": 0}  # oracle edits `apply_answers` skipped (this process)


def make_oracle(gt: Boxes, tracks: Boxes, num_frames: int, manual_k: int | None,
                ignore: Boxes | None = None, carry_k: int | None = None) -> Oracle:
    """The simulated annotator of automatic `tracks`: keying (manual_k: a drawn missed object is
    keyed over its run every manual_k frames, tracks picked up after absent marks) or, with
    manual_k None, propagating (one box per missed object, only the shown frames' truth; with
    carry_k, what the engine does not carry keyed every carry_k frames: `Oracle.key_uncarried`).
    `ignore`: the truth's ignore regions (`Oracle`)."""
    return Oracle(gt, owners(tracks, gt)[0], manual_k=manual_k, num_frames=num_frames,
                  reenter=manual_k is not None, ignore=ignore, carry_k=carry_k)


def queue_review(tracks: Boxes, detections: Boxes, gt: Boxes, num_frames: int,
                 budgets_s: list[float], batch: int, *, order: str = "frames",
                 min_risk: float | None = None, propagate: bool = True,
                 manual_k: int | None = None, ignore: Boxes | None = None,
                 cost: CostModel = DEFAULT_COST, cfg: InterpolateConfig | None = None,
                 review_cfg: ReviewConfig | None = None,
                 on_look: Callable[[AnnotationState, int, ActionCounts], None] | None = None,
                 unit: str = "seconds", honeypots: bool = False,
                 carry_k: int | None = None) -> list[Checkpoint]:
    """The annotator works through the review queue until each budget (of human seconds, or of
    looks) is spent.

    Each round builds the queue of the current annotation (`build_queue`, honeypots only when
    asked for, the candidates rejected so far left out), takes the first `batch` looks not
    taken before, answers them in review order from the truth at their frame
    (`Oracle.review_frame`), applying each look's answers at once, then re-ranks. Frames
    order: a look is a frame; every box item (risk >= min_risk when given; boxes that appeared
    since the queue was built are checked) and open end is answered, candidates are accepted
    or rejected, and the person draws any object still missing (the whole frame is in view). Keyframes order: a look is one
    item: a proposal (the track keyed at that frame: its box checked, or its object drawn on it,
    or marked absent) or a candidate; nothing else is drawn.

    Args:
        tracks, detections, gt, num_frames, cfg, manual_k, propagate: as `review`.
        budgets_s: human seconds (ascending) at which to record the annotation; the loop stops
            after the last, or when the queue has nothing new (the rest recorded then).
            With unit "looks": looks answered instead (a video's share of the queue by how
            many frames it shows, as uniform review spends it, not by what its looks cost).
        batch: looks answered between two rankings (>= 1).
        order: "frames" or "keyframes" (`ORDERS`).
        min_risk: frames order: box items below this risk are seen but not checked.
        ignore: the truth's ignore regions (`Oracle`).
        cost: seconds per action (when to record).
        review_cfg: risk, ranking, candidate and queue settings (default `ReviewConfig()`).
        on_look: called after each look with the state, the look's frame and its actions.
        honeypots: queue honeypots (`review_cfg.honeypot_rate`); the person checks each one
            shown, finds it moved and fixes it (an adjust, charged; the annotation is not
            changed, and the box under it is not checked in that look).
        carry_k: the propagating annotator keys the boxes it drew that the engine did not
            carry, every carry_k frames (`Oracle.key_uncarried`; frames order).

    Returns:
        One `Checkpoint` per budget (`frames_reviewed`: looks answered; `keyed`: the part of
        its actions spent keying what the engine did not carry).
    """
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
    if unit not in ("seconds", "looks"):
        raise ValueError(f"unit must be 'seconds' or 'looks', got {unit!r}")
    review_cfg = review_cfg or ReviewConfig()
    state = make_state(tracks, num_frames, detections, cfg, propagate)
    oracle = make_oracle(gt, tracks, num_frames, manual_k, ignore, carry_k)
    view = _FrameView(state)
    counts, keyed = ActionCounts(), ActionCounts()
    taken: set[tuple] = set()
    rejected: list[tuple[int, npt.NDArray[np.float32]]] = []
    todo = sorted(float(b) for b in budgets_s)
    out: list[Checkpoint] = []
    looks_done = pots = 0
    rounds = 0

    def checkpoint(boxes: Boxes | None) -> Checkpoint:  # the actions so far, copied
        return Checkpoint(looks_done, boxes, replace(counts), pots, replace(keyed))

    while todo:
        looks = _next_looks(state, detections, num_frames, order, review_cfg, taken, batch,
                            rounds, _rejected_boxes(rejected), cost, honeypots)
        rounds += 1
        if not looks:
            break
        for look in looks:
            taken.add(look.key)
            looks_done += 1
            c, k = _answer(state, oracle, view, look, order, min_risk)
            pots += len(look.honeypots)
            rejected.extend((look.frame, look.candidates[i]) for i in oracle.last_rejected)
            counts.add(c)
            keyed.add(k)
            if on_look is not None:
                on_look(state, look.frame, c)
            while todo and (looks_done if unit == "looks" else cost.seconds(counts)) >= todo[0]:
                todo.pop(0)
                out.append(checkpoint(state.boxes()))
            if not todo:
                break
    final = state.boxes() if todo else None
    out.extend(checkpoint(final) for _ in todo)
    return out


def _rejected_boxes(rejected: list[tuple[int, npt.NDArray[np.float32]]]) -> Boxes | None:
    if not rejected:
        return None
    return Boxes.create(frame=[f for f, _ in rejected], xyxy=np.stack([b for _, b in rejected]),
                        sort=True)


def _next_looks(state: AnnotationState, detections: Boxes | None, num_frames: int, order: str,
                cfg: ReviewConfig, taken: set[tuple], batch: int, rounds: int,
                rejected: Boxes | None, cost: CostModel, honeypots: bool) -> list[_Look]:
    """The first `batch` looks of the current queue not taken before (fewer if it has no more)."""
    if not len(state.boxes()):
        return []
    budget = batch + len(taken)
    while True:
        if order == "frames":
            budget = min(budget, num_frames)
        queue = _build(state, detections, num_frames, budget, order, cfg, rounds, rejected, cost,
                       honeypots)
        looks = [look for look in _looks(queue, order) if look.key not in taken]
        short = len(np.unique(queue.frame if order == "frames" else queue.rank)) < budget
        if len(looks) >= batch or short or (order == "frames" and budget >= num_frames):
            return looks[:batch]
        budget *= 2


def _build(state, detections, num_frames, budget, order, cfg, rounds, rejected, cost,
           honeypots=False) -> ReviewQueue:
    return build_queue(state, detections, num_frames, budget, cfg, queue_id=f"effort{rounds}",
                       based_on=rounds, honeypots=honeypots, order=order, rejected=rejected,
                       cost=cost)


def _answer(state: AnnotationState, oracle: Oracle, view: _FrameView, look: _Look, order: str,
            min_risk: float | None) -> tuple[ActionCounts, ActionCounts]:
    """Answer one look, apply its corrections, and refresh the view; the actions it took, and
    the part of them spent keying what the engine did not carry (`Oracle.key_uncarried`)."""
    f = look.frame
    at = view.at(f)
    shown = set(at.track_id.tolist())
    if look.per_item:
        only = {t for t in look.proposals if t in shown}
        ends = [t for t in (*look.proposals, *look.open_ends) if t not in shown]
        draw = False
    else:
        ends = [t for t in look.open_ends if t not in shown]
        draw = True
        if min_risk is None:
            only = None
        else:
            only = {t for t in shown if look.boxes.get(t, 1.0) >= min_risk}
        if look.honeypots:  # shown moved: their own boxes are not in view this look
            only = (shown if only is None else only) - set(look.honeypots)
    keyed = ActionCounts()
    batch, c = oracle.review_frame(state, f, at, only, open_ends=ends, candidates=look.candidates,
                                   continues=look.continues, draw_missed=draw)
    if len(batch):
        apply_answers(state, batch, f)
        if oracle.carry_k:  # the hybrid annotator keys what the engine did not carry
            keys, more = oracle.key_uncarried(state)
            if len(keys):
                apply_answers(state, keys, f)
                c.add(more)
                keyed = more
        view.update(state, state.changed())
        state.saved()
    c.adjust += len(look.honeypots)  # each honeypot is caught and fixed: an answer only
    return c, keyed


class _Scores:
    """Risk of every box of a state at one moment, looked up by frame."""

    def __init__(self, state: AnnotationState, detections: Boxes, cfg: ReviewConfig) -> None:
        self.boxes = state.boxes()
        self.keyframes = state.keyframes()
        self.risk = score_risk(self.boxes, detections, self.keyframes, cfg)
        self._at = np.searchsorted(self.boxes.frame, np.arange(state.num_frames + 1))

    def flagged(self, frame: int, shown: Boxes, min_risk: float) -> set[int]:
        """Tracks of `shown` (boxes at `frame` now) to check: risk >= min_risk when scored;
        boxes that appeared since (no score) are checked."""
        a, b = self._at[frame], self._at[frame + 1]
        score = dict(zip(self.boxes.track_id[a:b].tolist(), self.risk.score[a:b].tolist()))
        return {int(t) for t in shown.track_id.tolist() if score.get(int(t), 1.0) >= min_risk}


class _FrameView:
    """The boxes of an `AnnotationState` at one frame, from a per-track cache (fast lookups)."""

    def __init__(self, state: AnnotationState) -> None:
        self._tracks: dict[int, Boxes] = {}
        self.update(state, set(state.track_ids))

    def update(self, state: AnnotationState, touched: set[int]) -> None:
        """Refresh the tracks an applied batch touched (dropping those that no longer exist)."""
        alive = set(state.track_ids)
        for t in touched:
            if t in alive:
                self._tracks[t] = state.track_boxes(t)
            else:
                self._tracks.pop(t, None)
        self._ids = np.array(sorted(t for t, b in self._tracks.items() if len(b)), np.int64)
        self._lo = np.array([self._tracks[t].frame[0] for t in self._ids], np.int64)
        self._hi = np.array([self._tracks[t].frame[-1] for t in self._ids], np.int64)

    def at(self, frame: int) -> Boxes:
        rows = []
        for t in self._ids[(self._lo <= frame) & (frame <= self._hi)]:
            b = self._tracks[int(t)]
            i = int(np.searchsorted(b.frame, frame))
            if i < len(b) and b.frame[i] == frame:
                rows.append(b[i:i + 1])
        return Boxes.concat(rows) if rows else Boxes.empty()


def box_accuracy(boxes: Boxes, gt: Boxes) -> float:
    """Share of gt boxes covered by a box at IoU >= 0.5 whose track's gt object is that gt id."""
    if not len(gt):
        return 1.0
    owner, matched = owners(boxes, gt)
    right = matched >= 0
    right &= np.array([owner.get(int(t), -2) for t in boxes.track_id]) == matched
    return float(right.sum()) / len(gt)
