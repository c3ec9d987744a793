"""Fuzzing the importers: Hypothesis strategies for every file a store takes in, and the property.

Shared by `tests/fuzz/test_importers.py` (bounded, deterministic) and
`benchmarks/fuzz_importers.py` (the same strategies, more examples, a Markdown table of counts).
Nothing here is part of the library.

Property: any input gives a clean `TrackannotError` or a valid result (every value as the store
would hold it), never another exception; and a file refused by `apply_corrections` leaves the
store byte for byte as it was (every file of the store directory hashed before and after).

Inputs mix near-valid documents made by our own writers (then hostile values put at random
places: huge, negative, NaN, inf, 1e300 and 1e39 numbers, 2**70 and 1e23 ids, wrong types,
missing fields, unicode and lone surrogates, inverted and out-of-frame boxes, deep nesting,
XML entities, truncation) with raw text and bytes.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
from hypothesis import strategies as st

from trackannot.annotate import apply_corrections
from trackannot.config import DetectConfig
from trackannot.corrections import read_corrections_file
from trackannot.detect.from_file import FileDetector, read_mot_file
from trackannot.errors import TrackannotError
from trackannot.export.cvat import format_cvat_video, read_cvat_video
from trackannot.export.labelstudio import format_labelstudio, read_labelstudio
from trackannot.export.meta import VideoMeta
from trackannot.export.review_tasks import (
    format_cvat_images,
    format_labelstudio_tasks,
    read_cvat_answers,
    read_labelstudio_answers,
)
from trackannot.frames import FrameBatch
from trackannot.keyframes import Keyframes
from trackannot.review import ReviewQueue, answers_from_lines, read_answer_file
from trackannot.results import open_store
from trackannot.validate import check_corrections

# what happened to each generated input: (importer, outcome) -> count; outcome is "valid"
# (a valid batch or result), "refused" (a TrackannotError; for store runs: store unchanged)
COUNTS: Counter[tuple[str, str]] = Counter()

WIDTH, HEIGHT, FRAMES = 320, 240, 60  # the test store of tests/test_annotate.make_store

# ------------------------------------------------------------------------------ hostile values

HOSTILE_NUMBERS = [
    1e300, -1e300, 1e39, -1e39, 3.4028235e38, 3.5e38, float("nan"), float("inf"), float("-inf"),
    2**31, 2**53 + 1, 2**63, 2**64, -(2**63) - 1, 2**70, 10**30, 10**400, 1e23, -1, -36, -7.5,
    0, -0.0, 0.5, 1e-45, 5e-324, 99.99999999, 100.0001, 150, 1e6, 319.99999, 320.00001,
]
STRANGE_TEXT = ["", " ", "abc", "1e300", "nan", "inf", "-inf", "1e39", "0x10", "1_000", "١٢",
                "²", "\ud800", "\x00", "名前", "é", "9" * 30, "-0", "+5", "1e-400", "true", "null"]
_DEEP = "__DEEP__"  # replaced by deeply nested JSON text after dumping

hostile_number = st.sampled_from(HOSTILE_NUMBERS)
hostile_value = st.one_of(
    hostile_number,
    st.integers(),
    st.floats(),
    st.sampled_from(STRANGE_TEXT),
    st.text(max_size=12),
    st.booleans(),
    st.none(),
    st.lists(st.one_of(st.integers(), hostile_number), max_size=6),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=3),
    st.just(_DEEP),
)


def _nest(text: str, deep: int) -> str:
    return text.replace(json.dumps(_DEEP), "[" * deep + "]" * deep)


def _paths(node: Any, out: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    """Every (container, key) of a JSON tree."""
    if isinstance(node, dict):
        for key in list(node):
            out.append((node, key))
            _paths(node[key], out)
    elif isinstance(node, list):
        for i in range(len(node)):
            out.append((node, i))
            _paths(node[i], out)
    return out


@st.composite
def mutated_json(draw: Callable, template: Any, max_edits: int = 3) -> Any:
    """The template with 0..max_edits values replaced, deleted, or given a new field."""
    doc = copy.deepcopy(template)
    for _ in range(draw(st.integers(0, max_edits))):
        paths = _paths(doc, [])
        if not paths:
            break
        container, key = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["set", "set", "set", "delete", "add"]))
        if action == "set":
            container[key] = draw(hostile_value)
        elif action == "delete":
            del container[key]
        elif isinstance(container, dict):
            container[draw(st.sampled_from(["colour", "x", "frame", "id", "item"]))] = draw(
                hostile_value)
        else:
            container.append(draw(hostile_value))
    return doc


def dump_json(doc: Any, deep: int) -> str:
    return _nest(json.dumps(doc), deep)


def _encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


raw_bytes = st.one_of(st.binary(max_size=400), st.text(max_size=400).map(_encode))
deep_level = st.sampled_from([3, 50, 3000, 100_000])

# ------------------------------------------------------------------------------ inputs per door


def _box() -> st.SearchStrategy[list[float]]:
    """Boxes in the 320x240 frame, inverted, outside it, or hostile."""
    x = st.floats(-50, WIDTH + 50, allow_nan=False)
    y = st.floats(-50, HEIGHT + 50, allow_nan=False)
    return st.one_of(st.tuples(x, y, x, y).map(list),
                     st.lists(st.one_of(hostile_number, x), min_size=4, max_size=4))


def correction_lines() -> st.SearchStrategy[list[dict[str, Any]]]:
    """JSON Lines corrections for the test store (tracks 1 and 2 on frames 0..39)."""
    track = st.sampled_from([1, 1, 1, 2, 2, 2, 3, 99])  # tracks 1 and 2 exist
    frame = st.one_of(st.integers(0, 39), st.integers(0, 62))
    line = st.one_of(
        st.fixed_dictionaries({"op": st.just("accept"), "track": track, "frame": frame}),
        st.fixed_dictionaries({"op": st.just("adjust"), "track": track, "frame": frame,
                               "box": _box()}),
        st.fixed_dictionaries({"op": st.just("absent"), "track": track, "frame": frame}),
        st.fixed_dictionaries({"op": st.just("create"), "frame": frame, "box": _box(),
                               "class": st.sampled_from([0, 1, 2**40])}),
        st.fixed_dictionaries({"op": st.just("split"), "track": track, "frame": frame}),
        st.fixed_dictionaries({"op": st.just("merge"), "track": st.just(1),
                               "from_track": st.sampled_from([2, 1, 99])}),
        st.fixed_dictionaries({"op": st.just("class"), "track": track,
                               "class": st.sampled_from([0, 1, -1])}),
    )
    return st.lists(line, min_size=1, max_size=5)


@st.composite
def jsonl_corrections(draw: Callable) -> bytes:
    if draw(st.integers(0, 9)) == 0:
        return draw(raw_bytes)
    lines = draw(mutated_json(draw(correction_lines())))
    deep = draw(deep_level)
    text = "\n".join(dump_json(x, deep) for x in (lines if isinstance(lines, list) else [lines]))
    extra = draw(st.sampled_from(["", "\n# comment", "\n\n", "\n{\"op\": ", "\n" + "1" * 5000,
                                  "\n[NaN, Infinity]", '\n{"op": "accept", "track": 1e23}']))
    return _encode(text + extra)


def keyframes_for_store() -> Keyframes:
    """Keyframes of the test store's two tracks, as our exporters write them."""
    return Keyframes.create(
        track_id=[1, 1, 1, 2, 2], frame=[0, 20, 40, 0, 40], outside=[False, False, True, False, True],
        xyxy=[[0, 10, 30, 90], [40, 10, 70, 90], [78, 10, 108, 90], [200, 50, 240, 150],
              [200, 50, 240, 150]])


