"""`trackannot export`: one policy for an output directory that holds files, in every format."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.test_annotate import make_store, write_lines
from trackannot.annotate import apply_corrections
from trackannot.cli.main import main

FORMATS = ["mot", "cvat", "labelstudio", "labelstudio-predictions", "coco", "yolo"]


def _export(store: Path, out: Path, fmt: str, *extra: str):  # noqa: ANN202
    return CliRunner().invoke(main, ["export", str(store), "--format", fmt, "-o", str(out),
                                     *extra])


def _files(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file()}


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_directory_with_files_needs_overwrite_and_a_rerun_with_it_works(tmp_path: Path,
                                                                          fmt: str) -> None:
    store = make_store(tmp_path / "out.zarr")
    out = tmp_path / "exported"
    first = _export(store, out, fmt)
    assert first.exit_code == 0, first.output
    before = _files(out)
    assert before
    again = _export(store, out, fmt)
    assert again.exit_code == 1 and "already holds files" in again.output
    assert "--overwrite" in again.output and "Traceback" not in again.output
    assert _files(out) == before  # nothing written
    edit = [{"op": "adjust", "track": 1, "frame": 10, "box": [0, 0, 10, 10]}]
    apply_corrections(store, write_lines(tmp_path / "fix.jsonl", edit), author="ana")
    replaced = _export(store, out, fmt, "--overwrite")
    assert replaced.exit_code == 0, replaced.output
    after = _files(out)
    assert set(after) == set(before) and after != before  # the same outputs, now corrected
    assert not [p for p in out.rglob("*") if p.name.endswith((".partial", ".old"))]


def test_a_directory_with_other_files_is_refused_too(tmp_path: Path) -> None:
    store = make_store(tmp_path / "out.zarr")
    out = tmp_path / "exported"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    result = _export(store, out, "mot")
    assert result.exit_code == 1 and "notes.txt" in result.output
    assert _files(out) == {"notes.txt": b"mine"}
    assert _export(store, out, "mot", "--overwrite").exit_code == 0
    assert (out / "notes.txt").read_text() == "mine" and (out / "clip.txt").is_file()
