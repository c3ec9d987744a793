"""Store: chunked writing, frame-range reads, attributes, refusal to overwrite."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from trackannot.boxes import COLUMNS, Boxes
from trackannot.config import StoreConfig
from trackannot.errors import StoreError
from trackannot.store import StoreWriter, input_identity, open_store, video_key


def _frames(n_frames: int, seed: int = 0) -> list[Boxes]:
    rng = np.random.default_rng(seed)
    out = []
    for f in range(n_frames):
        k = int(rng.integers(0, 5))
        xy = rng.uniform(0, 500, (k, 2))
        out.append(Boxes.create(xyxy=np.hstack([xy, xy + 20]), frame=2 * f,
                                track_id=np.arange(k), score=rng.uniform(0, 1, k)))
    return out


def _write(path: Path, frames: list[Boxes], cfg: StoreConfig) -> None:
    writer = StoreWriter.create(path, "clip", cfg, attrs={"config": {"k": 1}})
    for i, boxes in enumerate(frames):
        writer.add_frame(2 * i, i / 5, boxes[boxes.score > 0.5], boxes)
    writer.close()


@pytest.mark.parametrize("cfg", [StoreConfig(chunk_rows=7, chunk_frames=5), StoreConfig()],
                         ids=["tiny-chunks", "default-chunks"])
def test_round_trip_and_frame_ranges(tmp_path: Path, cfg: StoreConfig) -> None:
    frames = _frames(41)
    _write(tmp_path / "s.zarr", frames, cfg)
    video = open_store(tmp_path / "s.zarr")["clip"]
    full = Boxes.concat(frames)
    got = video.read()
    for name in COLUMNS:
        assert np.array_equal(getattr(got, name), getattr(full, name)), name
    for start, stop in [(0, 1), (9, 31), (11, 12), (80, 200), (-5, 3), (81, 82)]:
        part = video.read(start, stop)
        ref = full.frame_range(start, stop)
        assert np.array_equal(part.frame, ref.frame) and np.array_equal(part.xyxy, ref.xyxy)
    dets = video.read(table="detections")
    assert np.array_equal(dets.xyxy, full[full.score > 0.5].xyxy)
    index, time_s = video.frames()
    assert index.tolist() == list(range(0, 82, 2))
    assert np.allclose(time_s, np.arange(41) / 5)


def test_chunks_written_while_running(tmp_path: Path) -> None:
    """Whole chunks reach disk before close(); memory holds at most one chunk per column."""
    cfg = StoreConfig(chunk_rows=4, chunk_frames=3)
    writer = StoreWriter.create(tmp_path / "s.zarr", "clip", cfg, attrs={})
    boxes = Boxes.create(xyxy=np.zeros((3, 4)), frame=0, track_id=[0, 1, 2])
    for f in range(10):
        writer.add_frame(f, 0.0, Boxes.empty(), boxes.replace(frame=np.full(3, f)))
    import zarr

    group = zarr.open_group(str(tmp_path / "s.zarr"), mode="r")["clip"]
    assert group.attrs["status"] == "running"
    assert group["tracks/frame"].shape[0] == 28  # 30 rows seen, 7 whole chunks of 4 written
    assert group["frames/index"].shape[0] == 9  # 3 whole chunks of 3
    writer.close()
    assert group["tracks/frame"].shape[0] == 30
    assert open_store(tmp_path / "s.zarr")["clip"].complete


def test_attributes_and_identity(tmp_path: Path) -> None:
    src = tmp_path / "v.bin"
    src.write_bytes(b"x" * 3_000_000)
    ident = input_identity(src)
    assert ident["size_bytes"] == 3_000_000
    src2 = tmp_path / "w.bin"
    src2.write_bytes(b"x" * (1 << 20) + b"y")  # same first MiB, different size
    assert input_identity(src2)["first_mib_sha256"] == ident["first_mib_sha256"]
    _write(tmp_path / "s.zarr", _frames(3), StoreConfig())
    attrs = open_store(tmp_path / "s.zarr")["clip"].attrs
    assert attrs["config"] == {"k": 1}
    assert attrs["status"] == "complete" and attrs["frames_processed"] == 3


def test_group_never_overwritten(tmp_path: Path) -> None:
    _write(tmp_path / "s.zarr", _frames(3), StoreConfig())
    with pytest.raises(StoreError, match="group 'clip' already exists"):
        StoreWriter.create(tmp_path / "s.zarr", "clip", StoreConfig(), attrs={})
    assert len(open_store(tmp_path / "s.zarr")["clip"].read()) > 0


@pytest.mark.parametrize(
    ("make", "message"),
    [(lambda p: None, "no such store"), (lambda p: p.mkdir(), "not a trackannot store")],
    ids=["missing", "empty-dir"],
)
def test_open_bad_store(tmp_path: Path, make, message: str) -> None:
    make(tmp_path / "s.zarr")
    with pytest.raises(StoreError, match=message):
        open_store(tmp_path / "s.zarr")


def test_unknown_video_and_table(tmp_path: Path) -> None:
    _write(tmp_path / "s.zarr", _frames(3), StoreConfig())
    store = open_store(tmp_path / "s.zarr")
    with pytest.raises(StoreError, match="no video 'other'; videos: clip"):
        store["other"]
    with pytest.raises(StoreError, match="unknown table"):
        store["clip"].read(table="tracklets")


def test_video_key_unique() -> None:
    taken = {"a_b"}
    assert video_key("/x/a b.mp4", taken) == "a_b_2"
    assert video_key("/x/clip.avi") == "clip"


@pytest.mark.parametrize("name, key", [("..mp4", "video"), (".hidden.mp4", "hidden"),
                                       ("...x.mp4", "x"), ("-.mp4", "-")],
                         ids=["dots-only", "hidden", "leading-dots", "dash"])
def test_video_keys_never_start_with_a_dot(name: str, key: str) -> None:
    """Dotted names are the store's own (`.trackannot`): a video never gets one."""
    assert video_key(f"/x/{name}") == key


