"""CLI: `trackannot track` over directories and manifests, damaged videos, summary and exit code.

The videos go through the bundled demo model (no weights to fetch) at a small input size.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from tests._video import write_clip
from tests.test_pipeline_resume import _frames, make_clips, store_content
from trackannot.cli.main import main
from trackannot.store import open_store

FAST = ("--quiet", "--set", "detect.imgsz=160")


def _invoke(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def _damaged(folder: Path) -> dict[str, Path]:
    """Damaged videos: zero-length, truncated (index first), garbage bytes mid-stream, and
    truncated before its index (cannot be opened at all)."""
    out = {"empty": folder / "empty.mp4"}
    out["empty"].write_bytes(b"")
    full = write_clip(folder / "full.tmp", _frames(40, seed=7), fps=10, container="mp4",
                      options={"movflags": "+faststart"})
    data = bytearray(full.read_bytes())
    out["cut"] = folder / "cut.mp4"
    out["cut"].write_bytes(bytes(data[: int(len(data) * 0.6)]))
    start = int(len(data) * 0.7)
    data[start:start + 2000] = np.random.default_rng(0).integers(0, 256, 2000, np.uint8).tobytes()
    out["garbage"] = folder / "garbage.mp4"
    out["garbage"].write_bytes(bytes(data))
    noindex = write_clip(folder / "noindex.mp4", _frames(20, seed=8), fps=10)  # index at the end
    noindex.write_bytes(noindex.read_bytes()[: noindex.stat().st_size // 2])
    out["noindex"] = noindex
    full.unlink()
    return out


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of two good clips, four damaged ones, a text file and a subfolder."""
    folder = tmp_path_factory.mktemp("mixed")
    make_clips(folder, (20, 25))
    _damaged(folder)
    (folder / "notes.txt").write_text("shot list\n")
    (folder / "thumb.dat").write_bytes(bytes(range(256)) * 4)
    make_clips(folder / "sub", (12,))
    return folder


@pytest.fixture(scope="module")
def mixed_run(mixed: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Result, Path]:
    store = tmp_path_factory.mktemp("out") / "o.zarr"
    return _invoke("track", mixed, "-o", store, *FAST), store


def test_mixed_directory_good_finish_damaged_keep_frames(mixed_run: tuple[Result, Path]) -> None:
    result, store = mixed_run
    assert result.exit_code == 1, result.output
    out = result.output
    assert "skipped" in out and "notes.txt: not a video" in out and "thumb.dat: not a video" in out
    assert "wrote" in out and "2 of 6 videos complete, 2 non-video files skipped" in out
    failed = out[out.index("4 failed:"):]
    for name, why in [("empty", r"empty \(0 bytes\)"), ("cut", "decoding failed after"),
                      ("garbage", "decoding failed after"),
                      ("noindex", "cut short before its index")]:
        assert re.search(rf"  {name}: .*{name}\.mp4: .*{why}", failed), (name, failed)
    opened = open_store(store)
    assert opened.videos == ["cut", "garbage", "v0", "v1"]  # nothing kept of unopenable files
    assert "empty: FAILED, no frame kept" in out and "noindex: FAILED, no frame kept" in out
    assert opened["v0"].complete and opened["v1"].complete
    assert opened["v0"].frames()[0].tolist() == list(range(20))
    for key in ("cut", "garbage"):
        video = opened[key]
        frames = len(video.frames()[0])
        assert video.status == "failed" and 0 < frames < 40, (key, frames)
        assert f"decoding failed after {frames} frames" in video.attrs["error"]
        assert f"{key}: FAILED after {frames} frames kept" in out


def test_rerun_skips_everything_and_still_fails(mixed: Path,
                                                mixed_run: tuple[Result, Path]) -> None:
    _, store = mixed_run
    before = store_content(store)
    result = _invoke("track", mixed, "-o", store, *FAST)
    assert result.exit_code == 1
    assert "v0: complete in an earlier run (20 frames), skipped" in result.output
    assert "cut: failed in an earlier run" in result.output and "4 failed:" in result.output
    assert store_content(store) == before


def test_all_good_exits_zero_and_recursive(mixed: Path, tmp_path: Path) -> None:
    good = tmp_path / "good"
    make_clips(good, (10,))
    result = _invoke("track", good, "-o", tmp_path / "a.zarr", *FAST)
    assert result.exit_code == 0, result.output
    assert "1 of 1 videos complete" in result.output
    result = _invoke("track", mixed / "sub", good, "--recursive", "-o", tmp_path / "b.zarr",
                     "--jobs", "2", *FAST)
    assert result.exit_code == 0, result.output
    assert open_store(tmp_path / "b.zarr").videos == ["v0", "v0_2"]


def test_manifest(mixed: Path, tmp_path: Path) -> None:
    lists = tmp_path / "lists"
    lists.mkdir()
    manifest = lists / "videos.txt"
    manifest.write_text(f"# two clips\n\n{mixed / 'v1.mp4'}\n  # indented comment\n"
                        f"{mixed / 'sub'}\n")
    local = lists / "here.mp4"
    local.write_bytes((mixed / "v0.mp4").read_bytes())
    manifest.write_text(manifest.read_text() + "here.mp4\n")  # relative to the manifest
    result = _invoke("track", "--manifest", manifest, "-o", tmp_path / "m.zarr", *FAST)
    assert result.exit_code == 0, result.output
    assert open_store(tmp_path / "m.zarr").videos == ["here", "v0", "v1"]


@pytest.mark.parametrize(
    ("text", "message"),
    [("a.mp4\n# fine\nmissing.mp4\n", r"videos\.txt line 3: 'missing\.mp4' does not exist"),
     ("# nothing\n\n", r"videos\.txt: lists no video"),
     (None, r"videos\.txt: manifest not found")],
    ids=["missing-entry", "empty", "no-manifest"],
)
def test_manifest_errors(tmp_path: Path, text: str | None, message: str) -> None:
    (tmp_path / "a.mp4").write_bytes(b"x")
    manifest = tmp_path / "videos.txt"
    if text is not None:
        manifest.write_text(text)
    result = _invoke("track", "--manifest", manifest, "-o", tmp_path / "o.zarr", *FAST)
    assert result.exit_code == 1
    assert re.search(message, result.output), result.output
    assert not (tmp_path / "o.zarr").exists()


def test_no_inputs_and_no_videos(tmp_path: Path) -> None:
    result = _invoke("track", "-o", tmp_path / "o.zarr")
    assert result.exit_code == 2 and "pass --manifest FILE" in result.output
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "readme.txt").write_text("no video here\n")
    result = _invoke("track", tmp_path / "docs", "-o", tmp_path / "o.zarr", *FAST)
    assert result.exit_code == 1
    assert "no video to track" in result.output and "1 non-video files skipped" in result.output
    assert not (tmp_path / "o.zarr").exists()
