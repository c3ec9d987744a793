"""Propagation through a store: a session shows what a fresh process replays, exports tell
propagated boxes from a person's, the log and the audit hold only what the person did."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.test_propagate import A, FRAMES, M, N
from trackannot.boxes import Boxes, Origin, pair_iou
from trackannot.config import PipelineConfig, StoreConfig, config_to_dict
from trackannot.corrections import Corrections, Op
from trackannot.errors import InputFormatError
from trackannot.replay import load_state
from trackannot.session import VideoSession
from trackannot.store import StoreWriter

COLUMNS = ("frame", "xyxy", "score", "class_id", "track_id", "origin", "det_index", "pos_std")


def _write(path: Path, propagate: bool | None = True) -> Path:
    """A store of the test scene: track 1 on A, the missed object M detected (weakly) in frames
    20..99, picked up by the tracker as track 3 from frame 80. propagate None: the store's
    interpolation settings predate propagation."""
    cfg = config_to_dict(PipelineConfig())
    if propagate is None:
        del cfg["interpolate"]["propagate"]
    else:
        cfg["interpolate"]["propagate"]["enabled"] = propagate
    writer = StoreWriter.create(path, "clip", StoreConfig(chunk_rows=64, chunk_frames=32), attrs={
        "config": cfg, "video": {"width": 800, "height": 600, "fps": 10.0, "frame_count": N}})
    for f in FRAMES.tolist():
        seen = 20 <= f < 100
        det = Boxes.create(frame=f, xyxy=[A[f], M[f]] if seen else [A[f]],
                           score=[0.9, 0.2] if seen else [0.9])
        ids = [1, 3] if 80 <= f < 100 else [1]
        tracks = Boxes.create(frame=f, xyxy=[A[f], M[f]][:len(ids)], track_id=ids, score=0.9)
        writer.add_frame(f, f / 10.0, det, tracks)
    writer.close()
    return path


def _create(track: int, frame: int, box: np.ndarray) -> Corrections:
    return Corrections.create(op=[Op.CREATE], track_id=[track], frame=[frame], xyxy=[box],
                              author="ana", time_ns=1)


def _same(got: Boxes, want: Boxes) -> None:
    assert len(got) == len(want)
    for name in COLUMNS:
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)


_FRESH = """
import sys
import numpy as np
from trackannot.session import VideoSession
boxes = VideoSession.open(sys.argv[1]).boxes()
np.savez(sys.argv[2], **boxes.columns())
"""


def test_a_session_shows_what_a_fresh_process_replays(tmp_path: Path) -> None:
    store = _write(tmp_path / "s.zarr")
    reader = VideoSession.open(store)
    before = reader.boxes(0, N)  # kept: track 1's and track 3's boxes
    writer = VideoSession.open(store)
    writer.apply(_create(5, 50, M[50]), author="ana")
    got = reader.boxes(0, N)
    run = got[(got.track_id == 5) & (got.origin == Origin.PROPAGATED)]
    assert run.frame.min() == 20 and run.frame.max() == 79  # stopped by track 3 at frame 80
    assert pair_iou(run.xyxy, M[run.frame]).min() > 0.9
    _same(got, load_state(writer.result).boxes())
    _same(got[got.track_id != 5], before)  # no other track changed
    out = tmp_path / "fresh.npz"
    subprocess.run([sys.executable, "-c", _FRESH, str(store), str(out)], check=True,
                   capture_output=True, timeout=300)
    fresh = dict(np.load(out))
    _same(Boxes(**fresh), got)
    # a window of frames sees the run too (the track's extent covers its runs)
    _same(VideoSession.open(store).boxes(25, 35), got[(got.frame >= 25) & (got.frame < 35)])


def test_a_reader_follows_a_run_another_edit_stopped(tmp_path: Path) -> None:
    store = _write(tmp_path / "s.zarr")
    writer = VideoSession.open(store)
    writer.apply(_create(5, 30, M[30]), author="ana")
    reader = VideoSession.open(store)
    assert reader.boxes(60, 70).track_id.tolist().count(5) == 10
    writer.apply(_create(6, 65, M[65]), author="bo")  # the same object, drawn again at 65
    got = reader.boxes(0, N)
    assert got[got.track_id == 5].frame.max() == 64
    _same(got, load_state(writer.result).boxes())


def test_exports_tell_propagated_boxes_from_keyframes(tmp_path: Path) -> None:
    store = _write(tmp_path / "s.zarr")
    session = VideoSession.open(store)
    session.apply(_create(5, 50, M[50]), author="ana")
    coco = json.loads(session.export("coco", tmp_path / "c.json").read_text())
    mine = [a for a in coco["annotations"] if a.get("track_id") == 5]
    assert len(mine) == 60
    assert sum(a["attributes"]["keyframe"] for a in mine) == 1
    assert {a["origin"] for a in mine} == {"keyframe", "propagated"}
    assert sum(a["origin"] == "propagated" for a in mine) == 59
    # CVAT / Label Studio keyframes: the person's box always, the propagated ones only where the
    # straight line between kept keyframes would drift
    keys = session.keyframes()
    frames = keys.frame[keys.track_id == 5].tolist()
    assert 50 in frames and len(frames) < 20
    xml = session.export("cvat", tmp_path / "c.xml").read_text()
    assert xml.count('keyframe="1"') < len(session.boxes())


def test_the_log_and_the_audit_count_only_what_the_person_did(tmp_path: Path) -> None:
    spent = {}
    for on in (True, False):
        store = _write(tmp_path / f"s{on}.zarr", propagate=on)
        session = VideoSession.open(store)
        session.apply(_create(5, 50, M[50]), author="ana")
        log, _ = session.result.read_log()
        assert log.op.tolist() == [Op.CREATE] and log.frame.tolist() == [50]
        advice = session.audit().advice
        spent[on] = (advice.seconds_spent, advice.answered)
        shown = session.boxes()
        assert (shown.track_id == 5).sum() == (60 if on else 1)
    assert spent[True] == spent[False]


@pytest.mark.parametrize("propagate", [False, None], ids=["disabled", "settings predate it"])
def test_stores_without_propagation_keep_one_box(tmp_path: Path, propagate: bool | None) -> None:
    store = _write(tmp_path / "s.zarr", propagate=propagate)
    session = VideoSession.open(store)
    session.apply(_create(5, 50, M[50]), author="ana")
    assert session.boxes().frame[session.boxes().track_id == 5].tolist() == [50]
    assert load_state(session.result).propagation_stops() == []


def test_a_writer_stops_a_run_at_a_keyframe_it_did_not_load(tmp_path: Path) -> None:
    """The writer's state reads other tracks' keyframes of a run's frames from the state cache
    (`StateCache.keys_in`): an accept of track 5 at frame 30 sees the run stopped at 65."""
    from trackannot.sources import keys_in_edits
    from trackannot.statecache import StateCache

    store = _write(tmp_path / "s.zarr")
    session = VideoSession.open(store)
    session.apply(_create(6, 65, M[65]), author="bo")
    session.apply(_create(5, 30, M[30]), author="ana")
    accept = Corrections.create(op=[Op.ACCEPT, Op.ADJUST], track_id=[5, 5], frame=[70, 20],
                                xyxy=[[np.nan] * 4, M[20]], author="ana", time_ns=1)
    with pytest.raises(InputFormatError, match="no box at frame 70"):  # the run ends at 64
        session.apply(accept, author="ana")
    with StateCache.open(session.result, write=False) as cache:
        assert cache.keys_in(60, 70) == keys_in_edits(cache.all_edits(), 60, 70) != {}
        assert set(cache.keys_in(60, 70)) == {6}


def test_a_session_replays_its_own_batches_unread_as_a_fresh_replay_shows(
        tmp_path: Path) -> None:
    """A session that applies a batch replays it into the state it keeps from memory (at the
    revision the batch was applied to, nothing to read); when another session's batch landed
    in between, the next read catches up from the log. Either way: what a whole replay shows."""
    store = _write(tmp_path / "s.zarr")
    ana, bo = VideoSession.open(store), VideoSession.open(store)
    ana.boxes(0, N)
    adjust = M[40] + np.array([30, 0, 30, 0], np.float32)  # disagrees with the run at 40
    for k, batch in enumerate([_create(5, 50, M[50]), _create(6, 65, M[65]),
                               Corrections.create(op=[Op.ADJUST], track_id=[5], frame=[40],
                                                  xyxy=[adjust], author="ana", time_ns=1)]):
        summary = ana.apply(batch, author="ana")
        assert ana._read is not None and ana._read.revision == summary.revision == k + 1
        _same(ana.boxes(0, N), load_state(ana.result).boxes())
    bo.boxes(0, N)
    ana.apply(Corrections.create(op=[Op.ACCEPT], track_id=[1], frame=[10], author="ana",
                                 time_ns=1), author="ana")
    summary = bo.apply(Corrections.create(op=[Op.ABSENT], track_id=[5], frame=[30],
                                          author="bo", time_ns=1), author="bo")
    assert bo._read is not None and bo._read.revision == summary.revision - 2  # ana's landed
    whole = load_state(bo.result).boxes()
    _same(bo.boxes(0, N), whole)
    _same(ana.boxes(0, N), whole)
