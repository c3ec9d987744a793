"""One validator for every door: values checked in their stored dtype, one frame policy.

The frame policy (trackannot/validate.py): a box a person gives must lie inside the frame, else
the file is refused with where and why and the store is left byte for byte as it was; boxes
from a detector are clipped (tests/detect/test_from_file.py); exporters clip what they write,
so every exported file reads back.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.test_annotate import make_store, write_lines
from tests.test_review_store import new_queue
from trackannot.annotate import apply_corrections, video_meta
from trackannot.errors import InputFormatError
from trackannot.export.cvat import format_cvat_video
from trackannot.export.labelstudio import format_labelstudio
from trackannot.export.meta import VideoMeta, fit_to_frame
from trackannot.export.review_tasks import format_cvat_images, format_labelstudio_tasks
from trackannot.keyframes import Keyframes
from trackannot.store import open_store
from trackannot.validate import check_box, check_int, check_number, clip_to_frame


def _digest(root: Path) -> dict[str, bytes]:
    """Every file of the store directory (lock and cache folder included) -> its bytes."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


@pytest.mark.parametrize("values, match", [
    ([0, 0, 1e300, 5], "beyond the float32 range"),
    ([0, 0, float("inf"), 5], "must be a finite number"),
    ([0, 0, 10**400, 5], "must be a finite number"),
    ([3, 0, 3, 5], "empty or inverted"),
    ([16777216, 0, 16777217, 5], "empty or inverted after the float32 cast"),
    ([0, 0, True, 5], "must be a number, got True"),
    ([0, 0, 5], r"must be \[x1, y1, x2, y2\], four numbers"),
], ids=["1e300", "inf", "huge-int", "zero-width", "width-lost-in-float32", "bool", "three"])
def test_check_box_checks_the_float32_value(values, match):
    with pytest.raises(InputFormatError, match=f"here: 'box' .*{match}"):
        check_box(values, "here")


def test_check_box_returns_the_stored_values():
    box = check_box([0.1, 2, 3, 4.5], "here")
    assert box.dtype == np.float32 and box.tolist() == np.float32([0.1, 2, 3, 4.5]).tolist()


@pytest.mark.parametrize("value", [2**63, -1, 1.0, True, "3", None], ids=repr)
def test_check_int_refuses_before_any_cast(value):
    with pytest.raises(InputFormatError, match="here: 'id' must be an integer in 0..9223372036854775807"):
        check_int(value, "here", "id")


def test_check_number_refuses_what_float64_cannot_hold():
    assert check_number(10**300, "here", "x") == 1e300
    for value in (10**400, float("nan"), "1"):
        with pytest.raises(InputFormatError, match="here: 'x' must be a"):
            check_number(value, "here", "x")


def test_clip_to_frame_clips_and_says_what_it_did():
    xyxy = np.float32([[-5, 10, 20, 30], [310, 200, 330, 250], [400, 0, 420, 10], [1, 1, 5, 5]])
    clipped, changed, empty = clip_to_frame(xyxy, 320, 240)
    np.testing.assert_array_equal(clipped, [[0, 10, 20, 30], [310, 200, 320, 240],
                                            [320, 0, 320, 10], [1, 1, 5, 5]])
    assert changed.tolist() == [True, True, True, False]
    assert empty.tolist() == [False, False, True, False]


# ------------------------------------------------------------------------------ the doors


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """The 320x240 test store with one batch applied (so its lock and cache files exist)."""
    path = make_store(tmp_path / "out.zarr")
    apply_corrections(path, write_lines(tmp_path / "first.jsonl",
                                        [{"op": "accept", "track": 1, "frame": 3}]), author="ana")
    return path


def _keys() -> Keyframes:
    return Keyframes.create(track_id=[1, 1, 1], frame=[0, 20, 40], outside=[False, False, True],
                            xyxy=[[0, 10, 30, 90], [40, 10, 70, 90], [78, 10, 108, 90]])