_ATTR = re.compile(r'(\w+)="([^"]*)"')
_ENTITIES = ('<!DOCTYPE annotations [<!ENTITY a "1e300"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
             '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;">]>\n')


@st.composite
def mutated_xml(draw: Callable, template: str) -> bytes:
    """Our XML with attribute values replaced, lines dropped or repeated, entities, truncation."""
    if draw(st.integers(0, 9)) == 0:
        return draw(raw_bytes)
    text = template
    for _ in range(draw(st.integers(0, 3))):
        spans = [m.span(2) for m in _ATTR.finditer(text)]
        a, b = draw(st.sampled_from(spans))
        value = draw(st.one_of(st.sampled_from(STRANGE_TEXT), hostile_number.map(repr),
                               st.sampled_from(["&d;", "&undefined;", "&#0;", "&lt;", "-5", "1e6",
                                                "2.5", "99999999999999999999999"])))
        text = text[:a] + value.replace('"', "&quot;") + text[b:]
    lines = text.split("\n")
    action = draw(st.sampled_from(["none", "none", "drop", "repeat", "entities", "truncate",
                                   "deep"]))
    i = draw(st.integers(0, len(lines) - 1))
    if action == "drop":
        del lines[i]
    elif action == "repeat":
        lines.insert(i, lines[i])
    elif action == "entities":
        lines.insert(1, _ENTITIES)
        lines.insert(min(i + 2, len(lines)), "<name>&d;</name>")
    elif action == "deep":
        lines.insert(min(i + 1, len(lines)), "<a>" * 2000 + "</a>" * 2000)
    text = "\n".join(lines)
    if action == "truncate":
        text = text[: draw(st.integers(0, len(text)))]
    return _encode(text)


