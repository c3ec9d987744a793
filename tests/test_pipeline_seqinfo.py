"""Pipeline without footage: a MOTChallenge seqinfo.ini as the input, detections from a file.

Frames and times come from the seqinfo.ini (`trackannot.seqinfo`, `decode_frames`); the run is
stored, resumed (also after a real SIGKILL of `trackannot track --seqinfo`) and exported like a
video's, and its stored tracks equal `track_detections` over the stored detections.
"""

from __future__ import annotations

import shutil
import signal
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from benchmarks.shipped import offline_mismatch
from tests import _kill
from tests.test_pipeline_resume import Crash, crash_after
from trackannot.cli.main import main
from trackannot.config import DecodeConfig, PipelineConfig, StoreConfig
from trackannot.decode import decode_frames, probe_input
from trackannot.detect.from_file import FileDetector, read_mot_file
from trackannot.errors import InputFormatError, StoreError
from trackannot.pipeline import failures, track_videos
from trackannot.seqinfo import SEQINFO_CODEC
from trackannot.session import VideoSession
from trackannot.store import open_store

SEQ = ("MOT15", "TUD-Campus")  # 71 frames, 640 x 480, 25 fps
SETTINGS = ["--batch-size", "5", "--set", "store.chunk_rows=32", "--set", "store.chunk_frames=8",
            "--quiet"]
KILLS = 3  # real SIGKILLs (a child process each)


