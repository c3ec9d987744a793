"""CLI: `trackannot track/export/eval` end to end on a small clip, and its error messages."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tests._video import write_clip
from trackannot.cli.main import main
from tests._store import store_digest
from trackannot.store import open_store

N_FRAMES = 30


def _truth_rows(skip_frames: frozenset[int] = frozenset()) -> list[tuple]:
    """Two objects moving right and left; rows (frame 1-based, id, left, top, w, h)."""
    rows = []
    for f in range(1, N_FRAMES + 1):
        if f in skip_frames:
            continue
        rows.append((f, 1, 4 + 2 * f, 10, 16, 20))
        rows.append((f, 2, 150 - 2 * f, 30, 18, 24))
    return rows


def _write_mot(path: Path, rows: list[tuple], det: bool) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        f"{f},{-1 if det else i},{x},{y},{w},{h},{0.9 if det else 1},-1,-1,-1"
        for f, i, x, y, w, h in rows
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    frames = np.zeros((N_FRAMES, 96, 192, 3), np.uint8)
    for f, i, x, y, w, h in _truth_rows():
        frames[f - 1, y:y + h, x:x + w] = (200, 60 * i, 30)
    return write_clip(tmp_path_factory.mktemp("clip") / "clip.mp4", frames, fps=10)


@pytest.fixture()
def seq(tmp_path: Path) -> Path:
    """A MOTChallenge-like folder: det/det.txt (with two empty frames) and gt/gt.txt."""
    _write_mot(tmp_path / "seq" / "det" / "det.txt", _truth_rows(frozenset({12, 13})), det=True)
    _write_mot(tmp_path / "seq" / "gt" / "gt.txt", _truth_rows(), det=False)
    return tmp_path / "seq"


def _invoke(*args: str | Path) -> object:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_track_export_eval(clip: Path, seq: Path, tmp_path: Path) -> None:
    store = tmp_path / "out.zarr"
    result = _invoke("track", clip, "-o", store, "--detections", seq / "det" / "det.txt", "--quiet")
    assert result.exit_code == 0, result.output
    assert f"clip: {N_FRAMES} frames, 56 detections, 2 tracks" in result.output
    assert not (tmp_path / "out.zarr.partial").exists()

    video = open_store(store)["clip"]
    assert video.complete
    assert video.attrs["video"]["width"] == 192
    assert video.attrs["config"]["track"]["min_hits"] >= 1
    tracks = video.read()
    assert sorted(set(tracks.track_id.tolist())) == [1, 2]
    assert len(video.read(12, 14, table="detections")) == 2  # frames 12/13 (1-based 13/14) empty

    result = _invoke("export", store, "--format", "mot", "-o", tmp_path / "mot")
    assert result.exit_code == 0, result.output
    lines = (tmp_path / "mot" / "clip.txt").read_text().splitlines()
    assert len(lines) == len(tracks)
    first = lines[0].split(",")
    assert int(first[0]) == int(tracks.frame[0]) + 1 and len(first) == 10

    result = _invoke("eval", store, "--gt", seq / "gt" / "gt.txt")
    assert result.exit_code == 0, result.output
    hota, deta, assa, mota, idf1 = map(float, result.output.strip().splitlines()[-1].split())
    # two ids, no switch: misses are only the frames before each track is confirmed and the gap
    assert 80.0 < mota < 100.0 and 80.0 < idf1 < 100.0 and 80.0 < hota < 100.0, result.output


def test_existing_store_continued_refused_then_overwritten(clip: Path, seq: Path,
                                                          tmp_path: Path) -> None:
    """A rerun on a finished store skips its video; other settings are refused; --overwrite."""
    store = tmp_path / "out.zarr"
    det = seq / "det" / "det.txt"
    assert _invoke("track", clip, "-o", store, "--detections", det, "--quiet").exit_code == 0
    before = store_digest(store)
    result = _invoke("track", clip, "-o", store, "--detections", det, "--quiet")
    assert result.exit_code == 0, result.output
    assert f"clip: complete in an earlier run ({N_FRAMES} frames), skipped" in result.output
    result = _invoke("track", clip, "-o", store, "--detections", det, "--quiet",
                     "--set", "track.min_hits=1")
    assert result.exit_code == 1
    assert "another configuration (track.min_hits: stored 4, now 1)" in result.output
    assert "pass --overwrite" in result.output
    after = store_digest(store)
    assert after == before
    result = _invoke("track", clip, "-o", store, "--detections", det, "--quiet", "--overwrite",
                     "--set", "track.min_hits=1")
    assert result.exit_code == 0, result.output
    assert open_store(store)["clip"].attrs["config"]["track"]["min_hits"] == 1


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--set", "track.min_iuo=0.3"], 2, r"unknown key 'track\.min_iuo'; allowed keys under track"),
        (["--set", "track.min_iou=3"], 2, r"track\.min_iou should be a number in \[0, 1\]"),
        (["--fps", "-1"], 2, r"decode\.fps should be null or a number > 0"),
    ],
    ids=["unknown-key", "out-of-range", "negative-fps"],
)
def test_bad_settings(clip: Path, seq: Path, tmp_path: Path, args: list[str], code: int,
                      message: str) -> None:
    result = _invoke("track", clip, "-o", tmp_path / "o.zarr", "--detections",
                     seq / "det" / "det.txt", *args)
    assert result.exit_code == code
    assert re.search(message, result.output), result.output
    assert not (tmp_path / "o.zarr").exists() and not (tmp_path / "o.zarr.partial").exists()


def test_malformed_detections_leave_nothing(clip: Path, tmp_path: Path) -> None:
    det = tmp_path / "det.txt"
    det.write_text("1,-1,1,2,3,4,0.9,-1,-1,-1\n2,-1,1,2,3,4,0.9,-1,-1,-1\n3,-1,1,2\n")
    result = _invoke("track", clip, "-o", tmp_path / "o.zarr", "--detections", det, "--quiet")
    assert result.exit_code == 1
    assert "det.txt line 3" in result.output
    assert not (tmp_path / "o.zarr").exists() and not (tmp_path / "o.zarr.partial").exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "not found"), (b"", "empty"),
     (b"this is not a video\n" * 50, "not a video")],
    ids=["missing", "empty", "not-video"],
)
def test_bad_video(seq: Path, tmp_path: Path, content: bytes | None, message: str) -> None:
    video = tmp_path / "bad.mp4"
    if content is not None:
        video.write_bytes(content)
    result = _invoke("track", video, "-o", tmp_path / "o.zarr", "--detections",
                     seq / "det" / "det.txt", "--quiet")
    assert result.exit_code == 1
    assert "bad.mp4" in result.output and message in result.output.lower(), result.output
    assert not (tmp_path / "o.zarr").exists() and not (tmp_path / "o.zarr.partial").exists()


def test_detections_need_one_video(clip: Path, seq: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.mp4"  # the same file named twice is one video
    other.write_bytes(clip.read_bytes())
    result = _invoke("track", clip, other, "-o", tmp_path / "o.zarr", "--detections",
                     seq / "det" / "det.txt")
    assert result.exit_code == 2 and "exactly one video, got 2" in result.output
    assert not (tmp_path / "o.zarr").exists()


def test_offline_weights_name_fails_with_fix(clip: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YOLO_OFFLINE", "1")
    result = _invoke("track", clip, "-o", tmp_path / "o.zarr", "--weights", "yolo11n.pt", "--quiet")
    assert result.exit_code == 1
    assert "--weights /path/to/yolo11n.pt" in result.output
    assert not (tmp_path / "o.zarr").exists()


def test_help_explains() -> None:
    result = _invoke("track", "--help")
    assert result.exit_code == 0
    for option in ("--weights", "--detections", "--fps", "--batch-size", "--device", "--config",
                   "--set", "--overwrite"):
        assert option in result.output


def test_detection_boxes_past_the_frame_are_clipped_and_counted(clip: Path, tmp_path: Path) -> None:
    """The clip is 192x96: one box reaches past the right edge, one lies wholly outside."""
    rows = _truth_rows()
    rows.append((3, -1, 180, 10, 30, 20))  # x 180..210 on a 192-wide frame: clipped
    rows.append((4, -1, 300, 10, 30, 20))  # nothing inside the frame: dropped
    det = _write_mot(tmp_path / "seq" / "det" / "det.txt", sorted(rows), det=True)
    store = tmp_path / "out.zarr"
    result = _invoke("track", clip, "-o", store, "--detections", det, "--quiet")
    assert result.exit_code == 0, result.output
    assert "det.txt: 1 boxes clipped to the frame, 1 dropped (no area inside it)" in result.output
    dets = open_store(store)["clip"].read(table="detections")
    assert dets.xyxy[:, 2].max() <= 192 and len(dets) == 2 * N_FRAMES + 1
