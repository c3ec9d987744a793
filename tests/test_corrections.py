"""Corrections files: parsing, round trip, and errors that name the file and line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from trackannot.corrections import Corrections, Op, format_corrections, read_corrections_file
from trackannot.errors import InputFormatError

T0 = 1_700_000_000 * 10**9


def _write(tmp_path, lines, name="fix.jsonl"):
    path = tmp_path / name
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n")
    return path


def test_every_op_parses_with_its_fields(tmp_path):
    path = _write(tmp_path, [
        "# a comment, then a blank line",
        "",
        {"op": "accept", "track": 1, "frame": 4},
        {"op": "adjust", "track": 1, "frame": 9, "box": [1, 2, 30, 40], "class": 2},
        {"op": "absent", "track": 1, "frame": 20, "author": "bo", "time": "2026-01-02T03:04:05Z"},
        {"op": "create", "frame": 3, "box": [0, 0, 5, 5]},
        {"op": "split", "track": 2, "frame": 7, "new_track": 40},
        {"op": "merge", "track": 2, "from_track": 5},
        {"op": "class", "track": 5, "class": 1},
    ])
    c = read_corrections_file(path, author="ana", time_ns=T0)
    assert c.op.tolist() == [Op.ACCEPT, Op.ADJUST, Op.ABSENT, Op.CREATE, Op.SPLIT, Op.MERGE, Op.CLASS]
    assert c.source_line.tolist() == [3, 4, 5, 6, 7, 8, 9]
    assert c.track_id.tolist() == [1, 1, 1, -1, 2, 2, 5]
    assert c.frame.tolist() == [4, 9, 20, 3, 7, -1, -1]
    assert c.other_id.tolist() == [-1, -1, -1, -1, 40, 5, -1]
    assert c.class_id.tolist() == [-1, 2, -1, -1, -1, -1, 1]
    np.testing.assert_array_equal(c.xyxy[1], [1, 2, 30, 40])
    assert np.isnan(c.xyxy[0]).all()
    assert c.author.tolist() == ["ana", "ana", "bo", "ana", "ana", "ana", "ana"]
    assert c.time_ns[2] == 1767323045 * 10**9 and c.time_ns[0] == T0


def test_format_then_read_gives_the_same_batch(tmp_path):
    c = read_corrections_file(_write(tmp_path, [
        {"op": "adjust", "track": 1, "frame": 9, "box": [1.5, 2, 30, 40.25]},
        {"op": "split", "track": 2, "frame": 7},
        {"op": "merge", "track": 2, "from_track": 5, "author": "cy"},
    ]), author="ana", time_ns=T0)
    again = read_corrections_file(_write(tmp_path, [format_corrections(c)], "again.jsonl"), "x")
    for name in ("op", "track_id", "frame", "class_id", "other_id", "time_ns", "author"):
        np.testing.assert_array_equal(getattr(again, name), getattr(c, name), err_msg=name)
    np.testing.assert_array_equal(again.xyxy, c.xyxy)


@pytest.mark.parametrize("line, match", [
    ('{"op": "adjust", "track": 1, "frame": 2}', "line 2: op 'adjust' needs box"),
    ('{"op": "move", "track": 1}', "line 2: 'op' must be one of accept, adjust"),
    ('{"op": "accept", "track": -1, "frame": 2}', r"line 2: 'track' must be an integer in 0\.\.9223372036854775807, got -1"),
    ('{"op": "accept", "track": 1, "frame": 2.5}', "line 2: 'frame' must be an integer"),
    ('{"op": "adjust", "track": 1, "frame": 2, "box": [0, 0, 10]}', r"line 2: 'box' must be \[x1"),
    ('{"op": "adjust", "track": 1, "frame": 2, "box": [5, 0, 1, 9]}', "line 2: 'box' .* is empty"),
    ('{"op": "accept", "track": 1, "frame": 2, "colour": 1}', "unknown field.*colour"),
    ('{"op": "merge", "track": 1, "from_track": 1}', "cannot merge track 1 into itself"),
    ('{"op": "accept", "track": 1, "frame": 2, "time": "yesterday"}', "not ISO 8601"),
    ('{"op": "accept", "track": 1, "frame": 2, "author": ""}', "'author' must be a non-empty"),
    ('{"op": "accept", "track": 1,', "line 2 column .*invalid JSON"),
    ('[1, 2]', "line 2: expected a JSON object, got list"),
], ids=["missing-box", "unknown-op", "negative-track", "float-frame", "short-box", "empty-box",
        "unknown-field", "self-merge", "bad-time", "empty-author", "bad-json", "not-object"])
def test_bad_lines_name_file_and_line(tmp_path, line, match):
    path = _write(tmp_path, ['{"op": "accept", "track": 1, "frame": 1}', line])
    with pytest.raises(InputFormatError, match=match) as info:
        read_corrections_file(path, author="ana")
    assert str(path) in str(info.value)


def test_empty_file_is_an_error(tmp_path):
    with pytest.raises(InputFormatError, match="no corrections"):
        read_corrections_file(_write(tmp_path, ["# nothing"]), author="ana")


def test_corrections_type_checks_columns():
    with pytest.raises(InputFormatError, match="Corrections.frame"):
        Corrections.create(op=[0], track_id=[1], frame=[1]).__class__(
            **{**{n: getattr(Corrections.create(op=[0], track_id=[1]), n) for n in
                  ("op", "track_id", "xyxy", "class_id", "other_id", "time_ns", "author",
                   "source_line")}, "frame": np.zeros(2, np.int64)})
    with pytest.raises(InputFormatError, match="unknown operation"):
        Corrections.create(op=[9], track_id=[1])


ADJUST = '{"op": "adjust", "track": 1, "frame": 2, "box": %s}'


@pytest.mark.parametrize("line, match", [
    (ADJUST % "[0, 0, 1e300, 10]", r"line 2: 'box' \[0, 0, 1e\+300, 10\] is beyond the float32 "
     r"range"),
    (ADJUST % "[0, 0, 3.4028235e38, 10]", r"line 2: 'box' .* is beyond the float32 range"),
    (ADJUST % "[0, 0, NaN, 10]", r"line 2: NaN is not a JSON number"),
    (ADJUST % "[0, 0, Infinity, 10]", r"line 2: Infinity is not a JSON number"),
    (ADJUST % "[0, 0, 10, 1e-46]", r"line 2: 'box' .* is empty or inverted after the float32 "
     r"cast"),
    (ADJUST % "[0, 0, 10, %s]" % ("9" * 400), r"line 2: 'box' must be a finite number, got 999"),
    (ADJUST % "[10, 0, 5, 10]", r"line 2: 'box' \[10, 0, 5, 10\] is empty or inverted"),
    (ADJUST % '[0, 0, "10", 10]', r"line 2: 'box' must be a number, got '10'"),
    ('{"op": "accept", "track": %d, "frame": 2}' % 2**70,
     r"line 2: 'track' must be an integer in 0\.\.9223372036854775807, got 1180591620717411303424"),
    ('{"op": "accept", "track": 1, "frame": 1e23}', r"line 2: 'frame' must be an integer in "
     r"0\.\.9223372036854775807, got 1e\+23"),
    ('{"op": "class", "track": 1, "class": 2147483648}', r"line 2: 'class' must be an integer "
     r"in 0\.\.2147483647, got 2147483648"),
    ('{"op": "accept", "track": 1, "frame": %s}' % ("1" * 5000),
     r"line 2: Exceeds the limit \(4300 digits\)"),
    ('{"op": ' + "[" * 100_000 + "]" * 100_000 + "}", r"line 2: JSON nested too deeply"),
    ('{"op": ["accept"], "track": 1, "frame": 2}', r"line 2: 'op' must be one of .* got \['accept'\]"),
    ('{"op": "accept", "track": 1, "frame": 2, "time": 5}', r"line 2: 'time' must be an ISO 8601 "
     r"string"),
    ('{"op": "accept", "track": 1, "frame": 2, "time": "9999-01-01T00:00:00Z"}',
     r"line 2: time '9999-01-01T00:00:00Z' is outside 1677\.\.2262"),
    ('{"op": "accept", "track": 1, "frame": 2, "author": "\\ud800"}',
     r"line 2: 'author' '\\ud800' is not valid Unicode text"),
], ids=["coordinate-1e300", "coordinate-float32-max", "nan-literal", "infinity-literal",
        "height-rounds-to-zero", "400-digit-coordinate", "inverted", "string-coordinate",
        "track-2**70", "frame-1e23", "class-beyond-int32", "5000-digit-frame", "deep-nesting",
        "op-not-a-string", "time-not-a-string", "time-beyond-int64-ns", "lone-surrogate-author"])
def test_values_are_checked_as_stored(tmp_path, line, match):
    """What would change on the way into the store (float32, int64, int32, UTF-8) or crash the
    reader (OverflowError, RecursionError, ValueError) is refused with the file and line."""
    path = _write(tmp_path, ['{"op": "accept", "track": 1, "frame": 1}', line])
    with pytest.raises(InputFormatError, match=match) as info:
        read_corrections_file(path, author="ana")
    assert str(path) in str(info.value)


@pytest.mark.parametrize("columns, match", [
    ({"track_id": [2**70]}, r"Corrections\.track_id must be integers in .* got 1180591620717"),
    ({"track_id": [1e23]}, r"Corrections\.track_id must be integers in .* got 1e\+23"),
    ({"track_id": [1.5]}, r"Corrections\.track_id must be integers in .* got 1\.5"),
    ({"op": [300]}, r"Corrections\.op must be integers in 0\.\.255 \(uint8\), got 300"),
    ({"class_id": [2**31]}, r"Corrections\.class_id must be integers in .*\(int32\), got 2147483648"),
    ({"xyxy": [[0, 0, 1e300, 1]]}, r"Corrections\.xyxy value 1e\+300 is beyond the float32 range"),
    ({"frame": [1, 2]}, r"Corrections\.frame has shape \(2,\), expected \(1,\)"),
], ids=["track-2**70", "track-1e23", "track-fraction", "op-300", "class-2**31", "box-1e300",
        "frame-rows"])
def test_corrections_built_in_memory_refuse_values_that_do_not_fit(columns, match):
    """The Python API: values are refused, never wrapped, and never an OverflowError."""
    args = {"op": [Op.ADJUST], "track_id": [1], "frame": [2], "xyxy": [[0, 0, 5, 5]], **columns}
    with pytest.raises(InputFormatError, match=match):
        Corrections.create(**args)


@pytest.mark.parametrize("row, match", [
    ({"xyxy": [[0, 0, np.inf, 5]]}, r"correction 2: 'box' .* is not finite in float32"),
    ({"xyxy": [[5, 0, 1, 5]]}, r"correction 2: 'box' .* is empty or inverted"),
    ({"xyxy": [[0, 0, np.nan, 5]]}, r"correction 2: 'box' .* is not finite in float32"),
    ({"op": [Op.CREATE], "xyxy": [[np.nan] * 4]}, r"correction 2: op 'create' needs a box"),
    ({"op": [Op.SPLIT], "xyxy": [[0, 0, 1, 1]]}, r"correction 2: op 'split' takes no box"),
    ({"track_id": [-5]}, r"correction 2: track -5 must be >= 0"),
    ({"frame": [-2]}, r"correction 2: frame -2 must be >= 0"),
    ({"op": [Op.CLASS], "xyxy": [[np.nan] * 4], "frame": [-1], "class_id": [-1]},
     r"correction 2: op 'class' needs a class >= 0"),
    ({"op": [Op.MERGE], "xyxy": [[np.nan] * 4], "frame": [-1], "other_id": [1]},
     r"correction 2: cannot merge track 1 into track 1"),
], ids=["inf", "inverted", "partly-nan", "create-without-box", "split-with-box",
        "negative-track", "negative-frame", "class-without-class", "self-merge"])
def test_the_python_api_door_checks_a_batch_before_applying_it(row, match):
    """AnnotationState.apply checks the batch as JSONL lines are checked, naming the row."""
    from trackannot.boxes import Boxes
    from trackannot.state import AnnotationState

    tracks = Boxes.create(xyxy=[[0, 0, 10, 10]] * 3, frame=[0, 1, 2], track_id=1)
    state = AnnotationState(tracks, num_frames=3)
    args = {"op": [Op.ADJUST], "track_id": [1], "frame": [1], "xyxy": [[1, 1, 9, 9]], **row}
    batch = Corrections.concat([Corrections.create(op=[Op.ACCEPT], track_id=[1], frame=[0]),
                                Corrections.create(**args)])
    before = state.boxes()
    with pytest.raises(InputFormatError, match=match):
        state.apply(batch)
    np.testing.assert_array_equal(state.boxes().xyxy, before.xyxy)
