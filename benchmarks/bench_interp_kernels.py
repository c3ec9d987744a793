"""Interpolation kernel throughput: linear_fill, guided_fill and select_keyframes, boxes per second.

Synthetic input, seeded: `--tracks` tracks, each with `--keyframes` present keyframes every
`--step` frames (so (keyframes - 1) * step + 1 output rows per track: 100k x 50 x 10 gives 49.1M
rows), starting `--stagger` frames apart (about span / stagger objects per frame). Each object
moves on a smooth path: constant velocity plus a slow sinusoid, slowly growing. Keyframes sit on
the path; detections (guided) are the path plus 2% noise with 10% missed; tracks to compress
(sparse) are the path plus 1% jitter, one run per track, closed by an outside keyframe.

What is timed (boxes = output rows; for sparse, input boxes):
- linear: `linear_fill` with 1 thread and with all threads (numba.set_num_threads), on all tracks.
- linear_numpy: `linear_fill_numpy` on the first `--numpy-tracks` tracks (491k rows by default:
  its float64 temporaries are ~10x the output, and at 4.9M rows page faults on them cut it from
  ~17M to ~3M boxes/s, so the default is the size where NumPy does best).
- guided (1 thread / all threads) and guided_numpy: `trackannot.kernels.guided.guided_fill` and
  its reference on the first `--guided-tracks` tracks, with their detections.
- sparse (1 thread / all threads): `select_keyframes` at IoU tolerance `--tolerance` on the first
  `--sparse-tracks` tracks; sparse_numpy: the brute-force O(L^3) reference on
  `--sparse-numpy-tracks` tracks.
Outputs are preallocated (allocation is not timed); every kernel runs once untimed first
(compilation); then `--repeats` rounds run every variant once each, in rotating order
(interleaved, so drifting load on the shared machine hits all variants alike); medians are
reported. After timing, kernel outputs are checked equal to the references on the subsets.

Run (writes benchmarks/results/interp_kernels.json and prints a table and ratios):
    python -m benchmarks.bench_interp_kernels
    python -m benchmarks.bench_interp_kernels --tracks 10000 --repeats 3   # quick look
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numba
import numpy as np

from benchmarks._common import machine_info, write_json
from trackannot.kernels.interp import linear_counts, linear_fill, linear_fill_numpy
from trackannot.kernels.sparse import select_keyframes, select_keyframes_numpy

OUT = Path(__file__).resolve().parent / "results" / "interp_kernels.json"
GOAL_LINEAR = 50e6  # boxes/s, one thread


def path_boxes(track: np.ndarray, t: np.ndarray, seed: int) -> np.ndarray:
    """(len(t), 4) float64 boxes of object `track` (array) at frame t since its start (array).

    Deterministic per (seed, track): constant velocity + a slow sinusoid, size growing 0.1%/frame.
    """
    rng = np.random.default_rng([seed, 0])
    n_tracks = int(track.max()) + 1 if len(track) else 0
    start_xy = rng.uniform(100, 1800, (n_tracks, 2))
    vel = rng.normal(0, 2.0, (n_tracks, 2))
    amp = rng.uniform(0, 40, (n_tracks, 2))
    period = rng.uniform(60, 300, (n_tracks, 1))
    size = rng.uniform(20, 200, (n_tracks, 2))
    tt = t[:, None].astype(np.float64)
    centre = start_xy[track] + vel[track] * tt + amp[track] * np.sin(2 * np.pi * tt / period[track])
    wh = size[track] * (1 + 0.001 * tt)
    return np.concatenate([centre - wh / 2, centre + wh / 2], axis=1)


def make_keyframes(n_tracks: int, n_keys: int, step: int, stagger: int, seed: int) -> dict:
    """Keyframe columns (sorted by track, frame) and the linear output offsets."""
    track = np.repeat(np.arange(n_tracks), n_keys)
    t = np.tile(np.arange(n_keys) * step, n_tracks)
    key = {
        "key_frame": (track * stagger + t).astype(np.int64),
        "key_xyxy": path_boxes(track, t, seed).astype(np.float32),
        "key_outside": np.zeros(len(track), bool),
        "seg_start": (np.arange(n_tracks + 1) * n_keys).astype(np.int64),
    }
    counts = linear_counts(key["key_frame"], key["key_outside"], key["seg_start"])
    key["out_start"] = np.r_[0, np.cumsum(counts)].astype(np.int64)
    return key


def subset(key: dict, n_tracks: int) -> dict:
    """The first n_tracks tracks of `key`."""
    rows = int(key["seg_start"][n_tracks])
    out = {k: key[k][:rows] for k in ("key_frame", "key_xyxy", "key_outside")}
    out["seg_start"] = key["seg_start"][: n_tracks + 1]
    out["out_start"] = key["out_start"][: n_tracks + 1]
    return out


def outputs(m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Preallocated, touched out_frame, out_xyxy, out_key (page faults are not timed)."""
    return np.zeros(m, np.int64), np.zeros((m, 4), np.float32), np.zeros(m, np.int64)


