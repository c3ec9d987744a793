"""`VideoSession` on a 2-hour store: 200-frame reads cold and warm, a one-keyframe apply, and the
memory of a read against the video's length (issue 12, "Must show").

Stores. One synthetic video per --lengths (default 18,000, 36,000 and 72,000 frames at 10 fps,
1280x720): --concurrent slots (default 20) each hold one track after another, 30 s to 5 minutes
long (300..3,000 frames) with gaps of 1..10 s between them, boxes moving and bouncing off the
frame's edges; detections are the tracks' boxes with 1.5 px of noise, 5% of them missed (the
track's box there is PREDICTED). Written with `StoreWriter` at the `StoreConfig` default chunk
sizes, as `trackannot track` writes them. Then --corrections (default 1,000 at 72,000 frames,
the same density at the other lengths) are applied in batches of --batch (20) through
`VideoSession.apply`, as a backend applies them: each batch is a reviewer at one spot of the
video adjusting (60%) or accepting (35%) keyframes of the tracks there, now and then marking a
track absent, plus one identity edit (a split, a merge of two consecutive tracks of a slot, a
class change or a created track) per batch.

Timings (--rounds rounds, the lengths interleaved in each round, medians and max):

* **open**: `VideoSession.open(store)`;
* **cold read**: its first `boxes(s, s + 200)` at a random s;
* **warm read, next**: the same session's `boxes(s + 200, s + 400)` (scrubbing on);
* **warm read, jump**: the same session, 200 frames elsewhere in the video;
* **apply**: `session.apply` of one ADJUST keyframe at a random track and frame (the writer lock,
  the check against the state, the log commit, the state cache);
* **read after apply**: the same session's 200 frames around the edit (the batch replayed in).

Numba kernels are compiled (and a store read) before anything is timed.

Memory, one fresh (spawned) process per length: imports and a warm-up read of another store
first, then the peak resident set (/proc VmHWM, reset first) and the tracemalloc peak of opening
a session and reading 200 frames (cold), then of 20 more reads in the same session (scrubbing
and jumping), then of one apply; flat with length is the goal.

Every read is checked against `load_state(...)` cut to the same frames on the smallest store
(--quick: on every store).

Usage:
    python -m benchmarks.bench_session [--lengths 18000 36000 72000] [--rounds 15]
                                       [--out benchmarks/results/session.json]
    python -m benchmarks.bench_session --quick        # 2,000 / 4,000 frames, 3 rounds
"""

from __future__ import annotations

import argparse
import concurrent.futures
import multiprocessing
import statistics
import tempfile
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._common import (
    reset_peak_rss, result_doc, timed, vm_hwm_mib, vm_rss_mib, write_json,
)
from benchmarks.bench_log_scale import HEIGHT, WIDTH
from trackannot.boxes import COLUMNS, Boxes, Origin
from trackannot.config import PipelineConfig, StoreConfig, config_to_dict
from trackannot.corrections import Corrections, Op
from trackannot.session import VideoSession
from trackannot.store import StoreWriter

FPS = 10.0
READ_FRAMES = 200
MIN_TRACK_FRAMES, MAX_TRACK_FRAMES = 300, 3_000  # 30 s .. 5 min at 10 fps
MIN_GAP_FRAMES, MAX_GAP_FRAMES = 10, 100
DET_NOISE_PX = 1.5
MISSED = 0.05  # share of track boxes without a detection (PREDICTED)
CORRECTIONS_PER_FRAME = 1_000 / 72_000  # the density: 1,000 on a 2-hour video
CREATED_ID = 10_000_000  # ids of tracks the batches create (above every automatic id)
MEMORY_READS = 20


