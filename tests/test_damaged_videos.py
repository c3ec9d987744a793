"""End to end: `trackannot track` over a folder of damaged and non-video files (tests/_corpus.py).

Every file is handled as documented (trackannot.decode, .probe, .inputs): healthy, rotated and
variable-frame-rate videos complete; cut or garbled videos fail with the frames before the damage
kept, in every container; files that hold no video are skipped and listed, whatever their suffix;
nothing prints a traceback. The bundled demo model runs offline (YOLO_OFFLINE=1, conftest.py) at a
small input size; frames are sampled at 10 fps (every third of the 30 fps clips), which the
damage rule does not see: it compares the frames decoded.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from tests._corpus import CorpusFile, make_damaged_corpus
from trackannot.cli.main import main
from trackannot.config import DecodeConfig
from trackannot.decode import decode_frames
from trackannot.store import open_store

FAST = ("--quiet", "--fps", "10", "--set", "detect.imgsz=64")


def _invoke(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[CorpusFile]]:
    folder = tmp_path_factory.mktemp("corpus")
    return folder, make_damaged_corpus(folder)


@pytest.fixture(scope="module")
def run(corpus: tuple[Path, list[CorpusFile]],
        tmp_path_factory: pytest.TempPathFactory) -> tuple[Result, Path]:
    store = tmp_path_factory.mktemp("out") / "corpus.zarr"
    return _invoke("track", corpus[0], "-o", store, *FAST), store


def _key(f: CorpusFile) -> str:
    return Path(f.name).stem


def _kept_if_whole(path: Path) -> int:
    """Frames a complete run at 10 fps keeps of `path` (the decode stage's own count)."""
    return sum(len(b) for b in decode_frames(path, DecodeConfig(fps=10)))


def test_exit_code_summary_and_no_traceback(corpus: tuple[Path, list[CorpusFile]],
                                            run: tuple[Result, Path]) -> None:
    folder, files = corpus
    result, store = run
    out = result.output
    assert result.exit_code == 1, out
    assert isinstance(result.exception, SystemExit)  # a clean exit, not an uncaught error
    assert "Traceback" not in out
    tracked = [f for f in files if f.expect != "skipped"]
    complete = [f for f in files if f.expect == "complete"]
    failed = [f for f in files if f.expect == "failed"]
    skipped = [f for f in files if f.expect == "skipped"]
    assert (f"wrote {store}: {len(complete)} of {len(tracked)} videos complete, "
            f"{len(skipped)} non-video files skipped") in out
    for f in skipped:  # listed with the reason, whatever the suffix
        assert re.search(rf"^skipped {re.escape(str(folder / f.name))}: "
                         r"(not a video|no video stream|empty file)", out, re.M), f.name
    report = out[out.index(f"{len(failed)} failed:"):]
    for f in failed:
        assert re.search(rf"^  {re.escape(_key(f))}: {re.escape(str(folder / f.name))}: ",
                         report, re.M), f.name
    for f in complete:
        assert re.search(rf"^{re.escape(_key(f))}: \d+ frames, ", out, re.M), f.name
        assert f"  {_key(f)}: " not in report


def test_each_file_is_handled_as_documented(corpus: tuple[Path, list[CorpusFile]],
                                            run: tuple[Result, Path]) -> None:
    folder, files = corpus
    result, store = run
    opened = open_store(store)
    for f in files:
        key = _key(f)
        if f.expect == "skipped" or f.frames == "none":  # nothing to keep: no group
            assert key not in opened.videos, f.name
            if f.expect == "failed":
                assert f"{key}: FAILED, no frame kept" in result.output, f.name
            continue
        video = opened[key]
        index, time_s = video.frames()
        assert video.status == f.expect, (f.name, video.status)
        if f.expect == "complete":
            assert len(index) == _kept_if_whole(folder / f.name), f.name
            continue
        # failed: the frames decoded before the damage are kept, and the error says where
        assert f"{key}: FAILED after {len(index)} frames kept" in result.output, f.name
        assert 0 < len(index) < -(-f.written // 3), f.name  # fewer than a whole run keeps
        # kept at the 10 fps ticks; a frame the decoder dropped at the damage shifts the index
        assert index[0] == 0 and np.all(np.diff(index) > 0), f.name
        np.testing.assert_allclose(time_s, np.arange(len(index)) / 10, atol=1 / 30 + 1e-3)
        assert re.search(r"decoding failed after \d+ frames \(\d+ kept and yielded\)",
                         video.attrs["error"]), f.name


@pytest.mark.parametrize("container", ["MP4", "MOV", "AVI", "MKV", "WEBM"])
def test_a_cut_is_failed_in_every_container(corpus: tuple[Path, list[CorpusFile]],
                                            run: tuple[Result, Path], container: str) -> None:
    _, files = corpus
    cuts = [f for f in files if f.container == container and f.case.startswith("cut at")]
    assert len(cuts) == 3
    opened = open_store(run[1])
    for f in cuts:
        status = opened[_key(f)].status if _key(f) in opened.videos else "failed (no group)"
        assert status.startswith("failed"), (f.name, status)


def test_rotated_videos_record_their_rotation(corpus: tuple[Path, list[CorpusFile]],
                                              run: tuple[Result, Path]) -> None:
    _, files = corpus
    opened = open_store(run[1])
    rotated = [f for f in files if f.rotation]
    assert {f.rotation for f in rotated} == {90, 270}
    for f in rotated:
        video = opened[_key(f)].attrs["video"]
        # frames were turned upright: the display size, 48 wide and 64 high
        assert (video["rotation"], video["width"], video["height"]) == (f.rotation, 48, 64)
    assert opened["mp4-ok"].attrs["video"]["rotation"] == 0


def test_a_huge_batch_size_is_a_usage_error(corpus: tuple[Path, list[CorpusFile]],
                                            tmp_path: Path) -> None:
    folder, _ = corpus
    result = _invoke("track", folder / "mp4-ok.mp4", "-o", tmp_path / "o.zarr",
                     "--batch-size", "100000000")
    assert result.exit_code == 2, result.output
    assert "decode.batch_size should be an int from 1 to 1024" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "o.zarr").exists()
