"""Which boxes need a person, and why: the review queue and the answers reviewers give to it.

A `ReviewQueue` is built from the current annotation (`trackannot.state.AnnotationState`) in one
of two orders (`ORDERS`):

* "frames": up to a budget of frames, one item per box shown at those frames: first an even
  coverage skeleton, about one look every `ReviewConfig.anchor_frames` (default 5) frames,
  coarse to fine, then the frames expected to show the most error runs
  (`trackannot.ranking.frame_order`); missed-object candidates (`trackannot.candidates`:
  detections no track explains, kind CANDIDATE) and probably missing boxes rank frames too, and
  are shown as items when their probability pays for a "no" (`ReviewConfig.
  frames_candidate_min_p`, `frames_missing_min_p`, default 0.27; conflicts and cuts always).
* "keyframes": one (track, frame) box per item, the keyframes a person should key next by the
  expected change of the track per second (`trackannot.proposals`, kind PROPOSAL), with the
  candidates ranked in the same way; the budget counts items.

Strict mode adds random spot checks of confident boxes; honeypots are boxes deliberately moved
away from a known truth, hidden among the items, to measure whether reviewers really look
(automation bias). `Answers` records what each reviewer did with each item (`trackannot.audit`
turns them into catch and correction rates). Accepting a candidate creates its object (a create
correction, or an adjust of the track it continues, at its hint frame); rejecting it (absent)
creates nothing, and the next queue leaves it out (`rejected_candidates`).

Queues and answers live in the store next to the corrections log (`<video>/review/...`), written
and read through `trackannot.results`, which hands the store `ITEM_COLUMNS` and `ANSWER_COLUMNS`;
the evidence of candidate and proposal items (`EVIDENCE_COLUMNS`) is kept in the queue's record,
so queues stored before it read as they were.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

import numpy as np
import numpy.typing as npt

from trackannot.boxes import Boxes, check_columns
from trackannot.candidates import find_candidates
from trackannot.config import ReviewConfig
from trackannot.corrections import (
    Corrections,
    Op,
    check_author,
    parse_box,
    parse_line,
    parse_time,
    read_json_lines,
)
from trackannot.cost import DEFAULT_COST, CostModel
from trackannot.errors import InputFormatError
from trackannot.ranking import (
    EVIDENCE_COLUMNS,
    ItemKind,
    QueueInput,
    asked_items,
    candidate_gain,
    disguise_checks,
    frame_items,
    honeypot_count,
    keyframe_items,
    queue_rng,
    spot_check_count,
)
from trackannot.risk import score_risk
from trackannot.validate import check_int, clip_to_frame

if TYPE_CHECKING:
    from trackannot.state import AnnotationState

__all__ = [
    "ANSWER_COLUMNS",
    "EVIDENCE_COLUMNS",
    "ITEM_COLUMNS",
    "ORDERS",
    "QUEUE_OPEN",
    "QUEUE_SETTINGS",
    "QUEUE_SUPERSEDED",
    "Answers",
    "ItemKind",
    "ReviewQueue",
    "answers_from_lines",
    "build_queue",
    "candidate_gain",
    "honeypot_count",
    "read_answer_file",
    "rejected_candidates",
    "spot_check_count",
]

_ITEM_OPS = ("accept", "adjust", "absent")

QUEUE_OPEN = "open"
"""A stored queue's status while it can be answered."""
QUEUE_SUPERSEDED = "superseded"
"""A stored queue's status once a newer queue re-ranked the video (`superseded_by` names it)."""
QUEUE_SETTINGS = ("spot_check_rate", "honeypot_rate", "honeypot_shift", "seed", "check_min_risk")
"""The review settings a stored queue's record keeps."""
ORDERS = ("frames", "keyframes")
"""Queue orders: whole frames by risk, or (track, frame) keyframes by expected change."""


