"""Writers that keep the corrections log's arrays open between their batches (`opened`): no
array is opened again while nothing landed since; after another writer's batch they are opened
anew. The log reads back whole, in order, and checks consistent, across many resizes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.test_annotate import NUM_FRAMES
from trackannot.boxes import Boxes
from trackannot.check import check_store
from trackannot.config import PipelineConfig, StoreConfig, config_to_dict
from trackannot.corrections import Corrections, Op
from trackannot.results import LOG_COLUMNS, open_store
from trackannot.store import StoreWriter, _log


def _store_without_log(path: Path) -> Path:
    """One track over 40 frames; the log's arrays are made by the first append."""
    writer = StoreWriter.create(path, "clip", StoreConfig(chunk_rows=16, chunk_frames=8), attrs={
        "config": config_to_dict(PipelineConfig()),
        "video": {"width": 320, "height": 240, "fps": 10.0, "frame_count": NUM_FRAMES}})
    for f in range(40):
        boxes = Boxes.create(frame=[f], xyxy=[[2.0 * f, 10, 2.0 * f + 30, 90]], score=0.9)
        writer.add_frame(f, f / 10.0, boxes, boxes.replace(track_id=np.array([1])))
    writer.close()
    return path


def test_writers_keeping_the_log_arrays_open_interleave(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_log, "LOG_CHUNK_ROWS", 3)  # a resize every other batch
    monkeypatch.setattr(_log, "BATCH_CHUNK_ROWS", 2)
    store = _store_without_log(tmp_path / "out.zarr")
    opens: list[str] = []
    real = _log.open_async_array

    async def counting(*args: Any, **kwargs: Any) -> Any:
        opens.append(kwargs["path"])
        return await real(*args, **kwargs)

    monkeypatch.setattr(_log, "open_async_array", counting)
    ana: dict[str, Any] = {}
    bo: dict[str, Any] = {}
    frames: list[int] = []

    def append(opened: dict[str, Any], author: str) -> int:
        first = len(frames)
        frames.extend([first, first + 1])
        batch = Corrections.create(op=[Op.ACCEPT] * 2, track_id=[1, 1], frame=frames[-2:],
                                   author=author, time_ns=1)
        extra = {"prev_xyxy": np.zeros((2, 4), np.float32), "prev_origin": np.zeros(2, np.uint8),
                 "prev_class": np.zeros(2, np.int32)}
        opens.clear()
        with open_store(store, mode="a").writer("clip") as video:
            video.append_log(batch, extra, {"source": "test", "author": author}, opened=opened)
        return len(opens)

    every = append(ana, "ana")  # the first: every array opened
    assert every == len(_log.BATCH_COLUMNS) + len(LOG_COLUMNS)
    assert [append(ana, "ana") for _ in range(3)] == [0, 0, 0]
    assert append(bo, "bo") == every
    assert [append(ana, "ana"), append(ana, "ana"), append(bo, "bo")] == [every, 0, every]
    log, _ = open_store(store)["clip"].read_log()
    assert log.frame.tolist() == list(range(len(frames)))
    assert log.author.tolist() == ["ana"] * 8 + ["bo"] * 2 + ["ana"] * 4 + ["bo"] * 2
    report = check_store(store)
    assert report.consistent and not report.findings
