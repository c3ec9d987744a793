"""The README's "Use it from Python" example runs as written, on the demo's store."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from trackannot.session import VideoSession

README = Path(__file__).resolve().parents[1] / "README.md"


def _example() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Use it from Python"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_backend_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from trackannot.demo.run import run_demo

    monkeypatch.setenv("YOLO_OFFLINE", "1")
    run_demo(tmp_path / "trackannot-demo", seconds=3.0, seed=7)
    before = VideoSession.open(tmp_path / "trackannot-demo" / "demo.zarr", mode="r")
    rows, revision = len(before.result.read_log()[0]), before.revision  # the demo's own review
    monkeypatch.chdir(tmp_path)
    code = _example()
    assert len(code.strip().splitlines()) <= 12  # a short example, as the README promises
    exec(compile(code, str(README), "exec"), {})
    assert (tmp_path / "demo.xml").is_file()
    session = VideoSession.open("trackannot-demo/demo.zarr")
    log, _ = session.result.read_log()
    assert len(log) == rows + 1 and session.revision == revision + 1  # the one edit, logged
    assert session.result.batches()[-1]["source"] == "my-tool task 7"
