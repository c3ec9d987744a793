"""Which boxes need a person, and why: the review queue and the answers reviewers give to it.

A `ReviewQueue` is built from the current annotation (`trackannot.state.AnnotationState`): the
frames most likely to hold wrong boxes (`trackannot.risk.rank_frames`) up to a budget of frames,
one item per box shown at those frames. Strict mode adds random spot checks of confident boxes;
honeypots are boxes deliberately moved away from a known truth, hidden among the items, to measure
whether reviewers really look (automation bias). `Answers` records what each reviewer did with
each item (`trackannot.audit` turns them into catch and correction rates).

Queues and answers live in the store next to the corrections log (`<video>/review/...`), written
and read through `trackannot.results`, which hands the store `ITEM_COLUMNS` and `ANSWER_COLUMNS`.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, fields
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import numpy as np
import numpy.typing as npt

from trackannot.boxes import Boxes, Origin, check_columns
from trackannot.config import ReviewConfig
from trackannot.corrections import (
    Corrections, Op, check_author, parse_box, parse_line, parse_time, read_json_lines,
)
from trackannot.errors import InputFormatError
from trackannot.risk import Reason, open_ends, rank_frames, score_risk
from trackannot.validate import check_int, clip_to_frame

if TYPE_CHECKING:
    from trackannot.state import AnnotationState

__all__ = ["ANSWER_COLUMNS", "Answers", "ITEM_COLUMNS", "ItemKind", "QUEUE_OPEN", "QUEUE_SETTINGS",
           "QUEUE_SUPERSEDED", "ReviewQueue", "answers_from_lines", "build_queue", "honeypot_count",
           "read_answer_file", "spot_check_count"]

# honeypots need a queue of at least this many items before one is forced in at a small rate
_MIN_ITEMS_FOR_HONEYPOT = 20
# honeypots are drawn among this many times as many low-risk candidates as are needed
_HONEYPOT_POOL = 3
_ITEM_OPS = ("accept", "adjust", "absent")

QUEUE_OPEN = "open"
"""A stored queue's status while it can be answered."""
QUEUE_SUPERSEDED = "superseded"
"""A stored queue's status once a newer queue re-ranked the video (`superseded_by` names it)."""
QUEUE_SETTINGS = ("spot_check_rate", "honeypot_rate", "honeypot_shift", "seed")
"""The review settings a stored queue's record keeps."""