# column -> (dtype, trailing shape)
ITEM_COLUMNS: dict[str, tuple[np.dtype[Any], tuple[int, ...]]] = {
    "item": (np.dtype(np.int64), ()),
    "rank": (np.dtype(np.int32), ()),
    "frame": (np.dtype(np.int64), ()),
    "track_id": (np.dtype(np.int64), ()),
    "score": (np.dtype(np.float32), ()),
    "reason": (np.dtype(np.uint8), ()),
    "kind": (np.dtype(np.uint8), ()),
    "xyxy": (np.dtype(np.float32), (4,)),
    "truth_xyxy": (np.dtype(np.float32), (4,)),
}

_EVIDENCE_KINDS = (ItemKind.CANDIDATE, ItemKind.PROPOSAL)

ANSWER_COLUMNS: dict[str, tuple[np.dtype[Any], tuple[int, ...]]] = {
    "item": (np.dtype(np.int64), ()),
    "op": (np.dtype(np.uint8), ()),
    "xyxy": (np.dtype(np.float32), (4,)),
    "batch": (np.dtype(np.int32), ()),
    "time_ns": (np.dtype(np.int64), ()),
}


@dataclass(frozen=True, slots=True, eq=False)  # a generated __eq__ breaks on arrays
class ReviewQueue:
    """A ranked review queue: one row per item (a box a reviewer is asked to check).

    Items are ordered by `rank` (the position in the review order, 0 first), then by score,
    highest first. In the frames order every box of a queued frame is an item (rank: the
    frame's position), so a reviewer working frame by frame sees the whole frame; in the
    keyframes order each item has a rank of its own.

    Attributes:
        queue_id: short id, unique in the store (e.g. "q0003-1a2b3c4d").
        based_on: committed rows of the corrections log when the queue was built; answers are only
            accepted while no other batch has been applied since (otherwise the queue is stale).
        mode: "fast" or "strict".
        budget: frames asked for.
        item: (n,) int64, 0..n-1, the id reviewers answer with.
        rank: (n,) int32, the frame's review order (0 = look first).
        frame: (n,) int64.
        track_id: (n,) int64.
        score: (n,) float32, risk of the box (`trackannot.risk.score_risk`); for honeypots the
            risk of the box before it was perturbed.
        reason: (n,) uint8 `trackannot.risk.Reason`.
        kind: (n,) uint8 `ItemKind`.
        xyxy: (n, 4) float32, the box shown (for honeypots: the perturbed box).
        truth_xyxy: (n, 4) float32, honeypots: the true box; NaN for other items.
        order: "frames" or "keyframes" (`ORDERS`).
        first_frame, last_frame: (n,) int64, candidates: the chain's first and last detection
            frames; proposals: the run the key lies in; other items: their frame.
        support: (n,) int32, candidates: detections in the chain; other items 0.
        det_score: (n,) float32, candidates: mean detection score of the chain; NaN otherwise.
        class_id: (n,) int32, candidates: the class of the object to create; -1 otherwise.
        gain: (n,) float32, candidates and proposals: expected wrong boxes fixed per second of
            human time, the ranking key; NaN otherwise.
        For candidates `score` is the probability that the object is real and `track_id` the
        track it continues (-1: a new object).
        check_min_risk: the check policy it was built for (`ReviewConfig.check_min_risk`): box
            items of lower risk are shown but not asked (`asked`); under it honeypots and spot
            checks show, as `score` and `reason`, those of an asked box item (0: every item is
            asked, honeypots show their box's risk before it was moved).
    """

    queue_id: str
    based_on: int
    mode: str
    budget: int
    item: npt.NDArray[np.int64]
    rank: npt.NDArray[np.int32]
    frame: npt.NDArray[np.int64]
    track_id: npt.NDArray[np.int64]
    score: npt.NDArray[np.float32]
    reason: npt.NDArray[np.uint8]
    kind: npt.NDArray[np.uint8]
    xyxy: npt.NDArray[np.float32]
    truth_xyxy: npt.NDArray[np.float32]
    order: str = "frames"
    first_frame: npt.NDArray[np.int64] = None  # type: ignore[assignment]  # default: frame
    last_frame: npt.NDArray[np.int64] = None  # type: ignore[assignment]
    support: npt.NDArray[np.int32] = None  # type: ignore[assignment]
    det_score: npt.NDArray[np.float32] = None  # type: ignore[assignment]
    class_id: npt.NDArray[np.int32] = None  # type: ignore[assignment]
    gain: npt.NDArray[np.float32] = None  # type: ignore[assignment]
    check_min_risk: float = 0.0

    def __post_init__(self) -> None:
        n = len(self.item)
        if not 0.0 <= self.check_min_risk <= 1.0:
            raise InputFormatError("ReviewQueue.check_min_risk must be a number in [0, 1], got "
                                   f"{self.check_min_risk!r}")
        check_columns(self, ITEM_COLUMNS, n, "ReviewQueue")
        if self.mode not in ("fast", "strict"):
            raise InputFormatError(f"ReviewQueue.mode must be 'fast' or 'strict', got {self.mode!r}")
        if self.order not in ORDERS:
            raise InputFormatError(f"ReviewQueue.order must be one of {', '.join(ORDERS)}, got "
                                   f"{self.order!r}")
        defaults = {"first_frame": self.frame, "last_frame": self.frame, "support": 0,
                    "det_score": np.nan, "class_id": -1, "gain": np.nan}
        for name, (dtype, _) in EVIDENCE_COLUMNS.items():
            if getattr(self, name) is None:
                value = np.broadcast_to(np.asarray(defaults[name], dtype), (n,)).copy()
                object.__setattr__(self, name, value)
        check_columns(self, EVIDENCE_COLUMNS, n, "ReviewQueue")

    def __len__(self) -> int:
        return len(self.item)

    def columns(self) -> dict[str, np.ndarray]:
        """The item columns by name (for writing)."""
        return {name: getattr(self, name) for name in ITEM_COLUMNS}

    def evidence(self) -> dict[str, list[Any]]:
        """The evidence of the candidate and proposal items, for the queue's record:
        {"item": [...], <each of EVIDENCE_COLUMNS>: [...]} (JSON types)."""
        rows = np.flatnonzero(np.isin(self.kind, _EVIDENCE_KINDS))
        out: dict[str, list[Any]] = {"item": self.item[rows].tolist()}
        for name in EVIDENCE_COLUMNS:
            out[name] = getattr(self, name)[rows].tolist()
        return out

    @staticmethod
    def evidence_columns(evidence: dict[str, list[Any]] | None, frame: npt.NDArray[np.int64],
                         where: str) -> dict[str, np.ndarray]:
        """`EVIDENCE_COLUMNS` of n items from a record's `evidence()` (None: a queue stored
        before evidence was kept: every item has the defaults).

        Raises:
            InputFormatError: evidence that does not fit the items (`where` names it).
        """
        n = len(frame)
        out = {"first_frame": frame.copy(), "last_frame": frame.copy(),
               "support": np.zeros(n, np.int32), "det_score": np.full(n, np.nan, np.float32),
               "class_id": np.full(n, -1, np.int32), "gain": np.full(n, np.nan, np.float32)}
        if not evidence:
            return out
        try:
            item = np.asarray(evidence["item"], np.int64)
            if len(item) and (item.min() < 0 or item.max() >= n):
                raise ValueError(f"items outside 0..{n - 1}")
            for name, (dtype, _) in EVIDENCE_COLUMNS.items():
                values = np.asarray(evidence[name], dtype)
                if values.shape != item.shape:
                    raise ValueError(f"{name} has {values.shape[0]} values for {len(item)} items")
                out[name][item] = values
        except (KeyError, TypeError, ValueError) as err:
            raise InputFormatError(f"{where}: the queue's evidence does not fit its {n} items "
                                   f"({err})") from err
        return out

    def asked(self) -> npt.NDArray[np.bool_]:
        """(n,) bool: the items a reviewer is asked to check under the queue's check policy
        (`trackannot.ranking.asked_items`); every item when `check_min_risk` is 0."""
        return asked_items(self.kind, self.score, self.reason, self.check_min_risk)

    @property
    def frames(self) -> npt.NDArray[np.int64]:
        """The queued frames in review order."""
        order = np.argsort(self.rank, kind="stable")
        frame = self.frame[order]
        _, first = np.unique(frame, return_index=True)
        return frame[np.sort(first)]