def _cvat(meta: VideoMeta, box: str) -> str:
    return format_cvat_video(_keys(), meta).replace(
        'xtl="40.0" ytl="10.0" xbr="70.0" ybr="90.0"', box)


def _ls(meta: VideoMeta, **value: float) -> str:
    tasks = format_labelstudio(_keys(), meta)
    tasks[0]["annotations"][0]["result"][0]["value"]["sequence"][1].update(value)
    return json.dumps(tasks)


def _queue_ls(queue, meta: VideoMeta, **value: float) -> str:
    tasks = format_labelstudio_tasks(queue, meta)
    for task in tasks:
        task["annotations"] = [{"result": task["predictions"][0]["result"]}]
    tasks[0]["annotations"][0]["result"][0]["value"].update(value)
    return json.dumps(tasks)


DOORS = [
    ("jsonl-outside", "fix.jsonl", lambda m, q: json.dumps(
        {"op": "adjust", "track": 1, "frame": 5, "box": [-36, 10, 20, 90]}),
     r"fix\.jsonl line 1: 'box' \[-36\.0, 10\.0, 20\.0, 90\.0\] is not inside the 320x240 frame"),
    ("jsonl-create-outside", "fix.jsonl", lambda m, q: json.dumps(
        {"op": "create", "frame": 5, "box": [300, 10, 330, 90]}),
     r"fix\.jsonl line 1: 'box' .* is not inside the 320x240 frame"),
    ("cvat-outside", "fix.xml", lambda m, q: _cvat(m, 'xtl="40.0" ytl="10.0" xbr="370.0" ybr="90.0"'),
     r"fix\.xml line \d+: 'xtl, ytl, xbr, ybr' \[40\.0, 10\.0, 370\.0, 90\.0\] is not inside"),
    ("cvat-inverted", "fix.xml", lambda m, q: _cvat(m, 'xtl="70.0" ytl="10.0" xbr="40.0" ybr="90.0"'),
     r"fix\.xml line \d+: 'xtl, ytl, xbr, ybr' .* is empty or inverted"),
    ("cvat-1e300", "fix.xml", lambda m, q: _cvat(m, 'xtl="40.0" ytl="10.0" xbr="1e300" ybr="90.0"'),
     r"fix\.xml line \d+: 'xtl, ytl, xbr, ybr' .* is beyond the float32 range"),
    ("ls-outside", "fix.json", lambda m, q: _ls(m, x=-7.5),
     r"fix\.json: task 0, annotations\[0\]\.result\[0\] \(id 't1'\)\.value\.sequence\[1\]: "
     r"'x, y, width, height' \[-24\.0, .*\] is not inside the 320x240 frame"),
    ("ls-inverted", "fix.json", lambda m, q: _ls(m, width=-5.0),
     r"sequence\[1\]: 'x, y, width, height' .* is empty or inverted"),
    ("ls-nan", "fix.json", lambda m, q: _ls(m, x=float("nan")),
     r"fix\.json: NaN is not a JSON number"),
    ("queue-jsonl-outside", "answers.jsonl", lambda m, q: json.dumps(
        {"item": 0, "op": "adjust", "box": [0, 0, 10, 500]}),
     r"answers\.jsonl line 1: 'box' .* is not inside the 320x240 frame"),
    ("queue-jsonl-item-2**70", "answers.jsonl", lambda m, q: json.dumps(
        {"item": 2**70, "op": "accept"}), r"answers\.jsonl line 1: 'item' must be an integer"),
    ("queue-cvat-outside", "answers.xml", lambda m, q: format_cvat_images(q, m).replace(
        'xtl="', 'xtl="-50', 1), r"answers\.xml line \d+: 'box' .* is not inside the 320x240"),
    ("queue-ls-inverted", "answers.json", lambda m, q: _queue_ls(q, m, width=-1.0),
     r"answers\.json task 0 region 0: 'box' .* is empty or inverted"),
    ("queue-ls-deep", "answers.json", lambda m, q: "[" * 100_000 + "]" * 100_000,
     r"answers\.json: JSON nested too deeply"),
]


