"""Stores of format /1 (batch records in the group's attribute, no checksums) are read as they
are, and their log moves into the batch table with its next batch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import zarr

from tests.test_annotate import make_store, write_lines
from trackannot.annotate import apply_corrections
from trackannot.boxes import COLUMNS
from trackannot.check import check_store
from trackannot.replay import interpolate_config, load_state, load_state_uncached
from trackannot.store import FORMAT, cache_path, open_store

EDITS = [[{"op": "adjust", "track": 1, "frame": 10, "box": [20, 10, 52, 92]}],
         [{"op": "split", "track": 2, "frame": 20}, {"op": "accept", "track": 1, "frame": 5}]]


def _as_format_1(store: Path) -> list[dict]:
    """Rewrite a store's log the way format /1 kept it; returns its batch records."""
    video = open_store(store)["clip"]
    records, info = video.batches(), video.log_info()
    root = zarr.open_group(str(store), mode="a")
    del root["clip/corrections/batches"]
    root["clip"].attrs["corrections"] = {"rows": info.rows, "batches": records,
                                         "authors": info.authors}
    root.attrs["format"] = "trackannot.store/1"
    cache = cache_path(store, "clip")
    cache.unlink()
    return records


def test_a_format_1_log_reads_and_moves_into_the_table_with_its_next_batch(tmp_path: Path) -> None:
    store = make_store(tmp_path / "out.zarr")
    for k, lines in enumerate(EDITS):
        apply_corrections(store, write_lines(tmp_path / f"b{k}.jsonl", lines), author="ana")
    before = load_state(open_store(store)["clip"]).boxes()
    records = _as_format_1(store)
    video = open_store(store)["clip"]
    assert video.log_info().legacy == records and video.batches() == records
    after = load_state(video).boxes()
    for name in COLUMNS:
        np.testing.assert_array_equal(getattr(after, name), getattr(before, name))
    assert check_store(store).consistent
    apply_corrections(store, write_lines(tmp_path / "b2.jsonl", [
        {"op": "absent", "track": 1, "frame": 30}]), author="bo")
    video = open_store(store)["clip"]
    info = video.log_info()
    assert info.legacy is None and info.batches == 3 and len(info.digest) == 64
    assert [b["number"] for b in video.batches()] == [0, 1, 2]
    assert video.batches()[:2] == records  # history kept as it was
    assert open_store(store)._root.attrs["format"] == FORMAT
    report = check_store(store)
    assert report.consistent and not report.findings  # the digest chain covers the old batches
    cfg = interpolate_config(video, None)
    whole = load_state_uncached(video, cfg).boxes()
    cached = load_state(video).boxes()
    for name in COLUMNS:
        np.testing.assert_array_equal(getattr(cached, name), getattr(whole, name))
