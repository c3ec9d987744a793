"""What a server does with our errors: every raise site reachable through the public API maps to
404 / 409 / 422 / 500 by its type alone (`http_status`), never by its message; invalid input
leaves the store byte for byte as it was."""

from __future__ import annotations

import ast
import inspect
import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
import zarr

import trackannot.errors as errors_module
from tests._store import store_digest
from tests.test_annotate import make_store, write_lines
from tests.test_pipeline_resume import ColourDetector, _cfg, make_clips
from trackannot import (
    DetectConfig, Op, VideoMeta, apply_corrections, decode_frames, load_config, load_state,
    make_detector, open_store, probe_video, read_corrections_file, read_cvat_video,
    read_labelstudio, read_mot_file, track_videos, write_yolo,
)
from trackannot.boxes import Boxes
from trackannot.check import check_store
from trackannot.config import DecodeConfig, StoreConfig
from trackannot.corrections import Corrections
from trackannot.errors import (
    ConflictError, CorruptStoreError, InvalidInputError, NotFoundError, StoreError,
    TrackannotError, error_for_status, http_status,
)
from trackannot.session import VideoSession
from trackannot.store import StoreWriter, group_lock

REPO = Path(__file__).resolve().parents[1]
KINDS = {NotFoundError: 404, ConflictError: 409, InvalidInputError: 422, CorruptStoreError: 500}
BASES = {TrackannotError, StoreError}
FIX = [{"op": "adjust", "track": 1, "frame": 10, "box": [20, 10, 50, 90]}]

# A case builds what it needs under a temporary folder and returns (the call that must fail,
# the store it must leave byte for byte unchanged, or None). Every refusal writes nothing; the
# brief of issue 12 asks it of invalid input, and not found, conflict and damage hold it too.
Trigger = Callable[[], object]
Setup = Callable[[Path], "tuple[Trigger, Path | None]"]
CASES: list[tuple[str, int, Setup]] = []


def case(status: int) -> Callable[[Setup], Setup]:
    def register(setup: Setup) -> Setup:
        CASES.append((setup.__name__, status, setup))
        return setup
    return register


def _fix(tmp: Path, lines: list[Any] = FIX, name: str = "fix.jsonl") -> Path:
    return write_lines(tmp / name, lines)


def _two_videos(tmp: Path) -> Path:
    store = make_store(tmp / "two.zarr", "a")
    return make_store(store, "b")


def _incomplete(tmp: Path) -> Path:
    """A store whose only video's run failed after 5 frames."""
    store = tmp / "failed.zarr"
    writer = StoreWriter.create(store, "clip", StoreConfig(chunk_rows=16, chunk_frames=8), attrs={
        "video": {"width": 320, "height": 240, "fps": 10.0, "frame_count": 60}})
    for f in range(5):
        box = Boxes.create(frame=[f], xyxy=[[0, 0, 10, 10]], track_id=[1])
        writer.add_frame(f, f / 10.0, box, box)
    writer.close(status="failed")
    return store


def _queued(tmp: Path) -> tuple[Path, str]:
    """A store with one review queue; its id."""
    store = make_store(tmp / "out.zarr")
    return store, VideoSession.open(store, "clip").review(5).queue.queue_id


def _set_attr(store: Path, key: str, name: str, value: Any) -> None:
    zarr.open_group(str(store), mode="a")[key].attrs[name] = value


def _empty_extra(n: int) -> dict[str, np.ndarray]:
    return {"prev_xyxy": np.zeros((n, 4), np.float32), "prev_origin": np.zeros(n, np.uint8),
            "prev_class": np.zeros(n, np.int32)}


