"""Pipeline: per-video commits, resume after a crash equals an uninterrupted run, damaged videos.

Crashes are simulated by raising inside the writer after K commits, and for real by SIGKILL of a
child process at seeded random points (the K-th file the store writes). Every finished store is
also compared with `track_detections` over its stored detections (what is measured is what is
stored: `benchmarks.shipped.offline_mismatch`).
"""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import zarr
import zarr.storage

from benchmarks.shipped import offline_mismatch
from tests._store import watch_writes
from tests._video import write_clip
from trackannot.boxes import Boxes
from trackannot.config import PipelineConfig, StoreConfig
from trackannot.decode import FrameBatch
from trackannot.detect import Detector
from trackannot.detect.pixels import batch_rgb
from trackannot.errors import StoreError, VideoDecodeError
from trackannot.pipeline import failures, track_video, track_videos
from trackannot.provenance import RUN_ONLY_ATTRS
from trackannot.store import ROOT_TEMP_GRACE_S, StoreWriter, open_root, open_store
from trackannot.track import Tracker

REPO = Path(__file__).resolve().parents[1]
HEIGHT, WIDTH = 64, 128
# colour channel of each drawn object (red, green, blue); the detector finds each by its channel
CHANNELS = (0, 1, 2)
SMALL = StoreConfig(chunk_rows=8, chunk_frames=4)  # a commit every few frames
# real SIGKILLs per test run (each costs a child process, ~3 s); the 10:
#   TRACKANNOT_SIGKILL_POINTS=10 python -m pytest tests/test_pipeline_resume.py -k sigkill
SIGKILL_POINTS = int(os.environ.get("TRACKANNOT_SIGKILL_POINTS", "3"))


def _cfg(batch_size: int = 3, min_hits: int = 2) -> PipelineConfig:
    cfg = PipelineConfig()
    return replace(cfg, store=SMALL, decode=replace(cfg.decode, batch_size=batch_size),
                   track=replace(cfg.track, min_hits=min_hits, max_lost_frames=3))


def assert_tracks_as_measured(store: Path, cfg: PipelineConfig) -> None:
    """Every video's stored tracks equal track_detections over its stored detections."""
    for video in open_store(store):
        assert offline_mismatch(video, cfg.track) == [], video.key


class ColourDetector(Detector):
    """Finds the object of each colour channel by thresholding (deterministic, no model)."""

    def detect(self, batch: FrameBatch) -> Boxes:
        parts = []
        for channel in CHANNELS:
            mask = batch.frames[..., channel] > 128  # (b, h, w)
            rows, cols = mask.any(axis=2), mask.any(axis=1)  # (b, h), (b, w)
            seen = rows.any(axis=1)
            y0, y1 = rows.argmax(axis=1), HEIGHT - rows[:, ::-1].argmax(axis=1)
            x0, x1 = cols.argmax(axis=1), WIDTH - cols[:, ::-1].argmax(axis=1)
            xyxy = np.stack([x0, y0, x1, y1], axis=1)[seen]
            parts.append((batch.index[seen], xyxy))
        frame = np.concatenate([p[0] for p in parts])
        xyxy = np.concatenate([p[1] for p in parts]).astype(np.float32)
        order = np.argsort(frame, kind="stable")
        frame = frame[order]
        rank = np.zeros_like(frame)
        if frame.size:
            from trackannot.detect import rank_within_frame

            rank = rank_within_frame(frame)
        return Boxes.create(xyxy=xyxy[order], frame=frame, score=np.full(frame.size, 0.9),
                            det_index=rank)