@st.composite
def cvat_video(draw: Callable, meta: VideoMeta) -> bytes:
    """Our CVAT file of the store's tracks; some boxes replaced (inverted, outside the frame,
    hostile numbers) as a person's tool might write them, then `mutated_xml`."""
    text = format_cvat_video(keyframes_for_store(), meta)
    corners = list(re.finditer(r'xtl="[^"]*" ytl="[^"]*" xbr="[^"]*" ybr="[^"]*"', text))
    for i in sorted(set(draw(st.lists(st.integers(0, len(corners) - 1), max_size=2))),
                    reverse=True):
        a, b, c, d = (repr(v) for v in draw(_box()))
        span = corners[i].span()
        text = text[:span[0]] + f'xtl="{a}" ytl="{b}" xbr="{c}" ybr="{d}"' + text[span[1]:]
    return draw(mutated_xml(text))


@st.composite
def label_studio(draw: Callable, meta: VideoMeta) -> bytes:
    if draw(st.integers(0, 9)) == 0:
        return draw(raw_bytes)
    tasks = format_labelstudio(keyframes_for_store(), meta,
                               as_predictions=draw(st.booleans()))
    return _encode(dump_json(draw(mutated_json(tasks, max_edits=4)), draw(deep_level)))


@st.composite
def queue_jsonl(draw: Callable, queue: ReviewQueue) -> bytes:
    if draw(st.integers(0, 9)) == 0:
        return draw(raw_bytes)
    item = st.one_of(st.integers(0, len(queue) - 1), hostile_number)
    line = st.one_of(
        st.fixed_dictionaries({"item": item, "op": st.sampled_from(["accept", "absent"])}),
        st.fixed_dictionaries({"item": item, "op": st.just("adjust"), "box": _box()}),
    )
    lines = draw(mutated_json(draw(st.lists(line, min_size=1, max_size=4))))
    deep = draw(deep_level)
    return _encode("\n".join(dump_json(x, deep) for x in
                             (lines if isinstance(lines, list) else [lines])))


@st.composite
def queue_cvat_images(draw: Callable, queue: ReviewQueue, meta: VideoMeta) -> bytes:
    return draw(mutated_xml(format_cvat_images(queue, meta)))


@st.composite
def queue_labelstudio(draw: Callable, queue: ReviewQueue, meta: VideoMeta) -> bytes:
    if draw(st.integers(0, 9)) == 0:
        return draw(raw_bytes)
    tasks = format_labelstudio_tasks(queue, meta)
    for task in tasks:  # as Label Studio exports them once a reviewer submits
        task["annotations"] = [{"result": copy.deepcopy(task["predictions"][0]["result"])}]
    return _encode(dump_json(draw(mutated_json(tasks, max_edits=4)), draw(deep_level)))


