"""StoreSource: reads by frame range in blocks of whole chunks, a few blocks kept; a video whose
processed frames are not 0..n-1 (sampled) looked up in its frame index; the boxes always those of
a whole replay."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.test_annotate import make_store
from tests.test_replay import BATCHES, _same, _uncached
from tests.test_session import _edits
from trackannot import sources
from trackannot.boxes import Boxes
from trackannot.config import PipelineConfig, StoreConfig, config_to_dict
from trackannot.replay import load_state
from trackannot.session import VideoSession
from trackannot.store import StoreWriter, open_store


def _sampled_store(path: Path) -> Path:
    """Every other frame of a 60-frame video processed (as at --fps 5 of 10): two tracks."""
    writer = StoreWriter.create(path, "clip", StoreConfig(chunk_rows=16, chunk_frames=8), attrs={
        "config": config_to_dict(PipelineConfig()),
        "video": {"width": 320, "height": 240, "fps": 10.0, "frame_count": 60}})
    for f in range(0, 60, 2):
        xyxy = np.array([[2.0 * f, 10, 2.0 * f + 30, 90], [200, 50, 240, 150]], np.float32)
        ids = [1, 2] if f < 40 else [2]
        tracks = Boxes.create(frame=[f] * len(ids), xyxy=xyxy[:len(ids)], track_id=ids,
                              score=0.9)
        writer.add_frame(f, f / 10.0, Boxes.create(frame=[f] * len(ids), xyxy=xyxy[:len(ids)],
                                                   score=0.9), tracks)
    writer.close()
    return path


@pytest.fixture(params=["one block", "blocks of one chunk, two kept"])
def blocks(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if request.param != "one block":  # the test stores' chunks are 16 rows, 8 frames
        monkeypatch.setattr(sources, "_BLOCK_ROWS", 1)
        monkeypatch.setattr(sources, "_KEEP_ROWS", 1)


def _ranges(num_frames: int) -> list[tuple[int, int]]:
    return [(0, num_frames), (0, 1), (5, 15), (12, 13), (15, 41), (39, 40), (41, num_frames)]


@pytest.mark.usefixtures("blocks")
def test_reads_in_blocks_equal_the_whole_replay_after_every_batch(tmp_path: Path) -> None:
    store = make_store(tmp_path / "out.zarr", gap=range(14, 18))
    reader = VideoSession.open(store)
    for k, batch in enumerate(BATCHES):
        VideoSession.open(store).apply(_edits(batch), author="ana", source=f"batch {k}")
        whole = _uncached(store)
        for start, stop in _ranges(reader.num_frames):
            _same(reader.boxes(start, stop), whole[(whole.frame >= start) & (whole.frame < stop)])


@pytest.mark.usefixtures("blocks")
def test_a_sampled_video_is_read_by_its_frame_index(tmp_path: Path) -> None:
    store = _sampled_store(tmp_path / "s.zarr")
    session = VideoSession.open(store)
    session.apply(_edits([{"op": "adjust", "track": 1, "frame": 10, "box": [22, 10, 54, 92]},
                          {"op": "adjust", "track": 1, "frame": 30, "box": [62, 10, 94, 92]},
                          {"op": "adjust", "track": 2, "frame": 44, "box": [200, 52, 240, 150]}]),
                  author="ana")
    whole = load_state(open_store(store)["clip"]).boxes()
    assert set(whole.frame.tolist()) > {10, 11, 30}  # interpolated frames between the samples
    for start, stop in _ranges(60) + [(11, 12), (13, 31)]:
        _same(VideoSession.open(store).boxes(start, stop),
              whole[(whole.frame >= start) & (whole.frame < stop)])
        _same(session.boxes(start, stop), whole[(whole.frame >= start) & (whole.frame < stop)])


def test_row_offsets_and_frame_index_of_a_range(tmp_path: Path) -> None:
    video = open_store(_sampled_store(tmp_path / "s.zarr"))["clip"]
    every = video.row_starts("tracks")
    assert len(every) == 31 and every[-1] == video.committed()[1]["tracks"]
    assert video.row_starts("tracks", 3, 9).tolist() == every[3:10].tolist()
    assert video.row_starts("tracks", 25, 30).tolist() == every[25:].tolist()
    assert video.frame_index(4, 7).tolist() == [8, 10, 12]
    assert video.chunk_rows("detections") == (16, 8)


def test_a_sessions_edits_read_no_chunk_its_reads_read(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The session's reader state and each batch's writer state share the tracking tables
    (`StoreTables`): an edit where the session has read decodes nothing again. Tables are tied
    to one completed run: a source given another run's reads its own."""
    from trackannot.store import VideoGroup

    store = make_store(tmp_path / "out.zarr", gap=range(14, 18))
    session = VideoSession.open(store)
    session.apply(_edits(BATCHES[0]), author="ana")  # the first writer builds the state cache
    session.boxes()
    blocks: list[tuple[str, int, int]] = []
    real = VideoGroup.read_rows

    def counting(self: VideoGroup, table: str, start: int, stop: int) -> Boxes:
        blocks.append((table, start, stop))
        return real(self, table, start, stop)

    monkeypatch.setattr(VideoGroup, "read_rows", counting)
    for k, batch in enumerate(BATCHES[1:]):
        session.apply(_edits(batch), author="ana", source=f"batch {k}")
        got = session.boxes()
        assert blocks == []
        _same(got, _uncached(store))
        blocks.clear()  # the whole replay's reads
    fresh = VideoSession.open(store)
    fresh.boxes(0, 5)
    assert blocks  # another session: its own tables

    tables = sources.StoreTables(open_store(store)["clip"])
    other = open_store(make_store(tmp_path / "other.zarr"))["clip"]
    assert tables.serves(open_store(store)["clip"]) and not tables.serves(other)
    source = sources.StoreSource(other, sources.track_extents(other), None, 0.0, tables=tables)
    assert source.tables is not tables
    _same(source.auto_window(0, 40), other.read(0, 40))