@dataclass(frozen=True)
class TrackPlan:
    """The synthetic video's automatic tracks, one row per track, ids 1..n by first frame.

    Attributes:
        track_id, first, last, slot: (n,) int64; first and last frame, inclusive.
        start: (n, 2) float64, the box centre at its first frame, pixels.
        velocity: (n, 2) float64, pixels per frame.
        size: (n, 2) float64, width and height, pixels.
    """

    track_id: np.ndarray
    first: np.ndarray
    last: np.ndarray
    slot: np.ndarray
    start: np.ndarray
    velocity: np.ndarray
    size: np.ndarray

    def alive(self, frame: int) -> np.ndarray:
        """Indices of the tracks with a box at `frame`."""
        return np.flatnonzero((self.first <= frame) & (self.last >= frame))

    def xyxy(self, i: np.ndarray, frame: np.ndarray) -> np.ndarray:
        """(n, 4) float32 boxes of tracks `i` at frames `frame` (the centre bounces off the
        frame's edges)."""
        age = (frame - self.first[i])[:, None]
        half = self.size[i] / 2
        lo, hi = half, np.array([WIDTH, HEIGHT]) - half
        period = 2 * (hi - lo)
        m = (self.start[i] + self.velocity[i] * age - lo) % period
        centre = lo + np.minimum(m, period - m)
        return np.concatenate([centre - half, centre + half], axis=1).astype(np.float32)


def plan_tracks(frames: int, concurrent: int, rng: np.random.Generator) -> TrackPlan:
    """Tracks of `concurrent` slots, one after another in each slot (module docstring)."""
    spans = []
    for slot in range(concurrent):
        at = int(rng.integers(0, MIN_TRACK_FRAMES))
        while at < frames:
            length = int(rng.integers(MIN_TRACK_FRAMES, MAX_TRACK_FRAMES + 1))
            spans.append((at, min(at + length, frames) - 1, slot))
            at += length + int(rng.integers(MIN_GAP_FRAMES, MAX_GAP_FRAMES + 1))
    spans.sort()
    n = len(spans)
    first, last, slot = (np.array(c, np.int64) for c in zip(*spans))
    size = np.stack([rng.uniform(40, 120, n), rng.uniform(80, 240, n)], axis=1)
    start = rng.uniform(0.2, 0.8, (n, 2)) * [WIDTH, HEIGHT]
    velocity = rng.normal(0, 2.0, (n, 2))
    return TrackPlan(np.arange(1, n + 1, dtype=np.int64), first, last, slot, start, velocity,
                     size)


