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
