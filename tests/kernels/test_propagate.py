"""The propagation kernel: equal to its NumPy reference, each stop where its rule says."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.kernels._nojit import run_without_jit
from trackannot.kernels.propagate import (
    OTHER_KEYFRAME, OTHER_TRACK, STOP_CONFLICT_KEYFRAME, STOP_CONFLICT_TRACK, STOP_CUT, STOP_END,
    STOP_EVIDENCE, STOP_GAP, STOP_REJOINED, propagate_params, propagate_run, propagate_run_numpy,
)

PARAMS = propagate_params(gate_iou=0.3, motion_gate=4.0, max_gap=4, rejoin_frames=3,
                          rejoin_iou=0.5, claim_iou=0.5, min_score=0.0)
SEED = np.array([10.0, 20.0, 50.0, 100.0])


def _object(k: np.ndarray) -> np.ndarray:
    """(n, 4) the object's box at entries k: 3 px/frame right."""
    k = np.asarray(k, np.float64)[:, None]
    return SEED + np.array([3.0, 0.0, 3.0, 0.0]) * k


def _scene(m: int, seed: int, *, missing: float = 0.1, clutter: int = 2, others: bool = True,
           own_from: int | None = None) -> dict[str, np.ndarray]:
    """A walk of m entries: the object's detections (some missing, noisy, any score), clutter,
    other tracks' boxes, the track's own automatic boxes from `own_from` on."""
    rng = np.random.default_rng(seed)
    dets, scores, start = [], [], [0]
    ob, okind, ostart = [], [], [0]
    truth = _object(np.arange(m + 1))
    for k in range(m + 1):
        if k == 0 or rng.random() > missing:
            dets.append(truth[k] + rng.normal(0, 1.0, 4))
            scores.append(rng.uniform(0.05, 1.0))
        for _ in range(int(rng.integers(0, clutter + 1))):
            x, y = rng.uniform(0, 600), rng.uniform(200, 400)
            dets.append([x, y, x + 40, y + 80])
            scores.append(rng.uniform(0, 1))
            if others and rng.random() < 0.5:
                ob.append(dets[-1])
                okind.append(OTHER_TRACK if rng.random() < 0.7 else OTHER_KEYFRAME)
        start.append(len(dets))
        ostart.append(len(ob))
    own = np.full((m + 1, 4), np.nan, np.float32)
    if own_from is not None:
        own[own_from:] = truth[own_from:]
    return {
        "seed": SEED.copy(), "frame": np.arange(100, 101 + m, dtype=np.int64),
        "gap": np.zeros(m + 1, bool), "det_start": np.array(start, np.int64),
        "det_xyxy": np.array(dets, np.float32).reshape(-1, 4),
        "det_score": np.array(scores, np.float32),
        "other_start": np.array(ostart, np.int64),
        "other_xyxy": np.array(ob, np.float32).reshape(-1, 4),
        "other_kind": np.array(okind, np.uint8), "own": own,
    }


def _args(s: dict[str, np.ndarray]) -> tuple:
    """The kernel's inputs; the detections in the person's style are the raw ones shifted 2 px
    right (the kernel gates and follows those, compares the raw ones with other boxes)."""
    styled = (s["det_xyxy"] + np.float32([2, 0, 2, 0])).astype(np.float32)
    return (s["seed"], s["frame"], s["gap"], s["det_start"], styled, s["det_xyxy"],
            s["det_score"], s["other_start"], s["other_xyxy"], s["other_kind"], s["own"])


def _kernel(s: dict[str, np.ndarray], params: np.ndarray = PARAMS):
    m = len(s["frame"]) - 1
    out = (np.zeros((m, 4), np.float32), np.full(m, -1, np.int64), np.zeros(m, np.float32),
           np.zeros(m, np.float32))
    n, stop, code = propagate_run(*_args(s), params, *out)
    return n, stop, code, out[0][:n], out[1][:n], out[2][:n], out[3][:n]


