"""Tests of trackannot.inputs: which files a run tracks, which it skips, whatever their names."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests._corpus import CorpusFile, make_damaged_corpus
from tests._video import noise_frames, write_clip
from trackannot.errors import InputFormatError
from trackannot.inputs import collect_videos


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[CorpusFile]]:
    folder = tmp_path_factory.mktemp("corpus")
    return folder, make_damaged_corpus(folder)


def test_directory_skips_exactly_the_non_videos(corpus: tuple[Path, list[CorpusFile]]) -> None:
    folder, files = corpus
    inputs = collect_videos([folder])
    skipped = {s.path.name: s.reason for s in inputs.skipped}
    assert set(skipped) == {f.name for f in files if f.expect == "skipped"}
    # damaged videos are tracked (the run reports them), in name order
    assert [p.name for p in inputs.videos] == sorted(f.name for f in files
                                                     if f.expect != "skipped")
    assert skipped["random-bin.bin"] == ("not a video: FFmpeg reads it as bin (a still image or "
                                     "text); expected a video file (mp4, mkv, avi, mov, webm, ...)")
    assert skipped["random-mp4.mp4"].startswith("not a video: FFmpeg finds no container in it")
    assert skipped["text-avi.avi"].startswith("not a video: FFmpeg finds no container in it")
    assert skipped["png-image.mp4"].startswith("not a video: FFmpeg reads it as png_pipe")
    assert skipped["audio-only.m4a"].startswith("no video stream (found: audio)")
    assert skipped["zero-length-dat.dat"] == "empty file (0 bytes)"


@pytest.mark.parametrize(
    ("name", "tracked"),
    [("random-bin.bin", False), ("random-mp4.mp4", False), ("text-avi.avi", False),
     ("png-image.mp4", False), ("audio-only.m4a", False), ("zero-length-dat.dat", False),
     ("zero-length.mp4", True),
     ("mkv-named.mp4", True), ("mp4-cut30.mp4", True), ("mkv-cut60.mkv", True),
     ("webm-garbage.webm", True), ("rotated90-mp4.mp4", True)],
)
def test_a_named_file_is_probed_like_a_found_one(corpus: tuple[Path, list[CorpusFile]],
                                                 name: str, tracked: bool) -> None:
    folder, _ = corpus
    good = folder / "mp4-ok.mp4"
    inputs = collect_videos([folder / name, good])
    assert [p.name for p in inputs.videos] == ([name] if tracked else []) + ["mp4-ok.mp4"]
    assert [s.path for s in inputs.skipped] == ([] if tracked else [folder / name])


def test_only_non_videos_is_an_error_that_counts_them(corpus: tuple[Path, list[CorpusFile]]
                                                      ) -> None:
    folder, _ = corpus
    with pytest.raises(InputFormatError, match=r"no video to track in .*random-bin\.bin.*"
                                               r"text-avi\.avi \(2 non-video files skipped: "
                                               r"random-bin\.bin: not a video: FFmpeg reads it "
                                               r"as bin .*; text-avi\.avi: not a video"):
        collect_videos([folder / "random-bin.bin", folder / "text-avi.avi"])


def test_a_file_reached_twice_is_listed_once(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "a.mp4", noise_frames(3), fps=10)
    (tmp_path / "notes.txt").write_text("x\n" * 30)
    (tmp_path / "lists").mkdir()
    manifest = tmp_path / "lists" / "list.txt"
    manifest.write_text("../a.mp4\n../notes.txt\n..\n")
    inputs = collect_videos([clip, tmp_path / "notes.txt", tmp_path], manifest)
    assert inputs.videos == (clip.resolve(),)
    assert [s.path.name for s in inputs.skipped] == ["notes.txt"]
