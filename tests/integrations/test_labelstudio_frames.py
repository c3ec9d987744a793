"""Label Studio's frame numbers against the store's: the identity on constant frame rate video
at the config's rate, by time otherwise (another rate, variable frame rate), through the
backend both ways: a prediction's keyframes land on the pictures the store's boxes belong to,
an annotation sent back unchanged records no edit, and a moved box lands on its store frame."""

from __future__ import annotations

import copy
import math
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from tests._video import write_clip
from tests.integrations._labelstudio import video_label_config
from tests.test_annotate import make_store
from trackannot.cli.main import main
from trackannot.corrections import Op
from trackannot.export.labelstudio import region_track_id
from trackannot.integrations.labelstudio_backend import LabelStudioBackend, create_app
from trackannot.integrations.labelstudio_frames import FrameGrid, decoded_times
from trackannot.keyframes import Keyframes
from trackannot.session import VideoSession

# a variable frame rate clip: 10 frames 100 ms apart, 10 frames 50 ms apart, and again
STEPS_MS = [100] * 10 + [50] * 10 + [100] * 10 + [50] * 10
PTS_MS = np.r_[0, np.cumsum(STEPS_MS[:-1])]


def _grid(times_s: list[float] | np.ndarray, fps: float, framerate: float) -> FrameGrid:
    times = np.asarray(times_s, np.float64)
    return FrameGrid.for_video(np.arange(len(times)), times, len(times), fps, framerate)


# ---------------------------------------------------------------------------------- FrameGrid

def test_constant_rate_at_the_config_rate_is_the_identity() -> None:
    grid = _grid(np.arange(795) / 10 + 0.1, 10.0, 10.0)  # PETS09: first frame at 0.1 s
    assert grid.identity and grid.frames_count == 795
    frames = np.arange(795)
    assert grid.to_grid(frames).tolist() == frames.tolist()
    assert grid.from_grid(frames, np.zeros(795, bool)).tolist() == frames.tolist()


def test_another_config_rate_maps_by_time() -> None:
    grid = _grid(np.arange(60) / 10, 10.0, 24.0)  # Label Studio's default 24 on a 10 fps clip
    assert not grid.identity and grid.frames_count == 144  # 6 s at 24 fps
    frames = np.arange(60)
    grid_frames = grid.to_grid(frames)
    assert grid_frames.tolist() == [math.ceil(i * 2.4 - 1e-9) for i in range(60)]
    # Label Studio frame F shows the store frame that started last at (F - 1) / 24
    back = grid.from_grid(np.arange(144), np.zeros(144, bool))
    assert back.tolist() == [int(g / 2.4 + 1e-9) for g in range(144)]
    assert grid.from_grid(grid_frames, np.zeros(60, bool)).tolist() == frames.tolist()
    assert grid.from_grid(grid_frames, np.ones(60, bool)).tolist() == frames.tolist()


