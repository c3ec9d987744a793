"""Label Studio video JSON: round trip, parity with Label Studio's interpolation, its files, errors.

Tolerances. Label Studio keeps boxes in percent of the frame size and interpolates in percent.
Converting pixels -> percent -> pixels and interpolating in either space are float64 operations
with relative error ~1e-16, so the two sides differ by ~1e-13 px before the final float32
rounding, which can then land one float32 ulp apart: Label Studio's boxes match ours to one ulp
of each value (at most 1.2e-4 px in a 1280 px frame; 200 seeds measured exactly 1). After a round
trip through the file, a keyframe the writer added at f - 1 before an outside keyframe at f is
read back as float32 (half an ulp off the float64 line), and interpolating toward it rounds once
more: two ulps (one measured).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.export import ls_oracle
from tests.export.keyframe_cases import (
    META,
    box_table,
    canonical_keyframes,
    keyframes_every,
    mot17_gt,
    random_keyframes,
)
from trackannot.boxes import Origin
from trackannot.errors import InputFormatError
from trackannot.export.labelstudio import (
    format_labelstudio,
    labelstudio_keyframes,
    read_labelstudio,
    region_revision,
    region_track_id,
    write_labelstudio,
)
from trackannot.export.meta import VideoMeta, close_tracks
from trackannot.interpolate import interpolate_linear
from trackannot.keyframes import Keyframes

SEEDS = list(range(8))


def assert_within_ulps(got: np.ndarray, want: np.ndarray, ulps: int, what: object) -> None:
    """Each value of `got` within `ulps` float32 spacings of the float32 value in `want`."""
    want = np.asarray(want, dtype=np.float32)
    err = np.abs(np.asarray(got, dtype=np.float64) - want) / np.spacing(np.abs(want))
    assert (err <= ulps).all(), f"{what}: {got} vs {want} ({err.max():.2f} ulps)"


def assert_drawn_as_ours(drawn: dict[tuple[str, int], dict[str, Any]],
                         table: dict[tuple[int, int], np.ndarray], meta: VideoMeta) -> None:
    """Label Studio's drawn boxes are `table`'s boxes, box for box, within one float32 ulp.

    Args:
        drawn: `ls_oracle.drawn_boxes` output: ("t<track>", 1-based frame) -> box in percent.
        table: `box_table` output: (track_id, 0-based frame) -> xyxy pixels.
        meta: the frame size that turns percent back into pixels.
    """
    assert {(f"t{t}", f + 1) for t, f in table} == drawn.keys()
    scale = np.array([meta.width, meta.height, meta.width, meta.height]) / 100.0
    for (track, frame), box in table.items():
        p = drawn[(f"t{track}", frame + 1)]
        pixels = np.array([p["x"], p["y"], p["x"] + p["width"], p["y"] + p["height"]]) * scale
        assert_within_ulps(pixels.astype(np.float32), box, 1, (track, frame))


@pytest.mark.parametrize("as_predictions", [False, True], ids=["annotations", "predictions"])
@pytest.mark.parametrize("seed", SEEDS)
def test_round_trip_is_exact_for_keyframes_both_tools_hold(
    tmp_path: Path, seed: int, as_predictions: bool
) -> None:
    keys = canonical_keyframes(seed)
    path = write_labelstudio(tmp_path / "a.json", keys, META, as_predictions=as_predictions)
    assert read_labelstudio(path, META).equals(keys)
    assert not list(tmp_path.glob("*.partial"))


@pytest.mark.parametrize("seed", SEEDS)
def test_round_trip_keeps_every_interpolated_box(tmp_path: Path, seed: int) -> None:
    keys = random_keyframes(seed)
    back = read_labelstudio(write_labelstudio(tmp_path / "a.json", keys, META), META)
    want, got = box_table(interpolate_linear(keys)), box_table(interpolate_linear(back))
    assert want.keys() == got.keys()
    for key, box in want.items():
        assert_within_ulps(got[key], box, 2, key)


@pytest.mark.parametrize("seed", SEEDS)
def test_label_studio_draws_what_interpolate_linear_computes(seed: int) -> None:
    keys = random_keyframes(seed)
    ours = interpolate_linear(keys)
    assert (ours.origin == Origin.INTERPOLATED).any() and keys.outside.any()
    assert (ours.frame == META.num_frames - 1).any()
    task = json.loads(json.dumps(format_labelstudio(keys, META)))[0]  # through JSON text
    assert_drawn_as_ours(ls_oracle.drawn_boxes(task), box_table(ours), META)


def test_label_studio_draws_real_tracks_as_interpolate_linear_does(
    tmp_path: Path, data_dir: Path
) -> None:
    boxes, meta = mot17_gt(data_dir)  # MOT17-09 pedestrians: 26 tracks with gaps, 1920x1080
    keys = keyframes_every(boxes, meta.num_frames, step=5)
    drawn = ls_oracle.drawn_boxes(json.loads(json.dumps(format_labelstudio(keys, meta)))[0])
    assert_drawn_as_ours(drawn, box_table(interpolate_linear(keys)), meta)
    assert read_labelstudio(write_labelstudio(tmp_path / "a.json", keys, meta), meta).equals(keys)


def test_task_layout() -> None:
    keys = Keyframes.create(
        track_id=[3, 3, 3, 3, 8], frame=[0, 4, 5, 20, 59], outside=[0, 0, 1, 0, 0],
        xyxy=[[128, 72, 256, 144], [0, 0, 64, 36], [0, 0, 64, 36], [640, 360, 1280, 720],
              [1, 2, 3, 4]],
        class_id=[1, 1, 1, 1, 0],
    )
    (task,) = format_labelstudio(keys, META, as_predictions=True, model_version="v7",
                                 video_url="s3://bucket/clip.mp4")
    assert task["data"] == {"video": "s3://bucket/clip.mp4"}
    (pred,) = task["predictions"]
    assert pred["model_version"] == "v7" and pred["score"] == 1.0 and "annotations" not in task
    first, second = pred["result"]
    assert first["id"] == "t3" and first["type"] == "videorectangle"
    assert (first["from_name"], first["to_name"], first["origin"]) == ("box", "video", "prediction")
    value = first["value"]
    assert value["framesCount"] == 60 and value["duration"] == 2.0
    assert value["labels"] == ["car"]
    seq = value["sequence"]
    # 1-based frames; frame 4 (0-based) is the last before the gap; frame 20 is the track's last
    assert [(s["frame"], s["enabled"]) for s in seq] == [(1, True), (5, False), (21, False)]
    assert seq[0] == {"frame": 1, "enabled": True, "rotation": 0, "x": 10.0, "y": 10.0,
                      "width": 10.0, "height": 10.0, "time": 1 / 30}
    # a box on the last frame stays enabled (nothing follows it)
    assert second["value"]["sequence"][0]["frame"] == 60
    assert second["value"]["sequence"][0]["enabled"] is True


def test_outside_keyframe_far_from_the_last_box_adds_a_disabled_keyframe() -> None:
    keys = Keyframes.create(track_id=[1, 1], frame=[10, 20], outside=[False, True],
                            xyxy=[[0, 0, 100, 100], [100, 0, 200, 100]])
    seq = format_labelstudio(keys, META)[0]["annotations"][0]["result"][0]["value"]["sequence"]
    assert [(s["frame"], s["enabled"]) for s in seq] == [(11, True), (20, False)]
    # the added keyframe (0-based frame 19) holds the box at t = 9/10 toward the outside box
    assert seq[1]["x"] == pytest.approx(100 * 90 / 1280)
    assert seq[1]["width"] == pytest.approx(100 * 100 / 1280)


def _ls_export(sequence: list[dict[str, Any]], **value: Any) -> list[dict[str, Any]]:
    """A task the way Label Studio exports it ('JSON' export), one region."""
    region = {
        "original_width": 1280, "original_height": 720, "image_rotation": 0,
        "value": {"framesCount": 60, "duration": 2.0, "sequence": sequence,
                  "labels": ["person"], **value},
        "id": "Q3sd_1Xk2a", "from_name": "box", "to_name": "video", "type": "videorectangle",
        "origin": "manual",
    }
    label_result = {"id": "x", "type": "labels", "value": {"start": 0, "labels": ["person"]},
                    "from_name": "videoLabels", "to_name": "video"}
    return [{
        "id": 12, "data": {"video": "/data/upload/1/clip.mp4"},
        "annotations": [{"id": 5, "completed_by": 1, "was_cancelled": False, "ground_truth": False,
                         "created_at": "2024-05-01T10:00:00Z", "lead_time": 31.2,
                         "result": [region, label_result]}],
        "predictions": [], "meta": {}, "project": 1,
    }]


def _kf(frame: int, x: float, enabled: bool = True) -> dict[str, Any]:
    return {"frame": frame, "enabled": enabled, "rotation": 0, "x": x, "y": 10.0,
            "width": 12.5, "height": 20.0, "time": frame / 30}


def test_reads_a_label_studio_export(tmp_path: Path) -> None:
    # shown 3..6, hidden 7..9, shown 10..12, hidden after 12? no: 12 is enabled, so to the end
    sequence = [_kf(3, 0.0), _kf(6, 10.0, enabled=False), _kf(10, 50.0), _kf(12, 25.0)]
    path = tmp_path / "export.json"
    path.write_text(json.dumps(_ls_export(sequence)))
    keys = read_labelstudio(path, META)
    assert keys.track_id.tolist() == [0] * 6
    assert keys.frame.tolist() == [2, 5, 6, 9, 11, 59]
    assert keys.outside.tolist() == [False, False, True, False, False, False]
    assert keys.xyxy[:, 0].tolist() == [0.0, 128.0, 128.0, 640.0, 320.0, 320.0]
    assert keys.xyxy[0].tolist() == [0.0, 72.0, 160.0, 216.0]
    drawn = ls_oracle.drawn_boxes(_ls_export(sequence)[0])
    got = box_table(interpolate_linear(keys))
    assert {f + 1 for _, f in got} == {f for _, f in drawn}


def test_disabled_keyframe_right_before_the_next_hides_nothing(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_text(json.dumps(_ls_export([_kf(3, 0.0, enabled=False), _kf(4, 5.0, False)])))
    keys = read_labelstudio(path, META)
    assert keys.frame.tolist() == [2, 3, 4] and keys.outside.tolist() == [False, False, True]


def test_a_list_of_tasks_is_searched_for_the_video(tmp_path: Path) -> None:
    other = _ls_export([_kf(1, 0.0)])[0] | {"data": {"video": "/data/other.mp4"}}
    path = tmp_path / "a.json"
    path.write_text(json.dumps([other, _ls_export([_kf(9, 0.0)])[0]]))
    assert read_labelstudio(path, META).frame.tolist() == [8, 59]  # enabled: to the end


# errors ---------------------------------------------------------------------------------------


def _with(**changes: Any) -> list[dict[str, Any]]:
    task = _ls_export([_kf(3, 0.0), _kf(6, 10.0, enabled=False)])
    region = task[0]["annotations"][0]["result"][0]
    for key, val in changes.items():
        if key == "task":
            val(task)
        elif key in ("framesCount", "labels", "sequence"):
            region["value"][key] = val
        elif key.startswith("kf_"):
            region["value"]["sequence"][0][key[3:]] = val
    return task


def _drop(obj: dict, key: str) -> None:
    del obj[key]


BAD_TASKS = [
    ("unknown-label", _with(labels=["dog"]), r"labels is \['dog'\]; expected one label of "
     r"\['person', 'car', 'bicycle'\]"),
    ("two-labels", _with(labels=["person", "car"]), r"expected one label"),
    ("frames-count", _with(framesCount=90), r"framesCount is 90, but video 'clip.mp4' has 60"),
    ("frame-zero", _with(kf_frame=0), r"sequence\[0\]: frame 0 is outside 1\.\.60 .*1-based"),
    ("frame-past-end", _with(kf_frame=61), r"sequence\[0\]: frame 61 is outside 1\.\.60"),
    ("frame-not-int", _with(kf_frame=2.5), r"sequence\[0\]\.frame is 2\.5, expected int"),
    ("x-not-number", _with(kf_x="10"), r"sequence\[0\]\.x is '10', expected float"),
    ("rotated", _with(kf_rotation=15), r"sequence\[0\]: rotation 15; only 0"),
    ("no-sequence", _with(task=lambda t: _drop(t[0]["annotations"][0]["result"][0]["value"],
                                               "sequence")), r"value: missing field 'sequence'"),
    ("no-x", _with(task=lambda t: _drop(
        t[0]["annotations"][0]["result"][0]["value"]["sequence"][1], "x")),
     r"task 0, annotations\[0\]\.result\[0\] \(id 'Q3sd_1Xk2a'\)\.value\.sequence\[1\]: "
     r"missing field 'x'"),
    ("no-value", _with(task=lambda t: _drop(t[0]["annotations"][0]["result"][0], "value")),
     r"result\[0\]: missing field 'value'"),
    ("two-annotations", _with(task=lambda t: t[0]["annotations"].append({"result": []})),
     r"has 2 annotations and 0 predictions; pass annotation=<index>"),
    ("no-result", _with(task=lambda t: _drop(t[0]["annotations"][0], "result")),
     r"annotations\[0\]: missing 'result' list"),
    ("two-tasks-of-the-video", _with(task=lambda t: t.append(t[0])),
     r"2 tasks, 2 of them with data naming 'clip.mp4'; export the one task"),
    ("no-task-of-the-video", _with(task=lambda t: t.extend([{"data": {"video": "a.mp4"}}] * 2)
                                   or t.pop(0)),
     r"2 tasks, 0 of them with data naming 'clip.mp4'"),
    ("not-a-task", [1, 2], r"expected a Label Studio task or a list of tasks"),
]


@pytest.mark.parametrize(("data", "pattern"), [c[1:] for c in BAD_TASKS],
                         ids=[c[0] for c in BAD_TASKS])
def test_bad_tasks_say_where_and_why(tmp_path: Path, data: Any, pattern: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data, indent=1))
    with pytest.raises(InputFormatError, match=pattern) as err:
        read_labelstudio(path, META)
    assert str(path) in str(err.value)


def test_malformed_json_gives_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('[\n {"data": {"video": "clip.mp4"},\n  "annotations": [}\n]\n')
    with pytest.raises(InputFormatError, match=r"malformed JSON at line 3, column 19"):
        read_labelstudio(path, META)


def test_choosing_an_annotation(tmp_path: Path) -> None:
    data = _with(task=lambda t: t[0]["annotations"].append({"result": []}))
    path = tmp_path / "a.json"
    path.write_text(json.dumps(data))
    assert len(read_labelstudio(path, META, annotation=0)) == 3
    assert len(read_labelstudio(path, META, annotation=1)) == 0
    with pytest.raises(InputFormatError, match="annotation=2 does not exist"):
        read_labelstudio(path, META, annotation=2)


def test_keyframes_label_studio_cannot_hold_are_refused() -> None:
    keys = Keyframes.create(track_id=[1, 1], frame=[0, 3], xyxy=np.ones((2, 4)), class_id=[0, 2])
    with pytest.raises(InputFormatError, match="changes class from 'person'"):
        format_labelstudio(keys, META)
    with pytest.raises(InputFormatError, match="keyframe at frame 60"):
        format_labelstudio(keys.replace(frame=[0, 60], class_id=[0, 0]), META)


def test_round_trip_of_closed_tracks_matches_close_tracks(tmp_path: Path) -> None:
    keys = Keyframes.create(track_id=[2, 5], frame=[7, 59], xyxy=[[1, 2, 3, 4], [5, 6, 7, 8]])
    back = read_labelstudio(write_labelstudio(tmp_path / "a.json", keys, META), META)
    assert back.equals(close_tracks(keys, META.num_frames))


@pytest.mark.parametrize("seed", SEEDS[:3])
def test_a_result_list_in_memory_reads_as_its_file(tmp_path: Path, seed: int) -> None:
    keys = canonical_keyframes(seed)
    task = json.loads(json.dumps(format_labelstudio(keys, META, as_predictions=True)))[0]
    result = task["predictions"][0]["result"]
    assert labelstudio_keyframes(result, META, "webhook").equals(keys)
    path = write_labelstudio(tmp_path / "a.json", keys, META, as_predictions=True)
    assert labelstudio_keyframes(result, META).equals(read_labelstudio(path, META))


@pytest.mark.parametrize(("result", "pattern"), [
    ({"id": "t1"}, r"^webhook result is \{'id': 't1'\}, expected a list of regions$"),
    ([{"id": "t1", "type": "videorectangle", "value": []}],
     r"^webhook result\[0\]\.value is \[\], expected dict$"),
], ids=["not-a-list", "bad-value"])
def test_a_bad_result_list_names_where(result: Any, pattern: str) -> None:
    with pytest.raises(InputFormatError, match=pattern):
        labelstudio_keyframes(result, META, "webhook result")


@pytest.mark.parametrize(("region", "track", "revision"), [
    ({"id": "t7"}, 7, None), ({"id": "t0"}, 0, None), ({"id": "t7-r3"}, 7, 3),
    ({"id": "Xk9_2aBc"}, None, None), ({"id": "t" + "9" * 20}, None, None),
    ({"id": "t7-r" + "9" * 20}, None, None), ({"id": "t7-r"}, None, None), ({}, None, None),
    ("t7", None, None),
], ids=["ours", "zero", "with-revision", "drawn-in-ls", "past-int64", "revision-past-int64",
        "empty-revision", "no-id", "not-a-region"])
def test_region_track_id(region: Any, track: int | None, revision: int | None) -> None:
    assert region_track_id(region) == track
    assert region_revision(region) == revision


def test_regions_can_carry_the_revision_they_show(tmp_path: Path) -> None:
    keys = canonical_keyframes(0)
    task = format_labelstudio(keys, META, as_predictions=True, revision=12)[0]
    result = task["predictions"][0]["result"]
    assert {r["id"] for r in result} == {f"t{t}-r12" for t in np.unique(keys.track_id)}
    assert labelstudio_keyframes(result, META).equals(keys)
