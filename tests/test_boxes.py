"""Boxes: validation on construction, slicing, concat, supervision round trip."""

from __future__ import annotations

import numpy as np
import pytest
import supervision as sv

from trackannot.boxes import COLUMNS, Boxes, Origin
from trackannot.errors import InputFormatError


def _sample(n: int = 5, seed: int = 0) -> Boxes:
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 100, (n, 2))
    wh = rng.uniform(5, 50, (n, 2))
    return Boxes.create(
        xyxy=np.hstack([xy, xy + wh]),
        frame=np.sort(rng.integers(0, 4, n)),
        score=rng.uniform(0, 1, n),
        track_id=-1,
    )


def test_fields_match_columns() -> None:
    assert list(Boxes.__dataclass_fields__) == list(COLUMNS)


@pytest.mark.parametrize(
    ("column", "bad", "message"),
    [
        ("xyxy", np.zeros((3, 5), np.float32), r"xyxy must be \(n, 4\) float32 .* got \(3, 5\) float32"),
        ("xyxy", np.zeros((3, 4), np.float64), r"xyxy must be .* got \(3, 4\) float64"),
        ("score", np.zeros(3, np.float64), r"score must be \(n\) float32 .* got \(3,\) float64"),
        ("track_id", np.zeros(2, np.int64), r"track_id must be .* n = len\(frame\) = 3, got \(2,\)"),
        ("origin", [0, 0, 0], r"origin must be .* got list"),
    ],
    ids=["xyxy-width", "xyxy-dtype", "score-dtype", "track-length", "not-array"],
)
def test_validation_names_column(column: str, bad: object, message: str) -> None:
    cols = Boxes.create(xyxy=np.zeros((3, 4)), frame=[0, 1, 2]).columns()
    cols[column] = bad
    with pytest.raises(InputFormatError, match=message):
        Boxes(**cols)


def test_unsorted_rows_rejected_and_sort_option() -> None:
    with pytest.raises(InputFormatError, match="sorted by"):
        Boxes.create(xyxy=np.zeros((2, 4)), frame=[3, 1])
    b = Boxes.create(xyxy=[[0, 0, 1, 1], [1, 1, 2, 2], [2, 2, 3, 3]], frame=[3, 1, 1],
                     track_id=[0, 7, 2], sort=True)
    assert b.frame.tolist() == [1, 1, 3]
    assert b.track_id.tolist() == [2, 7, 0]
    assert b.xyxy[0].tolist() == [2, 2, 3, 3]


def test_create_fills_defaults() -> None:
    b = Boxes.create(xyxy=[[0, 0, 10, 10]], frame=4)
    assert (b.frame.tolist(), b.score.tolist(), b.track_id.tolist()) == ([4], [1.0], [-1])
    assert b.origin.tolist() == [Origin.DETECTED]
    assert b.det_index.tolist() == [-1]


def test_unknown_column_rejected() -> None:
    with pytest.raises(InputFormatError, match="unknown Boxes column.*'conf'"):
        Boxes.create(xyxy=np.zeros((1, 4)), conf=[1.0])
    with pytest.raises(InputFormatError, match="unknown Boxes column"):
        _sample().replace(tlbr=np.zeros((5, 4)))


def test_empty_and_concat() -> None:
    e = Boxes.empty()
    assert len(e) == 0 and e.xyxy.shape == (0, 4) and e.xyxy.dtype == np.float32
    a, b = _sample(3, 1), _sample(4, 2).replace(frame=np.full(4, 10))
    c = Boxes.concat([a, Boxes.empty(), b])
    assert len(c) == 7
    assert np.array_equal(c.xyxy[3:], b.xyxy)
    assert len(Boxes.concat([])) == 0


def test_mask_slice_and_frames() -> None:
    b = Boxes.create(xyxy=np.arange(24).reshape(6, 4), frame=[0, 0, 2, 2, 2, 5])
    assert len(b[b.frame == 2]) == 3
    assert b.for_frame(2).xyxy[:, 0].tolist() == [8.0, 12.0, 16.0]
    assert len(b.for_frame(1)) == 0
    assert b.frame_range(1, 5).frame.tolist() == [2, 2, 2]
    assert [(f, len(x)) for f, x in b.split_frames()] == [(0, 2), (2, 3), (5, 1)]
    assert b[-1].frame.tolist() == [5]
    # slices and masks keep the rows' order (no re-validation); an integer index may not
    with pytest.raises(InputFormatError, match="sorted"):
        b[np.array([5, 0])]
    with pytest.raises(InputFormatError, match="sorted"):
        b[::-1]
    with pytest.raises(IndexError):
        b[np.ones(4, bool)]


def test_replace_returns_new_and_leaves_original() -> None:
    b = _sample()
    r = b.replace(track_id=np.arange(5))
    assert b.track_id.tolist() == [-1] * 5
    assert r.track_id.tolist() == list(range(5))
    assert r.xyxy is b.xyxy  # untouched columns are shared, not copied


def test_supervision_round_trip() -> None:
    b = _sample().replace(class_id=np.array([0, 1, 2, 1, 0]), det_index=np.arange(5))
    det = b.to_supervision()
    assert isinstance(det, sv.Detections)
    back = Boxes.from_supervision(det)
    for name in COLUMNS:
        assert np.array_equal(getattr(back, name), getattr(b, name)), name


def test_from_supervision_single_frame() -> None:
    det = sv.Detections(xyxy=np.array([[0, 0, 5, 5], [1, 1, 9, 9]], dtype=float),
                        confidence=np.array([0.9, 0.3]), class_id=np.array([2, 3]))
    b = Boxes.from_supervision(det, frame=7)
    assert b.frame.tolist() == [7, 7]
    assert b.det_index.tolist() == [0, 1]
    assert b.class_id.dtype == np.int32 and b.class_id.tolist() == [2, 3]
    with pytest.raises(InputFormatError, match="frame"):
        Boxes.from_supervision(det)


def test_pair_iou_row_by_row_with_empty_and_nan_boxes() -> None:
    from trackannot.boxes import pair_iou

    a = [[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 0, 0], [np.nan, 0, 1, 1]]
    b = [[5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 0, 0], [0, 0, 1, 1]]
    np.testing.assert_allclose(pair_iou(a, b), [50 / 150, 0.0, 0.0, 0.0])