@pytest.fixture(scope="module")
def tracked(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(a clip, a store it was tracked into with the test configuration); copy before use."""
    folder = tmp_path_factory.mktemp("tracked")
    clip = make_clips(folder / "clips", lengths=(23,))[0]
    track_videos([clip], folder / "s.zarr", _cfg(), ColourDetector())
    return clip, folder / "s.zarr"


# --- 404: not found -----------------------------------------------------------------------------

@case(404)
def no_store(tmp: Path) -> tuple[Trigger, None]:
    return lambda: open_store(tmp / "missing.zarr"), None


@case(404)
def a_folder_that_is_no_store(tmp: Path) -> tuple[Trigger, None]:
    (tmp / "folder").mkdir()
    return lambda: open_store(tmp / "folder"), None


@case(404)
def a_zarr_group_that_is_no_trackannot_store(tmp: Path) -> tuple[Trigger, None]:
    zarr.open_group(str(tmp / "plain.zarr"), mode="w", zarr_format=3)
    return lambda: open_store(tmp / "plain.zarr"), None


@case(404)
def check_of_no_store(tmp: Path) -> tuple[Trigger, None]:
    return lambda: check_store(tmp / "missing.zarr"), None


@case(404)
def no_video(tmp: Path) -> tuple[Trigger, Path]:
    store = make_store(tmp / "out.zarr")
    return lambda: open_store(store)["other"], store


@case(404)
def no_video_to_correct(tmp: Path) -> tuple[Trigger, Path]:
    store = make_store(tmp / "out.zarr")
    return lambda: apply_corrections(store, _fix(tmp), video="other", author="ana"), store


@case(404)
def no_video_for_a_session(tmp: Path) -> tuple[Trigger, Path]:
    store = make_store(tmp / "out.zarr")
    return lambda: VideoSession.open(store, "other"), store


@case(404)
def no_review_queue_to_answer(tmp: Path) -> tuple[Trigger, Path]:
    store = make_store(tmp / "out.zarr")
    return lambda: apply_corrections(store, _fix(tmp), author="ana", queue="q9999"), store


@case(404)
def no_review_queue_to_read(tmp: Path) -> tuple[Trigger, Path]:
    store = make_store(tmp / "out.zarr")
    return lambda: open_store(store)["clip"].read_queue("q9999"), store


@case(404)
def no_group_to_resume(tmp: Path) -> tuple[Trigger, Path]:
    store = make_store(tmp / "out.zarr")
    return lambda: StoreWriter.resume(store, "other", StoreConfig()), store


@case(404)
def missing_weights(tmp: Path) -> tuple[Trigger, None]:
    cfg = DetectConfig(weights=str(tmp / "models" / "none.pt"), device="cpu")
    return lambda: make_detector(cfg), None


# --- 409: conflict ------------------------------------------------------------------------------

@case(409)
def a_video_locked_by_another_writer(tmp: Path) -> tuple[Trigger, Path]:
    store = make_store(tmp / "out.zarr")

    def trigger() -> object:
        with group_lock(store, "clip", "another reviewer", timeout=0):
            return apply_corrections(store, _fix(tmp), author="ana", lock_timeout=0)
    return trigger, store


@case(409)
def edits_against_an_older_revision(tmp: Path) -> tuple[Trigger, Path]:
    store = make_store(tmp / "out.zarr")
    apply_corrections(store, _fix(tmp), author="bo")
    edit = Corrections.create(op=[Op.ADJUST], track_id=[1], frame=[10],
                              xyxy=[[0, 0, 10, 10]], author="ana", time_ns=[0])
    session = VideoSession.open(store, "clip")
    return lambda: session.apply(edit, author="ana", expect_revision=0), store


@case(409)
def load_state_of_a_failed_run(tmp: Path) -> tuple[Trigger, Path]:
    store = _incomplete(tmp)
    return lambda: load_state(open_store(store)["clip"]), store


@case(409)
def corrections_to_a_failed_run(tmp: Path) -> tuple[Trigger, Path]:
    store = _incomplete(tmp)
    return lambda: apply_corrections(store, _fix(tmp), author="ana"), store


@case(409)
def boxes_of_a_failed_run(tmp: Path) -> tuple[Trigger, Path]:
    store = _incomplete(tmp)
    return lambda: VideoSession.open(store, "clip").boxes(0, 5), store


@case(409)
def answers_to_a_re_ranked_queue(tmp: Path) -> tuple[Trigger, Path]:
    store, first = _queued(tmp)
    VideoSession.open(store, "clip").review(5)  # supersedes the first queue
    return lambda: apply_corrections(store, _fix(tmp), author="ana", queue=first), store


@case(409)
def answers_to_a_stale_queue(tmp: Path) -> tuple[Trigger, Path]:
    store, queue = _queued(tmp)
    apply_corrections(store, _fix(tmp, name="other.jsonl"), author="bo")  # lands meanwhile
    return lambda: apply_corrections(store, _fix(tmp), author="ana", queue=queue), store


@case(409)
def appending_without_the_writer_lock(tmp: Path) -> tuple[Trigger, Path]:
    store = make_store(tmp / "out.zarr")
    video = open_store(store, mode="a")["clip"]
    return lambda: video.append_log(Corrections.empty(), _empty_extra(0), {}), store


@case(409)
def resuming_a_complete_group(tmp: Path) -> tuple[Trigger, Path]:
    store = make_store(tmp / "out.zarr")
    return lambda: StoreWriter.resume(store, "clip", StoreConfig()), store


# --- 422: invalid input (the store is unchanged) ------------------------------------------------

@case(422)
def a_malformed_corrections_file(tmp: Path) -> tuple[Trigger, Path]:
    store = make_store(tmp / "out.zarr")
    bad = _fix(tmp, [FIX[0], '{"op": "accept", "track": 1,'])
    return lambda: apply_corrections(store, bad, author="ana"), store


@case(422)
def corrections_that_do_not_fit_the_video(tmp: Path) -> tuple[Trigger, Path]:
    store = make_store(tmp / "out.zarr")
    bad = _fix(tmp, [{"op": "adjust", "track": 7, "frame": 3, "box": [0, 0, 1, 1]}])
    return lambda: apply_corrections(store, bad, author="ana"), store


@case(422)
def an_unknown_corrections_format(tmp: Path) -> tuple[Trigger, Path]:
    store = make_store(tmp / "out.zarr")
    (tmp / "fix.csv").write_text("x\n")
    return lambda: apply_corrections(store, tmp / "fix.csv", author="ana"), store


@case(422)
def two_videos_and_none_named(tmp: Path) -> tuple[Trigger, Path]:
    store = _two_videos(tmp)
    return lambda: apply_corrections(store, _fix(tmp), author="ana"), store


@case(422)
def an_unknown_open_mode(tmp: Path) -> tuple[Trigger, Path]:
    store = make_store(tmp / "out.zarr")
    return lambda: open_store(store, mode="w"), store


@case(422)
def a_store_of_a_newer_format(tmp: Path) -> tuple[Trigger, Path]:
    store = make_store(tmp / "out.zarr")
    meta = json.loads((store / "zarr.json").read_text())
    meta["attributes"]["format"] = "trackannot/99"
    (store / "zarr.json").write_text(json.dumps(meta))
    return lambda: open_store(store), store


@case(422)
def appending_to_a_read_only_store(tmp: Path) -> tuple[Trigger, Path]:
    store = make_store(tmp / "out.zarr")
    video = open_store(store)["clip"]
    return lambda: video.append_log(Corrections.empty(), _empty_extra(0), {}), store


@case(422)
def writing_a_read_only_store(tmp: Path) -> tuple[Trigger, Path]:
    store = make_store(tmp / "out.zarr")
    return lambda: open_store(store).writer("clip").__enter__(), store


@case(422)
def creating_a_group_that_exists(tmp: Path) -> tuple[Trigger, Path]:
    store = make_store(tmp / "out.zarr")
    return lambda: StoreWriter.create(store, "clip", StoreConfig(), attrs={}), store


@case(422)
def reading_an_unknown_table(tmp: Path) -> tuple[Trigger, Path]:
    store = make_store(tmp / "out.zarr")
    return lambda: open_store(store)["clip"].read(table="nope"), store


@case(422)
def a_negative_lock_timeout(tmp: Path) -> tuple[Trigger, Path]:
    store = make_store(tmp / "out.zarr")
    return lambda: group_lock(store, "clip", timeout=-1), store


@case(422)
def frames_outside_the_video(tmp: Path) -> tuple[Trigger, Path]:
    store = make_store(tmp / "out.zarr")
    return lambda: VideoSession.open(store, "clip").boxes(500, 600), store


@case(422)
def a_review_budget_below_one(tmp: Path) -> tuple[Trigger, Path]:
    store = make_store(tmp / "out.zarr")
    return lambda: VideoSession.open(store, "clip").review(0), store


@case(422)
def a_review_budget_past_the_video(tmp: Path) -> tuple[Trigger, Path]:
    store = make_store(tmp / "out.zarr")
    return lambda: VideoSession.open(store, "clip").review(10_000), store


@case(422)
def edits_against_a_future_revision(tmp: Path) -> tuple[Trigger, Path]:
    store = make_store(tmp / "out.zarr")
    session = VideoSession.open(store, "clip")
    return lambda: session.apply(_fix(tmp), author="ana", expect_revision=5), store


@case(422)
def edits_of_an_unknown_type(tmp: Path) -> tuple[Trigger, Path]:
    store = make_store(tmp / "out.zarr")
    session = VideoSession.open(store, "clip")
    return lambda: session.apply([1, 2, 3], author="ana"), store  # type: ignore[arg-type]


@case(422)
def an_unknown_export_format(tmp: Path) -> tuple[Trigger, Path]:
    store = make_store(tmp / "out.zarr")
    session = VideoSession.open(store, "clip")
    return lambda: session.export("nope", tmp / "out.txt"), store


@case(422)
def no_jobs(tmp: Path) -> tuple[Trigger, Path]:
    store = make_store(tmp / "out.zarr")
    return lambda: track_videos([], store, _cfg(), ColourDetector(), jobs=0), store


@case(422)
def an_output_folder_that_is_no_store(tmp: Path) -> tuple[Trigger, Path]:
    folder = tmp / "mine"
    folder.mkdir()
    (folder / "keep.txt").write_text("precious")
    clip = make_clips(tmp / "clips", lengths=(5,))[0]
    return lambda: track_videos([clip], folder, _cfg(), ColourDetector()), folder


@case(422)
def a_rerun_with_another_configuration(tmp: Path, tracked: tuple[Path, Path]
                                       ) -> tuple[Trigger, Path]:
    clip, template = tracked
    store = Path(shutil.copytree(template, tmp / "s.zarr"))
    other = replace(_cfg(), track=replace(_cfg().track, min_iou=0.5))
    return lambda: track_videos([clip], store, other, ColourDetector()), store


@case(422)
def an_overwrite_that_would_discard_corrections(tmp: Path, tracked: tuple[Path, Path]
                                                ) -> tuple[Trigger, Path]:
    clip, template = tracked
    store = Path(shutil.copytree(template, tmp / "s.zarr"))
    apply_corrections(store, _fix(tmp, [{"op": "accept", "track": 1, "frame": 5}]), author="ana")
    return lambda: track_videos([clip], store, _cfg(), ColourDetector(), overwrite=True), store


@case(422)
def a_yolo_export_over_an_existing_folder(tmp: Path) -> tuple[Trigger, None]:
    (tmp / "yolo").mkdir()
    meta = VideoMeta("a.mp4", 320, 240, 10, 10.0, ("person",))
    return lambda: write_yolo(tmp / "yolo", Boxes.empty(), meta), None


@case(422)
def an_unknown_config_key(tmp: Path) -> tuple[Trigger, None]:
    (tmp / "c.yaml").write_text("track:\n  min_iouu: 0.4\n")
    return lambda: load_config(tmp / "c.yaml"), None


@case(422)
def a_config_value_out_of_range(tmp: Path) -> tuple[Trigger, None]:
    return lambda: load_config(None, ["track.min_iou=7"]), None


@case(422)
def a_missing_config_file(tmp: Path) -> tuple[Trigger, None]:
    return lambda: load_config(tmp / "none.yaml"), None


@case(422)
def probe_of_a_text_file(tmp: Path) -> tuple[Trigger, None]:
    (tmp / "notes.mp4").write_text("not a video\n" * 100)
    return lambda: probe_video(tmp / "notes.mp4"), None


@case(422)
def decode_of_a_text_file(tmp: Path) -> tuple[Trigger, None]:
    (tmp / "notes.mp4").write_text("not a video\n" * 100)
    return lambda: next(iter(decode_frames(tmp / "notes.mp4", DecodeConfig()))), None


@case(422)
def decode_of_a_missing_file(tmp: Path) -> tuple[Trigger, None]:
    return lambda: next(iter(decode_frames(tmp / "none.mp4", DecodeConfig()))), None


@case(422)
def a_malformed_cvat_file(tmp: Path) -> tuple[Trigger, None]:
    (tmp / "a.xml").write_text("<annotations><track")
    return lambda: read_cvat_video(tmp / "a.xml"), None


@case(422)
def a_malformed_label_studio_file(tmp: Path) -> tuple[Trigger, None]:
    (tmp / "a.json").write_text('{"data": 1}')
    meta = VideoMeta("a.mp4", 320, 240, 10, 10.0, ("person",))
    return lambda: read_labelstudio(tmp / "a.json", meta), None


@case(422)
def a_malformed_mot_file(tmp: Path) -> tuple[Trigger, None]:
    (tmp / "det.txt").write_text("1,2,3\n")
    return lambda: read_mot_file(tmp / "det.txt"), None


@case(422)
def a_corrections_file_with_no_corrections(tmp: Path) -> tuple[Trigger, None]:
    (tmp / "fix.jsonl").write_text("\n")
    return lambda: read_corrections_file(tmp / "fix.jsonl", author="ana"), None


# --- 500: corrupt store -------------------------------------------------------------------------

@case(500)
def a_missing_chunk(tmp: Path) -> tuple[Trigger, Path]:
    store = make_store(tmp / "out.zarr")
    group = zarr.open_group(str(store), mode="r")["clip/tracks/xyxy"]
    (store / "clip/tracks/xyxy" / group.metadata.encode_chunk_key((1, 0))).unlink()
    return lambda: open_store(store)["clip"].read(), store


@case(500)
def root_metadata_that_does_not_load(tmp: Path) -> tuple[Trigger, Path]:
    store = make_store(tmp / "out.zarr")
    (store / "zarr.json").write_text("][")
    return lambda: open_store(store), store


@case(500)
def a_committed_attribute_that_does_not_load(tmp: Path) -> tuple[Trigger, Path]:
    store = make_store(tmp / "out.zarr")
    _set_attr(store, "clip", "committed", "garbage")
    return lambda: open_store(store)["clip"].read(), store


@case(500)
def stored_interpolate_settings_that_do_not_load(tmp: Path) -> tuple[Trigger, Path]:
    store = make_store(tmp / "out.zarr")
    config = dict(open_store(store)["clip"].attrs["config"])
    config["interpolate"] = {"no_such_setting": 1}
    _set_attr(store, "clip", "config", config)
    return lambda: load_state(open_store(store)["clip"]), store


@case(500)
def stored_review_settings_that_do_not_load(tmp: Path) -> tuple[Trigger, Path]:
    store = make_store(tmp / "out.zarr")
    apply_corrections(store, _fix(tmp), author="ana")
    config = dict(open_store(store)["clip"].attrs["config"])
    config["review"] = {**config["review"], "spot_check_rate": 7.0}
    _set_attr(store, "clip", "config", config)
    return lambda: VideoSession.open(store, "clip").audit(), store


@case(500)
def a_log_that_does_not_replay(tmp: Path) -> tuple[Trigger, Path]:
    store = make_store(tmp / "out.zarr")
    with open_store(store, mode="a").writer("clip") as video:  # written past every check
        bad = Corrections.create(op=[Op.ACCEPT], track_id=[99], frame=[3], author="x",
                                 time_ns=[0])
        video.append_log(bad, _empty_extra(1), {"source": "test", "author": "x", "time_ns": 0})
    return lambda: load_state(open_store(store)["clip"]), store


@case(500)
def no_frame_size_stored(tmp: Path) -> tuple[Trigger, Path]:
    store = make_store(tmp / "out.zarr")
    _set_attr(store, "clip", "video", {"fps": 10.0, "frame_count": 60})
    return lambda: VideoSession.open(store, "clip").meta, store


@case(500)
def a_lock_file_that_cannot_be_made(tmp: Path) -> tuple[Trigger, Path]:
    store = make_store(tmp / "out.zarr")
    locks = store / ".trackannot" / "locks"
    shutil.rmtree(locks, ignore_errors=True)
    locks.parent.mkdir(exist_ok=True)
    locks.write_text("a file where the lock folder goes")
    return lambda: group_lock(store, "clip", timeout=0).acquire(), store


# --- the test ---------------------------------------------------------------------------------

@pytest.mark.parametrize("status, setup", [(s, f) for _, s, f in CASES],
                         ids=[name for name, _, _ in CASES])
def test_a_server_maps_each_error_by_its_type(status: int, setup: Setup, tmp_path: Path,
                                              request: pytest.FixtureRequest) -> None:
    extra = [request.getfixturevalue(n) for n in list(inspect.signature(setup).parameters)[1:]]
    trigger, store = setup(tmp_path, *extra)
    before = store_digest(store) if store is not None else None
    with pytest.raises(TrackannotError) as info:
        trigger()
    err = info.value
    assert type(err) not in BASES, f"{type(err).__name__} has no kind: {err}"
    assert http_status(err) == status, f"{type(err).__name__}: {err}"
    if before is not None:
        assert store_digest(store) == before, "a refused call changed the store"


def _error_classes() -> list[type]:
    exported = [getattr(errors_module, n) for n in errors_module.__all__]
    return [c for c in exported if isinstance(c, type)]


@pytest.mark.parametrize("cls", [c for c in _error_classes() if c not in BASES],
                         ids=lambda c: c.__name__)
def test_every_error_class_is_of_exactly_one_kind(cls: type) -> None:
    kinds = [kind for kind in KINDS if issubclass(cls, kind)]
    assert len(kinds) == 1, f"{cls.__name__} is of {[k.__name__ for k in kinds]}"
    assert http_status(cls("message")) == KINDS[kinds[0]]


def test_every_trackannot_error_subclass_is_exported_with_a_kind() -> None:
    """A subclass defined anywhere in the package (the modules this file imports) is in
    `errors.__all__`."""
    seen, todo = set(), [TrackannotError]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub not in seen:
                seen.add(sub)
                todo.append(sub)
    ours = {c for c in seen if c.__module__.startswith("trackannot")}
    assert ours <= set(_error_classes())


def _bare_raises(path: Path) -> list[str]:
    """`raise StoreError(...)` / `raise TrackannotError(...)` in a file: errors of no kind."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.Raise) or node.exc is None:
            continue
        exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
        name = exc.attr if isinstance(exc, ast.Attribute) else getattr(exc, "id", None)
        if name in {c.__name__ for c in BASES}:
            found.append(f"{path.relative_to(REPO)}:{node.lineno}")
    return found


def test_no_raise_site_raises_a_base_of_no_kind() -> None:
    """The raise sites no test reaches (writer internals, races) are of a kind as well."""
    files = sorted((REPO / "trackannot").rglob("*.py")) + sorted((REPO / "cli").rglob("*.py"))
    assert [hit for f in files for hit in _bare_raises(f)] == []


@pytest.mark.parametrize(("status", "kind", "message"), [
    (404, NotFoundError, "tool: HTTP 404 (no such task)"),
    (401, InvalidInputError, "tool: HTTP 401: pass a valid --token"),
    (403, InvalidInputError, "tool: HTTP 403: pass a valid --token"),
    (409, ConflictError, "tool: HTTP 409"),
    (400, InvalidInputError, "tool: HTTP 400"),
    (502, ConflictError, "tool: HTTP 502; the server failed, try again"),
    (0, ConflictError, "tool: HTTP 0; the server failed, try again"),
], ids=["404", "401", "403", "409", "other-4xx", "5xx", "no-status"])
def test_a_tool_answer_becomes_the_error_of_its_kind(status: int, kind: type,
                                                     message: str) -> None:
    err = error_for_status(status, f"tool: HTTP {status}", not_found="no such task",
                           refused="pass a valid --token")
    assert type(err) is kind and str(err) == message