_MOT_TOKENS = st.one_of(st.sampled_from(STRANGE_TEXT), hostile_number.map(repr),
                        st.integers(-5, 400).map(str), st.floats(-100, 900).map(repr))


@st.composite
def mot_detections(draw: Callable) -> bytes:
    if draw(st.integers(0, 9)) == 0:
        return draw(raw_bytes)
    fields = draw(st.sampled_from([7, 8, 9, 10, 6, 11]))
    rows = []
    for _ in range(draw(st.integers(1, 8))):
        row = [str(draw(st.integers(1, 3))), "-1", *(repr(draw(st.floats(-40, 340))) for _ in
                                                      range(2)),
               *(repr(draw(st.floats(0, 80))) for _ in range(2)),
               repr(draw(st.floats(-1, 2)))]
        row += ["1"] * (fields - len(row)) if fields >= 7 else []
        for _ in range(draw(st.integers(0, 2))):
            row[draw(st.integers(0, len(row) - 1))] = draw(_MOT_TOKENS)
        rows.append(",".join(row[:fields]))
    return _encode("\n".join(rows) + "\n")


# ------------------------------------------------------------------------------ the property


def digest(root: Path) -> dict[str, str]:
    """Every file under the store directory (its lock and cache folder included) -> SHA-256."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@dataclass
class Context:
    """What the importers read against: the test store (with an open queue), its video."""

    store: Path  # template store; every store run works on a copy
    meta: VideoMeta
    queue: ReviewQueue


def _boxes_ok(xyxy: np.ndarray, frame: bool = True) -> None:
    assert xyxy.dtype == np.float32 and np.isfinite(xyxy).all(), xyxy
    assert (xyxy[:, 2] > xyxy[:, 0]).all() and (xyxy[:, 3] > xyxy[:, 1]).all(), xyxy
    if frame:
        assert (xyxy[:, :2] >= 0).all() and (xyxy[:, 2] <= WIDTH).all(), xyxy
        assert (xyxy[:, 3] <= HEIGHT).all(), xyxy


def _keyframes_ok(keys: Keyframes, meta: VideoMeta) -> None:
    _boxes_ok(keys.xyxy)
    assert ((keys.frame >= 0) & (keys.frame < meta.num_frames)).all()
    assert ((keys.class_id >= 0) & (keys.class_id < len(meta.class_names))).all()


def _answers_ok(lines: list, ctx: Context) -> None:
    corrections, answers = answers_from_lines(lines, ctx.queue, "fuzz", 0,
                                              frame_size=(WIDTH, HEIGHT))
    check_corrections(corrections, "answers", (WIDTH, HEIGHT))
    assert len(answers) <= len(lines)


def parse(importer: str, data: bytes, ctx: Context) -> str:
    """Run one importer's reader on `data`: "valid" (result checked) or "refused"."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / _NAMES[importer]
        path.write_bytes(data)
        try:
            _READERS[importer](path, ctx)
        except TrackannotError:
            outcome = "refused"
        else:
            outcome = "valid"
    COUNTS[(importer, outcome)] += 1
    return outcome


def apply(importer: str, data: bytes, ctx: Context) -> str:
    """Apply `data` to a copy of the store: "valid" or "refused" (then the store is unchanged)."""
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(shutil.copytree(ctx.store, Path(tmp) / "store.zarr"))
        path = Path(tmp) / _NAMES[importer]
        path.write_bytes(data)
        before = digest(store)
        queue = ctx.queue.queue_id if importer.startswith("queue") else None
        try:
            summary = apply_corrections(store, path, author="fuzz", queue=queue)
        except TrackannotError:
            assert digest(store) == before, "a refused file changed the store"
            outcome = "refused"
        else:
            log, _ = open_store(store)["clip"].read_log()  # what was logged is storable
            check_corrections(log[len(log) - sum(summary.counts.values()):], "log",
                              (WIDTH, HEIGHT))
            outcome = "valid"
    COUNTS[(f"{importer} (apply)", outcome)] += 1
    return outcome


def _read_jsonl(path: Path, ctx: Context) -> None:
    corrections = read_corrections_file(path, "fuzz")
    check_corrections(corrections, str(path))


