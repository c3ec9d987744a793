"""Session benchmark: its synthetic store, edits and timed steps at a tiny size give the boxes of
a whole replay, and one tiny run writes every step and memory figure (no timing is checked)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from benchmarks.bench_session import (
    READ_FRAMES, build_video, check_read, main, make_store, one_round,
)
from trackannot.corrections import Op
from trackannot.session import VideoSession
from trackannot.store import open_store

FRAMES = 900


def test_the_synthetic_video_has_the_planned_tracks(tmp_path: Path) -> None:
    plan = build_video(tmp_path / "v.zarr", FRAMES, 6, seed=0)
    tracks = open_store(tmp_path / "v.zarr")["clip"].read()
    assert set(tracks.track_id.tolist()) == set(plan.track_id.tolist())
    for i in range(len(plan.track_id)):
        frames = tracks.frame[tracks.track_id == plan.track_id[i]]
        assert frames.tolist() == list(range(plan.first[i], plan.last[i] + 1))
    per_frame = np.bincount(tracks.frame, minlength=FRAMES)
    assert per_frame.max() <= 6 and per_frame.mean() > 4  # the slots are mostly busy


def test_reads_after_the_benchmark_edits_equal_the_whole_replay(tmp_path: Path) -> None:
    store = tmp_path / "v.zarr"
    planner, built = make_store(store, FRAMES, 6, corrections=60, batch=10, seed=1)
    session = VideoSession.open(store)
    assert session.revision == built["batches"] == 6
    log, _ = session.result.read_log()
    assert len(log) == 60
    assert {Op.ADJUST, Op.SPLIT, Op.MERGE, Op.CLASS, Op.CREATE} <= set(log.op.tolist())
    for start in (0, FRAMES // 3, FRAMES - READ_FRAMES):
        check_read(session, start, start + READ_FRAMES)
    steps = one_round(store, planner, FRAMES, np.random.default_rng(0))
    assert set(steps) == {"open", "cold_read", "warm_next", "warm_jump", "apply",
                          "read_after_apply", "warm_same"}
    assert VideoSession.open(store).revision == 7
    fresh = VideoSession.open(store)
    for start in (0, FRAMES // 2, FRAMES - READ_FRAMES):
        check_read(fresh, start, start + READ_FRAMES)
        check_read(session, start, start + READ_FRAMES)  # kept across the round's apply


def test_a_tiny_run_writes_every_step_and_memory(tmp_path: Path) -> None:
    out = tmp_path / "session.json"
    main(["--lengths", "600", "900", "--rounds", "1", "--corrections", "20", "--batch", "10",
          "--out", str(out)])
    doc = json.loads(out.read_text())
    assert doc["command"].startswith("python -m benchmarks.bench_session")
    for frames in ("600", "900"):
        got = doc["results"][frames]
        for step in ("open", "cold_read", "warm_next", "warm_jump", "apply", "read_after_apply",
                     "warm_same"):
            assert got[step]["median_ms"] > 0 and len(got["seconds"][step]) == 1
        for step in ("cold", "reads", "apply"):
            assert got["memory"][step]["tracemalloc_peak_mib"] > 0
