"""VideoSession: frame-range reads that equal a whole replay, kept state that follows every
batch, and edits checked against the revision the reviewer saw."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests._store import store_digest
from tests.test_annotate import make_store
from tests.test_replay import BATCHES, _same, _uncached
from trackannot.corrections import Corrections, Op
from trackannot.errors import (
    ConflictError, RunIncompleteError, StaleRevisionError, StoreInputError, StoreNotFoundError,
    http_status,
)
from trackannot.keyframes import Keyframes
from trackannot.session import VideoSession


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return make_store(tmp_path / "out.zarr", gap=range(14, 18))


def _edits(lines: list[dict]) -> Corrections:
    """A batch of corrections lines as `trackannot correct` reads them."""
    from trackannot.corrections import parse_line

    rows = [parse_line(line, f"line {i}", "ana", 1) for i, line in enumerate(lines, start=1)]
    cols = {k: [r[k] for r in rows] for k in rows[0]}
    return Corrections.create(**cols)


def test_frame_ranges_equal_the_whole_replay_after_every_batch(store: Path) -> None:
    reader = VideoSession.open(store)  # kept across batches another session applies
    writer = VideoSession.open(store)
    for k, batch in enumerate(BATCHES):
        summary = writer.apply(_edits(batch), author="ana", source=f"batch {k}")
        assert summary.revision == k + 1 == reader.revision
        whole = _uncached(store)
        for start, stop in [(0, None), (0, 1), (5, 15), (12, 13), (30, 40), (39, 40)]:
            end = reader.num_frames if stop is None else stop
            want = whole[(whole.frame >= start) & (whole.frame < end)]
            _same(reader.boxes(start, stop), want)
        _same(VideoSession.open(store).boxes(), whole)  # a fresh session: the same


def _staggered_store(path: Path) -> Path:
    """Four tracks over 40 frames: 1 in 0-19, 2 in 0-39, 3 in 20-39, 4 in 30-39."""
    from trackannot.boxes import Boxes
    from trackannot.config import PipelineConfig, StoreConfig, config_to_dict
    from trackannot.store import StoreWriter

    writer = StoreWriter.create(path, "clip", StoreConfig(chunk_rows=16, chunk_frames=8), attrs={
        "config": config_to_dict(PipelineConfig()),
        "video": {"width": 320, "height": 240, "fps": 10.0, "frame_count": 40}})
    spans = {1: (0, 19), 2: (0, 39), 3: (20, 39), 4: (30, 39)}
    for f in range(40):
        ids = [t for t, (a, b) in spans.items() if a <= f <= b]
        xyxy = np.array([[10.0 * t + f, 10, 10.0 * t + f + 30, 90] for t in ids], np.float32)
        tracks = Boxes.create(frame=[f] * len(ids), xyxy=xyxy, track_id=ids, score=0.9)
        writer.add_frame(f, f / 10.0, Boxes.create(frame=[f] * len(ids), xyxy=xyxy, score=0.9),
                         tracks)
    writer.close()
    return path


def test_a_read_materialises_only_the_tracks_in_its_range(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from trackannot.sources import StoreSource

    session = VideoSession.open(_staggered_store(tmp_path / "s.zarr"))
    read: list[int] = []
    real = StoreSource.auto_boxes

    def counting(self: StoreSource, original: int) -> object:
        read.append(original)
        return real(self, original)

    monkeypatch.setattr(StoreSource, "auto_boxes", counting)
    assert set(session.boxes(0, 1).track_id.tolist()) == {1, 2}
    assert sorted(read) == [1, 2]
    read.clear()
    assert set(session.boxes(5, 25).track_id.tolist()) == {1, 2, 3}
    assert read == [3]  # 1 and 2 were kept
    read.clear()
    assert set(session.boxes(25, 30).track_id.tolist()) == {2, 3}
    assert read == []


def test_edits_to_other_cells_merge_and_to_the_same_cell_conflict(store: Path) -> None:
    ana, ben = VideoSession.open(store), VideoSession.open(store)
    seen = ana.revision
    ana.apply(_edits([{"op": "adjust", "track": 1, "frame": 10, "box": [20, 10, 52, 92]}]),
              author="ana", expect_revision=seen)
    # ben saw revision `seen` too: another cell merges, the same cell is refused
    ben.apply(_edits([{"op": "adjust", "track": 2, "frame": 10, "box": [60, 10, 92, 92]}]),
              author="ben", expect_revision=seen)
    before = store_digest(store)
    with pytest.raises(StaleRevisionError) as err:
        ben.apply(_edits([{"op": "adjust", "track": 1, "frame": 10, "box": [21, 10, 53, 92]}]),
                  author="ben", expect_revision=seen)
    assert err.value.cells == [(1, 10)] and err.value.current == 2 and err.value.expected == seen
    assert "track 1 frame 10" in str(err.value) and http_status(err.value) == 409
    assert store_digest(store) == before
    # a split after `seen` covers every frame of its track
    ana.apply(_edits([{"op": "split", "track": 2, "frame": 25}]), author="ana")
    with pytest.raises(StaleRevisionError):
        ben.apply(_edits([{"op": "adjust", "track": 2, "frame": 30, "box": [60, 10, 92, 92]}]),
                  author="ben", expect_revision=2)
    log, _ = ana.result.read_log()
    assert len(log) == 3 and ana.revision == 3
    with pytest.raises(StoreInputError):  # a revision from the future
        ana.apply(_edits([{"op": "accept", "track": 1, "frame": 4}]), author="ana",
                  expect_revision=9)


def test_tool_keyframes_are_diffed_against_what_the_reviewer_saw(store: Path) -> None:
    """Ana saw revision 0 and moved track 1 and deleted track 3; Ben meanwhile fixed track 2.
    Ana's tool sends every track she saw: Ben's fix is kept, her edits land."""
    ana, ben = VideoSession.open(store), VideoSession.open(store)
    ana.apply(_edits(BATCHES[1]), author="ana")  # creates track 3
    seen, shown = ana.revision, ana.keyframes()
    assert 3 in set(shown.track_id.tolist())
    ben.apply(_edits([{"op": "adjust", "track": 2, "frame": 10, "box": [60, 10, 92, 92]}]),
              author="ben")
    keep = shown.track_id != 3
    moved = shown[keep]
    first = int(np.flatnonzero(moved.track_id == 1)[0])
    xyxy = moved.xyxy.copy()
    xyxy[first] += 5
    edited = Keyframes.create(track_id=moved.track_id, frame=moved.frame, xyxy=xyxy,
                              outside=moved.outside, class_id=moved.class_id, sort=False)
    summary = ana.apply(edited, author="ana", source="tool task 1", expect_revision=seen,
                        replace_tracks=True)
    assert summary.revision == 3
    now = VideoSession.open(store)
    boxes = now.boxes()
    assert 3 not in set(boxes.track_id.tolist())  # deleted
    at = boxes[(boxes.track_id == 2) & (boxes.frame == 10)]
    np.testing.assert_allclose(at.xyxy[0], [60, 10, 92, 92])  # ben's fix kept
    at = boxes[(boxes.track_id == 1) & (boxes.frame == int(moved.frame[first]))]
    np.testing.assert_allclose(at.xyxy[0], xyxy[first], atol=1e-3)
    log, _ = now.result.read_log(*now.result.batches(2)[0]["rows"])
    assert {Op(int(o)) for o in log.op[log.track_id == 3]} == {Op.ABSENT}
    assert 2 not in set(log.track_id.tolist())  # ana did not touch track 2


def test_bad_reads_and_missing_videos_are_kinds(store: Path, tmp_path: Path) -> None:
    with pytest.raises(StoreNotFoundError):
        VideoSession.open(store, "nope")
    session = VideoSession.open(store)
    with pytest.raises(StoreInputError):
        session.boxes(5, 2)
    with pytest.raises(StoreInputError):
        session.boxes(session.num_frames + 1)


def test_a_running_video_reports_progress_and_refuses_reads(store: Path) -> None:
    import zarr

    group = zarr.open_group(str(store / "clip"), mode="a")
    group.attrs["status"] = "running"
    session = VideoSession.open(store)
    assert session.progress()["status"] == "running"
    with pytest.raises(RunIncompleteError) as err:
        session.boxes(0, 10)
    assert http_status(err.value) == 409


def test_track_ids_include_tracks_absent_everywhere(store: Path) -> None:
    session = VideoSession.open(store)
    assert session.track_ids == [1, 2]
    first = int(session.boxes()[session.boxes().track_id == 2].frame[0])
    session.apply(_edits([{"op": "absent", "track": 2, "frame": first},
                          {"op": "create", "frame": 5, "box": [1, 1, 9, 9], "class": 0}]),
                  author="ana")
    assert 2 not in set(session.boxes().track_id.tolist())
    assert session.track_ids == [1, 2, 3]  # track 2 keeps its id; the new one got the next


def test_keyframes_at_a_revision_are_read_again_while_batches_land(
        store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    session = VideoSession.open(store)
    session.apply(_edits(BATCHES[0]), author="ana")
    revision, keys = session.keyframes_at_revision()
    want = session.keyframes()
    assert revision == session.revision == 1
    np.testing.assert_array_equal(keys.xyxy, want.xyxy)
    np.testing.assert_array_equal(keys.frame, want.frame)
    landed = iter(range(100))  # a batch lands between every two reads of the revision
    monkeypatch.setattr(VideoSession, "revision", property(lambda self: next(landed)))
    with pytest.raises(ConflictError, match="batches kept landing while it was read"):
        session.keyframes_at_revision(attempts=2)