@dataclass(frozen=True, slots=True, eq=False)
class Answers:
    """What reviewers did with queue items, one row per answered item and batch.

    Attributes:
        item: (n,) int64, the queue item.
        op: (n,) uint8 `trackannot.corrections.Op` the reviewer gave it (ACCEPT: left as shown).
        xyxy: (n, 4) float32, the reviewer's box (ACCEPT: the shown box; ABSENT: NaN).
        batch: (n,) int32, the corrections-log batch the answer came with.
        time_ns: (n,) int64.
        author: (n,) str.
    """

    item: npt.NDArray[np.int64]
    op: npt.NDArray[np.uint8]
    xyxy: npt.NDArray[np.float32]
    batch: npt.NDArray[np.int32]
    time_ns: npt.NDArray[np.int64]
    author: npt.NDArray[np.str_]

    def __post_init__(self) -> None:
        check_columns(self, ANSWER_COLUMNS, len(self.item), "Answers")
        if len(self.author) != len(self.item):
            raise InputFormatError(f"Answers.author must have {len(self.item)} rows")

    def __len__(self) -> int:
        return len(self.item)

    def __getitem__(self, index: npt.NDArray[np.bool_] | npt.NDArray[np.integer] | slice) -> Answers:
        return Answers(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    @classmethod
    def create(cls, *, item: npt.ArrayLike, op: npt.ArrayLike, xyxy: npt.ArrayLike | None = None,
               batch: npt.ArrayLike = 0, time_ns: npt.ArrayLike = 0,
               author: npt.ArrayLike | str = "") -> Answers:
        """Build from array-likes (scalars broadcast)."""
        items = np.asarray(item, np.int64).reshape(-1)
        n = len(items)
        box = np.full((n, 4), np.nan, np.float32) if xyxy is None else np.asarray(xyxy, np.float32)
        return cls(
            item=items, op=np.broadcast_to(np.asarray(op, np.uint8), (n,)).copy(),
            xyxy=np.broadcast_to(box, (n, 4)).copy(),
            batch=np.broadcast_to(np.asarray(batch, np.int32), (n,)).copy(),
            time_ns=np.broadcast_to(np.asarray(time_ns, np.int64), (n,)).copy(),
            author=np.broadcast_to(np.asarray(author, str), (n,)).copy(),
        )

    @classmethod
    def concat(cls, parts: Iterable[Answers]) -> Answers:
        parts = list(parts)
        if not parts:
            return cls.create(item=[], op=[])
        return cls(**{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)})


