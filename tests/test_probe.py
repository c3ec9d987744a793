"""Tests of trackannot.probe: a video, a damaged video or not a video; header, rotation."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from tests._corpus import _write_audio, _write_png
from tests._video import noise_frames, patch_frames, truncate, write_clip
import trackannot.probe as probe_module
from trackannot.errors import NotAVideoError, VideoDecodeError
from trackannot.probe import container_signature, open_video, probe_video, quarter_turns

VTEST = "video/vtest_PETS09-S2L1_480x360_h264.avi"
MOT17_CLIP = "video/MOT17-04_frames0001-0008_1920x1080_mpeg4.mp4"


def _clip(path: Path, container: str | None = None) -> Path:
    return write_clip(path, noise_frames(20), fps=25, container=container)


def _random(path: Path, n_bytes: int = 200_000) -> Path:
    path.write_bytes(np.random.default_rng(1).integers(0, 256, n_bytes, np.uint8).tobytes())
    return path


def _text(path: Path) -> Path:
    path.write_text("take 1: street, 12 s\n" * 40)
    return path


# -- not a video ---------------------------------------------------------------------------------

NOT_VIDEOS: list[tuple[str, Callable[[Path], Path], str]] = [
    # FFmpeg's text-art demuxer reads 200 kB named .bin as a 1280 x 10000 "video"
    ("random.bin", _random, r"reads it as bin \(a still image or text\)"),
    ("random.mp4", _random, r"finds no container in it .* no video container's signature"),
    ("random.noext", _random, "finds no container in it"),
    ("text.avi", _text, "finds no container in it"),
    ("notes.txt", _text, r"reads it as tty \(a still image or text\)"),
    ("image.mp4", lambda p: (_write_png(p, noise_frames(1)[0]), p)[1], "reads it as png_pipe"),
    ("image.png", lambda p: (_write_png(p, noise_frames(1)[0]), p)[1], "reads it as"),
    ("audio.m4a", lambda p: (_write_audio(p), p)[1], r"no video stream \(found: audio\)"),
]


@pytest.mark.parametrize(("name", "make", "message"), NOT_VIDEOS,
                         ids=[n for n, _, _ in NOT_VIDEOS])
def test_files_without_video_are_not_a_video(tmp_path: Path, name: str,
                                              make: Callable[[Path], Path], message: str) -> None:
    path = make(tmp_path / name)
    with pytest.raises(NotAVideoError, match=message) as err:
        probe_video(path)
    assert str(path) in str(err.value)
    with pytest.raises(NotAVideoError, match=message):
        with open_video(path):
            pass


def test_an_absurd_frame_size_is_refused(tmp_path: Path) -> None:
    # a Y4M header claiming 20000 x 20000 pixels: FFmpeg refuses it, and the Y4M signature makes
    # it a damaged video
    path = tmp_path / "huge.y4m"
    path.write_bytes(b"YUV4MPEG2 W20000 H20000 F30:1 Ip A1:1 C420jpeg\nFRAME\n" + bytes(4096))
    with pytest.raises(VideoDecodeError, match="a damaged Y4M file") as err:
        probe_video(path)
    assert not isinstance(err.value, NotAVideoError)
    # sizes FFmpeg lets through are checked too: not a video without a signature, damaged with
    with pytest.raises(NotAVideoError, match="not a video: frame size 1280 x 20000 is not"):
        probe_module._check_size(path, 1280, 20000, None)
    with pytest.raises(VideoDecodeError, match="damaged AVI file: frame size 0 x 480"):
        probe_module._check_size(path, 0, 480, "AVI")
    probe_module._check_size(path, 16384, 1, None)  # the largest allowed


# -- damaged videos --------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("ext", "muxer", "fraction", "message"),
    [("mp4", "mp4", 0.5, "a damaged MP4/MOV file: FFmpeg cannot read it"),
     ("mov", "mov", 0.9, "a damaged MP4/MOV file: FFmpeg cannot read it"),
     ("avi", "avi", 0.05, "a damaged AVI file"),
     ("mkv", "matroska", 0.001, "a damaged Matroska/WebM file")],
    ids=["mp4-no-index", "mov-no-index", "avi-header-cut", "mkv-header-cut"],
)
def test_a_cut_container_is_a_damaged_video_not_a_non_video(
        tmp_path: Path, ext: str, muxer: str, fraction: float, message: str) -> None:
    cut = truncate(_clip(tmp_path / f"full.{ext}", muxer), tmp_path / f"cut.{ext}", fraction)
    with pytest.raises(VideoDecodeError, match=message) as err:
        probe_video(cut)
    assert not isinstance(err.value, NotAVideoError)


def test_a_named_mkv_is_read_by_its_content(tmp_path: Path) -> None:
    info = probe_video(_clip(tmp_path / "clip.mp4", "matroska"))  # an MKV named .mp4
    assert info.container == "matroska,webm"
    assert (info.width, info.height, info.codec) == (64, 48, "h264")


@pytest.mark.parametrize(
    ("ext", "muxer", "signature"),
    [("mp4", "mp4", "MP4/MOV"), ("mov", "mov", "MP4/MOV"), ("avi", "avi", "AVI"),
     ("mkv", "matroska", "Matroska/WebM"), ("ts", "mpegts", "MPEG-TS"), ("flv", "flv", "FLV")],
    ids=["mp4", "mov", "avi", "mkv", "ts", "flv"],
)
def test_container_signatures(tmp_path: Path, ext: str, muxer: str, signature: str) -> None:
    assert container_signature(_clip(tmp_path / f"clip.{ext}", muxer)) == signature


@pytest.mark.parametrize("make", [_random, _text, lambda p: (p.write_bytes(b""), p)[1]],
                         ids=["random", "text", "empty"])
def test_no_signature_in_other_files(tmp_path: Path, make: Callable[[Path], Path]) -> None:
    assert container_signature(make(tmp_path / "file.mp4")) is None


# -- header and rotation ---------------------------------------------------------------------------

def test_real_footage_headers(data_dir: Path) -> None:
    vtest = probe_video(data_dir / VTEST)
    assert (vtest.container, vtest.rotation, vtest.width, vtest.height) == ("avi", 0, 480, 360)
    mot = probe_video(data_dir / MOT17_CLIP)
    assert (mot.container, mot.rotation) == ("mov,mp4,m4a,3gp,3g2,mj2", 0)


@pytest.mark.parametrize(
    ("ext", "muxer", "written", "rotation", "size"),
    [("mp4", "mp4", 90, 90, (64, 96)), ("mov", "mov", -90, 270, (64, 96)),
     ("mkv", "matroska", 180, 180, (96, 64)), ("webm", "webm", 270, 270, (64, 96)),
     ("avi", "avi", 90, 0, (96, 64))],  # AVI has no rotation field: none is written
    ids=["mp4-90", "mov-270", "mkv-180", "webm-270", "avi-none"],
)
def test_rotation_is_read_and_the_size_is_the_display_size(
        tmp_path: Path, ext: str, muxer: str, written: int, rotation: int,
        size: tuple[int, int]) -> None:
    codec = "libvpx-vp9" if ext == "webm" else "libx264"
    path = write_clip(tmp_path / f"clip.{ext}", patch_frames(6), fps=30, codec=codec,
                      container=muxer, rotation=written)
    info = probe_video(path)
    assert info.rotation == rotation
    assert (info.width, info.height) == size


@pytest.mark.parametrize(("degrees", "turns"), [(0, 0), (90, 1), (-90, 3), (180, 2), (-180, 2),
                                                (270, 3), (89.6, 1), (360, 0)])
def test_quarter_turns(degrees: float, turns: int) -> None:
    assert quarter_turns(degrees) == turns
