"""CVAT for video 1.1: exact round trip, parity with CVAT's interpolation, its exports, errors."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from tests.export import cvat_oracle
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
from trackannot.export.cvat import format_cvat_video, read_cvat_video, write_cvat_video
from trackannot.export.meta import VideoMeta, close_tracks
from trackannot.interpolate import interpolate_linear
from trackannot.keyframes import Keyframes

SEEDS = list(range(8))
# float32 spacing at the frame size (1.2e-4 px at 1280 px). CVAT interpolates the two-decimal
# numbers of its files in float64; we read them into float32 (half an ulp each) and interpolate
# those: the lines differ by at most half an ulp, plus one ulp of final rounding.
ULP = float(np.spacing(np.float32(max(META.width, META.height))))


@pytest.mark.parametrize("seed", SEEDS)
def test_round_trip_is_exact(tmp_path: Path, seed: int) -> None:
    keys = random_keyframes(seed)
    back = read_cvat_video(write_cvat_video(tmp_path / "a.xml", keys, META), META)
    assert back.equals(close_tracks(keys, META.num_frames))
    canon = canonical_keyframes(seed)  # already closed: read back row for row
    assert read_cvat_video(write_cvat_video(tmp_path / "b.xml", canon, META), META).equals(canon)
    assert not list(tmp_path.glob("*.partial"))


def test_without_meta_the_file_names_labels_and_size(tmp_path: Path) -> None:
    keys = random_keyframes(3)
    path = write_cvat_video(tmp_path / "a.xml", keys, META)
    assert read_cvat_video(path).equals(close_tracks(keys, META.num_frames))


@pytest.mark.parametrize("seed", SEEDS)
def test_cvat_shows_what_interpolate_linear_computes(tmp_path: Path, seed: int) -> None:
    keys = random_keyframes(seed)
    ours = interpolate_linear(keys)
    # the cases matter: gaps, interpolated frames, a track ending on the last frame
    assert (ours.origin == Origin.INTERPOLATED).any() and keys.outside.any()
    assert (ours.frame == META.num_frames - 1).any()
    cvat = cvat_oracle.visible_boxes(write_cvat_video(tmp_path / "a.xml", keys, META))
    table = box_table(ours)
    assert cvat.keys() == table.keys()
    for key, box in table.items():
        np.testing.assert_array_equal(cvat[key].astype(np.float32), box, err_msg=str(key))


def test_cvat_shows_real_tracks_as_interpolate_linear_does(tmp_path: Path, data_dir: Path) -> None:
    boxes, meta = mot17_gt(data_dir)  # MOT17-09 pedestrians: 26 tracks with gaps, 1920x1080
    keys = keyframes_every(boxes, meta.num_frames, step=5)
    ours = box_table(interpolate_linear(keys))
    assert len(ours) == len(boxes)  # the keyframes span every gt box
    cvat = cvat_oracle.visible_boxes(write_cvat_video(tmp_path / "a.xml", keys, meta))
    assert cvat.keys() == ours.keys()
    for key, box in ours.items():
        np.testing.assert_array_equal(cvat[key].astype(np.float32), box, err_msg=str(key))
    assert read_cvat_video(tmp_path / "a.xml", meta).equals(keys)


def test_file_has_cvat_layout() -> None:
    keys = random_keyframes(1)
    root = ET.fromstring(format_cvat_video(keys, META, source="manual"))
    assert root.tag == "annotations" and root.findtext("version") == "1.1"
    task = root.find("meta/task")
    assert task is not None
    assert task.findtext("size") == "60" and task.findtext("mode") == "interpolation"
    assert task.findtext("original_size/width") == "1280"
    assert task.findtext("original_size/height") == "720"
    assert [e.text for e in task.findall("labels/label/name")] == list(META.class_names)
    tracks = root.findall("track")
    assert sorted(int(t.get("id", "")) for t in tracks) == np.unique(keys.track_id).tolist()
    for track in tracks:
        assert track.get("source") == "manual" and track.get("label") in META.class_names
        boxes = track.findall("box")
        assert all(b.get("keyframe") == "1" and b.get("z_order") == "0" for b in boxes)
        frames = [int(b.get("frame", "")) for b in boxes]
        assert frames == sorted(frames)
        last = boxes[-1]
        assert last.get("outside") == "1" or frames[-1] == META.num_frames - 1


def _as_cvat_tracks(keys: Keyframes) -> dict[int, dict]:
    ids, starts = keys.track_bounds()
    return {
        int(tid): {
            "label": META.class_names[keys.class_id[lo]],
            "shapes": [
                {"frame": int(keys.frame[i]), "outside": bool(keys.outside[i]),
                 "points": keys.xyxy[i].astype(np.float64).tolist()}
                for i in range(lo, hi)
            ],
        }
        for tid, lo, hi in zip(ids, starts[:-1], starts[1:])
    }


@pytest.mark.parametrize("seed", SEEDS[:4])
def test_reads_files_exported_by_cvat(tmp_path: Path, seed: int) -> None:
    # what CVAT exports after importing our file: every frame, keyframe="0" rows, two decimals
    keys = close_tracks(random_keyframes(seed), META.num_frames)
    path = tmp_path / "annotations.xml"
    path.write_text(cvat_oracle.dump_like_cvat(
        _as_cvat_tracks(keys), META.num_frames, META.width, META.height, list(META.class_names)
    ))
    back = read_cvat_video(path, META)
    rank = {int(t): i for i, t in enumerate(np.unique(keys.track_id))}  # CVAT numbers 0, 1, ...
    two_decimals = [[float(f"{v:.2f}") for v in row] for row in keys.xyxy.astype(np.float64)]
    assert back.equals(keys.replace(track_id=[rank[int(t)] for t in keys.track_id],
                                    xyxy=two_decimals))


@pytest.mark.parametrize("seed", SEEDS[:4])
def test_cvat_export_interpolates_like_cvat_including_propagation(
    tmp_path: Path, seed: int
) -> None:
    # tracks NOT closed: CVAT carries a last box to the end, the reader adds it at the last frame
    keys = random_keyframes(seed)
    path = tmp_path / "annotations.xml"
    path.write_text(cvat_oracle.dump_like_cvat(
        _as_cvat_tracks(keys), META.num_frames, META.width, META.height, list(META.class_names)
    ))
    cvat = cvat_oracle.visible_boxes(path)
    table = box_table(interpolate_linear(read_cvat_video(path, META)))
    assert cvat.keys() == table.keys()
    assert any(f == META.num_frames - 1 for _, f in table)
    for key, box in table.items():
        np.testing.assert_allclose(box, cvat[key], rtol=0, atol=2 * ULP, err_msg=str(key))


# errors ---------------------------------------------------------------------------------------

SMALL = Keyframes.create(track_id=[4, 4, 9], frame=[2, 8, 5],
                         xyxy=[[10, 20, 30, 40], [12.5, 20, 32.5, 40], [100, 100, 150, 180]],
                         class_id=[0, 0, 1])
BASE = format_cvat_video(SMALL, META)
FIRST_BOX = '<box frame="2"'
CAR_TRACK = 'label="car"'


def _line(text: str) -> int:
    return BASE[: BASE.index(text)].count("\n") + 1


BAD_FILES = [
    ("malformed", FIRST_BOX, "<box frame=2",
     rf"malformed XML at line {_line(FIRST_BOX)}, column \d+"),
    ("truncated", "</annotations>", "", r"malformed XML at line \d+, column \d+: no element found"),
    ("unknown-label", 'label="car"', 'label="dog"',
     rf"line {_line(CAR_TRACK)}: unknown label 'dog'; labels allowed: \['person', 'car', "
     r"'bicycle'\]"),
    ("no-track-label", 'label="car" ', "", r"<track> has no 'label' attribute"),
    ("frame-count", "<size>60</size>", "<size>61</size>", r"task of 61 frames.*has 60 frames"),
    ("frame-size", "<width>1280</width>", "<width>1920</width>",
     r"1920x720 frames.*is 1280x720"),
    ("missing-xtl", 'xtl="10.0" ', "", rf"line {_line(FIRST_BOX)}: <box> has no 'xtl' attribute"),
    ("missing-frame", FIRST_BOX, "<box", r"<box> has no 'frame' attribute"),
    ("negative-frame", FIRST_BOX, '<box frame="-3"', r"box frame -3 is outside .*0\.\.59"),
    ("frame-past-end", FIRST_BOX, '<box frame="60"', r"box frame 60 is outside .*0\.\.59"),
    ("frame-not-int", FIRST_BOX, '<box frame="2.5"', r"attribute frame='2\.5' is not an int"),
    ("coord-not-number", 'xtl="10.0"', 'xtl="ten"', r"xtl='ten' is not a number"),
    ("repeated-frame", '<box frame="8"', '<box frame="2"', r"two keyframes at frame 2 \(also line"),
    ("repeated-track", 'track id="9"', 'track id="4"', r"track id 4 repeats the track at line"),
    ("images-format", "  <track id=\"4\"", '  <image id="0" name="a.jpg"/>\n  <track id="4"',
     r"'CVAT for images'"),
    ("polygon-track", FIRST_BOX, '<polygon frame="2" points="1,2;3,4"/>\n    <box frame="1"',
     r"<polygon> in track 4; trackannot reads box"),
    ("rotated", FIRST_BOX, '<box rotation="30" frame="2"', r"rotated box \(rotation=30\)"),
    ("frame-step", "<frame_filter></frame_filter>", "<frame_filter>step=5</frame_filter>",
     r"frame filter 'step=5'"),
]


@pytest.mark.parametrize(("old", "new", "pattern"), [c[1:] for c in BAD_FILES],
                         ids=[c[0] for c in BAD_FILES])
def test_bad_files_say_where_and_why(tmp_path: Path, old: str, new: str, pattern: str) -> None:
    assert old in BASE
    path = tmp_path / "bad.xml"
    path.write_text(BASE.replace(old, new, 1))
    with pytest.raises(InputFormatError, match=pattern) as err:
        read_cvat_video(path, META)
    assert str(path) in str(err.value)


def test_base_file_reads(tmp_path: Path) -> None:
    path = tmp_path / "ok.xml"
    path.write_text(BASE)
    assert read_cvat_video(path, META).equals(close_tracks(SMALL, META.num_frames))


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputFormatError, match="not found"):
        read_cvat_video(tmp_path / "nope.xml", META)


BAD_KEYFRAMES = [
    ("frame-past-end", SMALL.replace(frame=[2, 8, 60]), r"keyframe at frame 60.*has 60 frames"),
    ("class-out-of-range", SMALL.replace(class_id=[0, 0, 3]), r"class_id 3; expected 0\.\.2"),
    ("class-changes", SMALL.replace(class_id=[0, 1, 1]),
     r"track 4 changes class from 'person' \(frame 2\) to 'car' \(frame 8\)"),
    ("non-finite", SMALL.replace(xyxy=[[np.nan, 0, 1, 1], [0, 0, 1, 1], [0, 0, 1, 1]]),
     r"non-finite box"),
]


@pytest.mark.parametrize(("keys", "pattern"), [c[1:] for c in BAD_KEYFRAMES],
                         ids=[c[0] for c in BAD_KEYFRAMES])
def test_keyframes_cvat_cannot_hold_are_refused(keys: Keyframes, pattern: str) -> None:
    with pytest.raises(InputFormatError, match=pattern):
        format_cvat_video(keys, META)


def test_unknown_source_is_refused() -> None:
    with pytest.raises(InputFormatError, match=re.escape("one of ('auto', 'semi-auto'")):
        format_cvat_video(SMALL, META, source="robot")


def test_labels_with_xml_characters_survive(tmp_path: Path) -> None:
    meta = VideoMeta("a&b.mp4", 64, 48, 10, 5.0, ('say "hi"', "<tag>", "a&b"))
    keys = Keyframes.create(track_id=[0, 1, 2], frame=[0, 1, 2], xyxy=[[1, 1, 5, 5]] * 3,
                            class_id=[0, 1, 2])
    path = write_cvat_video(tmp_path / "x.xml", keys, meta)
    assert read_cvat_video(path, meta).equals(close_tracks(keys, meta.num_frames))
    assert read_cvat_video(path).class_id.tolist() == [0, 0, 1, 1, 2, 2]
