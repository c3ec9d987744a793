"""Operating-system errors while writing a store: a message and exit 1, never a traceback, and the
store keeps what it had committed."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests._store import store_digest, watch_writes
from tests.test_annotate import make_store, write_lines
from trackannot.check import check_store
from trackannot.cli.main import main
from trackannot.store import open_store


@pytest.mark.parametrize("code, hint", [(errno.ENOSPC, "the disk is full"),
                                        (errno.EROFS, "read-only"),
                                        (errno.EACCES, "permission denied")],
                         ids=["full-disk", "read-only", "no-permission"])
def test_a_correction_that_cannot_be_written_changes_nothing(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch,
                                                            code: int, hint: str) -> None:
    store = make_store(tmp_path / "out.zarr")
    fix = write_lines(tmp_path / "fix.jsonl",
                      [{"op": "adjust", "track": 1, "frame": 10, "box": [0, 0, 10, 10]}])
    before = store_digest(store)
    watch_writes(monkeypatch, fail_after=0, code=code)
    result = CliRunner().invoke(main, ["correct", str(store), str(fix), "--author", "ana"])
    assert result.exit_code == 1, result.output
    assert hint in result.output and os.strerror(code) in result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)
    monkeypatch.undo()
    assert store_digest(store) == before
    assert CliRunner().invoke(main, ["correct", str(store), str(fix)]).exit_code == 0
    assert open_store(store)["clip"].log_info().rows == 1 and check_store(store).consistent


def test_tracking_onto_a_disk_that_fills_up_resumes_when_rerun(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch
                                                               ) -> None:
    from tests.test_pipeline_resume import make_clips

    clips = make_clips(tmp_path / "clips", lengths=(31,))
    det = tmp_path / "det.txt"  # one box per frame, enough to write chunks
    det.write_text("".join(f"{f},-1,{10 + f},10,16,16,0.9,-1,-1,-1\n" for f in range(1, 32)))
    def args(store: Path) -> list[str]:
        return ["track", str(clips[0]), "-o", str(store), "--detections", str(det), "--quiet",
                "--set", "store.chunk_rows=4", "--set", "store.chunk_frames=4"]

    writes = watch_writes(monkeypatch)
    assert CliRunner().invoke(main, args(tmp_path / "count.zarr")).exit_code == 0
    monkeypatch.undo()
    store = tmp_path / "s.zarr"
    watch_writes(monkeypatch, fail_after=writes[0] * 3 // 4)
    result = CliRunner().invoke(main, args(store))
    assert result.exit_code == 1 and "the disk is full" in result.output, result.output
    monkeypatch.undo()
    video = open_store(store)["v0"]
    assert video.status == "running" and check_store(store).consistent
    result = CliRunner().invoke(main, args(store))
    assert result.exit_code == 0 and "resumed after frame" in result.output, result.output
    assert open_store(store)["v0"].complete


def test_a_video_named_dot_dot_mp4_is_tracked_as_video(tmp_path: Path) -> None:
    from tests.test_pipeline_resume import make_clips

    clip = make_clips(tmp_path / "clips", lengths=(9,))[0]
    named = tmp_path / "..mp4"
    named.write_bytes(clip.read_bytes())
    det = tmp_path / "det.txt"
    det.write_text("".join(f"{f},-1,10,10,16,16,0.9,-1,-1,-1\n" for f in range(1, 10)))
    store = tmp_path / "s.zarr"
    result = CliRunner().invoke(main, ["track", str(named), "-o", str(store), "--detections",
                                       str(det), "--quiet"])
    assert result.exit_code == 0, result.output
    assert open_store(store).videos == ["video"] and check_store(store).consistent