# ------------------------------------------------------------------------------ building a queue


def rejected_candidates(queues: Iterable[ReviewQueue], answers: Mapping[str, Answers]) -> Boxes:
    """The hint boxes (frame, xyxy) of the candidates reviewers rejected: candidate items whose
    latest answer is absent, over every queue given (answers by queue id). `build_queue` leaves
    the chains through them out."""
    frame, xyxy = [], []
    for queue in queues:
        given = answers.get(queue.queue_id)
        if given is None or not len(given):
            continue
        latest: dict[int, int] = {}
        for item, op in zip(given.item.tolist(), given.op.tolist()):
            latest[item] = op
        rows = [i for i, op in latest.items()
                if op == Op.ABSENT and queue.kind[i] == ItemKind.CANDIDATE]
        frame.append(queue.frame[rows])
        xyxy.append(queue.xyxy[rows])
    if not frame:
        return Boxes.empty()
    return Boxes.create(frame=np.concatenate(frame), xyxy=np.concatenate(xyxy).reshape(-1, 4),
                        sort=True)


def build_queue(state: AnnotationState, detections: Boxes | None, num_frames: int, budget: int,
                cfg: ReviewConfig | None = None, *, queue_id: str, based_on: int,
                frame_size: tuple[int, int] | None = None, honeypots: bool = True,
                order: str = "frames", rejected: Boxes | None = None,
                cost: CostModel = DEFAULT_COST) -> ReviewQueue:
    """The review queue of the current annotation, in the frames or the keyframes order.

    Both orders ask about missed-object candidates (`trackannot.candidates.find_candidates`:
    stored detections no box explains, linked over frames; none without `detections`);
    candidates through a `rejected` hint box are left out. A candidate item (kind CANDIDATE)
    shows its detection at its frame; accept creates the object there (or keys the track it
    continues; adjust: with the reviewer's box), absent rejects it.

    order "frames" (`trackannot.ranking.frame_items`): frames are ranked by the error runs they
    are expected to show that no frame ranked before them shows (`trackannot.ranking.
    frame_order`: a track's rows and a candidate's chain form runs) over the boxes' risk, the
    probably missing boxes
    (`trackannot.proposals.missing_boxes`: gaps, the frames before automatic starts and after
    ends, open ends and where propagation stopped, `state.propagation_stops()`; weighted by
    `cfg.missing_box_weight`) and the candidates' chain frames; `budget` frames with any of them
    are queued (only frames with an item to show), by default (`cfg.anchor_frames` 5) an even
    coverage skeleton of them first (`trackannot.ranking.anchored_order`: about one look every 5
    frames between looks and human keyframes, coarse to fine), then the rest by error runs.
    Every box of a queued frame is an item; so is every probably missing box there whose
    probability is at least `cfg.frames_missing_min_p` (default 0.27), and always one where
    propagation stopped at a conflict or a cut (reason GAP, OPEN_END, CONFLICT or CUT, showing
    the box the track would have: accept pins it, adjust gives the object's box, absent says the
    object is not there), and every candidate with a chain frame there (at its first queued one)
    whose p_real is at least `cfg.frames_candidate_min_p` (default 0.27). Rows not shown still
    rank frames. In strict mode
    `spot_check_count(budget, cfg)` of the frames are random confident frames with boxes (kind
    SPOT_CHECK). `honeypot_count(boxes, cfg)` of the lowest-risk box items are then shown moved
    by `cfg.honeypot_shift` off their true box (kind HONEYPOT, truth in `truth_xyxy`); under a
    check policy (`cfg.check_min_risk` > 0) that share of the asked box items.

    order "keyframes" (`trackannot.ranking.keyframe_items`): `budget` items, each one box: the
    keyframe proposals (`trackannot.proposals.propose_keyframes`, kind PROPOSAL: the track's box
    at the frame, or the box it would have, answered like any box) and the candidates at their
    hint frames, merged by expected wrong boxes fixed per second (`candidate_gain`); in strict
    mode spot checks are random confident boxes spread through the order.
    `honeypot_count(budget, cfg)` honeypots (boxes at human keyframes first, else low-risk
    boxes, moved) are added at random places. No two items edit one (track, frame).

    Under a check policy (`cfg.check_min_risk` > 0) box items of lower risk are not asked
    (`ReviewQueue.asked`), and every honeypot and spot check shows the score and reason of an
    asked item (`trackannot.ranking.disguise_checks`), so a reviewer following the policy meets
    them all.

    The same inputs give the same queue.

    Args:
        state: the current annotation.
        detections: every detector box of the video (risk signals, candidates), or None.
        num_frames: frames of the video.
        budget: frames (frames order) or items (keyframes order) to queue; more than there are
            queues them all.
        cfg: mode, spot-check and honeypot settings, risk prior, candidate settings; None uses
            `ReviewConfig()`.
        queue_id: the queue's id (also seeds its random draws with `cfg.seed`).
        based_on: committed corrections-log rows the state includes.
        frame_size: (width, height) in pixels: honeypot boxes stay inside the frame.
        honeypots: False: no honeypots whatever `cfg.honeypot_rate` says.
        order: "frames" or "keyframes" (`ORDERS`).
        rejected: hint boxes (frame, xyxy) of rejected candidates (`rejected_candidates`).
        cost: the seconds of each human action, for the gains.

    Returns:
        The queue, items ordered by rank, then score (highest first).

    Raises:
        InputFormatError: an unknown order, budget < 1 or (frames order) > num_frames, or the
            annotation has no boxes.
    """
    cfg = cfg or ReviewConfig()
    if order not in ORDERS:
        raise InputFormatError(f"order must be one of {', '.join(ORDERS)}, got {order!r}")
    if budget < 1:
        raise InputFormatError(f"budget must be >= 1 {'frame' if order == 'frames' else 'item'}, "
                               f"got {budget}")
    if order == "frames" and budget > num_frames:
        raise InputFormatError(f"budget of {budget} frames is more than the video has: "
                               f"the video has {num_frames} frames")
    boxes = state.boxes()
    if not len(boxes):
        raise InputFormatError("the annotation has no boxes to review")
    keyframes = state.keyframes()
    inp = QueueInput(boxes=boxes, risk=score_risk(boxes, detections, keyframes, cfg),
                     keyframes=keyframes, detections=detections,
                     candidates=find_candidates(boxes, detections, num_frames, cfg,
                                                rejected=rejected),
                     stops=state.propagation_stops(), num_frames=num_frames)
    build = frame_items if order == "frames" else keyframe_items
    rng = queue_rng(cfg, queue_id)
    items = build(inp, budget, cfg, rng, frame_size, honeypots, cost)
    disguise_checks(items, cfg.check_min_risk, rng)
    by_rank = np.lexsort((-items["score"], items["rank"]))
    items = {name: col[by_rank] for name, col in items.items()}
    items["item"] = np.arange(len(by_rank), dtype=np.int64)
    return ReviewQueue(queue_id=queue_id, based_on=int(based_on), mode=cfg.mode, budget=int(budget),
                       order=order, check_min_risk=float(cfg.check_min_risk), **items)