@pytest.fixture(scope="module")
def seq(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of TUD-Campus's seqinfo.ini and SORT detections (so tests may change them)."""
    root = tmp_path_factory.mktemp("seq") / SEQ[1]
    (root / "det").mkdir(parents=True)
    src = data_dir.joinpath(*SEQ)
    shutil.copy(src / "seqinfo.ini", root / "seqinfo.ini")
    shutil.copy(src / "det" / "det_sort_frcnn.txt", root / "det" / "det.txt")
    return root


def _cfg() -> PipelineConfig:
    cfg = PipelineConfig()
    return replace(cfg, store=StoreConfig(chunk_rows=32, chunk_frames=8),
                   decode=replace(cfg.decode, batch_size=5))


def _run(seq: Path, store: Path, cfg: PipelineConfig | None = None) -> list:
    cfg = cfg or _cfg()
    detector = FileDetector(seq / "det" / "det.txt", cfg.detect)
    return track_videos([seq / "seqinfo.ini"], store, cfg, detector,
                        detector_info={"detections": str(seq / "det" / "det.txt")})


def _content(store: Path) -> dict:
    video = open_store(store)["TUD-Campus"]
    return {"frames": [a.tolist() for a in video.frames()],
            **{t: {c: v.tolist() for c, v in video.read(table=t).columns().items()}
               for t in ("detections", "tracks")}}


def _write_seqinfo(path: Path, **keys: object) -> Path:
    path.write_text("[Sequence]\n" + "".join(f"{k}={v}\n" for k, v in keys.items()))
    return path


# ------------------------------------------------------------------------ frames from seqinfo


@pytest.mark.parametrize(
    ("fps", "size", "asked", "index", "got_format"),
    [(None, (640, 480), "yuv420p", list(range(10)), "yuv420p"),
     (10.0, (640, 480), "rgb24", [0, 3, 5, 8], "rgb24"),  # 25 fps at 10: by timestamp
     (None, (1242, 375), "yuv420p", list(range(10)), "rgb24")],  # odd height: RGB, as decoding
    ids=["every-frame", "sampled", "odd-size-rgb"])
def test_frames_of_a_seqinfo(tmp_path: Path, fps: float | None, size: tuple[int, int],
                             asked: str, index: list[int], got_format: str) -> None:
    path = _write_seqinfo(tmp_path / "seqinfo.ini", name="x", frameRate=25, seqLength=10,
                          imWidth=size[0], imHeight=size[1])
    batches = list(decode_frames(path, DecodeConfig(fps=fps, batch_size=4, pixel_format=asked)))
    assert np.concatenate([b.index for b in batches]).tolist() == index
    np.testing.assert_allclose(np.concatenate([b.time_s for b in batches]),
                               np.array(index) / 25.0)
    assert [len(b) for b in batches][:-1] == [4] * (len(batches) - 1)
    for b in batches:
        assert (b.width, b.height, b.pixel_format) == (*size, got_format)
        assert not b.frames.any() and not b.frames.flags.writeable  # black, shared
        assert b.frames.strides == (0,) * b.frames.ndim  # no memory per frame
    info = probe_input(path)
    assert (info.width, info.height, info.fps, info.frame_count, info.codec) == (
        *size, 25.0, 10, SEQINFO_CODEC)


@pytest.mark.parametrize(
    ("keys", "match"),
    [({"frameRate": 25, "imWidth": 640, "imHeight": 480}, "seqLength should be an integer"),
     ({"seqLength": 5, "frameRate": 0, "imWidth": 640, "imHeight": 480},
      "frameRate should be a number > 0, got 0"),
     ({"seqLength": 5, "frameRate": 25, "imWidth": 640}, "imHeight should be an integer"),
     ({"seqLength": 2.5, "frameRate": 25, "imWidth": 640, "imHeight": 480},
      "seqLength should be an integer >= 1, got 2.5")],
    ids=["no-length", "zero-rate", "no-height", "fractional-length"])
def test_seqinfo_that_cannot_stand_for_footage(tmp_path: Path, keys: dict, match: str) -> None:
    path = _write_seqinfo(tmp_path / "seqinfo.ini", **keys)
    with pytest.raises(InputFormatError, match=f"seqinfo.ini: {match}"):
        probe_input(path)
    (tmp_path / "det.txt").write_text("")
    detector = FileDetector(tmp_path / "det.txt", _cfg().detect)
    with pytest.raises(InputFormatError, match=match):  # refused before anything is written
        track_videos([path], tmp_path / "s.zarr", _cfg(), detector)
    assert not (tmp_path / "s.zarr").exists()


# ----------------------------------------------------------------------------- the pipeline


def test_pipeline_without_footage(seq: Path, tmp_path: Path) -> None:
    store = tmp_path / "s.zarr"
    summaries = _run(seq, store)
    assert not failures(summaries) and summaries[0].key == "TUD-Campus"
    assert summaries[0].frames == 71
    video = open_store(store)["TUD-Campus"]
    assert video.attrs["video"]["codec"] == SEQINFO_CODEC
    assert (video.attrs["video"]["width"], video.attrs["video"]["height"]) == (640, 480)
    index, time_s = video.frames()
    assert index.tolist() == list(range(71)) and np.allclose(time_s, index / 25.0)
    dets = read_mot_file(seq / "det" / "det.txt")  # unchanged: no scaling, nothing clipped
    stored = video.read(table="detections")
    for name in ("frame", "xyxy", "score"):
        np.testing.assert_array_equal(getattr(stored, name), getattr(dets, name))
    assert offline_mismatch(video, _cfg().track) == []
    exported = VideoSession.open(store, mode="r").export("mot", tmp_path / "out.txt")
    assert len(read_mot_file(exported)) == len(video.read())
    # a rerun skips it; another seqinfo for the same group is refused
    assert _run(seq, store)[0].skipped
    other = tmp_path / "TUD-Campus"
    (other / "det").mkdir(parents=True)
    shutil.copy(seq / "det" / "det.txt", other / "det" / "det.txt")
    text = (seq / "seqinfo.ini").read_text().replace("seqLength=71", "seqLength=70")
    (other / "seqinfo.ini").write_text(text)
    with pytest.raises(StoreError, match="'TUD-Campus' was tracked from another file"):
        _run(other, store)


@pytest.mark.parametrize("after", [1, 3], ids=lambda k: f"after-{k}-commits")
def test_resume_without_footage(seq: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                after: int) -> None:
    _run(seq, tmp_path / "clean.zarr")
    commits = crash_after(monkeypatch, after)
    with pytest.raises(Crash):
        _run(seq, tmp_path / "s.zarr")
    monkeypatch.undo()
    summaries = _run(seq, tmp_path / "s.zarr")
    assert summaries[0].resumed_from == commits[-1] > 0
    assert _content(tmp_path / "s.zarr") == _content(tmp_path / "clean.zarr")
    assert offline_mismatch(open_store(tmp_path / "s.zarr")["TUD-Campus"], _cfg().track) == []


# ----------------------------------------------------------------------------------- the CLI


def _argv(seq: Path, store: Path) -> list[str]:
    return ["track", "--seqinfo", str(seq / "seqinfo.ini"), "--detections",
            str(seq / "det" / "det.txt"), "-o", str(store), *SETTINGS]


def test_cli_track_without_footage(seq: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, _argv(seq, tmp_path / "s.zarr"))
    assert result.exit_code == 0, result.output
    assert "TUD-Campus: 71 frames, 321 detections" in result.output
    assert offline_mismatch(open_store(tmp_path / "s.zarr")["TUD-Campus"], _cfg().track) == []


@pytest.mark.parametrize(
    ("extra", "match"),
    [(["clip.mp4"], "without VIDEOS"), (["--manifest", "m.txt"], "without VIDEOS or --manifest")],
    ids=["with-videos", "with-manifest"])
def test_cli_seqinfo_usage_errors(seq: Path, tmp_path: Path, extra: list[str],
                                  match: str) -> None:
    result = CliRunner().invoke(main, [*_argv(seq, tmp_path / "s.zarr"), *extra])
    assert result.exit_code == 2 and match in result.output
    result = CliRunner().invoke(main, ["track", "--seqinfo", str(seq / "seqinfo.ini"), "-o",
                                       str(tmp_path / "s.zarr")])
    assert result.exit_code == 2 and "it goes with --detections" in result.output
    result = CliRunner().invoke(main, ["track", "--seqinfo", str(tmp_path / "no.ini"),
                                       "--detections", str(seq / "det" / "det.txt"), "-o",
                                       str(tmp_path / "s.zarr")])
    assert result.exit_code == 1 and "seqinfo.ini not found" in result.output
    assert "--seqinfo" in CliRunner().invoke(main, ["track", "--help"]).output


def test_sigkill_without_footage_then_rerun(seq: Path, tmp_path: Path) -> None:
    """`trackannot track --seqinfo` killed at seeded random store operations, then run again:
    the store equals an uninterrupted run's and track_detections over its detections."""
    clean = tmp_path / "clean.zarr"
    total, _ = _kill.count_points({"argv": _argv(seq, clean), "store": str(clean)}, tmp_path)
    for k in _kill.kill_points(total, KILLS, seed=13):
        store = tmp_path / f"k{k}.zarr"
        spec = {"argv": _argv(seq, store), "store": str(store)}
        assert _kill.run({**spec, "kill_at": k}).returncode == -signal.SIGKILL
        again = _kill.run(spec)
        assert again.returncode == 0, again.stdout + again.stderr
        assert _content(store) == _content(clean), f"killed at operation {k}"
        assert offline_mismatch(open_store(store)["TUD-Campus"], _cfg().track) == []
