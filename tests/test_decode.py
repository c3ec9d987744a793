"""Tests of trackannot.decode: probing, batching, timestamp sampling, threads, bad input."""

from __future__ import annotations

import gc
import re
import threading
import time
from contextlib import closing
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av
import numpy as np
import pytest

import trackannot.decode as decode_module
from tests._video import noise_frames, patch_frames, truncate, write_clip
from trackannot.config import DecodeConfig
from trackannot.decode import FrameBatch, decode_frames, probe_video
from trackannot.demo.synth import write_demo_clip
from trackannot.errors import InputFormatError, NotAVideoError, VideoDecodeError

VTEST = "video/vtest_PETS09-S2L1_480x360_h264.avi"
MOT17_CLIP = "video/MOT17-04_frames0001-0008_1920x1080_mpeg4.mp4"
# mean absolute error (0-255 levels) allowed between written and decoded flat colour patches
MAX_PATCH_MAE = 6.0


def _decode_all(path: Path, **cfg: object) -> list[FrameBatch]:
    return list(decode_frames(path, DecodeConfig(**cfg)))  # type: ignore[arg-type]


def _concat(batches: list[FrameBatch]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (
        np.concatenate([b.frames for b in batches]),
        np.concatenate([b.index for b in batches]),
        np.concatenate([b.time_s for b in batches]),
    )


def _decode_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == decode_module._THREAD_NAME]


def _wait_no_decode_thread(timeout_s: float = 2.0) -> list[threading.Thread]:
    deadline = time.monotonic() + timeout_s
    while _decode_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    return _decode_threads()