# ------------------------------------------------------------------------------ answering a queue


def _item_line(line: dict[str, Any], queue: ReviewQueue, where: str) -> tuple[int, int, list[float]]:
    """(item, op, box) of one answer line; box NaN where the line gives none."""
    item = check_int(line["item"], where, "item")
    if not 0 <= item < len(queue):
        raise InputFormatError(f"{where}: item {item} is not in queue {queue.queue_id} "
                               f"(items 0..{len(queue) - 1})")
    name = line.get("op")
    if not isinstance(name, str) or name not in _ITEM_OPS:
        raise InputFormatError(f"{where}: an item answer's 'op' must be one of "
                               f"{', '.join(_ITEM_OPS)}; got {name!r:.80}")
    allowed = {"item", "op", "box", "track", "frame", "author", "time"}
    unknown = sorted(set(line) - allowed)
    if unknown:
        raise InputFormatError(f"{where}: unknown field(s) {', '.join(unknown)} for an item answer; "
                               f"allowed: {', '.join(sorted(allowed))}")
    for key, col in (("track", queue.track_id), ("frame", queue.frame)):
        if key in line and (isinstance(line[key], bool) or line[key] != int(col[item])):
            raise InputFormatError(f"{where}: item {item} is {key} {int(col[item])}, but the line "
                                   f"says {key} {line[key]!r:.80}; drop '{key}' or fix 'item'")
    if name == "adjust" and "box" not in line:
        raise InputFormatError(f"{where}: op 'adjust' needs box")
    box = parse_box(line, where) if "box" in line else [math.nan] * 4
    return item, int(Op[name.upper()]), box