def test_variable_rate_maps_each_frame_to_its_time() -> None:
    times = PTS_MS / 1000
    grid = _grid(times, 1000 / np.mean(STEPS_MS), 20.0)
    assert not grid.identity
    assert grid.to_grid(np.arange(40)).tolist() == (PTS_MS // 50).tolist()
    # a box at a Label Studio frame between two store frames is on the earlier picture; an
    # outside keyframe there hides from the next store frame on
    assert grid.from_grid(np.array([3]), np.array([False])).tolist() == [1]  # 150 ms: frame 1
    assert grid.from_grid(np.array([3]), np.array([True])).tolist() == [2]   # frame 2: 200 ms
    assert grid.from_grid(np.array([2]), np.array([True])).tolist() == [1]   # frame 1 hidden


def test_keyframes_that_land_on_one_frame_keep_the_later() -> None:
    grid = _grid(np.arange(30) / 30, 30.0, 10.0)  # 30 fps shown at 10: every third picture
    keys = Keyframes.create(track_id=[1, 1, 1, 2, 2], frame=[0, 1, 3, 4, 5],
                            outside=[0, 0, 0, 0, 1], xyxy=np.arange(20).reshape(5, 4))
    on_grid = grid.keyframes_to_grid(keys)
    # frames 1 and 3 are first shown at grid frame 1 (33 and 100 ms), 4 and 5 at 2: the later
    assert on_grid.track_id.tolist() == [1, 1, 2] and on_grid.frame.tolist() == [0, 1, 2]
    np.testing.assert_array_equal(on_grid.xyxy[1], keys.xyxy[2])
    assert on_grid.outside.tolist() == [False, False, True]
    # read back: an outside keyframe followed, within one store frame, by a box: the box wins
    grid = _grid(np.arange(10) / 10, 10.0, 24.0)
    read = Keyframes.create(track_id=[1, 1, 1], frame=[0, 1, 2], outside=[0, 1, 0],
                            xyxy=np.ones((3, 4)) * [[1], [2], [3]])
    back = grid.keyframes_from_grid(read)
    assert back.frame.tolist() == [0] and back.xyxy[0, 0] == 3


def test_decoded_times_fill_frames_a_sampled_run_skipped() -> None:
    times = decoded_times(np.array([2, 5, 8]), np.array([1.2, 1.5, 1.8]), 11, 10.0)
    np.testing.assert_allclose(times, np.arange(11) / 10)


# ---------------------------------------------------------------------------------- end to end

def _predict(client: TestClient, task: dict[str, Any], config: str) -> dict[str, Any]:
    answer = client.post("/predict", json={"tasks": [task], "label_config": config})
    assert answer.status_code == 200, answer.text
    return answer.json()


def _send(client: TestClient, task: dict[str, Any], config: str, ann_id: int,
          result: list[dict[str, Any]]) -> dict[str, Any]:
    answer = client.post("/webhook", json={
        "action": "ANNOTATION_CREATED", "task": task, "project": {"id": 1, "label_config": config},
        "annotation": {"id": ann_id, "result": result, "completed_by": 3,
                       "parent_prediction": 1}})
    assert answer.status_code == 200, answer.text
    return answer.json()


def _first_lone_keyframe(result: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A region and a present keyframe of it that is neither its first nor before a gap."""
    for region in result:
        sequence = region["value"]["sequence"]
        for item in sequence[1:-1]:
            if item["enabled"]:
                return region, item
    raise AssertionError("no keyframe to move")


def _check_round_trip(store: Path, task: dict[str, Any], config: str, framerate: float,
                      times: np.ndarray) -> None:
    """Predictions land on the right pictures; sent back unchanged they record nothing; a
    moved keyframe lands on the store frame Label Studio showed."""
    session = VideoSession.open(store)
    boxes = session.boxes()
    width = session.meta.width
    with TestClient(create_app(LabelStudioBackend(store))) as client:
        answer = _predict(client, task, config)
        assert "frames are matched by time" in answer["tasks"][0]["message"]
        result = answer["results"][0][0]["result"]
        for region in result:
            track = region_track_id(region)
            for item in region["value"]["sequence"]:
                at = (item["frame"] - 1) / framerate
                frame = int(np.searchsorted(times, at + 1e-6, side="right") - 1)
                row = (boxes.track_id == track) & (boxes.frame == frame)
                assert row.any(), (track, item)  # a box of the track is on that picture
                assert item["x"] * width / 100 == pytest.approx(
                    max(float(boxes.xyxy[row][0][0]), 0.0), abs=1e-3)
        unchanged = _send(client, task, config, 1, result)
        assert unchanged["counts"] == {} and unchanged["revision"] == 1  # an empty batch
        moved = copy.deepcopy(result)
        region, item = _first_lone_keyframe(moved)
        item["x"] += 1.0
        applied = _send(client, task, config, 2, moved)
    # the moved box; the track's other keyframes are pinned as they were (accept, absent)
    assert applied["counts"]["adjust"] == 1 and set(applied["counts"]) <= {"accept", "adjust",
                                                                          "absent"}
    log, _ = VideoSession.open(store).result.read_log()
    frame = int(np.searchsorted(times, (item["frame"] - 1) / framerate + 1e-6, "right") - 1)
    adjust = log.op == Op.ADJUST
    assert log.frame[adjust].tolist() == [frame]  # on the picture Label Studio showed
    assert log.track_id[adjust].tolist() == [region_track_id(region)]


def test_a_constant_rate_video_under_another_config_rate(tmp_path: Path) -> None:
    store = make_store(tmp_path / "out.zarr")  # 10 fps
    task = {"id": 1, "data": {"video": "clip.mp4"}}
    _check_round_trip(store, task, video_label_config(24.0, labels=("person", "car")), 24.0,
                      np.arange(60) / 10)


def test_a_variable_frame_rate_video(tmp_path: Path) -> None:
    frames = np.full((40, 96, 128, 3), 30, np.uint8)
    lines = []
    for i in range(40):
        x = 8 + 2 * i
        frames[i, 30:60, x:x + 20] = 220
        lines.append(f"{i + 1},-1,{x},30,20,30,0.9,-1,-1,-1")
    video = write_clip(tmp_path / "vfr.mkv", frames, fps=15, pts=PTS_MS.tolist(),
                       time_base=Fraction(1, 1000))
    det = tmp_path / "det.txt"
    det.write_text("\n".join(lines) + "\n")
    store = tmp_path / "vfr.zarr"
    run = CliRunner().invoke(main, ["track", str(video), "-o", str(store), "--detections",
                                    str(det), "--quiet"])
    assert run.exit_code == 0, run.output
    index, time_s = VideoSession.open(store).result.frames()
    np.testing.assert_allclose(time_s - time_s[0], PTS_MS / 1000, atol=1e-6)  # kept per frame
    task = {"id": 1, "data": {"video": str(video)}}
    _check_round_trip(store, task, video_label_config(20.0), 20.0, PTS_MS / 1000)