class ItemKind(IntEnum):
    """Why an item is in the queue (the `kind` column; never shown to reviewers)."""

    RISK = 0  # ranked by risk
    SPOT_CHECK = 1  # strict mode: a random confident box
    HONEYPOT = 2  # a perturbed box with known truth


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

    Items are ordered by `rank` (the frame's position in the review order, 0 first), then by
    score, highest first. Every box of a queued frame is an item, so a reviewer working frame by
    frame sees the whole frame.

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

    def __post_init__(self) -> None:
        check_columns(self, ITEM_COLUMNS, len(self.item), "ReviewQueue")
        if self.mode not in ("fast", "strict"):
            raise InputFormatError(f"ReviewQueue.mode must be 'fast' or 'strict', got {self.mode!r}")

    def __len__(self) -> int:
        return len(self.item)

    def columns(self) -> dict[str, np.ndarray]:
        """The item columns by name (for writing)."""
        return {name: getattr(self, name) for name in ITEM_COLUMNS}

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


def spot_check_count(budget: int, cfg: ReviewConfig) -> int:
    """Frames of a strict queue's budget given to random spot checks (0 in fast mode).

    round(spot_check_rate * budget), at least 1 when the rate is > 0 and the budget >= 2, and
    never the whole budget.
    """
    if cfg.mode != "strict" or cfg.spot_check_rate <= 0 or budget < 2:
        return 0
    return int(min(max(1, round(cfg.spot_check_rate * budget)), budget - 1))


def honeypot_count(items: int, cfg: ReviewConfig) -> int:
    """Honeypots among `items` queue items: round(honeypot_rate * items), at least 1 when the
    rate is > 0 and there are at least 20 items."""
    if cfg.honeypot_rate <= 0 or items == 0:
        return 0
    n = int(round(cfg.honeypot_rate * items))
    if items >= _MIN_ITEMS_FOR_HONEYPOT:
        n = max(n, 1)
    return min(n, items)


def _rng(cfg: ReviewConfig, queue_id: str) -> np.random.Generator:
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
                 n_spot: int, rng: np.random.Generator
                 ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """The queued frames in review order and which of them are spot checks.

    The risk part is the top `budget - n_spot` eligible frames. Spot checks are drawn among the
    other eligible frames whose highest box risk is below the median (the confident frames; the
    lowest-risk ones if too few are), and put at one random position in each of n_spot equal
    stretches of the order, so they are spread through it rather than bunched at the end.
    """
    risk_part = eligible[: budget - n_spot]
    if n_spot == 0:
        return risk_part, np.zeros(len(risk_part), bool)
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


def _with_open_ends(items: dict[str, np.ndarray], boxes: Boxes, end_frame: npt.NDArray[np.int64],
                    end_track: npt.NDArray[np.int64], end_risk: npt.NDArray[np.float64],
                    rank_of: npt.NDArray[np.int64], is_spot: npt.NDArray[np.bool_]
                    ) -> dict[str, np.ndarray]:
    """`items` plus one item per open track end at a queued frame, showing the track's nearest
    box (its last box before, or first box after, the open end) as a hint."""
    keep = rank_of[end_frame] >= 0
    frame, track, score = end_frame[keep], end_track[keep], end_risk[keep]
    if not len(frame):
        return items
    hint = np.empty((len(frame), 4), np.float32)
    for i, (f, t) in enumerate(zip(frame.tolist(), track.tolist())):
        rows = np.flatnonzero(boxes.track_id == t)
        hint[i] = boxes.xyxy[rows[np.argmin(np.abs(boxes.frame[rows] - f))]]
    rank = rank_of[frame].astype(np.int32)
    extra = {
        "rank": rank, "frame": frame.astype(np.int64), "track_id": track.astype(np.int64),
        "score": score.astype(np.float32),
        "reason": np.full(len(frame), Reason.OPEN_END, np.uint8),
        "xyxy": hint, "truth_xyxy": np.full((len(frame), 4), np.nan, np.float32),
        "kind": np.where(is_spot[rank], ItemKind.SPOT_CHECK, ItemKind.RISK).astype(np.uint8),
    }
    return {name: np.concatenate([col, extra[name]]) for name, col in items.items()}


def build_queue(state: AnnotationState, detections: Boxes | None, num_frames: int, budget: int,
                cfg: ReviewConfig | None = None, *, queue_id: str, based_on: int,
                frame_size: tuple[int, int] | None = None, honeypots: bool = True) -> ReviewQueue:
    """The review queue of the current annotation: the riskiest frames up to a budget of frames.

    Frames are ranked by `trackannot.risk.rank_frames`; only frames with boxes or an open track
    end (`trackannot.risk.open_ends`: a track that probably goes on there) are queued. An open
    end is an item of its own (reason OPEN_END) showing the track's last box as a hint: accept
    pins that box there, adjust gives the object's box, absent says the object has left.
    In strict mode `spot_check_count(budget, cfg)` of the frames are random confident frames
    (kind SPOT_CHECK). Every box of a queued frame is an item. `honeypot_count(items, cfg)` of the
    lowest-risk items are then shown moved by `cfg.honeypot_shift` off their true box (kind
    HONEYPOT, truth in `truth_xyxy`). The same inputs give the same queue.

    Args:
        state: the current annotation.
        detections: every detector box of the video (risk signals), or None.
        num_frames: frames of the video.
        budget: frames to queue; more than the frames with boxes queues them all.
        cfg: mode, spot-check and honeypot settings, risk prior; None uses `ReviewConfig()`.
        queue_id: the queue's id (also seeds its random draws with `cfg.seed`).
        based_on: committed corrections-log rows the state includes.
        frame_size: (width, height) in pixels: honeypot boxes stay inside the frame.
        honeypots: False: no honeypots whatever `cfg.honeypot_rate` says.

    Returns:
        The queue, items ordered by rank, then score (highest first).

    Raises:
        InputFormatError: budget < 1 or > num_frames, or the annotation has no boxes.
    """
    cfg = cfg or ReviewConfig()
    if budget < 1:
        raise InputFormatError(f"budget must be >= 1 frame, got {budget}")
    if budget > num_frames:
        raise InputFormatError(f"budget of {budget} frames is more than the video has: "
                               f"the video has {num_frames} frames")
    boxes = state.boxes()
    if not len(boxes):
        raise InputFormatError("the annotation has no boxes to review")
    keyframes = state.keyframes()
    risk = score_risk(boxes, detections, keyframes, cfg)
    order = rank_frames(boxes, risk, num_frames, cfg, keyframes)
    end_frame, end_track, end_risk = open_ends(boxes, keyframes, num_frames, cfg)
    frame_all = np.r_[boxes.frame, end_frame]
    score_all = np.r_[risk.score, end_risk]
    eligible = order[np.isin(order, frame_all)]
    frames = min(budget, len(eligible))
    rng = _rng(cfg, queue_id)
    frame_max = _frame_max(frame_all, score_all, eligible)
    queued, is_spot = _pick_frames(eligible, frame_max, frames, spot_check_count(frames, cfg), rng)
    rank_of = np.full(num_frames, -1, np.int64)
    rank_of[queued] = np.arange(len(queued))
    rows = np.flatnonzero(rank_of[boxes.frame] >= 0)
    n = len(rows)
    items: dict[str, np.ndarray] = {
        "rank": rank_of[boxes.frame[rows]].astype(np.int32),
        "frame": boxes.frame[rows].astype(np.int64),
        "track_id": boxes.track_id[rows].astype(np.int64),
        "score": risk.score[rows].astype(np.float32),
        "reason": risk.reason[rows].astype(np.uint8),
        "xyxy": boxes.xyxy[rows].astype(np.float32),
        "truth_xyxy": np.full((n, 4), np.nan, np.float32),
    }
    items["kind"] = np.where(is_spot[items["rank"]], ItemKind.SPOT_CHECK, ItemKind.RISK).astype(np.uint8)
    n_honey = honeypot_count(n, cfg) if honeypots else 0
    if n_honey:
        pick = _pick_honeypots(items, boxes.origin[rows], n_honey, rng)
        items["truth_xyxy"][pick] = items["xyxy"][pick]
        items["xyxy"][pick] = _perturb(items["xyxy"][pick], cfg.honeypot_shift, rng, frame_size)
        items["kind"][pick] = ItemKind.HONEYPOT
    items = _with_open_ends(items, boxes, end_frame, end_track, end_risk, rank_of, is_spot)
    order = np.lexsort((-items["score"], items["rank"]))
    items = {name: col[order] for name, col in items.items()}
    items["item"] = np.arange(len(order), dtype=np.int64)
    return ReviewQueue(queue_id=queue_id, based_on=int(based_on), mode=cfg.mode, budget=int(budget),
                       **items)


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


def read_answer_file(path: str | Path, queue: ReviewQueue | None, author: str,
                     time_ns: int, *, frame_size: tuple[int, int] | None = None
                     ) -> tuple[Corrections, Answers]:
    """Parse a JSON Lines corrections file whose lines may answer queue items (`"item": N`).

    An item line gives op accept, adjust (with box) or absent; its track and frame come from the
    item. Risk and spot-check items become corrections (accept pins the shown box); honeypot items
    become answers only (their shown box is fake, the truth stays). Lines without `item` are
    ordinary corrections (`trackannot.corrections`).

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
        if queue.kind[item] != ItemKind.HONEYPOT:
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
