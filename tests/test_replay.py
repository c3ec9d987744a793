"""Replay through the state cache: the same annotation as a replay of the whole log, whatever
the cache holds (nothing, a batch too few, another log's)."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from tests.test_annotate import make_store, write_lines
from trackannot.annotate import apply_corrections
from trackannot.boxes import COLUMNS, Boxes
from trackannot.replay import StateWriter, interpolate_config, load_state, load_state_uncached
from trackannot.store import cache_path, open_store

BATCHES = [
    [{"op": "adjust", "track": 1, "frame": 10, "box": [20, 10, 52, 92]},
     {"op": "accept", "track": 2, "frame": 5}],
    [{"op": "absent", "track": 1, "frame": 30},
     {"op": "create", "frame": 12, "box": [100, 100, 130, 160], "class": 1}],
    [{"op": "adjust", "track": 3, "frame": 20, "box": [110, 100, 140, 160]},
     {"op": "split", "track": 2, "frame": 25}],
    [{"op": "class", "track": 2, "class": 1},
     {"op": "accept", "track": 1, "frame": 4, "box": [8, 10, 38, 90]}],
    [{"op": "merge", "track": 3, "from_track": 4},
     {"op": "adjust", "track": 3, "frame": 33, "box": [200, 50, 241, 151]}],
    [{"op": "accept", "track": 1, "frame": 20}, {"op": "absent", "track": 3, "frame": 38}],
]


def _same(a: Boxes, b: Boxes) -> None:
    assert len(a) == len(b)
    for name in COLUMNS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def _uncached(store: Path) -> Boxes:
    video = open_store(store)["clip"]
    return load_state_uncached(video, interpolate_config(video, None)).boxes()


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return make_store(tmp_path / "out.zarr", gap=range(14, 18))


def _apply(store: Path, tmp_path: Path, k: int) -> None:
    apply_corrections(store, write_lines(tmp_path / f"b{k}.jsonl", BATCHES[k]), author="ana")


def test_every_batch_through_the_cache_equals_a_whole_replay(store: Path, tmp_path: Path) -> None:
    for k in range(len(BATCHES)):
        _apply(store, tmp_path, k)
        whole = _uncached(store)
        _same(load_state(open_store(store)["clip"]).boxes(), whole)
        with open_store(store, mode="a").writer("clip") as video, StateWriter(video) as writer:
            lazy = writer.state  # reads tracks as they are asked for
            for track in sorted(set(whole.track_id.tolist())):
                _same(lazy.track_boxes(track), whole[whole.track_id == track])
    assert cache_path(store, "clip").is_file()


def test_a_writer_reads_only_the_tracks_a_batch_touches(store: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from trackannot.sources import StoreSource

    for k in range(3):
        _apply(store, tmp_path, k)
    read: list[int] = []
    real = StoreSource.auto_boxes

    def counting(self: StoreSource, original: int) -> Boxes:
        read.append(original)
        return real(self, original)

    monkeypatch.setattr(StoreSource, "auto_boxes", counting)
    _apply(store, tmp_path, 3)  # class of track 2, an accept on track 1
    # only track 1's boxes are read (track 2's class comes from its keyframes); not tracks 3, 4
    assert sorted(set(read)) == [1]


def test_a_cache_a_batch_behind_catches_up(store: Path, tmp_path: Path) -> None:
    _apply(store, tmp_path, 0)
    cache = cache_path(store, "clip")
    shutil.copy(cache, tmp_path / "old.sqlite")
    _apply(store, tmp_path, 1)
    shutil.copy(tmp_path / "old.sqlite", cache)  # as if killed after the log's commit
    _same(load_state(open_store(store)["clip"]).boxes(), _uncached(store))
    _apply(store, tmp_path, 2)  # the writer catches the cache up, then applies
    with sqlite3.connect(cache) as db:
        assert dict(db.execute("SELECT k, v FROM meta"))["batches"] == "3"
    _same(load_state(open_store(store)["clip"]).boxes(), _uncached(store))


@pytest.mark.parametrize("spoil", ["delete", "other-digest", "garbage", "other-settings"])
def test_a_cache_that_disagrees_is_not_used_and_is_rebuilt(store: Path, tmp_path: Path,
                                                           spoil: str) -> None:
    for k in range(2):
        _apply(store, tmp_path, k)
    cache = cache_path(store, "clip")
    if spoil == "delete":
        cache.unlink()
    elif spoil == "garbage":
        cache.write_bytes(b"not a database" * 100)
    else:
        key, value = ("digest", "0" * 64) if spoil == "other-digest" else ("identity", "x")
        with sqlite3.connect(cache) as db:
            db.execute("UPDATE meta SET v = ? WHERE k = ?", (value, key))
            db.execute("DELETE FROM keys")  # a cache of another log holds other edits
    _same(load_state(open_store(store)["clip"]).boxes(), _uncached(store))
    _apply(store, tmp_path, 2)
    _same(load_state(open_store(store)["clip"]).boxes(), _uncached(store))
    with sqlite3.connect(cache) as db:
        assert int(db.execute("SELECT count(*) FROM keys").fetchone()[0]) > 0


def test_other_settings_replay_without_the_cache(store: Path, tmp_path: Path) -> None:
    from trackannot.config import InterpolateConfig

    for k in range(3):
        _apply(store, tmp_path, k)
    video = open_store(store)["clip"]
    linear = InterpolateConfig(method="linear", smooth_seconds=0)
    _same(load_state(video, linear).boxes(), load_state_uncached(video, linear).boxes())