@pytest.mark.parametrize(("name", "text", "match"), [d[1:] for d in DOORS],
                         ids=[d[0] for d in DOORS])
def test_every_door_refuses_what_the_store_cannot_hold_and_changes_nothing(
        store: Path, tmp_path: Path, name: str, text, match: str) -> None:
    queue = new_queue(store, "q0000-a", budget=4) if name.startswith("answers") else None
    meta = video_meta(open_store(store)["clip"])
    path = tmp_path / name
    path.write_text(text(meta, queue))
    before = _digest(store)
    with pytest.raises(InputFormatError, match=match):
        apply_corrections(store, path, author="ana", queue=queue.queue_id if queue else None)
    assert _digest(store) == before


def test_exporters_clip_to_the_frame_and_the_file_reads_back(tmp_path: Path) -> None:
    """A tracked box reaching past the edge is written clipped (CVAT x >= 0, Label Studio in
    0..100%); a present keyframe with nothing inside the frame becomes an outside one."""
    from trackannot.export.cvat import read_cvat_video
    from trackannot.export.labelstudio import read_labelstudio

    meta = VideoMeta("clip", 320, 240, 60, 10.0, ("person",))
    keys = Keyframes.create(track_id=[1, 1, 1, 1], frame=[0, 10, 20, 30],
                            outside=[False, False, False, True],
                            xyxy=[[-36, 10, 20, 90], [100, 10, 140, 90], [330, 10, 360, 90],
                                  [330, 10, 360, 90]])
    fitted = fit_to_frame(keys, meta)
    np.testing.assert_array_equal(fitted.xyxy, [[0, 10, 20, 90], [100, 10, 140, 90],
                                                [100, 10, 140, 90], [100, 10, 140, 90]])
    assert fitted.outside.tolist() == [False, False, True, True]
    cvat = tmp_path / "a.xml"
    cvat.write_text(format_cvat_video(keys, meta))
    assert read_cvat_video(cvat, meta).equals(fitted)
    tasks = format_labelstudio(keys, meta)
    for item in tasks[0]["annotations"][0]["result"][0]["value"]["sequence"]:
        assert 0 <= item["x"] and item["x"] + item["width"] <= 100
    ls = tmp_path / "a.json"
    ls.write_text(json.dumps(tasks))
    assert len(read_labelstudio(ls, meta))


def test_keyframes_of_a_track_wholly_outside_the_frame_are_left_out() -> None:
    meta = VideoMeta("clip", 320, 240, 60, 10.0, ("person",))
    keys = Keyframes.create(track_id=[1, 2], frame=[0, 0], xyxy=[[400, 0, 420, 10], [1, 1, 5, 5]])
    assert fit_to_frame(keys, meta).track_id.tolist() == [2]


@pytest.mark.parametrize("columns, match", [
    ({"track_id": [2**70]}, r"Keyframes\.track_id must be integers in .* got 1180591620717411303424"),
    ({"frame": [1e23]}, r"Keyframes\.frame must be integers in .* got 1e\+23"),
    ({"class_id": [2**40]}, r"Keyframes\.class_id must be integers in .*\(int32\)"),
    ({"xyxy": [[0, 0, 1e300, 1]]}, r"Keyframes\.xyxy value 1e\+300 is beyond the float32 range"),
    ({"xyxy": [[0, 0, 1]]}, r"Keyframes\.xyxy must be \(1, 4\) boxes"),
], ids=["track-2**70", "frame-1e23", "class-2**40", "box-1e300", "three-values"])
def test_keyframes_built_in_memory_refuse_values_that_do_not_fit(columns, match):
    args = {"track_id": [1], "frame": [0], "xyxy": [[0, 0, 5, 5]], **columns}
    with pytest.raises(InputFormatError, match=match):
        Keyframes.create(**args)