def _assert_same(got, want) -> None:
    assert got[:3] == want[:3]
    np.testing.assert_allclose(got[3], want[3], atol=1e-3)
    np.testing.assert_array_equal(got[4], want[4])
    np.testing.assert_array_equal(got[5], want[5])
    np.testing.assert_allclose(got[6], want[6], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("seed", range(12))
def test_kernel_equals_reference_on_random_walks(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    s = _scene(int(rng.integers(1, 60)), seed, missing=float(rng.uniform(0, 0.5)),
               own_from=int(rng.integers(5, 40)) if seed % 3 == 0 else None)
    _assert_same(_kernel(s), propagate_run_numpy(*_args(s), PARAMS))


@pytest.mark.parametrize("m", [0, 1], ids=["no entries", "one entry"])
def test_short_walks(m: int) -> None:
    s = _scene(m, 1, missing=0.0, clutter=0)
    got = _kernel(s)
    _assert_same(got, propagate_run_numpy(*_args(s), PARAMS))
    assert got[0] == m and got[2] == STOP_END


def test_follows_the_object_to_the_end_of_its_detections() -> None:
    s = _scene(30, 2, missing=0.0, clutter=2, others=False)
    keep = np.ones(len(s["det_xyxy"]), bool)
    truth = _object(np.arange(31))
    for k in range(21, 31):  # the object's detections end after entry 20
        rows = np.arange(s["det_start"][k], s["det_start"][k + 1])
        hit = [r for r in rows if np.abs(s["det_xyxy"][r] - truth[k]).max() < 5]
        keep[hit] = False
    s = _drop_detections(s, keep)
    n, stop, code, xyxy, *_ = _kernel(s)
    assert (n, stop, code) == (20, 21, STOP_EVIDENCE)
    assert np.abs(xyxy - truth[1:21] - [2, 0, 2, 0]).max() < 3  # followed in the seed's style


def _drop_detections(s: dict[str, np.ndarray], keep: np.ndarray) -> dict[str, np.ndarray]:
    counts = np.add.reduceat(keep.astype(np.int64), s["det_start"][:-1]) if len(keep) else []
    counts = np.where(np.diff(s["det_start"]) > 0, counts, 0)
    return {**s, "det_xyxy": s["det_xyxy"][keep], "det_score": s["det_score"][keep],
            "det_start": np.r_[0, np.cumsum(counts)].astype(np.int64)}


def test_coasted_entries_between_detections_lie_on_the_line() -> None:
    s = _scene(12, 3, missing=0.0, clutter=0)
    truth = _object(np.arange(13))
    s["det_xyxy"] = truth.astype(np.float32)  # exact detections
    keep = np.ones(13, bool)
    keep[[4, 5, 6]] = False
    s = _drop_detections(s, keep)
    n, _, code, xyxy, det, score, _ = _kernel(s)
    assert n == 12 and code == STOP_END
    assert det[[3, 4, 5]].tolist() == [-1, -1, -1] and (score[[3, 4, 5]] == 0).all()
    line = xyxy[2] + (xyxy[6] - xyxy[2]) * (np.arange(1, 4) / 4)[:, None]
    np.testing.assert_allclose(xyxy[3:6], line, atol=1e-3)


@pytest.mark.parametrize(("kind", "code"), [(OTHER_TRACK, STOP_CONFLICT_TRACK),
                                            (OTHER_KEYFRAME, STOP_CONFLICT_KEYFRAME)],
                         ids=["automatic box", "keyframe"])
def test_stops_at_another_tracks_evidence(kind: int, code: int) -> None:
    s = _scene(20, 4, missing=0.0, clutter=0, others=False)
    truth = _object(np.arange(21))
    starts = np.zeros(22, np.int64)
    starts[9:] = 1  # entry 8 holds another track's box on the object
    s.update(other_start=starts, other_xyxy=truth[8:9].astype(np.float32),
             other_kind=np.array([kind], np.uint8))
    n, stop, got, *_ = _kernel(s)
    assert (n, stop, got) == (7, 8, code)


def test_the_tracks_own_box_is_not_a_conflict_and_it_rejoins() -> None:
    s = _scene(30, 5, missing=0.0, clutter=0, others=False, own_from=10)
    truth = _object(np.arange(31))
    starts = np.zeros(32, np.int64)
    starts[11:] = 1  # the automatic box of another track on the object at entry 10 ...
    s.update(other_start=starts, other_xyxy=truth[10:11].astype(np.float32),
             other_kind=np.array([OTHER_TRACK], np.uint8))
    n, stop, code, *_ = _kernel(s)  # ... but the track's own box is there too
    assert code == STOP_REJOINED and (n, stop) == (9, 10)


def test_a_rejoin_across_a_hole_in_the_automatic_boxes_emits_the_line_to_it() -> None:
    # the object detected at every entry but 1..4, its own automatic boxes from entry 5 on (a
    # hole at 1..4): the run coasts through the hole, picks the object up and rejoins at 5
    s = _scene(12, 2, missing=0.0, clutter=0, others=False, own_from=5)
    keep = np.r_[0, np.arange(5, 13)]  # one detection per entry: entry k's is row k
    s["det_xyxy"], s["det_score"] = s["det_xyxy"][keep], s["det_score"][keep]
    s["det_start"] = np.r_[0, np.searchsorted(keep, np.arange(13), side="right")].astype(
        np.int64)
    got = _kernel(s)
    _assert_same(got, propagate_run_numpy(*_args(s), PARAMS))
    n, stop, code, xyxy = got[:4]
    assert code == STOP_REJOINED and stop == 5 and n == 4  # entries 1..4, the hole, emitted
    line = s["seed"] + (s["own"][5] - s["seed"]) * (np.arange(1, 5)[:, None] / 5)
    np.testing.assert_allclose(xyxy, line, atol=1e-3)
    # an automatic box inside the hole (entry 3): it is no hole, nothing is emitted there
    s["own"][3] = s["own"][5]
    got = _kernel(s)
    _assert_same(got, propagate_run_numpy(*_args(s), PARAMS))
    assert got[0] < 3


def test_stops_at_a_video_gap_and_a_scene_cut() -> None:
    s = _scene(20, 6, missing=0.0, clutter=0)
    s["gap"] = s["gap"].copy()
    s["gap"][12] = True
    assert _kernel(s)[:3] == (11, 12, STOP_GAP)
    # a cut: before entry 9 six still boxes, from it on six others, and a box where the
    # object was (another object of the new shot, in its place)
    rng = np.random.default_rng(0)
    truth = _object(np.arange(21))
    dets, start = [], [0]
    before = np.c_[np.linspace(200, 700, 6), rng.uniform(200, 240, 6)]
    after = np.c_[np.linspace(200, 700, 6), rng.uniform(600, 640, 6)]
    for k in range(21):
        dets.append(truth[k])
        for x, y in before if k < 9 else after:
            dets.append([x, y, x + 50, y + 90])
        start.append(len(dets))
    s.update(det_xyxy=np.array(dets, np.float32), det_score=np.full(len(dets), 0.9, np.float32),
             det_start=np.array(start, np.int64), other_start=np.zeros(22, np.int64),
             other_xyxy=np.zeros((0, 4), np.float32), other_kind=np.zeros(0, np.uint8))
    s["gap"] = np.zeros(21, bool)
    got = _kernel(s)
    assert got[:3] == (8, 9, STOP_CUT)
    _assert_same(got, propagate_run_numpy(*_args(s), PARAMS))


def test_weak_detections_are_used_unless_min_score_excludes_them() -> None:
    s = _scene(10, 7, missing=0.0, clutter=0, others=False)
    s["det_score"] = np.full(len(s["det_score"]), 0.06, np.float32)
    assert _kernel(s)[0] == 10
    strict = propagate_params(gate_iou=0.3, motion_gate=4.0, max_gap=4, rejoin_frames=3,
                              rejoin_iou=0.5, claim_iou=0.5, min_score=0.1)
    assert _kernel(s, strict)[:3] == (0, 1, STOP_EVIDENCE)


_SCRIPT = """
import sys
import numba
import numpy as np
from trackannot.kernels.propagate import propagate_run
if not numba.config.DISABLE_JIT or hasattr(propagate_run, "py_func"):
    sys.exit("JIT was not disabled")
d = dict(np.load(sys.argv[1]))
m = len(d["frame"]) - 1
out = [np.zeros((m, 4), np.float32), np.full(m, -1, np.int64), np.zeros(m, np.float32),
       np.zeros(m, np.float32)]
n, stop, code = propagate_run(d["seed"], d["frame"], d["gap"], d["det_start"], d["styled"],
                              d["det_xyxy"], d["det_score"], d["other_start"], d["other_xyxy"],
                              d["other_kind"], d["own"], d["params"], *out)
np.savez(sys.argv[2], head=np.array([n, stop, code]), xyxy=out[0][:n], det=out[1][:n])
"""


def test_kernel_runs_without_jit(tmp_path: Path) -> None:
    s = _scene(25, 8, own_from=15)
    got = run_without_jit(_SCRIPT, {**s, "params": PARAMS, "styled": _args(s)[4]}, tmp_path)
    want = _kernel(s)
    assert tuple(got["head"].tolist()) == want[:3]
    np.testing.assert_allclose(got["xyxy"], want[3], atol=1e-4)
    np.testing.assert_array_equal(got["det"], want[4])
