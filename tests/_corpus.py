"""Test helper: a damaged-video corpus made at test time (nothing here is committed as video).

`make_damaged_corpus(folder)` writes, for each container (mp4, mov, avi, mkv, webm), a healthy
clip, copies cut at 30%, 60% and 90% of their bytes and a copy with 4 KiB of garbage in the
middle; then an MP4 with its index first cut at 60%, variable-frame-rate and rotated clips, and
files that are not videos or only look like them (0 bytes, random bytes, text, an image, audio
only, an MKV named .mp4). Each file comes with what trackannot does with it (`Expect`), as
documented in `trackannot.decode`, `trackannot.probe` and `trackannot.inputs`; the tests and
`benchmarks/damaged_corpus.py` (the table in benchmarks/RESULTS.md) both use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from tests._video import garble, noise_frames, truncate, write_clip

__all__ = ["CLIP_FPS", "CLIP_FRAMES", "CONTAINERS", "CorpusFile", "make_damaged_corpus"]

CLIP_FRAMES = 60
CLIP_FPS = 30
# extension -> (FFmpeg muxer, encoder)
CONTAINERS: dict[str, tuple[str, str]] = {
    "mp4": ("mp4", "libx264"),
    "mov": ("mov", "libx264"),
    "avi": ("avi", "libx264"),
    "mkv": ("matroska", "libx264"),
    "webm": ("webm", "libvpx-vp9"),
}
CUT_FRACTIONS = (0.3, 0.6, 0.9)
GARBAGE_AT, GARBAGE_BYTES = 0.5, 4096
# variable frame rate: gaps between frames in ms, the last frame shown for 0.9 s
_VFR_GAPS_MS = (33, 40, 120, 33, 250, 33, 33, 500, 66, 33, 900)


@dataclass(frozen=True)
class CorpusFile:
    """One corpus file and what trackannot does with it.

    Attributes:
        name: file name in the corpus folder; its stem (unique) names the store group.
        case: what was done to it, e.g. "cut at 60% of its bytes".
        container: the container it was written as ("-" for files that are not videos).
        expect: "complete", "failed" or "skipped".
        frames: what the group keeps: "all", "some" (0 < n < written), "fewer" (complete, but
            FFmpeg dropped damaged frames), "none" (failed before any frame: no group).
        written: frames written into the file (0 for non-videos).
        rotation: display rotation written (degrees counter-clockwise).
    """

    name: str
    case: str
    container: str
    expect: str
    frames: str
    written: int
    rotation: int = 0


def make_damaged_corpus(folder: str | Path) -> list[CorpusFile]:
    """Write the corpus into `folder` (created) and return its files: each container's cases,
    then the special videos, then the files that are not videos."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    work = folder / ".work"  # hidden: input directories leave hidden files out
    work.mkdir(exist_ok=True)
    files: list[CorpusFile] = []
    for ext, (muxer, codec) in CONTAINERS.items():
        files += _container_cases(folder, work, ext, muxer, codec)
    files += _special_videos(folder, work)
    files += _not_videos(folder, work)
    for leftover in work.iterdir():
        leftover.unlink()
    work.rmdir()
    return files


def _container_cases(folder: Path, work: Path, ext: str, muxer: str,
                     codec: str) -> list[CorpusFile]:
    full = write_clip(work / f"full.{ext}", noise_frames(CLIP_FRAMES, seed=len(ext)),
                      fps=CLIP_FPS, codec=codec, container=muxer)
    name = ext.upper()
    out = [CorpusFile(f"{ext}-ok.{ext}", "healthy", name, "complete", "all", CLIP_FRAMES)]
    full.replace(folder / out[0].name)
    full = folder / out[0].name
    index_last = ext in ("mp4", "mov")  # PyAV writes the MP4/MOV index (moov) at the end
    for fraction in CUT_FRACTIONS:
        cut = truncate(full, folder / f"{ext}-cut{int(fraction * 100)}.{ext}", fraction)
        out.append(CorpusFile(cut.name, f"cut at {fraction:.0%} of its bytes", name, "failed",
                              "none" if index_last else "some", CLIP_FRAMES))
    garbled = garble(full, folder / f"{ext}-garbage.{ext}", GARBAGE_AT, GARBAGE_BYTES)
    # H.264 in AVI: FFmpeg conceals the damage and drops the damaged frame (module docstring)
    concealed = ext == "avi"
    out.append(CorpusFile(garbled.name, f"{GARBAGE_BYTES} random bytes at {GARBAGE_AT:.0%}",
                          name, "complete" if concealed else "failed",
                          "fewer" if concealed else "some", CLIP_FRAMES))
    return out