def dense(key: dict, n_tracks: int, step: int, stagger: int, seed: int, noise: float,
          drop: float) -> dict:
    """Per-frame boxes of the first n_tracks objects: path + noise (fraction of size), some
    dropped; sorted by (track, frame). Returns frame, track, xyxy (float32)."""
    rng = np.random.default_rng([seed, 1])
    span = int(key["seg_start"][1] - key["seg_start"][0] - 1) * step + 1
    track = np.repeat(np.arange(n_tracks), span)
    t = np.tile(np.arange(span), n_tracks)
    xyxy = path_boxes(track, t, seed)
    wh = np.repeat(xyxy[:, 2:] - xyxy[:, :2], 2, axis=0).reshape(-1, 4)
    xyxy += rng.normal(0, noise, xyxy.shape) * wh
    kept = rng.random(len(t)) >= drop
    return {"frame": (track * stagger + t)[kept].astype(np.int64), "track": track[kept],
            "xyxy": xyxy[kept].astype(np.float32)}


def timed(variants: dict[str, Callable[[], Any]], repeats: int) -> dict[str, list[float]]:
    """Seconds per call of each variant: one untimed warm-up call, then interleaved rounds."""
    for fn in variants.values():
        fn()
    names = list(variants)
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        for name in names[r % len(names):] + names[: r % len(names)]:
            t0 = time.perf_counter()
            variants[name]()
            seconds[name].append(time.perf_counter() - t0)
    return seconds


def with_threads(n: int, fn: Callable[..., Any], *args: Any) -> Callable[[], Any]:
    def call() -> Any:
        numba.set_num_threads(n)
        return fn(*args)
    return call


def linear_variants(key: dict, small: dict, all_threads: int) -> tuple[dict, dict, Callable]:
    """Variants, box counts and an equality check of the linear kernel vs its reference."""
    args = [key[k] for k in ("key_frame", "key_xyxy", "key_outside", "seg_start", "out_start")]
    sargs = [small[k] for k in ("key_frame", "key_xyxy", "key_outside", "seg_start",
                                "out_start")]
    out, ref = outputs(int(key["out_start"][-1])), outputs(int(small["out_start"][-1]))
    variants = {
        "linear_1thread": with_threads(1, linear_fill, *args, *out),
        f"linear_{all_threads}threads": with_threads(all_threads, linear_fill, *args, *out),
        "linear_numpy": lambda: linear_fill_numpy(*sargs, *ref),
    }
    boxes = {name: len(out[0]) for name in variants} | {"linear_numpy": len(ref[0])}

    def check() -> bool:
        return all(np.array_equal(a[: len(b)], b) for a, b in zip(out, ref))
    return variants, boxes, check