def _mae(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean absolute error per frame of two (n, h, w, 3) uint8 stacks."""
    return np.abs(a.astype(np.int16) - b.astype(np.int16)).mean(axis=(1, 2, 3))


# -- real footage ------------------------------------------------------------------------------


def test_probe_vtest_reads_the_header(data_dir: Path) -> None:
    info = probe_video(data_dir / VTEST)
    assert (info.width, info.height, info.fps, info.frame_count) == (480, 360, 10.0, 795)
    assert info.codec == "h264"
    assert info.size_bytes == 3155448
    assert info.duration_s == pytest.approx(79.5)
    assert len(info.first_mib_sha256) == 64


def test_probe_small_clip_hash_is_the_whole_file_hash(data_dir: Path) -> None:
    # the clip is smaller than 1 MiB, so its first-MiB hash is SOURCES.md's full-file sha256
    info = probe_video(data_dir / MOT17_CLIP)
    assert info.first_mib_sha256 == (
        "9003ee7c9cb26fcb364dd65b98ab2580a7c524b380acd6ff28717957aaec4569"
    )
    assert (info.width, info.height, info.frame_count, info.codec) == (1920, 1080, 8, "mpeg4")


def test_vtest_decodes_795_frames_in_display_order(data_dir: Path) -> None:
    # the AVI stores decode-order pts (1, 4, 3, 5, 2, ...); times must still rise by 0.1 s
    lengths, shapes, index, time_s = [], set(), [], []
    for batch in decode_frames(data_dir / VTEST, DecodeConfig(batch_size=64)):  # frames dropped
        lengths.append(len(batch))
        shapes.add(batch.frames.shape[1:])
        index.append(batch.index)
        time_s.append(batch.time_s)
    assert lengths == [64] * 12 + [27]
    assert shapes == {(360, 480, 3)}
    np.testing.assert_array_equal(np.concatenate(index), np.arange(795))
    np.testing.assert_allclose(np.diff(np.concatenate(time_s)), 0.1, atol=1e-9)


def test_vtest_sampled_at_2_5_fps_keeps_every_fourth_frame(data_dir: Path) -> None:
    index = [b.index for b in decode_frames(data_dir / VTEST, DecodeConfig(fps=2.5))]
    np.testing.assert_array_equal(np.concatenate(index), np.arange(0, 795, 4))


def test_mot17_clip_gives_8_full_hd_frames(data_dir: Path) -> None:
    (batch,) = _decode_all(data_dir / MOT17_CLIP, batch_size=16)
    assert batch.frames.shape == (8, 1080, 1920, 3)
    np.testing.assert_allclose(batch.time_s, np.arange(8) / 3.0)
    # real footage, not a flat frame: a street scene has texture everywhere
    assert batch.frames[:, ::8, ::8].std() > 20


# -- codecs and containers -----------------------------------------------------------------------

CODEC_CONTAINERS = [
    (codec, ext)
    for codec in ("libx264", "libx265", "mpeg4")
    for ext in ("mp4", "avi", "mkv", "mov")
    if (codec, ext) != ("libx265", "avi")  # FFmpeg's AVI muxer does not take HEVC
]
DECODER_NAME = {"libx264": "h264", "libx265": "hevc", "mpeg4": "mpeg4"}


@pytest.mark.parametrize(
    ("codec", "ext"), CODEC_CONTAINERS, ids=[f"{c}-{e}" for c, e in CODEC_CONTAINERS]
)
def test_codec_container_round_trip(tmp_path: Path, codec: str, ext: str) -> None:
    written = patch_frames(12)
    path = write_clip(tmp_path / f"clip.{ext}", written, fps=30, codec=codec)
    info = probe_video(path)
    assert (info.width, info.height, info.codec) == (96, 64, DECODER_NAME[codec])
    assert info.fps == pytest.approx(30.0)
    frames, index, time_s = _concat(_decode_all(path, batch_size=5))
    assert frames.shape == (12, 64, 96, 3)
    np.testing.assert_array_equal(index, np.arange(12))
    # H.264 in AVI comes back with permuted pts; the times must still be i / 30 (to Matroska's ms)
    np.testing.assert_allclose(time_s - time_s[0], np.arange(12) / 30.0, atol=1e-3)
    # right frames, in order, with red/green/blue where they were written
    assert _mae(frames, written).max() < MAX_PATCH_MAE


def test_colours_are_rgb_not_bgr(tmp_path: Path) -> None:
    red = np.zeros((3, 64, 96, 3), np.uint8)
    red[..., 0] = 200
    path = write_clip(tmp_path / "red.mp4", red, fps=10)
    (batch,) = _decode_all(path)
    mean_rgb = batch.frames.reshape(-1, 3).mean(axis=0)
    assert mean_rgb[0] > 190 and mean_rgb[1] < 10 and mean_rgb[2] < 10


def test_joined_ts_with_a_size_change_decodes_whole_at_the_first_size(tmp_path: Path) -> None:
    # two MPEG-TS files joined byte for byte: the join breaks the TS continuity counters (FFmpeg
    # flags that packet corrupt) and the second part is half the size
    first = write_clip(tmp_path / "a.ts", patch_frames(6, 64, 96), fps=30, container="mpegts")
    second = write_clip(tmp_path / "b.ts", patch_frames(6, 32, 48), fps=30, container="mpegts",
                        pts=list(range(8, 14)))  # continues after the first part's last frame
    joined = tmp_path / "joined.ts"
    joined.write_bytes(first.read_bytes() + second.read_bytes())
    with av.open(str(joined)) as container:
        assert any(packet.is_corrupt for packet in container.demux(video=0))

    frames, index, time_s = _concat(_decode_all(joined, batch_size=5))
    np.testing.assert_array_equal(index, np.arange(12))
    assert np.all(np.diff(time_s) > 0)
    # the half-size frames are scaled back to 64 x 96 so boxes keep one coordinate space
    assert _mae(frames, np.concatenate([patch_frames(6)] * 2)).max() < MAX_PATCH_MAE


# -- batching --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "batch_size", "lengths"),
    [(30, 8, [8, 8, 8, 6]), (16, 8, [8, 8]), (5, 16, [5]), (3, 1, [1, 1, 1])],
    ids=["short-last", "exact", "one-short-batch", "batch-of-one"],
)
def test_batch_sizes(tmp_path: Path, n: int, batch_size: int, lengths: list[int]) -> None:
    path = write_clip(tmp_path / "clip.mp4", patch_frames(n), fps=30)
    batches = _decode_all(path, batch_size=batch_size)
    assert [len(b) for b in batches] == lengths
    assert all(b.frames.flags.c_contiguous and b.frames.flags.owndata for b in batches)
    assert not any(np.shares_memory(a.frames, b.frames) for a, b in zip(batches, batches[1:]))


def test_frame_batch_checks_dtypes() -> None:
    frames = np.zeros((2, 4, 4, 3), np.uint8)
    with pytest.raises(InputFormatError, match=r"index must be \(2,\) int64, got \(2,\) int32"):
        FrameBatch(frames, np.arange(2, dtype=np.int32), np.zeros(2))
    with pytest.raises(InputFormatError, match=r"frames must be \(b, h, w, 3\) uint8"):
        FrameBatch(frames.astype(np.float32), np.arange(2), np.zeros(2))


# -- sampling by timestamps ------------------------------------------------------------------------

VFR_MS = [0, 30, 70, 90, 250, 260, 270, 500, 510, 990, 1000]


@pytest.mark.parametrize(
    ("source_fps", "n", "ext", "target_fps", "expected"),
    [
        (30, 30, "mp4", 10, list(range(0, 30, 3))),
        (30, 30, "mp4", 7.5, list(range(0, 30, 4))),
        # Matroska stores ms: frame 4 is at 133 ms, tick 1 at 133.33 ms; it must still count
        (30, 30, "mkv", 7.5, list(range(0, 30, 4))),
        # 25 fps at 10 fps: t = 0, 120, 200, 320, 400, ... ms
        (25, 25, "mp4", 10, [0, 3, 5, 8, 10, 13, 15, 18, 20, 23]),
        # a source slower than the target keeps every frame, never a duplicate
        (10, 12, "mp4", 30, list(range(12))),
        (30, 9, "mp4", None, list(range(9))),
    ],
    ids=["30to10", "30to7.5", "30to7.5-mkv-ms", "25to10", "10to30-all", "fps-none"],
)
def test_sampling_constant_rate(
    tmp_path: Path, source_fps: float, n: int, ext: str, target_fps: float | None,
    expected: list[int],
) -> None:
    path = write_clip(tmp_path / f"clip.{ext}", patch_frames(n), fps=source_fps)
    frames, index, time_s = _concat(_decode_all(path, fps=target_fps, batch_size=4))
    np.testing.assert_array_equal(index, expected)
    np.testing.assert_allclose(time_s, np.asarray(expected) / source_fps, atol=1e-3)
    # sampled frames keep their source index: their pixels are the source frame's
    assert _mae(frames, patch_frames(n)[expected]).max() < MAX_PATCH_MAE


@pytest.mark.parametrize("ext", ["mp4", "mkv", "mov"])
@pytest.mark.parametrize(
    ("target_fps", "expected"),
    [
        (None, list(range(len(VFR_MS)))),
        # ticks 0, 100, 200, ...: 250 ms reaches 100 and 200, 500 reaches 300..500, then 990, 1000
        (10, [0, 4, 7, 9, 10]),
        # ticks every 40 ms: 30 reaches none; 250 reaches 120..240, so 260 and 270 wait for 280
        (25, [0, 2, 3, 4, 7, 9, 10]),
    ],
    ids=["all", "10fps", "25fps"],
)
def test_sampling_variable_frame_rate(
    tmp_path: Path, ext: str, target_fps: float | None, expected: list[int]
) -> None:
    path = write_clip(tmp_path / f"vfr.{ext}", patch_frames(len(VFR_MS)), fps=30,
                      pts=VFR_MS, time_base=Fraction(1, 1000))
    _, index, time_s = _concat(_decode_all(path, fps=target_fps, batch_size=3))
    np.testing.assert_array_equal(index, expected)
    np.testing.assert_allclose(time_s * 1000, np.asarray(VFR_MS)[expected], atol=1e-6)


# -- background thread -----------------------------------------------------------------------------


def test_close_early_joins_the_thread(data_dir: Path) -> None:
    batches = decode_frames(data_dir / VTEST, DecodeConfig(batch_size=1, prefetch_batches=1))
    first = next(batches)
    assert first.index.tolist() == [0]
    assert len(_decode_threads()) == 1  # the producer is blocked on the full queue
    batches.close()
    assert _decode_threads() == []  # close() joined it; no waiting needed


def test_exception_in_consumer_loop_stops_the_thread(data_dir: Path) -> None:
    with pytest.raises(RuntimeError, match="consumer failed"):
        with closing(decode_frames(data_dir / VTEST, DecodeConfig(batch_size=4))) as batches:
            for _ in batches:
                raise RuntimeError("consumer failed")
    assert _decode_threads() == []


def test_dropped_iterator_stops_the_thread(data_dir: Path) -> None:
    batches = decode_frames(data_dir / VTEST, DecodeConfig(batch_size=2, prefetch_batches=1))
    next(batches)
    del batches
    gc.collect()
    assert _wait_no_decode_thread() == []


def test_no_thread_before_iteration_or_after_the_end(tmp_path: Path) -> None:
    path = write_clip(tmp_path / "clip.mp4", patch_frames(4), fps=30)
    batches = decode_frames(path, DecodeConfig())
    assert _decode_threads() == []
    assert sum(len(b) for b in batches) == 4
    assert _decode_threads() == []


def test_prefetch_queue_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    produced: list[int] = []

    def endless(path: Path, cfg: DecodeConfig, allocate: object) -> Iterator[FrameBatch]:
        i = 0
        while True:
            produced.append(i)
            yield FrameBatch(np.zeros((1, 2, 2, 3), np.uint8), np.array([i]), np.array([0.0]))
            i += 1

    monkeypatch.setattr(decode_module, "_decode_batches", endless)
    monkeypatch.setattr(decode_module, "_check_video", Path)
    with closing(decode_frames("endless.mp4", DecodeConfig(prefetch_batches=3))) as batches:
        assert next(batches).index.tolist() == [0]
        # at most: 1 consumed, 3 queued, 1 produced and waiting to be put
        deadline = time.monotonic() + 2.0
        while len(produced) < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)
        assert len(produced) == 5
        assert next(batches).index.tolist() == [1]
    assert _decode_threads() == []


def test_producer_exception_reaches_the_consumer(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = write_clip(tmp_path / "clip.mp4", patch_frames(4), fps=30)

    def failing(path: Path, cfg: DecodeConfig, allocate: object) -> Iterator[FrameBatch]:
        yield FrameBatch(np.zeros((1, 2, 2, 3), np.uint8), np.array([0]), np.array([0.0]))
        raise MemoryError("decoder ran out of memory")

    monkeypatch.setattr(decode_module, "_decode_batches", failing)
    got = []
    with pytest.raises(MemoryError, match="out of memory"):
        for batch in decode_frames(path, DecodeConfig()):
            got.append(batch)
    assert len(got) == 1
    assert _wait_no_decode_thread() == []


# -- bad input -------------------------------------------------------------------------------------


def _audio_only(path: Path) -> Path:
    with av.open(str(path), mode="w", format="mp4") as out:
        stream = out.add_stream("aac", rate=16000)
        for i in range(8):
            frame = av.AudioFrame.from_ndarray(
                np.zeros((1, 1024), np.float32), format="fltp", layout="mono"
            )
            frame.sample_rate, frame.pts = 16000, i * 1024
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def _truncated_mp4_without_index(path: Path) -> Path:
    # PyAV writes the MP4 index (moov) at the end: the first half has no index at all
    write_clip(path, patch_frames(30), fps=30)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


BAD_INPUTS = [
    ("missing.mp4", lambda p: p, VideoDecodeError, "video file not found"),
    ("empty.mp4", lambda p: (p.write_bytes(b""), p)[1], VideoDecodeError, r"empty \(0 bytes\)"),
    ("text.mp4", lambda p: (p.write_text("not a video\n" * 50), p)[1], NotAVideoError,
     "not a video: FFmpeg finds no container in it"),
    ("folder.mp4", lambda p: (p.mkdir(), p)[1], VideoDecodeError,
     "expected a video file, got a directory"),
    ("audio.m4a", _audio_only, NotAVideoError, r"no video stream \(found: audio\)"),
    ("cut.mp4", _truncated_mp4_without_index, VideoDecodeError,
     r"a damaged MP4/MOV file: .*cut short before its index"),
]


@pytest.mark.parametrize(
    ("name", "make", "kind", "message"), BAD_INPUTS, ids=[b[0].split(".")[0] for b in BAD_INPUTS]
)
def test_bad_input_is_a_clear_error(tmp_path: Path, name: str, make, kind: type,
                                    message: str) -> None:
    path = make(tmp_path / name)
    with pytest.raises(VideoDecodeError, match=message) as probe_err:
        probe_video(path)
    assert type(probe_err.value) is kind  # not a video / damaged: callers branch on the type
    assert str(path) in str(probe_err.value)
    with pytest.raises(VideoDecodeError, match=message) as decode_err:
        decode_frames(path, DecodeConfig())  # raised at call time, before any thread starts
    assert type(decode_err.value) is kind
    assert str(path) in str(decode_err.value)
    assert _decode_threads() == []


@pytest.mark.parametrize("threads", [1, 0], ids=["one-thread", "auto-threads"])
def test_truncated_file_yields_valid_frames_then_raises(tmp_path: Path, threads: int) -> None:
    written = patch_frames(60)
    path = write_clip(tmp_path / "full.mp4", written, fps=30, options={"movflags": "+faststart"})
    cut = tmp_path / "cut.mp4"
    data = path.read_bytes()
    cut.write_bytes(data[: len(data) // 2])  # index first, so the first half still decodes

    got: list[FrameBatch] = []
    with pytest.raises(VideoDecodeError) as err:
        for batch in decode_frames(cut, DecodeConfig(batch_size=4, threads=threads)):
            got.append(batch)
    frames, index, _ = _concat(got)
    n = len(index)
    assert 0 < n < 60
    assert f"decoding failed after {n} frames ({n} kept and yielded)" in str(err.value)
    assert str(cut) in str(err.value)
    assert err.value.__cause__ is not None
    np.testing.assert_array_equal(index, np.arange(n))
    assert _mae(frames, written[:n]).max() < MAX_PATCH_MAE  # what was yielded is valid
    assert _wait_no_decode_thread() == []


@pytest.mark.parametrize("pixel_format", ["rgb24", "yuv420p"])
def test_gpu_decode_gives_the_cpu_frames_where_it_exists(tmp_path: Path, pixel_format: str) -> None:
    import torch

    rng = np.random.default_rng(3)
    clip = write_clip(tmp_path / "noise.mp4", rng.integers(0, 256, (24, 64, 96, 3), np.uint8), fps=25)
    cpu = _concat(_decode_all(clip, hwaccel="none", pixel_format=pixel_format))
    # the GPU decoder where there is one
    auto = _concat(_decode_all(clip, hwaccel="auto", pixel_format=pixel_format))
    for a, b in zip(cpu, auto):
        np.testing.assert_array_equal(a, b)
    if torch.cuda.is_available():
        gpu = _concat(_decode_all(clip, hwaccel="cuda", pixel_format=pixel_format))
        for a, b in zip(cpu, gpu):
            np.testing.assert_array_equal(a, b)
    else:  # asking for it where it cannot start says why and how to go on
        with pytest.raises(VideoDecodeError, match="CUDA hardware decoder could not start.*hwaccel"):
            _decode_all(clip, hwaccel="cuda")


def test_hwaccel_setting_is_checked() -> None:
    from trackannot.errors import ConfigError

    with pytest.raises(ConfigError, match="decode.hwaccel"):
        DecodeConfig(hwaccel="nvdec")


# -- streams that end before their header says -----------------------------------------------------

CUT_CONTAINERS = [("avi", "avi", "libx264"), ("mkv", "matroska", "libx264"),
                  ("webm", "webm", "libvpx-vp9"), ("mp4", "mp4", "libx264"),
                  ("mov", "mov", "libx264")]


@pytest.mark.parametrize("fraction", [0.3, 0.6, 0.9], ids=["cut30", "cut60", "cut90"])
@pytest.mark.parametrize(("ext", "muxer", "codec"), CUT_CONTAINERS,
                         ids=[c[0] for c in CUT_CONTAINERS])
def test_a_cut_video_fails_in_every_container_after_its_valid_frames(
        tmp_path: Path, ext: str, muxer: str, codec: str, fraction: float) -> None:
    written = noise_frames(60)
    # MP4/MOV with their index first (the index-last ones cannot be opened at all: test_probe)
    options = {"movflags": "+faststart"} if ext in ("mp4", "mov") else None
    full = write_clip(tmp_path / f"full.{ext}", written, fps=30, codec=codec, container=muxer,
                      options=options)
    cut = truncate(full, tmp_path / f"cut.{ext}", fraction)
    got: list[FrameBatch] = []
    with pytest.raises(VideoDecodeError) as err:
        for batch in decode_frames(cut, DecodeConfig(batch_size=8, fps=10)):  # keeps 1 of 3
            got.append(batch)
    decoded = int(re.search(r"decoding failed after (\d+) frames", str(err.value)).group(1))
    assert 0 < decoded < 60
    assert abs(decoded - 60 * fraction) <= 6  # noise frames cost the same bytes each
    frames, index, _ = _concat(got)
    np.testing.assert_array_equal(index, np.arange(0, decoded, 3))
    assert f"({len(index)} kept and yielded)" in str(err.value)
    assert str(cut) in str(err.value)
    if ext in ("mkv", "webm"):  # Matroska ends cleanly: only the header's duration tells
        assert re.search(r"the stream ends at \d\.\d{3} s but its header states 2\.000 s, about "
                         r"60 frames", str(err.value))
    # what was yielded is right: exactly the frames the whole file decodes to
    whole, _, _ = _concat(_decode_all(full, fps=10))
    np.testing.assert_array_equal(frames, whole[: len(index)])


def _vfr(path: Path, muxer: str, codec: str) -> Path:
    gaps_ms = [33, 40, 120, 33, 250, 33, 33, 500, 66, 33, 900]  # the last frame 0.9 s long
    pts = np.concatenate([[0], np.cumsum(gaps_ms)]).tolist()
    return write_clip(path, patch_frames(len(pts)), fps=30, codec=codec, container=muxer, pts=pts,
                      time_base=Fraction(1, 1000))


def _edit_list_mp4(path: Path) -> Path:
    # timestamps shifted 10 frames below zero: the muxer writes an edit list that hides them,
    # so the header's sample count (60) is more than the frames decoded (50)
    with av.open(str(path), mode="w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        packets = []
        for i, rgb in enumerate(patch_frames(60)):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            packets += stream.encode(frame)
        packets += stream.encode(None)
        for packet in packets:
            packet.pts -= 10
            packet.dts -= 10
            out.mux(packet)
    return path


def _long_audio(path: Path, muxer: str) -> Path:
    # 1 s of video, 3 s of audio: the file lasts 3 s, the video stream states its own 1 s
    with av.open(str(path), mode="w", format=muxer) as out:
        video = out.add_stream("libx264", rate=30)
        video.width, video.height, video.pix_fmt = 96, 64, "yuv420p"
        audio = out.add_stream("aac", rate=48000)
        for i, rgb in enumerate(patch_frames(30)):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        for i in range(3 * 48000 // 1024):
            sound = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp",
                                               layout="mono")
            sound.sample_rate, sound.pts = 48000, i * 1024
            out.mux(audio.encode(sound))
        out.mux(audio.encode(None))
    return path


HEALTHY = [
    ("ntsc-mkv", lambda p: write_clip(p / "a.mkv", patch_frames(37), Fraction(30000, 1001),
                                      container="matroska")),
    ("film-webm", lambda p: write_clip(p / "a.webm", patch_frames(37), Fraction(24000, 1001),
                                       codec="libvpx-vp9")),
    ("1fps-mkv", lambda p: write_clip(p / "a.mkv", patch_frames(5), 1, container="matroska")),
    ("120fps-mov", lambda p: write_clip(p / "a.mov", patch_frames(37), 120)),
    ("25fps-avi", lambda p: write_clip(p / "a.avi", patch_frames(37), 25, codec="mpeg4")),
    ("vfr-mp4", lambda p: _vfr(p / "a.mp4", "mp4", "libx264")),
    ("vfr-mkv", lambda p: _vfr(p / "a.mkv", "matroska", "libx264")),
    ("vfr-webm", lambda p: _vfr(p / "a.webm", "webm", "libvpx-vp9")),
    ("vfr-avi", lambda p: _vfr(p / "a.avi", "avi", "mpeg4")),  # empty chunks in the count
    ("edit-list-mp4", lambda p: _edit_list_mp4(p / "a.mp4")),
    ("long-audio-mkv", lambda p: _long_audio(p / "a.mkv", "matroska")),
    ("long-audio-mp4", lambda p: _long_audio(p / "a.mp4", "mp4")),
    ("demo-clip", lambda p: (write_demo_clip(p / "demo.mp4", seconds=2, width=160, height=96),
                             p / "demo.mp4")[1]),
]


@pytest.mark.parametrize("fps", [None, 2.0], ids=["all-frames", "sampled"])
@pytest.mark.parametrize(("name", "make"), HEALTHY, ids=[h[0] for h in HEALTHY])
def test_healthy_videos_never_count_as_cut(tmp_path: Path, name: str, make,
                                           fps: float | None) -> None:
    path = make(tmp_path)
    batches = _decode_all(path, fps=fps)  # raises if the rule fired
    assert sum(len(b) for b in batches) > 0


def test_real_footage_never_counts_as_cut(data_dir: Path) -> None:
    # the B-frame AVI with permuted pts and the 8-frame MPEG-4 MP4, sampled and not
    for clip, frames in ((VTEST, 795), (MOT17_CLIP, 8)):
        assert sum(len(b) for b in _decode_all(data_dir / clip, batch_size=64)) == frames
        assert sum(len(b) for b in _decode_all(data_dir / clip, fps=1.0)) > 0


def test_an_unstated_duration_is_not_checked(tmp_path: Path) -> None:
    # MPEG-TS states no duration: a cut TS ends without a trace and completes
    full = write_clip(tmp_path / "full.ts", noise_frames(60), fps=30, container="mpegts")
    cut = truncate(full, tmp_path / "cut.ts", 0.5)
    assert 0 < sum(len(b) for b in _decode_all(cut)) < 60


# -- orientation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("ext", "muxer", "degrees"),
                         [("mp4", "mp4", 90), ("mov", "mov", -90), ("mkv", "matroska", 180)],
                         ids=["mp4-90", "mov-270", "mkv-180"])
def test_rotated_videos_are_turned_upright(tmp_path: Path, ext: str, muxer: str,
                                           degrees: int) -> None:
    written = patch_frames(6)  # 64 x 96, quadrants red, green, blue, grey
    path = write_clip(tmp_path / f"clip.{ext}", written, fps=30, container=muxer,
                      rotation=degrees)
    upright = np.rot90(written, k=degrees // 90, axes=(1, 2))  # counter-clockwise, as players
    frames, index, _ = _concat(_decode_all(path, batch_size=4, pixel_format="rgb24"))
    assert frames.shape == upright.shape
    np.testing.assert_array_equal(index, np.arange(6))
    assert _mae(frames, upright).max() < MAX_PATCH_MAE
    # YUV batches are turned the same way: (h * 3 / 2, w) planes of the upright size
    (yuv,) = _decode_all(path, batch_size=8, pixel_format="yuv420p")
    h, w = upright.shape[1:3]
    assert yuv.frames.shape == (6, h * 3 // 2, w)


# -- settings that could exhaust memory ----------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "message"),
    [({"batch_size": 100_000_000}, r"decode\.batch_size should be an int from 1 to 1024"),
     ({"batch_size": 0}, r"decode\.batch_size should be an int from 1 to 1024"),
     ({"prefetch_batches": 65}, r"decode\.prefetch_batches should be an int from 1 to 64"),
     ({"threads": 10_000}, r"decode\.threads should be an int from 0 to 64"),
     ({"batch_size": 1024, "prefetch_batches": 3},
      r"decode\.batch_size x \(decode\.prefetch_batches \+ 2\) should be at most 4096.*lower "
      r"decode\.batch_size or decode\.prefetch_batches\. The selected value is 5120")],
    ids=["huge-batch", "zero-batch", "deep-prefetch", "many-threads", "too-many-in-flight"],
)
def test_decode_settings_are_bounded(settings: dict[str, int], message: str) -> None:
    from trackannot.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        DecodeConfig(**settings)  # type: ignore[arg-type]
    DecodeConfig(batch_size=1024, prefetch_batches=2)  # 4096 frames in flight: allowed
