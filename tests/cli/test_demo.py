"""`trackannot demo`: the README's first command runs the real pipeline offline and scores it."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from trackannot.cli.main import main
from trackannot.store import open_store


def test_demo_runs_offline_and_scores(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = CliRunner().invoke(main, ["demo", "-o", str(out), "--seconds", "4", "--quiet"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    hota, mota, idf1 = map(float, re.search(
        r"HOTA ([\d.]+)\s+MOTA ([-\d.]+)\s+IDF1 ([\d.]+)", result.output).groups())
    # the shipped detector finds the synthetic shapes; the tracker links them
    assert hota > 40.0 and mota > 50.0 and idf1 > 40.0, result.output
    video = open_store(out / "demo.zarr")["demo"]
    assert video.complete and len(video.read()) > 100
    assert (out / "demo.mp4").stat().st_size > 0
    assert (out / "demo_tracks.txt").read_text().count("\n") == len(video.read())
    # re-running replaces the previous demo output
    again = CliRunner().invoke(main, ["demo", "-o", str(out), "--seconds", "4", "--quiet"],
                               catch_exceptions=False)
    assert again.exit_code == 0, again.output