def test_columns_made_and_appended_together_equal_one_by_one(tmp_path: Path) -> None:
    import zarr

    from trackannot.store._layout import append_many, create_column, create_columns

    root = zarr.open_group(tmp_path / "c.zarr", mode="w", zarr_format=3)
    one, many = root.create_group("one"), root.create_group("many")
    many.create_group("t")
    specs = {"xyxy": (np.float32, (4,), 7), "frame": (np.int64, (), 5)}
    single = {name: create_column(one, name, *spec) for name, spec in specs.items()}
    made = create_columns(many, {f"t/{name}": spec for name, spec in specs.items()})
    assert sorted(made) == ["t/frame", "t/xyxy"]
    for name in specs:
        assert made[f"t/{name}"].metadata.to_dict() == single[name].metadata.to_dict()
        assert made[f"t/{name}"].path == f"many/t/{name}"
    xyxy, frame = np.arange(36, dtype=np.float32).reshape(9, 4), np.arange(9)
    append_many([(made["t/xyxy"], xyxy), (made["t/frame"], frame)])
    assert made["t/xyxy"].shape == (9, 4) and made["t/frame"].shape == (9,)  # in memory too
    reopened = zarr.open_group(tmp_path / "c.zarr", mode="r")
    assert np.array_equal(reopened["many/t/xyxy"][:], xyxy)
    assert np.array_equal(reopened["many/t/frame"][:], frame)
    # one append fails: the error is raised once the others have finished
    with pytest.raises(ValueError):
        append_many([(made["t/xyxy"], np.zeros((2, 3), np.float32)), (made["t/frame"], frame)])
    assert zarr.open_group(tmp_path / "c.zarr", mode="r")["many/t/frame"].shape == (18,)
