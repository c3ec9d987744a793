"""The GPU benchmark script runs end to end (here on the CPU, with tiny settings)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests._video import patch_frames, write_clip

REPO = Path(__file__).resolve().parents[2]


def test_gpu_script_runs_both_steps_and_keeps_their_results(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "video").mkdir(parents=True)
    write_clip(data / "video" / "tiny.mp4", patch_frames(6, 48, 64), fps=10)
    out, work = tmp_path / "out", tmp_path / "work"
    common = f"--clips {work / 'clips'} --weights {work / 'random.pt'} --imgsz 64"
    env = {**os.environ, "OUT": str(out), "BENCH_DEVICE": "cpu", "BENCH_DATA": str(data),
           "BENCH_INSTALL": "0", "BENCH_TESTS": "tests/test_frames.py",
           "BENCH_STAGE_ARGS": f"{common} --sizes 96x64 --seconds 0.8 --batch-sizes 2 "
                               "--detect-frames 2 --detect-seconds 0.01 --ultra-frames 0 "
                               "--min-seconds 0.01 --many-jobs 2 --repeats 1",
           "BENCH_RSS_ARGS": f"{common} --rss-seconds 0.4 0.8 --rss-size 64x48"}
    run = subprocess.run(["bash", str(REPO / "benchmarks" / "gpu" / "run.sh")], env=env,
                         capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "env.txt", "gpu_tests.log", "pipeline_gpu.json", "pipeline_gpu_rss.json", "rss.log",
        "stages.log"]
    assert " passed" in (out / "gpu_tests.log").read_text()
    stages = json.loads((out / "pipeline_gpu.json").read_text())
    assert stages["device"] == "cpu" and stages["results"]["rss"] == []
    assert {r["stage"] for r in stages["results"]["stages"]} >= {"decode", "detect", "e2e",
                                                                 "e2e x2"}
    rss = json.loads((out / "pipeline_gpu_rss.json").read_text())["results"]
    assert rss["rss"][0]["frames"] == 4 and 6 < rss["rss"][1]["frames"] <= 8  # 0.4 s, 0.8 s
    assert rss["stages"] == []
    assert "torch" in (out / "env.txt").read_text()


def test_gpu_script_reports_a_failed_step(tmp_path: Path) -> None:
    env = {**os.environ, "OUT": str(tmp_path / "out"), "BENCH_DEVICE": "cpu",
           "BENCH_DATA": str(tmp_path / "missing"), "BENCH_INSTALL": "0", "BENCH_TESTS": "",
           "BENCH_STAGE_ARGS": "--repeats 1", "BENCH_RSS_ARGS": "--rss-seconds 1"}
    run = subprocess.run(["bash", str(REPO / "benchmarks" / "gpu" / "run.sh")], env=env,
                         capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode != 0
    assert "no .avi/.mp4 files" in (tmp_path / "out" / "stages.log").read_text()