def _frames(n: int, seed: int) -> npt.NDArray[np.uint8]:
    """Three objects moving at seeded speeds; one leaves for a while (tracks end and restart)."""
    rng = np.random.default_rng(seed)
    frames = np.zeros((n, HEIGHT, WIDTH, 3), np.uint8)
    start = rng.integers(0, 60, size=3)
    speed = rng.integers(1, 3, size=3)
    for f in range(n):
        for k in CHANNELS:
            if k == 2 and n // 3 <= f < n // 3 + 8:
                continue  # gone for 8 frames
            x = int(start[k] + speed[k] * f) % (WIDTH - 20)
            y = 4 + 20 * k
            frames[f, y:y + 14, x:x + 16, k] = 220
    return frames


def make_clips(folder: Path, lengths: tuple[int, ...] = (23, 31)) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return [write_clip(folder / f"v{i}.mp4", _frames(n, seed=i), fps=10)
            for i, n in enumerate(lengths)]


def store_content(path: Path) -> dict[str, object]:
    """What a store holds, readable: every group's committed arrays and its attributes."""
    out: dict[str, object] = {}
    for video in open_store(path):
        attrs = {k: v for k, v in video.attrs.items() if k not in RUN_ONLY_ATTRS}
        attrs["input"] = {k: v for k, v in attrs["input"].items()}
        out[video.key] = {
            "attrs": attrs,
            "frames": [a.tolist() for a in video.frames()],
            **{table: {name: getattr(video.read(table=table), name).tolist()
                       for name in ("frame", "xyxy", "score", "class_id", "track_id", "origin",
                                    "det_index", "pos_std")}
               for table in ("detections", "tracks")},
            "row_start": video.row_starts("tracks").tolist(),
        }
    return out


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return make_clips(tmp_path_factory.mktemp("clips"))