def _slices(cols: dict[str, np.ndarray], frames: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Columns sorted by (frame, track_id) and each frame's row offsets ((frames + 1,))."""
    order = np.lexsort((cols["track_id"], cols["frame"]))
    cols = {k: v[order] for k, v in cols.items()}
    return cols, np.searchsorted(cols["frame"], np.arange(frames + 1))


def _rows(cols: dict[str, np.ndarray], a: int, b: int) -> Boxes:
    return Boxes._trusted(**{k: v[a:b] for k, v in cols.items()})


def video_boxes(plan: TrackPlan, rng: np.random.Generator) -> tuple[dict, dict]:
    """(tracks, detections) columns of every frame, unsorted."""
    lengths = plan.last - plan.first + 1
    i = np.repeat(np.arange(len(plan.track_id)), lengths)
    frame = plan.first[i] + (np.arange(len(i)) - np.repeat(np.cumsum(lengths) - lengths, lengths))
    xyxy = plan.xyxy(i, frame)
    n = len(i)
    missed = rng.random(n) < MISSED
    tracks = {"frame": frame, "xyxy": xyxy, "score": np.full(n, 0.9, np.float32),
              "class_id": np.zeros(n, np.int32), "track_id": plan.track_id[i],
              "origin": np.where(missed, Origin.PREDICTED, Origin.DETECTED).astype(np.uint8),
              "det_index": np.full(n, -1, np.int64), "pos_std": np.full(n, 2.0, np.float32)}
    seen = ~missed
    k = int(seen.sum())
    detections = {"frame": frame[seen],
                  "xyxy": xyxy[seen] + rng.normal(0, DET_NOISE_PX, (k, 4)).astype(np.float32),
                  "score": rng.uniform(0.3, 1.0, k).astype(np.float32),
                  "class_id": np.zeros(k, np.int32), "track_id": np.full(k, -1, np.int64),
                  "origin": np.zeros(k, np.uint8), "det_index": np.full(k, -1, np.int64),
                  "pos_std": np.zeros(k, np.float32)}
    return tracks, detections


def build_video(store: Path, frames: int, concurrent: int, seed: int) -> TrackPlan:
    """Write the synthetic video's group (default chunk sizes); returns its plan."""
    rng = np.random.default_rng(seed)
    plan = plan_tracks(frames, concurrent, rng)
    tracks, detections = video_boxes(plan, rng)
    tracks, t_at = _slices(tracks, frames)
    detections, d_at = _slices(detections, frames)
    writer = StoreWriter.create(store, "clip", StoreConfig(), attrs={
        "config": config_to_dict(PipelineConfig()),
        "video": {"width": WIDTH, "height": HEIGHT, "fps": FPS, "frame_count": frames},
        "detector": {"class_names": ["person", "car"]},
    })
    for f in range(frames):
        writer.add_frame(f, f / FPS, _rows(detections, int(d_at[f]), int(d_at[f + 1])),
                         _rows(tracks, int(t_at[f]), int(t_at[f + 1])))
    writer.close()
    return plan


# -- corrections -----------------------------------------------------------------------------------


class EditPlanner:
    """Batches of corrections spread over the video and its tracks (module docstring).

    Tracks given an identity edit (split, merge, class) or marked absent get no more edits, so
    every batch is valid whatever came before it.
    """

    def __init__(self, plan: TrackPlan, frames: int, seed: int) -> None:
        self.plan = plan
        self.frames = frames
        self.rng = np.random.default_rng(seed)
        self.reserved: set[int] = set()
        self.created = 0

    def _free(self, idx: np.ndarray) -> np.ndarray:
        return np.array([i for i in idx.tolist() if int(self.plan.track_id[i]) not in
                         self.reserved], np.int64)

    def batch(self, rows: int, author: str = "bench") -> Corrections:
        """`rows` corrections: keyframes of the tracks at one spot, and one identity edit."""
        rng, plan = self.rng, self.plan
        edits: list[tuple[int, int, int, Any, int, int]] = []  # op, track, frame, xyxy, cls, other
        edits += self._identity_edit()
        while len(edits) < rows:
            spot = self._spot()
            alive = self._free(plan.alive(spot))
            for i in rng.choice(alive, size=min(len(alive), 5), replace=False).tolist():
                edits += self._keyframes(int(i), spot, rows - len(edits))
                if len(edits) >= rows:
                    break
        op, track, frame, xyxy, cls, other = zip(*edits[:rows])
        return Corrections.create(op=op, track_id=track, frame=frame, xyxy=np.stack(xyxy),
                                  class_id=cls, other_id=other, author=author,
                                  time_ns=time.time_ns())

    def _spot(self) -> int:
        """A random frame where a free track has a box."""
        free = self._free(np.arange(len(self.plan.track_id)))
        if not len(free):
            raise RuntimeError("every track has had an identity edit or was marked absent; "
                               "ask for fewer corrections or a longer video")
        i = int(self.rng.choice(free))
        return int(self.rng.integers(self.plan.first[i], self.plan.last[i] + 1))

    def _keyframes(self, i: int, spot: int, room: int) -> list[tuple]:
        """Up to 4 keyframes of track row `i` from `spot` on, 20..100 frames apart."""
        plan, rng = self.plan, self.rng
        track = int(plan.track_id[i])
        out: list[tuple] = []
        frame = spot
        for _ in range(min(4, room)):
            if frame > plan.last[i]:
                break
            box = plan.xyxy(np.array([i]), np.array([frame]))[0]
            u = rng.random()
            if u < 0.6:
                out.append((Op.ADJUST, track, frame, _nudged(box, rng), -1, -1))
            elif u < 0.95:
                out.append((Op.ACCEPT, track, frame, np.full(4, np.nan), -1, -1))
            else:
                out.append((Op.ABSENT, track, frame, np.full(4, np.nan), -1, -1))
                self.reserved.add(track)  # it ends here: no keyframes after this
                break
            frame += int(rng.integers(20, 101))
        return out

    def _identity_edit(self) -> list[tuple]:
        """One split, merge, class change or created track, in turn (a split where no two
        free tracks of a slot follow each other)."""
        plan, rng = self.plan, self.rng
        kind = self.created % 4
        self.created += 1
        nan = np.full(4, np.nan)
        free = self._free(np.arange(len(plan.track_id)))
        if kind == 1:  # merge the next track of a slot into the one before it
            pairs = [(i, later[0]) for i in free.tolist() for later in
                     [np.flatnonzero((plan.slot == plan.slot[i]) & (plan.first > plan.last[i]))]
                     if len(later) and int(plan.track_id[later[0]]) not in self.reserved]
            if pairs:
                i, j = pairs[int(rng.integers(0, len(pairs)))]
                track, other = int(plan.track_id[i]), int(plan.track_id[j])
                self.reserved |= {track, other}
                return [(Op.MERGE, track, -1, nan, -1, other)]
            kind = 0
        if kind == 3:
            new = CREATED_ID + self.created
            frame = int(rng.integers(0, self.frames - 200))
            box = np.array([100, 100, 160, 220], np.float64) + np.repeat(
                rng.uniform([0, 0], [900, 300]), 2)[[0, 2, 1, 3]]
            return [(Op.CREATE, new, frame, box, 1, -1),
                    (Op.ADJUST, new, frame + 50, box + 40, -1, -1),
                    (Op.ABSENT, new, frame + 150, box + 80, -1, -1)]
        if len(free) < 2:
            raise RuntimeError("no free track left for an identity edit; fewer corrections")
        i = int(rng.choice(free))
        track = int(plan.track_id[i])
        self.reserved.add(track)
        if kind == 0:  # split in the middle
            return [(Op.SPLIT, track, int((plan.first[i] + plan.last[i]) // 2), nan, -1, -1)]
        return [(Op.CLASS, track, -1, nan, 1, -1)]

    def one_keyframe(self) -> tuple[Corrections, int]:
        """One ADJUST at a random free track and frame, and its frame."""
        frame = self._spot()
        i = int(self.rng.choice(self._free(self.plan.alive(frame))))
        box = _nudged(self.plan.xyxy(np.array([i]), np.array([frame]))[0], self.rng)
        return Corrections.create(op=[Op.ADJUST], track_id=[int(self.plan.track_id[i])],
                                  frame=[frame], xyxy=[box], author="bench",
                                  time_ns=time.time_ns()), frame


def _nudged(xyxy: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A reviewer's adjustment of a box: a few pixels, kept inside the frame."""
    return np.clip(xyxy + rng.normal(0, 3, 4), 0, [WIDTH, HEIGHT, WIDTH, HEIGHT])


def make_store(path: Path, frames: int, concurrent: int, corrections: int, batch: int,
               seed: int = 0) -> tuple[EditPlanner, dict[str, float]]:
    """A store of one synthetic video with `corrections` applied in batches through a session;
    returns the edit planner (for more edits) and how long each step took."""
    t0 = time.perf_counter()
    plan = build_video(path, frames, concurrent, seed)
    t1 = time.perf_counter()
    planner = EditPlanner(plan, frames, seed + 1)
    session = VideoSession.open(path)
    applies = []
    for start in range(0, corrections, batch):
        edits = planner.batch(min(batch, corrections - start))
        applies.append(timed(lambda: session.apply(edits, author="bench",
                                                   source=f"bench batch {start // batch}")))
    return planner, {"write_s": t1 - t0, "apply_s": time.perf_counter() - t1,
                     "tracks": len(plan.track_id), "batches": len(applies),
                     "first_apply_s": applies[0] if applies else 0.0,
                     "apply_median_s": statistics.median(applies) if applies else 0.0}


# -- checks and timings ----------------------------------------------------------------------------


def check_read(session: VideoSession, start: int, stop: int) -> None:
    """The session's boxes of start..stop-1 equal the whole replay's (`load_state`), cut."""
    got = session.boxes(start, stop)
    whole = session.state().boxes()
    want = whole[(whole.frame >= start) & (whole.frame < stop)]
    if len(got) != len(want) or not all(np.array_equal(getattr(got, k), getattr(want, k))
                                        for k in COLUMNS):
        raise AssertionError(f"{session.store_path}: boxes({start}, {stop}) differ from "
                             "load_state's")


def one_round(store: Path, planner: EditPlanner, frames: int,
              rng: np.random.Generator) -> dict[str, float]:
    """Seconds of each step of one round on one store (module docstring)."""
    out: dict[str, float] = {}
    holder: list[VideoSession] = []
    out["open"] = timed(lambda: holder.append(VideoSession.open(store)))
    session = holder[0]
    s = int(rng.integers(0, frames - 2 * READ_FRAMES))
    out["cold_read"] = timed(lambda: session.boxes(s, s + READ_FRAMES))
    out["warm_next"] = timed(lambda: session.boxes(s + READ_FRAMES, s + 2 * READ_FRAMES))
    j = int(rng.integers(0, frames - READ_FRAMES))
    out["warm_jump"] = timed(lambda: session.boxes(j, j + READ_FRAMES))
    edit, at = planner.one_keyframe()
    out["apply"] = timed(lambda: session.apply(edit, author="bench", source="bench one"))
    a = max(min(at - READ_FRAMES // 2, frames - READ_FRAMES), 0)
    out["read_after_apply"] = timed(lambda: session.boxes(a, a + READ_FRAMES))
    out["warm_same"] = timed(lambda: session.boxes(a, a + READ_FRAMES))
    return out


def memory_child(store: str, warm_store: str, frames: int, seed: int) -> dict[str, Any]:
    """In a fresh process: peak RSS and tracemalloc peak of a cold read, of more reads in the
    same session, and of one apply (module docstring)."""
    from trackannot.replay import load_state

    warm = VideoSession.open(warm_store)  # compile kernels, import everything used
    warm.boxes(0, READ_FRAMES)
    load_state(warm.result).boxes()
    del warm
    rng = np.random.default_rng(seed)
    s = int(rng.integers(0, frames - READ_FRAMES))
    out: dict[str, Any] = {"frames": frames}
    for traced in (False, True):
        base = vm_rss_mib()
        reset_peak_rss()
        if traced:
            tracemalloc.start()
        session = VideoSession.open(store)
        session.boxes(s, s + READ_FRAMES)
        steps = {"cold": _peaks(traced, base)}
        for k in range(1, MEMORY_READS + 1):  # scrubbing on, then jumping
            at = (s + k * READ_FRAMES) % (frames - READ_FRAMES)
            session.boxes(at, at + READ_FRAMES)
            j = int(rng.integers(0, frames - READ_FRAMES))
            session.boxes(j, j + READ_FRAMES)
        steps["reads"] = _peaks(traced, base)
        i = int(rng.integers(s, s + READ_FRAMES))
        edit = Corrections.create(op=[Op.ADJUST], track_id=[int(session.boxes(i, i + 1)
                                                                  .track_id[0])],
                                  frame=[i], xyxy=[[10, 10, 60, 120]], author="bench")
        session.apply(edit, author="bench")
        session.boxes(s, s + READ_FRAMES)
        steps["apply"] = _peaks(traced, base)
        if traced:
            tracemalloc.stop()
        for step, value in steps.items():
            out.setdefault(step, {}).update(value)
        del session
    return out


def _peaks(traced: bool, base: float | None) -> dict[str, float | None]:
    if traced:
        return {"tracemalloc_peak_mib": tracemalloc.get_traced_memory()[1] / 2**20}
    hwm = vm_hwm_mib()
    return {"rss_peak_over_start_mib": None if hwm is None or base is None else hwm - base}


def measure_memory(stores: dict[int, Path], warm_store: Path, seed: int) -> list[dict[str, Any]]:
    context = multiprocessing.get_context("spawn")
    out = []
    for frames, store in stores.items():
        with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            out.append(pool.submit(memory_child, str(store), str(warm_store), frames,
                                   seed).result())
    return out


def _summary(times: list[float]) -> dict[str, float]:
    return {"median_ms": 1000 * statistics.median(times), "max_ms": 1000 * max(times)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[18_000, 36_000, 72_000])
    parser.add_argument("--concurrent", type=int, default=20)
    parser.add_argument("--corrections", type=int, default=None,
                        help="corrections on the longest store (default: 1,000 per 72,000 "
                             "frames); shorter stores get the same density")
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--quick", action="store_true",
                        help="2,000 and 4,000 frames, 3 rounds, every read checked")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.quick:
        args.lengths, args.rounds = [2_000, 4_000], 3
    out = args.out or Path("benchmarks/results/session_quick.json" if args.quick
                           else "benchmarks/results/session.json")
    longest = max(args.lengths)
    total = args.corrections if args.corrections is not None else \
        round(CORRECTIONS_PER_FRAME * longest)
    rng = np.random.default_rng(7)
    with tempfile.TemporaryDirectory(prefix="bench_session_") as tmp:
        tmp_path = Path(tmp)
        warm_store = tmp_path / "warm.zarr"
        make_store(warm_store, 3_000, 5, 20, 10, seed=99)
        stores, planners, built = {}, {}, {}
        for frames in args.lengths:
            stores[frames] = tmp_path / f"v{frames}.zarr"
            planners[frames], built[frames] = make_store(
                stores[frames], frames, args.concurrent, round(total * frames / longest),
                args.batch)
            print(f"{frames} frames: {built[frames]['tracks']} tracks written in "
                  f"{built[frames]['write_s']:.1f} s, {built[frames]['batches']} batches "
                  f"applied in {built[frames]['apply_s']:.1f} s (first "
                  f"{built[frames]['first_apply_s']:.2f} s, median "
                  f"{1000 * built[frames]['apply_median_s']:.0f} ms)", flush=True)
        checked = args.lengths if args.quick else [min(args.lengths)]
        for frames in checked:
            session = VideoSession.open(stores[frames])
            for start in (0, frames // 3, frames - READ_FRAMES):
                check_read(session, start, start + READ_FRAMES)
        times: dict[int, dict[str, list[float]]] = {f: {} for f in args.lengths}
        for _ in range(args.rounds):
            for frames in args.lengths:
                got = one_round(stores[frames], planners[frames], frames, rng)
                for step, seconds in got.items():
                    times[frames].setdefault(step, []).append(seconds)
        for frames in checked:  # still equal after the rounds' edits
            session = VideoSession.open(stores[frames])
            check_read(session, frames // 2, frames // 2 + READ_FRAMES)
        memory = measure_memory(stores, warm_store, seed=3)
    results = {str(f): {"build": built[f], "seconds": times[f],
                        **{step: _summary(t) for step, t in times[f].items()}}
               for f in args.lengths}
    for m in memory:
        results[str(m["frames"])]["memory"] = m
    print_table(results, args.lengths)
    write_json(out, result_doc("benchmarks.bench_session", results, lengths=args.lengths,
                               concurrent=args.concurrent, corrections_longest=total,
                               batch=args.batch, rounds=args.rounds, read_frames=READ_FRAMES))
    print(f"wrote {out}")
    return results


def print_table(results: dict[str, Any], lengths: list[int]) -> None:
    steps = ["open", "cold_read", "warm_next", "warm_jump", "apply", "read_after_apply",
             "warm_same"]
    print("\n| frames | " + " | ".join(steps) + " |  (ms: median / max)")
    print("|---:|" + "---:|" * len(steps))
    for f in lengths:
        r = results[str(f)]
        print(f"| {f:,} | " + " | ".join(f"{r[s]['median_ms']:.1f} / {r[s]['max_ms']:.0f}"
                                         for s in steps) + " |")
    print("\n| frames | cold: RSS peak / tracemalloc (MiB) | +40 reads | + apply |")
    print("|---:|---:|---:|---:|")
    for f in lengths:
        m = results[str(f)].get("memory", {})
        cells = [f"{m[s]['rss_peak_over_start_mib']:.1f} / {m[s]['tracemalloc_peak_mib']:.1f}"
                 if s in m else "-" for s in ("cold", "reads", "apply")]
        print(f"| {f:,} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