def _candidate_row(queue: ReviewQueue, item: int, box: list[float], when: int, who: str,
                   number: int) -> dict[str, Any]:
    """The correction an accepted candidate makes at its hint frame, with the reviewer's box: a
    create of a new track (of the candidate's class), or an adjust of the track it continues."""
    track = int(queue.track_id[item])
    new = track < 0
    return {"op": Op.CREATE if new else Op.ADJUST, "track_id": track,
            "frame": int(queue.frame[item]), "xyxy": box,
            "class_id": int(queue.class_id[item]) if new else -1, "other_id": -1,
            "time_ns": when, "author": who, "source_line": number}


def read_answer_file(path: str | Path, queue: ReviewQueue | None, author: str,
                     time_ns: int, *, frame_size: tuple[int, int] | None = None
                     ) -> tuple[Corrections, Answers]:
    """Parse a JSON Lines corrections file whose lines may answer queue items (`"item": N`).

    An item line gives op accept, adjust (with box) or absent; its track and frame come from the
    item. Risk, spot-check and proposal items become corrections (accept pins the shown box);
    honeypot items become answers only (their shown box is fake, the truth stays). A candidate
    item accepted or adjusted creates its object at its hint frame (a create with the shown or
    given box, or an adjust of the track it continues); absent rejects it (an answer only).
    Lines without `item` are ordinary corrections (`trackannot.corrections`).

    Args:
        path: the file.
        queue: the queue the items belong to; None: item lines are an error.
        author: author of lines that name none.
        time_ns: time of lines that give none.
        frame_size: (width, height) of the video: an accepted item pins its shown box clipped
            to the frame, as the task files show it (see `answers_from_lines`).

    Returns:
        (corrections in line order, one answer per item line; `batch` 0, set when logged).

    Raises:
        InputFormatError: naming the file and line: a bad line, an item line without a queue,
            an item not in the queue, or track/frame that disagree with the item.
    """
    lines = read_json_lines(path)
    return answers_from_lines(lines, queue, author, time_ns, frame_size=frame_size)