def _special_videos(folder: Path, work: Path) -> list[CorpusFile]:
    frames = noise_frames(CLIP_FRAMES, seed=11)
    faststart = write_clip(work / "faststart.mp4", frames, fps=CLIP_FPS,
                           options={"movflags": "+faststart"})
    out = [CorpusFile("mp4-faststart-cut60.mp4", "index first, cut at 60% of its bytes", "MP4",
                      "failed", "some", CLIP_FRAMES)]
    truncate(faststart, folder / out[-1].name, 0.6)
    write_clip(folder / "mkv-named.mp4", frames[:30], fps=CLIP_FPS, container="matroska")
    out.append(CorpusFile("mkv-named.mp4", "an MKV named .mp4", "MKV", "complete", "all", 30))
    pts = np.concatenate([[0], np.cumsum(_VFR_GAPS_MS)]).tolist()
    for ext in ("mp4", "mkv"):
        write_clip(folder / f"vfr-{ext}.{ext}", frames[: len(pts)], fps=CLIP_FPS,
                   container=CONTAINERS[ext][0], pts=pts, time_base=Fraction(1, 1000))
        out.append(CorpusFile(f"vfr-{ext}.{ext}", "variable frame rate (33 ms to 0.9 s)",
                              ext.upper(), "complete", "all", len(pts)))
    for ext, degrees in (("mp4", 90), ("mkv", -90)):
        name = f"rotated{degrees % 360}-{ext}.{ext}"
        write_clip(folder / name, frames[:20], fps=CLIP_FPS, container=CONTAINERS[ext][0],
                   rotation=degrees)
        out.append(CorpusFile(name, f"display rotation {degrees % 360} degrees", ext.upper(),
                              "complete", "all", 20, rotation=degrees % 360))
    return out


def _not_videos(folder: Path, work: Path) -> list[CorpusFile]:
    rng = np.random.default_rng(5)
    (folder / "zero-length.mp4").write_bytes(b"")
    (folder / "zero-length-dat.dat").write_bytes(b"")
    (folder / "random-mp4.mp4").write_bytes(rng.integers(0, 256, 65536, np.uint8).tobytes())
    # FFmpeg's text-art demuxer takes 200 kB named .bin for a 1280 x 10000 "video"
    (folder / "random-bin.bin").write_bytes(rng.integers(0, 256, 200_000, np.uint8).tobytes())
    (folder / "text-avi.avi").write_text("shot list: take 1, take 2\n" * 40)
    _write_png(folder / "png-image.mp4", noise_frames(1, seed=3)[0])
    _write_audio(folder / "audio-only.m4a")
    return [
        CorpusFile("zero-length.mp4", "0 bytes, video suffix", "-", "failed", "none", 0),
        CorpusFile("zero-length-dat.dat", "0 bytes", "-", "skipped", "none", 0),
        CorpusFile("random-mp4.mp4", "64 KiB of random bytes named .mp4", "-", "skipped", "none",
                   0),
        CorpusFile("random-bin.bin", "200 kB of random bytes named .bin", "-", "skipped", "none",
                   0),
        CorpusFile("text-avi.avi", "a text file named .avi", "-", "skipped", "none", 0),
        CorpusFile("png-image.mp4", "a PNG image named .mp4", "-", "skipped", "none", 0),
        CorpusFile("audio-only.m4a", "AAC audio, no video", "MP4", "skipped", "none", 0),
    ]


def _write_png(path: Path, rgb: np.ndarray) -> None:
    with av.open(str(path), mode="w", format="image2", options={"update": "1"}) as out:
        stream = out.add_stream("png")
        stream.width, stream.height, stream.pix_fmt = rgb.shape[1], rgb.shape[0], "rgb24"
        out.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        out.mux(stream.encode(None))


def _write_audio(path: Path) -> None:
    with av.open(str(path), mode="w", format="mp4") as out:
        stream = out.add_stream("aac", rate=16000)
        for i in range(8):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp",
                                               layout="mono")
            frame.sample_rate, frame.pts = 16000, i * 1024
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
