"""`trackannot check`: verified reads, damage found and named, repairs that lose no human work."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import zarr
from click.testing import CliRunner

from tests.test_annotate import digest, make_store, write_lines
from tests.test_pipeline_resume import ColourDetector, _cfg, make_clips, store_content
from trackannot.annotate import apply_corrections, load_state
from trackannot.check import check_store
from trackannot.cli.main import main
from trackannot.errors import CorruptStoreError
from trackannot.pipeline import failures, track_videos
from trackannot.results import open_store

EDITS = [{"op": "adjust", "track": 1, "frame": 10, "box": [0, 0, 10, 10]},
         {"op": "accept", "track": 2, "frame": 12}]


def _chunk(store: Path, array: str, k: int = 0) -> Path:
    """The file of chunk k of a 1-D or 2-D column array."""
    group = zarr.open_group(str(store), mode="r")
    arr = group[array]
    key = arr.metadata.encode_chunk_key((k,) + (0,) * (arr.ndim - 1))
    return store / array / key


@pytest.fixture
def corrected(tmp_path: Path) -> Path:
    store = make_store(tmp_path / "out.zarr")
    apply_corrections(store, write_lines(tmp_path / "fix.jsonl", EDITS), author="ana")
    return store


def test_a_sound_store_is_consistent(corrected: Path) -> None:
    report = check_store(corrected)
    assert report.consistent and not report.findings and report.videos == ["clip"]
    result = CliRunner().invoke(main, ["check", str(corrected)])
    assert result.exit_code == 0 and "store consistent" in result.output, result.output


@pytest.mark.parametrize("damage", ["delete", "flip", "truncate"])
def test_a_damaged_track_chunk_is_an_error_not_zeros(corrected: Path, damage: str) -> None:
    chunk = _chunk(corrected, "clip/tracks/xyxy", 1)
    if damage == "delete":
        chunk.unlink()
    elif damage == "flip":
        data = bytearray(chunk.read_bytes())
        data[len(data) // 2] ^= 0x40
        chunk.write_bytes(bytes(data))
    else:
        chunk.write_bytes(chunk.read_bytes()[:5])
    video = open_store(corrected)["clip"]
    with pytest.raises(CorruptStoreError, match=r"clip/tracks/xyxy: chunk 1 \(rows 16\.\.31\)"):
        video.read()
    assert len(video.read(0, 5)) == 10  # rows of intact chunks still read
    result = CliRunner().invoke(main, ["export", str(corrected), "--format", "mot", "-o",
                                       str(corrected.parent / "mot")])
    assert result.exit_code == 1 and "chunk 1 (rows 16..31)" in result.output
    assert "Traceback" not in result.output
    report = check_store(corrected)
    assert not report.consistent
    assert any("clip/tracks/xyxy: chunk 1" in f.message for f in report.remaining)
    result = CliRunner().invoke(main, ["check", str(corrected)])
    assert result.exit_code == 1 and "DAMAGE: clip/tracks/xyxy: chunk 1" in result.output


def test_a_damaged_log_chunk_is_reported_and_never_repaired(corrected: Path) -> None:
    chunk = _chunk(corrected, "clip/corrections/xyxy")
    chunk.unlink()
    before = digest(corrected)
    with pytest.raises(CorruptStoreError, match="clip/corrections/xyxy: chunk 0"):
        open_store(corrected)["clip"].read_log()
    report = check_store(corrected, repair=True)
    assert not report.consistent and not report.repaired
    assert digest(corrected) == {k: v for k, v in before.items()}  # nothing touched
    result = CliRunner().invoke(main, ["check", str(corrected), "--repair"])
    assert result.exit_code == 1 and "not repairable without losing human work" in result.output


def test_a_changed_log_row_breaks_the_digest(corrected: Path) -> None:
    group = zarr.open_group(str(corrected), mode="a")
    arr = group["clip/corrections/xyxy"].with_config({"write_empty_chunks": True})
    arr[0] = [1, 1, 11, 11]  # a rewrite with a valid checksum: only the chain shows it
    report = check_store(corrected)
    assert any("do not match its digest" in f.message for f in report.remaining)


def test_leftovers_are_reported_and_repaired(corrected: Path, tmp_path: Path) -> None:
    group = zarr.open_group(str(corrected), mode="a")
    arr = group["clip/tracks/frame"].with_config({"write_empty_chunks": True})
    n = arr.shape[0]
    arr.resize((n + 3,))
    arr[n:] = 999  # rows past the commit point
    (corrected / "clip" / f"zarr.json.{'ab' * 16}.partial").write_bytes(b"{")
    group["clip"].require_group("review").create_group("q9999-lost")  # never listed
    report = check_store(corrected)
    assert report.consistent and {f.kind for f in report.findings} == {"leftover"}
    assert len(report.findings) == 3
    repaired = check_store(corrected, repair=True)
    assert len(repaired.repaired) == 3 and repaired.consistent
    assert not check_store(corrected).findings
    assert len(open_store(corrected)["clip"].read()) == n


def test_damaged_results_roll_back_and_a_rerun_restores_them(tmp_path: Path) -> None:
    clips = make_clips(tmp_path / "clips", lengths=(31,))
    clean_store = tmp_path / "clean.zarr"
    track_videos(clips, clean_store, _cfg(), ColourDetector())
    clean = store_content(clean_store)
    store = tmp_path / "s.zarr"
    track_videos(clips, store, _cfg(), ColourDetector())
    edits = write_lines(tmp_path / "fix.jsonl", [{"op": "accept", "track": 1, "frame": 5}])
    apply_corrections(store, edits, author="ana")
    log_before = open_store(store)["v0"].read_log()[1]
    _chunk(store, "v0/detections/score", 4).unlink()  # rows 32..39 of detections
    report = check_store(store, repair=True)
    assert report.consistent and report.damaged
    assert any("rolled the automatic results back" in line for line in report.repaired)
    video = open_store(store)["v0"]
    assert video.status == "running" and 0 < video.committed()[0] < 31
    assert not failures(track_videos(clips, store, _cfg(), ColourDetector()))
    again = store_content(store)
    for content in (again, clean):
        for key in ("committed",):
            content["v0"]["attrs"].pop(key, None)  # type: ignore[index]
        content["v0"]["attrs"].pop("corrections", None)  # type: ignore[index]
        content["v0"]["attrs"].pop("rolled_back", None)  # type: ignore[index]
    assert again == clean
    log_after = open_store(store)["v0"].read_log()[1]
    assert all(np.array_equal(log_before[k], log_after[k], equal_nan=True) for k in log_before)
    assert check_store(store).consistent and not check_store(store).findings
    load_state(open_store(store)["v0"])  # the log replays over the recomputed tracks


def test_damaged_metadata_is_named_not_a_traceback(corrected: Path) -> None:
    meta = corrected / "clip" / "tracks" / "xyxy" / "zarr.json"
    meta.write_text("{not json")
    result = CliRunner().invoke(main, ["export", str(corrected), "--format", "mot", "-o",
                                       str(corrected.parent / "mot")])
    assert result.exit_code == 1 and "clip: the metadata of 'tracks/xyxy'" in result.output
    result = CliRunner().invoke(main, ["check", str(corrected)])
    assert result.exit_code == 1 and "clip/tracks/xyxy: metadata does not load" in result.output
    group_meta = corrected / "clip" / "zarr.json"
    group_meta.write_text(json.dumps({"zarr_format": 3}))
    result = CliRunner().invoke(main, ["check", str(corrected)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    (corrected / "zarr.json").write_text("][")
    result = CliRunner().invoke(main, ["check", str(corrected)])
    assert result.exit_code == 1 and "root metadata does not load" in result.output


def test_a_first_correction_killed_while_making_the_log_is_repaired(tmp_path: Path) -> None:
    store = make_store(tmp_path / "out.zarr")
    group = zarr.open_group(str(store), mode="a")
    for name in ("xyxy", "batch", "prev_xyxy"):
        del group[f"clip/corrections/{name}"]  # killed as the log's arrays were being made
    report = check_store(store)
    assert report.consistent and any("log arrays incomplete" in f.message for f in report.findings)
    apply_corrections(store, write_lines(tmp_path / "fix.jsonl", EDITS), author="ana")
    assert open_store(store)["clip"].log_info().rows == 2
    assert not check_store(store).findings