def answers_from_lines(lines: Iterable[tuple[str, int, Any]], queue: ReviewQueue | None, author: str,
                       time_ns: int, *, frame_size: tuple[int, int] | None = None
                       ) -> tuple[Corrections, Answers]:
    """Corrections and answers of parsed lines (see `read_answer_file`).

    Args:
        lines: (where, line number or 0, JSON object) of each line, in order; `where` starts the
            messages ("answers.jsonl line 3").
        queue: the queue item lines answer; None: item lines are an error.
        author: author of lines that name none.
        time_ns: time of lines that give none.
        frame_size: (width, height) of the video. An accepted item pins the box the reviewer
            saw: the shown box clipped to the frame, as every task file shows it (a tracked box
            can reach a pixel or two past the frame edge). None: the shown box as stored.

    Raises:
        InputFormatError: naming `where` of the first bad line.
    """
    rows: list[dict[str, Any]] = []
    answers: list[tuple[int, int, list[float], int, str]] = []
    for where, number, obj in lines:
        if not (isinstance(obj, dict) and "item" in obj):
            rows.append({**parse_line(obj, where, author, time_ns), "source_line": number})
            continue
        if queue is None:
            raise InputFormatError(f"{where}: refers to a review queue item; pass --queue "
                                   "(queue=) with the queue's id")
        item, op, box = _item_line(obj, queue, where)
        who = check_author(obj.get("author", author), where)
        when = parse_time(obj["time"], where) if "time" in obj else time_ns
        shown_xyxy = queue.xyxy[item:item + 1]
        if frame_size is not None:
            shown_xyxy = clip_to_frame(shown_xyxy, *frame_size)[0]
        shown = shown_xyxy[0].tolist()
        # the reviewer's box: accept the shown box, adjust the new box, absent none
        given_box = shown if op == Op.ACCEPT else box if op == Op.ADJUST else [math.nan] * 4
        answers.append((item, op, given_box, when, who))
        if queue.kind[item] == ItemKind.CANDIDATE:
            if op != Op.ABSENT:  # absent rejects it: nothing is created
                rows.append(_candidate_row(queue, item, given_box, when, who, number))
        elif queue.kind[item] != ItemKind.HONEYPOT:
            rows.append({"op": op, "track_id": int(queue.track_id[item]),
                         "frame": int(queue.frame[item]), "xyxy": shown if op == Op.ACCEPT else box,
                         "class_id": -1, "other_id": -1, "time_ns": when, "author": who,
                         "source_line": number})
    if rows:
        corrections = Corrections.create(**{k: [r[k] for r in rows] for k in rows[0]})
    else:
        corrections = Corrections.empty()
    if answers:
        item_, op_, box_, time_, who_ = zip(*answers)
        given = Answers.create(item=item_, op=op_, xyxy=np.asarray(box_, np.float32),
                               time_ns=time_, author=np.asarray(who_, str))
    else:
        given = Answers.create(item=[], op=[])
    return corrections, given