def guided_variants(small: dict, dets: dict, num_frames: int,
                    all_threads: int) -> tuple[dict, dict, Callable, str]:
    """Guided kernel variants if `trackannot.kernels.guided` provides them, else a note why not.

    Hook: the entry point documented in kernels/guided.py is guided_fill(linear_fill's key
    arrays, out_start, det_start, det_xyxy, det_score, guided_params(), out_frame, out_xyxy,
    out_key); guided_fill_numpy is its reference with the same arguments.
    """
    try:
        from trackannot.kernels import guided
    except ImportError as err:
        return {}, {}, lambda: True, f"trackannot.kernels.guided not importable: {err}"
    order = np.argsort(dets["frame"], kind="stable")
    det_xyxy = np.ascontiguousarray(dets["xyxy"][order])
    det_score = np.full(len(order), 0.9, np.float32)
    det_start = np.searchsorted(dets["frame"][order], np.arange(num_frames + 1)).astype(np.int64)
    head = [small[k] for k in ("key_frame", "key_xyxy", "key_outside", "seg_start", "out_start")]
    args = [*head, det_start, det_xyxy, det_score, guided.guided_params()]
    m = int(small["out_start"][-1])
    out, ref = outputs(m), outputs(m)
    variants = {
        "guided_1thread": with_threads(1, guided.guided_fill, *args, *out),
        f"guided_{all_threads}threads": with_threads(all_threads, guided.guided_fill, *args, *out),
    }
    note = "guided_fill from trackannot.kernels.guided"
    numpy_ref = getattr(guided, "guided_fill_numpy", None)
    if numpy_ref is not None:
        variants["guided_numpy"] = lambda: numpy_ref(*args, *ref)
    else:
        note += "; guided_fill_numpy not available yet (not timed)"

    def check() -> bool:
        if numpy_ref is None:
            return True
        return all(np.allclose(a, b, rtol=1e-5, atol=1e-3) for a, b in zip(out, ref))
    return variants, {name: m for name in variants}, check, note


def sparse_variants(tracks: dict, n_numpy: int, tol: float,
                    all_threads: int) -> tuple[dict, dict, Callable, dict]:
    """select_keyframes over one closed run per track (rows of a track are consecutive frames)."""
    # the synthetic drop leaves gaps: cut runs wherever the frame does not continue
    cont = (tracks["track"][1:] == tracks["track"][:-1]) & (np.diff(tracks["frame"]) == 1)
    run_start = np.r_[np.flatnonzero(np.r_[True, ~cont]), len(cont) + 1].astype(np.int64)
    closed = np.ones(len(run_start) - 1, bool)
    keep = np.zeros(len(tracks["frame"]), bool)
    xyxy = tracks["xyxy"]
    small_rows = int(np.searchsorted(tracks["track"], n_numpy))
    small_runs = int(np.searchsorted(run_start, small_rows))
    small = (xyxy[:small_rows], run_start[: small_runs + 1], closed[:small_runs],
             keep[:small_rows], tol)
    result: dict[str, np.ndarray] = {}

    def kernel(n: int) -> Callable[[], Any]:
        def call() -> None:
            numba.set_num_threads(n)
            result["kernel"] = select_keyframes(xyxy, run_start, closed, keep, tol)
        return call

    def reference() -> None:
        result["numpy"] = select_keyframes_numpy(*small)
    variants = {"sparse_1thread": kernel(1), f"sparse_{all_threads}threads": kernel(all_threads),
                "sparse_numpy": reference}
    boxes = {name: len(xyxy) for name in variants} | {"sparse_numpy": small_rows}

    def check() -> bool:
        return bool(np.array_equal(result["kernel"][:small_rows], result["numpy"]))
    return variants, boxes, check, result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tracks", type=int, default=100_000)
    parser.add_argument("--keyframes", type=int, default=50)
    parser.add_argument("--step", type=int, default=10)
    parser.add_argument("--stagger", type=int, default=10)
    parser.add_argument("--numpy-tracks", type=int, default=1_000)
    parser.add_argument("--guided-tracks", type=int, default=1_000)
    parser.add_argument("--sparse-tracks", type=int, default=2_000)
    parser.add_argument("--sparse-numpy-tracks", type=int, default=1)
    parser.add_argument("--tolerance", type=float, default=0.9)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    all_threads = numba.config.NUMBA_NUM_THREADS
    key = make_keyframes(args.tracks, args.keyframes, args.step, args.stagger, args.seed)
    variants, boxes, checks, notes = {}, {}, {}, {}
    v, b, checks["linear"] = linear_variants(key, subset(key, args.numpy_tracks), all_threads)
    variants |= v
    boxes |= b
    g_tracks = min(args.guided_tracks, args.tracks)
    dets = dense(key, g_tracks, args.step, args.stagger, args.seed, noise=0.02, drop=0.1)
    num_frames = int(key["key_frame"][key["seg_start"][g_tracks] - 1]) + 1
    v, b, checks["guided"], notes["guided"] = guided_variants(
        subset(key, g_tracks), dets, num_frames, all_threads)
    variants |= v
    boxes |= b
    s_tracks = min(args.sparse_tracks, args.tracks)
    tracks = dense(key, s_tracks, args.step, args.stagger, args.seed + 1, noise=0.01, drop=0.0)
    v, b, checks["sparse"], chosen = sparse_variants(tracks, args.sparse_numpy_tracks,
                                                     args.tolerance, all_threads)
    variants |= v
    boxes |= b
    seconds = timed(variants, args.repeats)
    rates = {name: boxes[name] / statistics.median(s) for name, s in seconds.items()}
    agree = {name: bool(check()) for name, check in checks.items()}
    notes["sparse"] = (f"select_keyframes at IoU {args.tolerance} keeps "
                       f"{chosen['kernel'].mean():.1%} of the synthetic boxes (1% jitter)")
    report(args, rates, boxes, seconds, agree, notes, all_threads)