@pytest.fixture(scope="module")
def clean(clips: list[Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    store = tmp_path_factory.mktemp("clean") / "s.zarr"
    summaries = track_videos(clips, store, _cfg(), ColourDetector())
    assert [s.status for s in summaries] == ["complete", "complete"]
    assert all(s.tracks >= 4 for s in summaries)  # the gap ends a track, a new one starts
    assert_tracks_as_measured(store, _cfg())
    for video in open_store(store):  # more than the online output: tentative frames stored too
        online = Tracker(_cfg().track)
        n_online = sum(len(online.update(video.read(f, f + 1, table="detections"), frame=f))
                       for f in video.frames()[0].tolist())
        tracks = video.read()  # each track's min_hits - 1 tentative frames come on top
        assert len(tracks) == n_online + (_cfg().track.min_hits - 1) * len(
            np.unique(tracks.track_id))
    return store_content(store)


class Crash(Exception):
    """The simulated crash of `crash_after`."""


def crash_after(monkeypatch: pytest.MonkeyPatch, after: int) -> list[int]:
    """Make every writer raise `Crash` right after its commit number `after + 1` (the commits
    before stand); returns the committed frame counts, appended as commits happen.
    `monkeypatch.undo()` ends it."""
    real_commit = StoreWriter._commit
    commits: list[int] = []

    def crashing(self: StoreWriter) -> None:
        before = self.committed_frames
        real_commit(self)
        if self.committed_frames > before:
            commits.append(self.committed_frames)
            if len(commits) > after:
                raise Crash

    monkeypatch.setattr(StoreWriter, "_commit", crashing)
    return commits


@pytest.mark.parametrize("after", [0, 1, 3, 6, 11], ids=lambda k: f"after-{k}-commits")
def test_resume_equals_clean_run(clips: list[Path], clean: dict[str, object], tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch, after: int) -> None:
    """A crash after K commits, then a rerun: the store equals an uninterrupted run's."""
    store = tmp_path / "s.zarr"
    commits = crash_after(monkeypatch, after)
    with pytest.raises(Crash):
        track_videos(clips, store, _cfg(), ColourDetector())
    monkeypatch.undo()
    statuses = [open_store(store)[k].status for k in open_store(store).videos]
    assert "running" in statuses
    summaries = track_videos(clips, store, _cfg(), ColourDetector())
    assert not failures(summaries)
    # the interrupted video continues from its last commit; one finished before it is skipped
    assert max(s.resumed_from for s in summaries) == commits[-1]
    finished = [status == "complete" for status in statuses]
    assert [s.skipped for s in summaries] == finished + [False] * (2 - len(finished))
    assert store_content(store) == clean
    assert_tracks_as_measured(store, _cfg())


@pytest.mark.parametrize("after", [1, 2, 4, 7], ids=lambda k: f"after-{k}-commits")
def test_resume_with_a_longer_lag_equals_track_detections(
        clips: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, after: int) -> None:
    """min_hits 4: three frames held back at every commit; the resumed tracker emits backfill
    rows again for committed frames, which must not be written twice."""
    cfg = _cfg(min_hits=4)
    track_videos(clips, tmp_path / "clean.zarr", cfg, ColourDetector())
    commits = crash_after(monkeypatch, after)
    with pytest.raises(Crash):
        track_videos(clips, tmp_path / "s.zarr", cfg, ColourDetector())
    monkeypatch.undo()
    summaries = track_videos(clips, tmp_path / "s.zarr", cfg, ColourDetector())
    assert max(s.resumed_from for s in summaries) == commits[-1] > 0
    assert store_content(tmp_path / "s.zarr") == store_content(tmp_path / "clean.zarr")
    assert_tracks_as_measured(tmp_path / "s.zarr", cfg)


def test_interrupted_group_reads_only_committed_rows(clips: list[Path], tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    store = tmp_path / "s.zarr"
    real_commit = StoreWriter._commit

    def crashing(self: StoreWriter) -> None:
        real_commit(self)
        if self.committed_frames >= 8:
            # leftovers past the commit point: rows written, never committed
            self._tables["tracks"]._arrays["frame"].append(np.full(5, 999, np.int64))
            raise Crash

    monkeypatch.setattr(StoreWriter, "_commit", crashing)
    with pytest.raises(Crash):
        track_video(clips[0], store, "v0", _cfg(), ColourDetector())
    video = open_store(store)["v0"]
    assert video.status == "running"
    frames, rows = video.committed()
    assert frames == 8 and video.frames()[0].tolist() == list(range(8))
    tracks = video.read()
    assert len(tracks) == rows["tracks"] and tracks.frame.max() <= 7
    assert video.group["tracks/frame"].shape[0] > rows["tracks"]  # leftovers on disk, unread


def _store_frames(n: int, seed: int = 3) -> list[tuple[Boxes, Boxes]]:
    rng = np.random.default_rng(seed)
    out = []
    for f in range(n):
        k = int(rng.integers(0, 4))
        xy = rng.uniform(0, 100, (k, 2))
        dets = Boxes.create(xyxy=np.hstack([xy, xy + 9]), frame=f, score=rng.uniform(0, 1, k))
        out.append((dets, dets.replace(track_id=np.arange(k))[dets.score > 0.3]))
    return out


@pytest.mark.parametrize("stop", [0, 1, 5, 13, 26], ids=lambda k: f"stop-{k}")
@pytest.mark.parametrize("cfg", [StoreConfig(chunk_rows=3, chunk_frames=2),
                                 StoreConfig(chunk_rows=5, chunk_frames=7)],
                         ids=["rows-3-frames-2", "rows-5-frames-7"])
def test_writer_resume_equals_one_pass(tmp_path: Path, cfg: StoreConfig, stop: int) -> None:
    """Writer dropped after `stop` frames, resumed at its commit: same arrays as one pass."""
    frames = _store_frames(30)
    one = StoreWriter.create(tmp_path / "a.zarr", "clip", cfg, attrs={})
    for f, (dets, tracks) in enumerate(frames):
        one.add_frame(f, f / 10, dets, tracks)
    one.close()
    first = StoreWriter.create(tmp_path / "b.zarr", "clip", cfg, attrs={})
    for f, (dets, tracks) in enumerate(frames[:stop]):
        first.add_frame(f, f / 10, dets, tracks)
    del first  # a crash: buffered rows are lost, the committed ones are on disk
    video = open_store(tmp_path / "b.zarr")["clip"]
    done, rows = video.committed()
    assert done <= stop and video.status == "running"
    assert rows["tracks"] == sum(len(t) for _, t in frames[:done])
    writer = StoreWriter.resume(tmp_path / "b.zarr", "clip", cfg)
    assert writer.committed_frames == done and writer.last_frame == done - 1
    for f, (dets, tracks) in enumerate(frames[done:], start=done):
        writer.add_frame(f, f / 10, dets, tracks)
    writer.close()
    assert store_content_raw(tmp_path / "b.zarr") == store_content_raw(tmp_path / "a.zarr")
    with pytest.raises(StoreError, match="'clip' is 'complete'; only a 'running' group"):
        StoreWriter.resume(tmp_path / "b.zarr", "clip", cfg)


def store_content_raw(path: Path) -> dict[str, object]:
    """Every array of a store, whole (leftovers included): for writer-level equality."""
    root = zarr.open_group(str(path), mode="r")
    out: dict[str, object] = {}
    group = root["clip"]
    for sub in ("frames", "detections", "tracks"):
        for name, arr in group[sub].arrays():
            out[f"{sub}/{name}"] = arr[:].tolist()
    out["attrs"] = {k: v for k, v in group.attrs.items() if k not in RUN_ONLY_ATTRS}
    return out


def _dead_temp_file(path: Path) -> None:
    """A root temporary file a killed writer left (older than the grace for writes in flight)."""
    path.write_bytes(b"{")
    old = time.time() - ROOT_TEMP_GRACE_S - 1
    os.utime(path, (old, old))


def test_a_root_write_in_flight_is_not_cleaned_away(clips: list[Path], tmp_path: Path) -> None:
    """Every group creation writes the root's metadata through a temporary file under its own
    group lock; another writer opening the store must not delete it (videos in flight)."""
    store = tmp_path / "s.zarr"
    track_videos(clips[:1], store, _cfg(), ColourDetector())
    in_flight = store / f"zarr.json.{'12' * 16}.partial"
    in_flight.write_bytes(b"{")
    track_videos(clips[1:], store, _cfg(), ColourDetector())
    assert in_flight.is_file()
    os.utime(in_flight, (time.time() - ROOT_TEMP_GRACE_S - 1,) * 2)  # its writer died
    open_root(store)
    assert not in_flight.exists()


def test_killed_during_set_up_starts_afresh(clips: list[Path], clean: dict[str, object],
                                            tmp_path: Path) -> None:
    """An empty store directory, and a group killed before its arrays existed, are redone."""
    store = tmp_path / "s.zarr"
    store.mkdir()
    _dead_temp_file(store / f"zarr.json.{'ab' * 16}.partial")  # zarr's temp file, not renamed
    track_videos(clips[:1], tmp_path / "t.zarr", _cfg(), ColourDetector())
    root = zarr.open_group(str(tmp_path / "t.zarr"), mode="a", zarr_format=3)
    attrs = dict(root["v0"].attrs)
    root.create_group("v1", attributes={**attrs, "status": "running",
                                        "committed": {"frames": 0, "rows": {}, "last_frame": -1}})
    root["v1"].create_group("frames")  # killed here: no arrays yet
    _dead_temp_file(tmp_path / "t.zarr" / f"zarr.json.{'cd' * 16}.partial")
    (tmp_path / "t.zarr" / "v1" / f"zarr.json.{'ef' * 16}.partial").write_bytes(b"{")
    for path in (store, tmp_path / "t.zarr"):
        summaries = track_videos(clips, path, _cfg(), ColourDetector())
        assert not failures(summaries) and summaries[1].resumed_from == 0
        assert store_content(path) == clean
        assert not [p for p in path.rglob("*.partial")]


def test_rerun_refuses_other_config_and_file(clips: list[Path], tmp_path: Path) -> None:
    store = tmp_path / "s.zarr"
    track_videos(clips[:1], store, _cfg(), ColourDetector())
    other = _cfg()
    other = replace(other, track=replace(other.track, min_iou=0.5))
    with pytest.raises(StoreError, match=r"another configuration \(track\.min_iou: stored 0\.25, "
                                         r"now 0\.5\).*--overwrite"):
        track_videos(clips[:1], store, other, ColourDetector())
    changed = tmp_path / "v0.mp4"
    changed.write_bytes(clips[1].read_bytes())  # same name, other content
    with pytest.raises(StoreError, match="'v0' was tracked from another file"):
        track_videos([changed], store, _cfg(), ColourDetector())
    with pytest.raises(StoreError, match="another detector"):
        track_videos(clips[:1], store, _cfg(), ColourDetector(), detector_info={"weights": "x"})
    summaries = track_videos([changed], store, _cfg(), ColourDetector(), overwrite=True)
    assert summaries[0].frames == 31 and open_store(store)["v0"].complete


class YuvColourDetector(ColourDetector):
    """`ColourDetector` asking for YUV batches, as the on-device YOLO path does."""

    pixel_format = "yuv420p"

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def detect(self, batch: FrameBatch) -> Boxes:
        self.seen.add(batch.pixel_format)
        return super().detect(FrameBatch(batch_rgb(batch), batch.index, batch.time_s))


def test_frames_are_decoded_in_the_form_the_detector_takes(
        clips: list[Path], clean: dict[str, object], tmp_path: Path) -> None:
    store = tmp_path / "s.zarr"
    detector = YuvColourDetector()
    assert not failures(track_videos(clips, store, _cfg(), detector, jobs=2))
    assert detector.seen == {"yuv420p"}
    got, want = store_content(store), copy.deepcopy(clean)
    for key in want:
        assert got[key]["attrs"].pop("pixel_format") == "yuv420p"  # type: ignore[index]
        assert want[key]["attrs"].pop("pixel_format") == "rgb24"  # type: ignore[index]
    assert got == want  # the same boxes: the colours differ by a level at most
    with pytest.raises(StoreError, match="'v0' was decoded to yuv420p frames, this detector "
                                         "takes rgb24 .set decode.pixel_format"):
        track_videos(clips, store, _cfg(), ColourDetector())
    forced = replace(_cfg(), decode=replace(_cfg().decode, pixel_format="rgb24"))
    yuv_detector = YuvColourDetector()
    track_videos(clips[:1], tmp_path / "t.zarr", forced, yuv_detector)
    assert yuv_detector.seen == {"rgb24"}  # an explicit setting wins over the detector's wish


def test_overwrite_refuses_a_directory_that_is_not_a_store(clips: list[Path],
                                                           tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "keep.txt").write_text("precious")
    with pytest.raises(StoreError, match="not a trackannot store"):
        track_videos(clips[:1], folder, _cfg(), ColourDetector(), overwrite=True)
    assert (folder / "keep.txt").read_text() == "precious"


def test_several_videos_in_flight_equal_one_at_a_time(clips: list[Path], clean: dict[str, object],
                                                      tmp_path: Path) -> None:
    store = tmp_path / "s.zarr"
    summaries = track_videos(clips, store, _cfg(), ColourDetector(), jobs=2)
    assert [s.key for s in summaries] == ["v0", "v1"] and not failures(summaries)
    assert store_content(store) == clean


def _truncated(path: Path) -> Path:
    """The first 60% of a clip whose index (moov) is at the front: early frames decode."""
    write_clip(path.with_suffix(".full.mp4"), _frames(40, seed=5), fps=10,
               options={"movflags": "+faststart"})
    data = path.with_suffix(".full.mp4").read_bytes()
    path.with_suffix(".full.mp4").unlink()
    path.write_bytes(data[: int(len(data) * 0.6)])
    return path


def test_damaged_video_keeps_valid_frames(clips: list[Path], tmp_path: Path) -> None:
    cut = _truncated(tmp_path / "cut.mp4")
    store = tmp_path / "s.zarr"
    summaries = track_videos([cut, clips[0]], store, _cfg(), ColourDetector())
    bad, good = summaries
    assert good.ok and good.frames == 23
    assert bad.status == "failed" and "decoding failed after" in (bad.error or "")
    video = open_store(store)["cut"]
    assert video.status == "failed" and video.attrs["error"] == bad.error
    assert 0 < bad.frames < 40 and video.frames()[0].tolist() == list(range(bad.frames))
    assert len(video.read(table="detections")) == bad.detections > 0
    # a rerun leaves the failed and the complete video as they are and reports the failure again
    again = track_videos([cut, clips[0]], store, _cfg(), ColourDetector())
    assert [s.skipped for s in again] == [True, True] and failures(again)[0].error == bad.error


def test_unopenable_inputs(clips: list[Path], tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    store = tmp_path / "s.zarr"
    with pytest.raises(VideoDecodeError, match=r"no video could be opened: .*empty \(0 bytes\)"):
        track_videos([empty], store, _cfg(), ColourDetector())
    assert not store.exists()
    summaries = track_videos([empty, clips[0]], store, _cfg(), ColourDetector())
    assert [s.status for s in summaries] == ["failed", "complete"]
    assert open_store(store).videos == ["v0"]  # nothing to keep of a file that never opened
    with pytest.raises(VideoDecodeError, match="no video could be opened"):
        track_videos([empty], store, _cfg(), ColourDetector(), overwrite=True)
    assert open_store(store)["v0"].complete  # not deleted for a run that cannot start


# ------------------------------------------------------------------------------ real SIGKILL

_CHILD = """
import os, signal, sys
from pathlib import Path
import zarr.storage
from tests.test_pipeline_resume import ColourDetector, _cfg
from trackannot.pipeline import track_videos

kill_at = int(sys.argv[1])
real_set = zarr.storage.LocalStore.set
count = [0]

async def counting_set(self, key, value, *args, **kwargs):
    count[0] += 1
    if count[0] == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
    return await real_set(self, key, value, *args, **kwargs)

zarr.storage.LocalStore.set = counting_set
track_videos([Path(p) for p in sys.argv[3:]], sys.argv[2], _cfg(), ColourDetector())
"""


def _child(kill_at: int, store: Path, clips: list[Path]) -> int:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run = subprocess.run([sys.executable, "-c", _CHILD, str(kill_at), str(store),
                          *map(str, clips)], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode in (0, -signal.SIGKILL), run.stderr
    return run.returncode


def _count_writes(clips: list[Path], store: Path, monkeypatch: pytest.MonkeyPatch) -> int:
    """Files the store writes in an uninterrupted run (every chunk and metadata write)."""
    count = watch_writes(monkeypatch)
    track_videos(clips, store, _cfg(), ColourDetector())
    monkeypatch.undo()
    return count[0]


def test_sigkill_at_random_points_then_rerun_equals_clean(
        clips: list[Path], clean: dict[str, object], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGKILL at the K-th store write (seeded random K), rerun: equal to an uninterrupted run."""
    writes = _count_writes(clips, tmp_path / "count.zarr", monkeypatch)
    assert writes > 50
    rng = np.random.default_rng(2024)
    for k in sorted(rng.choice(np.arange(1, writes + 1), size=SIGKILL_POINTS, replace=False).tolist()):
        store = tmp_path / f"k{k}.zarr"
        assert _child(k, store, clips) == -signal.SIGKILL, f"the run ended before write {k}"
        summaries = track_videos(clips, store, _cfg(), ColourDetector())
        assert not failures(summaries)
        assert store_content(store) == clean, f"killed at write {k}"
        assert_tracks_as_measured(store, _cfg())