def _read_cvat(path: Path, ctx: Context) -> None:
    _keyframes_ok(read_cvat_video(path, ctx.meta), ctx.meta)


def _read_ls(path: Path, ctx: Context) -> None:
    _keyframes_ok(read_labelstudio(path, ctx.meta), ctx.meta)


def _read_queue_jsonl(path: Path, ctx: Context) -> None:
    corrections, _ = read_answer_file(path, ctx.queue, "fuzz", 0, frame_size=(WIDTH, HEIGHT))
    check_corrections(corrections, str(path), (WIDTH, HEIGHT))


def _read_queue_cvat(path: Path, ctx: Context) -> None:
    _answers_ok(read_cvat_answers(path, ctx.queue, (WIDTH, HEIGHT)), ctx)


def _read_queue_ls(path: Path, ctx: Context) -> None:
    _answers_ok(read_labelstudio_answers(path, ctx.queue, (WIDTH, HEIGHT)), ctx)


def _read_mot(path: Path, ctx: Context) -> None:
    boxes = read_mot_file(path)
    _boxes_ok(boxes.xyxy[(boxes.xyxy[:, 2] > boxes.xyxy[:, 0])
                         & (boxes.xyxy[:, 3] > boxes.xyxy[:, 1])], frame=False)
    assert np.isfinite(boxes.score).all() and (boxes.frame >= 0).all()
    detector = FileDetector(path, DetectConfig(max_det=3))
    index = np.arange(4, dtype=np.int64)
    batch = FrameBatch(frames=np.zeros((4, HEIGHT, WIDTH, 3), np.uint8), index=index,
                       time_s=index / 10.0)
    found = detector.detect(batch)
    _boxes_ok(found.xyxy)
    assert np.isfinite(found.score).all()
    assert np.bincount(found.frame, minlength=1).max(initial=0) <= 3


_READERS: dict[str, Callable[[Path, Context], None]] = {
    "JSONL corrections": _read_jsonl,
    "CVAT video XML": _read_cvat,
    "Label Studio JSON": _read_ls,
    "queue answers JSONL": _read_queue_jsonl,
    "queue CVAT images XML": _read_queue_cvat,
    "queue Label Studio tasks": _read_queue_ls,
    "MOTChallenge detections": _read_mot,
}
_NAMES = {
    "JSONL corrections": "fix.jsonl", "CVAT video XML": "clip.xml",
    "Label Studio JSON": "clip.json", "queue answers JSONL": "answers.jsonl",
    "queue CVAT images XML": "answers.xml", "queue Label Studio tasks": "answers.json",
    "MOTChallenge detections": "det.txt",
}


def strategies(ctx: Context) -> dict[str, st.SearchStrategy[bytes]]:
    """The input strategy of each importer (keys of `_READERS`)."""
    return {
        "JSONL corrections": jsonl_corrections(),
        "CVAT video XML": cvat_video(ctx.meta),
        "Label Studio JSON": label_studio(ctx.meta),
        "queue answers JSONL": queue_jsonl(ctx.queue),
        "queue CVAT images XML": queue_cvat_images(ctx.queue, ctx.meta),
        "queue Label Studio tasks": queue_labelstudio(ctx.queue, ctx.meta),
        "MOTChallenge detections": mot_detections(),
    }


APPLIED = ("JSONL corrections", "CVAT video XML", "Label Studio JSON", "queue answers JSONL",
           "queue CVAT images XML", "queue Label Studio tasks")


def make_context(root: Path) -> Context:
    """The test store (tests/test_annotate.make_store) with one batch applied (so its lock
    files and state cache exist, as in any store that has taken corrections) and an open review
    queue built after it."""
    from tests.test_annotate import make_store, write_lines
    from tests.test_review_store import new_queue
    from trackannot.annotate import video_meta

    store = make_store(root / "template.zarr")
    first = write_lines(root / "first.jsonl", [{"op": "accept", "track": 1, "frame": 3}])
    apply_corrections(store, first, author="ana")
    queue = new_queue(store, "q0000-fuzz", budget=6)
    return Context(store=store, meta=video_meta(open_store(store)["clip"]), queue=queue)