def ratios(rates: dict[str, float], all_threads: int) -> dict[str, float]:
    out = {}
    for kind in ("linear", "guided", "sparse"):
        one, many, ref = (f"{kind}_1thread", f"{kind}_{all_threads}threads", f"{kind}_numpy")
        if one in rates and ref in rates:
            out[f"{kind}: 1 thread / numpy"] = rates[one] / rates[ref]
        if one in rates and many in rates:
            out[f"{kind}: {all_threads} threads / 1 thread"] = rates[many] / rates[one]
    return out


def report(args: argparse.Namespace, rates: dict[str, float], boxes: dict[str, int],
           seconds: dict[str, list[float]], agree: dict[str, bool], notes: dict[str, str],
           all_threads: int) -> None:
    """Print the table and ratios; write the JSON (atomically)."""
    print(f"{'variant':<22}{'boxes':>12}{'median s':>11}{'boxes/s':>16}")
    for name, rate in rates.items():
        print(f"{name:<22}{boxes[name]:>12,}{statistics.median(seconds[name]):>11.4f}"
              f"{rate:>16,.0f}")
    rat = ratios(rates, all_threads)
    for name, value in rat.items():
        print(f"{name}: {value:,.1f}x")
    goal = rates["linear_1thread"] >= GOAL_LINEAR
    print(f"linear goal >= {GOAL_LINEAR:,.0f} boxes/s on 1 thread: {'met' if goal else 'NOT met'}")
    print(f"kernels equal their references: {agree}")
    for name, note in notes.items():
        print(f"{name}: {note}")
    if args.no_write:
        return
    doc = {
        "command": "python -m benchmarks.bench_interp_kernels " + " ".join(sys.argv[1:]),
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "machine": {**machine_info(), "numba_threads": all_threads},
        "boxes_per_s": rates, "boxes": boxes, "seconds": seconds, "ratios": rat,
        "linear_goal_boxes_per_s": GOAL_LINEAR, "linear_goal_met": goal,
        "kernels_equal_references": agree, "notes": notes,
    }
    write_json(args.out, doc)


if __name__ == "__main__":
    main()
