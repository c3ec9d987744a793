"""Pipeline throughput: per-stage and end-to-end frames/s, against ultralytics' track(stream=True).

Clips. Every *.avi / *.mp4 in DATA/video (the real footage, as it is), plus clips generated at run
time from the longest of them into benchmarks/out/clips/ (git-ignored, reused when present): the
source upscaled (stretched) to each --sizes (default 1280x720 and 1920x1080), encoded H.264 with
libx264 (preset veryfast, crf 23: B-frames and CABAC, as real footage) and looped to about
--seconds at the source's frame rate by repeating the encoded pass's packets (`make_clip`).
Without libx264 in PyAV the next H.264 encoder that opens is used, else mpeg4; the encoder is
printed and recorded.

Model. `YOLO('yolo11n.yaml')`: random-init weights, which run exactly as fast as trained ones.
trackannot's weights lookup (`resolve_weights`) takes weights files and ultralytics asset names and
refuses a .yaml, so the random model is saved once to benchmarks/out/yolo11n_random.pt and both
trackannot (`make_detector`) and ultralytics load that same file. YOLO_OFFLINE=1 is set: nothing
is downloaded. A random model detects nothing above `detect.conf_floor`, so tracking and store
writing see empty frames in the clip rows; the "real boxes" rows time them on PETS09-S2L1's
SORT Faster R-CNN detections (MOT15, about 8 boxes a frame) instead.

Stages, per clip and batch size b (frames/s = frames / wall seconds):
- decode: `decode_frames` over the whole clip (DecodeConfig with batch_size b), into the pixel
  format the pipeline picks for the detector (`decode_config_for`: YUV planes for the on-device
  path, --preprocess device or auto on CUDA; RGB for ultralytics' predict), into the memory the
  detector allocates (pinned on CUDA).
- detect: `Detector.detect` on batches of b frames pre-decoded in that pixel format (the clip's
  first max(b, --detect-frames) frames, passes repeated for at least --detect-seconds): the
  detector alone, the upper bound for end to end.
- e2e: `trackannot.pipeline.track_video` over the whole clip (probe, decode, detect, track,
  store), into a fresh store each time.
Per clip (no batch size): track (`Tracker.update` frame by frame on the detector's boxes of those
frames), store (`StoreWriter`: those frames' detections and tracks, a fresh group each time; both
repeated for at least --min-seconds), and ultralytics (`YOLO(weights).track(clip, stream=True,
imgsz, device, half)`, its other settings at their defaults (BoT-SORT, conf 0.1), for the first
--ultra-frames frames; the clock starts when the first result arrives, so its model setup is not
counted; a video source runs one frame at a time whatever b). Every timing is repeated --repeats
rounds, the order of the timed runs rotating from round to round, and the median is reported
(timings on a shared machine vary by 40% run to run). Ratios: e2e / detect at the same b, and
e2e / ultralytics. After each round the results so far are written to --out ("rounds_done"),
so a run stopped by a time limit still leaves its finished rounds.

Peak RSS: one fresh process per clip (spawned), running e2e on a clip of each --rss-seconds
(default 20 and 120 s at 480x360: the source size, looped, so it finishes on a CPU); reports the
peak resident set (/proc VmHWM) of setup (imports, model, a one-frame warm-up), of the run alone
(the peak reset after setup) and of the whole process, and the longest clip's over the shortest's.

Usage (CPU, about 7 minutes on 2 shared cores; batch sizes 1, 8, 32, imgsz 320):
    python -m benchmarks.bench_pipeline [--full] [--repeats 3] [--out FILE]

Several videos in flight (--many-jobs N): N copies (links) of each generated clip through
`track_videos(jobs=N)` at the largest batch size, frames/s of the whole run: the throughput of a
GPU shared by several decoders, which a single video's decoder cannot feed at 1080p.

GPU: `benchmarks/gpu/prepare.sh` here (wheels for the device machine's Python and a copy of the
data, in git-ignored folders), then one device call of `bash benchmarks/gpu/run.sh` (stages at
batch sizes 1-64, imgsz 640, half precision, 4 videos in flight; then peak RSS on 1- and 30-minute
1080p clips), each step time-limited to fit the call. Not run yet: no GPU was lent so far.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import importlib.util
import multiprocessing
import os
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable

import av
import numpy as np

from benchmarks._common import reset_peak_rss, result_doc, vm_hwm_mib, write_json
from trackannot.boxes import Boxes
from trackannot.config import DecodeConfig, DetectConfig, PipelineConfig
from trackannot.decode import FrameBatch, decode_frames, probe_video
from trackannot.detect import Detector, make_detector, read_mot_file
from trackannot.pipeline import failures, track_video, track_videos
from trackannot.provenance import decode_config_for
from trackannot.store import StoreWriter
from trackannot.track import Tracker

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
OUT = REPO / "benchmarks" / "out"
RESULT = REPO / "benchmarks" / "results" / "pipeline_cpu.json"
REAL_BOXES = Path("MOT15") / "PETS09-S2L1" / "det" / "det_sort_frcnn.txt"
BATCHES = (1, 8, 32)
BATCHES_FULL = (1, 2, 4, 8, 16, 32, 64)
# Encoders tried in order: H.264 first, mpeg4 (not H.264) as the last resort.
ENCODERS = ("libx264", "libopenh264", "h264_nvenc", "mpeg4")
ENCODER_OPTIONS = {"libx264": {"preset": "veryfast", "crf": "23"}}
VIDEO_SUFFIXES = (".avi", ".mp4")

__all__ = ["Clip", "main", "make_clip", "pick_encoder", "random_weights", "run_benchmark"]


@dataclass(frozen=True)
class Clip:
    """A clip to time: its file and what it is."""

    name: str
    path: Path
    width: int
    height: int
    frames: int
    fps: float
    codec: str
    generated: bool

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "path": str(self.path), "width": self.width,
                "height": self.height, "frames": self.frames, "fps": self.fps,
                "codec": self.codec, "generated": self.generated}


# -- clips and model -------------------------------------------------------------------------------


def pick_encoder() -> str:
    """The first encoder of `ENCODERS` that PyAV has and that opens on this machine."""
    for name in ENCODERS:
        if name not in av.codecs_available:
            continue
        try:
            ctx = av.CodecContext.create(name, "w")
            ctx.width, ctx.height, ctx.pix_fmt = 64, 64, "yuv420p"
            ctx.time_base = Fraction(1, 10)
            ctx.open()
        except (av.FFmpegError, ValueError):  # listed but unusable here (no GPU for nvenc, ...)
            continue
        return name
    raise SystemExit(f"none of the encoders {ENCODERS} opens in this PyAV build")


def make_clip(source: Path, out_dir: Path, width: int, height: int, seconds: float,
              encoder: str) -> Path:
    """Encode `source` resized to width x height and looped to `seconds` (reused if present).

    One pass over the source is encoded (or fewer frames, for a shorter clip); longer clips
    repeat that pass's packets with shifted timestamps, so a 30-minute clip costs one encode of
    the source: each pass starts at a keyframe, and decoding it is as much work as decoding an
    encode of the whole length.

    Args:
        source: the real footage to loop; frames keep its frame rate.
        out_dir: where the clip goes; written as `.partial.mp4`, then renamed, so an
            interrupted run never leaves a clip that looks finished.
        width, height: output size in pixels (even).
        seconds: clip length at the source's frame rate.
        encoder: PyAV encoder name (see `pick_encoder`).

    Returns:
        The clip's path (its name records source, size, length, frame rate and encoder).
    """
    info = probe_video(source)
    rate = Fraction(info.fps).limit_denominator(1000)
    path = out_dir / f"{source.stem}_{width}x{height}_{seconds:g}s_{float(rate):g}fps_{encoder}.mp4"
    if path.is_file():
        return path
    out_dir.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial.mp4")
    total = max(1, round(seconds * float(rate)))
    one_pass = partial.with_suffix(".pass.mp4")
    encoded = _encode_pass(source, one_pass, width, height, rate, total, encoder)
    if encoded < total:
        _loop_packets(one_pass, partial, total)
        one_pass.unlink()
    else:
        one_pass.replace(partial)
    partial.replace(path)
    return path


def _encode_pass(source: Path, out: Path, width: int, height: int, rate: Fraction, limit: int,
                 encoder: str) -> int:
    """Encode the frames of `source` (at most `limit`) resized; returns how many."""
    written = 0
    with av.open(str(out), mode="w") as dst, av.open(str(source)) as src:
        stream = dst.add_stream(encoder, rate=rate, options=ENCODER_OPTIONS.get(encoder, {}))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.time_base = 1 / rate
        for frame in src.decode(video=0):
            out_frame = frame.reformat(width=width, height=height, format="yuv420p")
            out_frame.pts, out_frame.time_base = written, 1 / rate
            dst.mux(stream.encode(out_frame))
            written += 1
            if written == limit:
                break
        dst.mux(stream.encode(None))
    return written


def _loop_packets(one_pass: Path, out: Path, total: int) -> None:
    """Write `total` frames: the packets of `one_pass` repeated, timestamps shifted by a pass.

    The last, partial pass ends where its packets (in decode order) hold exactly the first
    frames in display order, so every packet written decodes and no frame is missing.
    """
    with av.open(str(one_pass)) as src:
        stream = src.streams.video[0]
        packets = [(bytes(p), int(p.pts), int(p.dts), p.is_keyframe, p.duration)
                   for p in src.demux(stream) if p.size]
        pts = sorted(p[1] for p in packets)
        step = pts[1] - pts[0] if len(pts) > 1 else 1
        span = pts[-1] - pts[0] + step  # one pass, in stream time base units
        with av.open(str(out), mode="w") as dst:
            out_stream = dst.add_stream_from_template(stream)
            passes, rest = divmod(total, len(packets))
            while rest and {p[1] for p in packets[:rest]} != set(pts[:rest]):
                rest -= 1  # B-frames: this cut would leave a gap in display order
            for k in range(passes + (rest > 0)):
                for data, p_pts, p_dts, key, duration in packets[: rest if k == passes else None]:
                    packet = av.Packet(data)
                    packet.pts, packet.dts = p_pts + k * span, p_dts + k * span
                    packet.is_keyframe, packet.duration = key, duration
                    packet.time_base, packet.stream = stream.time_base, out_stream
                    dst.mux(packet)


def _clip(path: Path, generated: bool) -> Clip:
    info = probe_video(path)
    frames = sum(len(b) for b in decode_frames(path, DecodeConfig(batch_size=64)))
    return Clip(path.stem, path, info.width, info.height, frames, info.fps, info.codec, generated)


def random_weights(path: Path, model: str = "yolo11n.yaml") -> Path:
    """Save the random-init `YOLO(model)` to `path` (once), a weights file both libraries load."""
    if path.is_file():
        return path
    from ultralytics import YOLO

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial.pt")
    YOLO(model).save(str(partial))
    partial.replace(path)
    return path


# -- stage timings ---------------------------------------------------------------------------------


def _predecode(path: Path, frames: int, decode: DecodeConfig) -> FrameBatch:
    """The first `frames` frames of `path` as one batch (fewer if the clip is shorter), in the
    pixel format of `decode`."""
    parts: list[FrameBatch] = []
    for batch in decode_frames(path, replace(decode, fps=None, batch_size=min(frames, 64))):
        parts.append(batch)
        if sum(len(p) for p in parts) >= frames:
            break
    return _slice(replace(parts[0], frames=np.concatenate([p.frames for p in parts]),
                          index=np.concatenate([p.index for p in parts]),
                          time_s=np.concatenate([p.time_s for p in parts])), frames)


def _batches(frames: FrameBatch, b: int) -> list[FrameBatch]:
    return [_slice(frames, n=i + b, start=i) for i in range(0, len(frames), b)]


def _repeat(run: Callable[[], object], frames: int, min_seconds: float) -> tuple[int, float]:
    """Run `run` (one pass over `frames` frames) for at least `min_seconds`: (frames, seconds)."""
    passes, t0 = 0, time.perf_counter()
    while True:
        run()
        passes += 1
        seconds = time.perf_counter() - t0
        if seconds >= min_seconds:
            return passes * frames, seconds


def _time_decode(clip: Clip, cfg: PipelineConfig, detector: Detector) -> tuple[int, float]:
    """Decoding alone, into the pixel format the pipeline would use for `detector`."""
    decode = decode_config_for(cfg, detector)
    t0 = time.perf_counter()
    n = sum(len(b) for b in decode_frames(clip.path, decode, detector.allocate))
    return n, time.perf_counter() - t0


def _time_detect(detector: Detector, batches: list[FrameBatch],
                 min_seconds: float) -> tuple[int, float]:
    """Passes of `detector.detect` over `batches` for at least `min_seconds`."""
    def run() -> None:
        for batch in batches:
            detector.detect(batch)

    return _repeat(run, sum(len(b) for b in batches), min_seconds)


def _time_many(clip: Clip, cfg: PipelineConfig, detector: Detector,
               jobs: int) -> tuple[int, float]:
    """`track_videos` over `jobs` copies of `clip` (links) with `jobs` videos in flight: the
    frames of all of them and the seconds of the whole run."""
    with tempfile.TemporaryDirectory(dir=OUT) as tmp:
        copies = []
        for k in range(jobs):
            copies.append(Path(tmp) / f"copy{k}{clip.path.suffix}")
            copies[-1].symlink_to(clip.path.resolve())
        t0 = time.perf_counter()
        summaries = track_videos(copies, Path(tmp) / "many.zarr", cfg, detector, jobs=jobs)
        seconds = time.perf_counter() - t0
    if failures(summaries):
        raise RuntimeError(f"{clip.name}: {[s.error for s in failures(summaries)]}")
    return sum(s.frames for s in summaries), seconds


def _time_e2e(clip: Clip, cfg: PipelineConfig, detector: Detector) -> tuple[int, float]:
    with tempfile.TemporaryDirectory(dir=OUT) as tmp:
        t0 = time.perf_counter()
        summary = track_video(clip.path, Path(tmp) / "e2e.zarr", "clip", cfg, detector)
        return summary.frames, time.perf_counter() - t0


def _track(detections: Boxes, frames: np.ndarray, cfg: PipelineConfig) -> list[tuple[Boxes, Boxes]]:
    """(detections, tracks) of each frame, through a fresh `Tracker`."""
    tracker = Tracker(cfg.track)
    out = []
    for f in frames.tolist():
        dets = detections.for_frame(f)
        out.append((dets, tracker.update(dets, frame=f)))
    return out


def _time_store(per_frame: list[tuple[Boxes, Boxes]], frames: np.ndarray, cfg: PipelineConfig,
                min_seconds: float) -> tuple[int, float]:
    """Store writing alone: `add_frame` for every frame, then `close`, into a new group per pass
    for at least `min_seconds`. Creating the group (once per video) is not timed."""
    done, seconds = 0, 0.0
    with tempfile.TemporaryDirectory(dir=OUT) as tmp:
        while seconds < min_seconds:
            writer = StoreWriter.create(Path(tmp) / "s.zarr", f"g{done}", cfg.store, {})
            t0 = time.perf_counter()
            for f, (dets, tracks) in zip(frames.tolist(), per_frame):
                writer.add_frame(f, f / 10.0, dets, tracks)  # time_s: a nominal 10 fps
            writer.close()
            seconds += time.perf_counter() - t0
            done += len(frames)
    return done, seconds


def _time_track_store(detections: Boxes, frames: np.ndarray, cfg: PipelineConfig,
                      min_seconds: float) -> dict[str, tuple[int, float]]:
    """Tracking alone and store writing alone on `detections` over `frames` (all frames, empty
    ones included), each repeated for at least `min_seconds`."""
    per_frame = _track(detections, frames, cfg)
    return {"track": _repeat(lambda: _track(detections, frames, cfg), len(frames), min_seconds),
            "store": _time_store(per_frame, frames, cfg, min_seconds)}


def _precision(half: bool) -> dict[str, Any]:
    """ultralytics' precision argument: `quantize` from 8.4 on (`half` warns there), else `half`."""
    from ultralytics.cfg import DEFAULT_CFG_DICT

    if "quantize" in DEFAULT_CFG_DICT:
        return {"quantize": 16} if half else {}
    return {"half": half}


def _time_ultralytics(clip: Clip, weights: Path, imgsz: int, device: str,
                      limit: int) -> tuple[int, float]:
    """ultralytics' own path on `clip`: frames after the first, and their seconds."""
    from ultralytics import YOLO

    cuda = device.startswith("cuda")
    stream = YOLO(str(weights)).track(
        source=str(clip.path), stream=True, imgsz=imgsz, device=0 if cuda else "cpu",
        verbose=False, **_precision(cuda))
    frames, t0 = 0, 0.0
    try:
        for frames, _ in enumerate(stream):
            if frames == 0:
                t0 = time.perf_counter()  # model setup and warm-up are done by now
            if frames + 1 >= limit:
                break
    finally:
        stream.close()
    return frames, time.perf_counter() - t0


# -- peak RSS (one fresh process per clip) ---------------------------------------------------------


def _rss_child(clip: Path, cfg: PipelineConfig, store: Path) -> dict[str, float | None]:
    """In a fresh process: e2e on `clip`; peak RSS (VmHWM) in MiB.

    Returns:
        {"frames", "e2e_fps", "setup_rss_mib": peak of imports, model and a one-frame warm-up
        (first inference, compiled kernels), "run_peak_rss_mib": peak during the run alone
        (VmHWM reset after setup; None where the kernel cannot reset it), "peak_rss_mib": the
        process's peak overall}. getrusage's ru_maxrss is not used: Linux keeps it across the
        exec of a spawned process, so it would count the parent's pages at the fork.
    """
    os.environ["YOLO_OFFLINE"] = "1"
    detector = make_detector(cfg.detect)
    first = _predecode(clip, 1, decode_config_for(cfg, detector))
    detector.detect(first)
    Tracker(cfg.track).update(Boxes.empty(), frame=0)
    setup = vm_hwm_mib()
    reset = reset_peak_rss()
    t0 = time.perf_counter()
    summary = track_video(clip, store, "clip", cfg, detector)
    seconds = time.perf_counter() - t0
    run = vm_hwm_mib()
    return {"frames": summary.frames, "e2e_fps": summary.frames / seconds,
            "setup_rss_mib": setup, "run_peak_rss_mib": run if reset else None,
            "peak_rss_mib": max(setup or 0.0, run or 0.0) or None}


def _measure_rss(clip: Path, cfg: PipelineConfig) -> dict[str, float]:
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(dir=OUT) as tmp, concurrent.futures.ProcessPoolExecutor(
            max_workers=1, mp_context=context) as pool:
        return pool.submit(_rss_child, clip, cfg, Path(tmp) / "rss.zarr").result()


# -- the run ---------------------------------------------------------------------------------------


@dataclass
class _Prepared:
    """A clip with its first frames decoded and their detections (made before any timing)."""

    clip: Clip
    frames: FrameBatch
    detections: Boxes


def _prepare(clip: Clip, detector: Detector, batches: tuple[int, ...], args: argparse.Namespace,
             cfg: PipelineConfig) -> _Prepared:
    n = min(clip.frames, max(max(batches), args.detect_frames))
    frames = _predecode(clip.path, n, decode_config_for(cfg, detector))
    detections = Boxes.concat([detector.detect(b) for b in _batches(frames, max(batches))])
    for b in batches:  # warm-up: each batch shape once (cuDNN picks kernels per shape)
        detector.detect(_batches(frames, b)[0])
    _track(detections, frames.index, cfg)  # compiles the tracker's kernels (numba)
    return _Prepared(clip, frames, detections)


def _jobs(prepared: list[_Prepared], detector: Detector, weights: Path, batches: tuple[int, ...],
          args: argparse.Namespace, base: PipelineConfig) -> list[tuple[tuple, Callable]]:
    """(key, timed call) of one round; a call returns {stage: (frames, seconds)}."""
    jobs: list[tuple[tuple, Callable]] = []
    for p in prepared:
        name = p.clip.name
        for b in batches:
            cfg = replace(base, decode=replace(base.decode, batch_size=b))
            n = min(len(p.frames), max(b, args.detect_frames))
            parts = _batches(_slice(p.frames, n), b)
            jobs += [((name, "decode", b), lambda c=cfg, p=p: {
                         "decode": _time_decode(p.clip, c, detector)}),
                     ((name, "detect", b), lambda q=parts: {
                         "detect": _time_detect(detector, q, args.detect_seconds)}),
                     ((name, "e2e", b), lambda c=cfg, p=p: {"e2e": _time_e2e(p.clip, c, detector)})]
        if args.many_jobs > 1 and p.clip.generated:
            cfg = replace(base, decode=replace(base.decode, batch_size=max(batches)))
            jobs.append(((name, f"e2e x{args.many_jobs}", max(batches)), lambda c=cfg, p=p: {
                f"e2e x{args.many_jobs}": _time_many(p.clip, c, detector, args.many_jobs)}))
        jobs.append(((name, "track+store", None), lambda p=p: _time_track_store(
            p.detections, p.frames.index, base, args.min_seconds)))
        if args.ultra_frames > 0 and importlib.util.find_spec("lap") is not None:
            jobs.append(((name, "ultralytics", None), lambda p=p: {"ultralytics": _time_ultralytics(
                p.clip, weights, args.imgsz, args.device, args.ultra_frames)}))
    real = args.data / REAL_BOXES
    if real.is_file():
        boxes = read_mot_file(real).replace(track_id=-1)
        frames = np.arange(int(boxes.frame.max()) + 1, dtype=np.int64)
        jobs.append((("real boxes", "track+store", None),
                     lambda: _time_track_store(boxes, frames, base, args.min_seconds)))
    return jobs


def _slice(frames: FrameBatch, n: int, start: int = 0) -> FrameBatch:
    """Frames start..n-1 of a batch, in its pixel format."""
    return replace(frames, frames=frames.frames[start:n], index=frames.index[start:n],
                   time_s=frames.time_s[start:n])


def _time_rounds(jobs: list[tuple[tuple, Callable]], repeats: int,
                 after_round: Callable[[dict[tuple, list], int], None]) -> dict[tuple, list]:
    """Run every job `repeats` times, the order rotating each round: {(clip, stage, b): runs}.
    `after_round(runs, rounds done)` is called after each round (a checkpoint of the results)."""
    runs: dict[tuple, list[tuple[int, float]]] = {}
    for r in range(repeats):
        shift = r * len(jobs) // repeats
        for (clip, _, b), job in jobs[shift:] + jobs[:shift]:
            for stage, timing in job().items():
                runs.setdefault((clip, stage, b), []).append(timing)
        print(f"  round {r + 1}/{repeats} done", flush=True)
        after_round(runs, r + 1)
    return runs


def _stage_rows(runs: dict[tuple, list[tuple[int, float]]]) -> list[dict[str, Any]]:
    rows = []
    for (clip, stage, b), timings in runs.items():
        fps = [f / s if s > 0 else 0.0 for f, s in timings]
        rows.append({"clip": clip, "stage": stage, "batch_size": b, "frames": timings[0][0],
                     "fps": statistics.median(fps), "fps_runs": fps})
    return rows


def _ratios(rows: list[dict[str, Any]], clips: list[str], batches: tuple[int, ...]) -> list[dict]:
    """e2e / detect at the same batch size, e2e / ultralytics (None where either is missing)."""
    fps = {(r["clip"], r["stage"], r["batch_size"]): r["fps"] for r in rows}
    out = []
    for clip in clips:
        ultra = fps.get((clip, "ultralytics", None))
        for b in batches:
            e2e, det = fps[(clip, "e2e", b)], fps[(clip, "detect", b)]
            out.append({"clip": clip, "batch_size": b,
                        "e2e_over_detect": e2e / det if det > 0 else None,
                        "e2e_over_ultralytics": e2e / ultra if ultra else None})
        for (name, stage, b), many in fps.items():  # several videos in flight
            if name == clip and stage.startswith("e2e x"):
                det = fps[(clip, "detect", b)]
                out.append({"clip": clip, "batch_size": b, "stage": stage,
                            "e2e_over_detect": many / det if det > 0 else None,
                            "e2e_over_ultralytics": many / ultra if ultra else None})
    return out


def _size(text: str) -> tuple[int, int]:
    w, sep, h = text.lower().partition("x")
    if not sep or not (w.isdigit() and h.isdigit()) or int(w) % 2 or int(h) % 2:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT with even numbers, got {text!r}")
    return int(w), int(h)


def _real_clips(args: argparse.Namespace) -> list[Clip]:
    """The real footage: every .avi/.mp4 in DATA/video, as it is."""
    folder = args.data / "video"
    videos = sorted(p for p in folder.glob("*") if p.suffix in VIDEO_SUFFIXES)
    if not videos:
        raise SystemExit(f"no {'/'.join(VIDEO_SUFFIXES)} files in {folder}; pass --data")
    return [_clip(p, generated=False) for p in videos]


def _time_stages(args: argparse.Namespace, clips: list[Clip], weights: Path,
                 base: PipelineConfig,
                 checkpoint: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Every stage on every clip and batch size: clips, stage rows, ratios, notes, the rounds
    done. `checkpoint(results)` gets the results after each round (all rounds in the last)."""
    detector = make_detector(base.detect)
    batches = tuple(args.batch_sizes)
    prepared = [_prepare(c, detector, batches, args, base) for c in clips]
    notes = []
    if args.ultra_frames > 0 and importlib.util.find_spec("lap") is None:
        notes.append("ultralytics track not run: its tracker needs the 'lap' package "
                     "(pip install lap==0.5.13; ultralytics installs it itself only online)")

    def results(runs: dict[tuple, list], rounds: int) -> dict[str, Any]:
        rows = _stage_rows(runs)
        return {"detector": type(detector).__name__,
                "pixel_format": decode_config_for(base, detector).pixel_format,
                "clips": [{**p.clip.as_dict(),
                           "detections_per_frame": len(p.detections) / max(1, len(p.frames))}
                          for p in prepared],
                "stages": rows, "ratios": _ratios(rows, [c.name for c in clips], batches),
                "rounds_done": rounds, "notes": notes}

    runs = _time_rounds(_jobs(prepared, detector, weights, batches, args, base), args.repeats,
                        lambda runs, rounds: checkpoint(results(runs, rounds)))
    return results(runs, args.repeats)


def run_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    """Make the clips and the model, time every stage, measure peak RSS: the result document."""
    OUT.mkdir(parents=True, exist_ok=True)
    encoder = pick_encoder()
    print(f"encoder: {encoder}" + ("" if encoder == "libx264" else " (libx264 not in this PyAV)"))
    real = _real_clips(args)
    source = max(real, key=lambda c: c.frames).path
    weights = random_weights(args.weights, args.model)
    base = PipelineConfig(detect=DetectConfig(weights=str(weights), device=args.device,
                                              imgsz=args.imgsz, preprocess=args.preprocess),
                          decode=DecodeConfig(pixel_format=args.pixel_format,
                                              hwaccel=args.hwaccel))
    fields = dict(
        git=_git_state(), device=args.device, gpu=_gpu_name(),
        half=args.device.startswith("cuda") and base.detect.half, imgsz=args.imgsz,
        model=args.model, weights=str(weights), preprocess=args.preprocess,
        pixel_format=args.pixel_format, hwaccel=args.hwaccel, many_jobs=args.many_jobs,
        encoder=encoder, encoder_options=ENCODER_OPTIONS.get(encoder, {}), source=str(source),
        batch_sizes=list(args.batch_sizes), repeats=args.repeats, torch_threads=_torch_threads())

    def checkpoint(partial: dict[str, Any]) -> None:
        """The rounds so far, written over --out: a run stopped later still leaves them."""
        write_json(args.out, result_doc("benchmarks.bench_pipeline",
                                        {**partial, "rss": [], "rss_long_over_short": None},
                                        **fields))

    results: dict[str, Any] = {"clips": [], "stages": [], "ratios": [], "notes": []}
    if not args.rss_only:
        made = [make_clip(source, args.clips, w, h, args.seconds, encoder) for w, h in args.sizes]
        clips = real + [_clip(p, generated=True) for p in made]
        results = _time_stages(args, clips, weights, base, checkpoint)
    rss = []
    for seconds in args.rss_seconds:
        clip = make_clip(source, args.clips, *args.rss_size, seconds, encoder)
        rss.append({"clip": clip.stem, "seconds": seconds, **_measure_rss(clip, base)})
        print(f"  peak RSS run on {clip.name} done", flush=True)
    results.update(rss=rss, rss_long_over_short=_rss_ratios(rss))
    return result_doc("benchmarks.bench_pipeline", results, **fields)


def _rss_ratios(rss: list[dict[str, Any]]) -> dict[str, float | None] | None:
    """Peak RSS of the longest clip over the shortest's: of the whole process and of the run."""
    if len(rss) < 2:
        return None
    short, long = min(rss, key=lambda r: r["frames"]), max(rss, key=lambda r: r["frames"])

    def ratio(key: str) -> float | None:
        return long[key] / short[key] if long[key] and short[key] else None

    return {"process_peak": ratio("peak_rss_mib"), "run_peak": ratio("run_peak_rss_mib")}


def _git_state() -> dict[str, Any]:
    """HEAD and the library files that differ from it (timings are of the working tree)."""
    def git(*cmd: str) -> str:
        return subprocess.run(["git", *cmd], capture_output=True, text=True, cwd=REPO,
                              check=False).stdout

    changed = git("status", "--porcelain", "--", "trackannot", "kernels").splitlines()
    return {"commit": git("rev-parse", "--short", "HEAD").strip(),
            "uncommitted": [line[3:] for line in changed]}  # "XY path": status, space, path


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def _gpu_name() -> str | None:
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


def _fmt(value: float | None, spec: str = "8.1f") -> str:
    return format(value, spec) if value is not None else format("-", ">" + spec.split(".")[0])


def print_table(doc: dict[str, Any]) -> None:
    """The stage table, the ratios and the RSS lines of a result document."""
    res = doc["results"]
    fps = {(r["clip"], r["stage"], r["batch_size"]): r["fps"] for r in res["stages"]}
    ratio = {(r["clip"], r["batch_size"]): r for r in res["ratios"] if "stage" not in r}
    print(f"\nframes/s, median of {doc['repeats']}; device {doc['device']}, imgsz {doc['imgsz']}, "
          f"{doc['model']} (random init), encoder {doc['encoder']}, "
          f"{res.get('detector', '-')} on {res.get('pixel_format', '-')} batches")
    w = max([len(c["name"]) for c in res["clips"]] + [len("real boxes")])
    print(f"{'clip':{w}} {'b':>3} {'decode':>8} {'detect':>8} {'e2e':>8} {'e2e/det':>8} "
          f"{'e2e/ultra':>9}")
    for c in res["clips"]:
        n = c["name"]
        for b in doc["batch_sizes"]:
            r = ratio[(n, b)]
            print(f"{n:{w}} {b:>3} {_fmt(fps[(n, 'decode', b)])} {_fmt(fps[(n, 'detect', b)])} "
                  f"{_fmt(fps[(n, 'e2e', b)])} {_fmt(r['e2e_over_detect'], '8.2f')} "
                  f"{_fmt(r['e2e_over_ultralytics'], '9.2f')}")
    print(f"\n{'per clip':{w}} {'frames':>6} {'WxH':>9} {'det/frame':>9} {'track':>9} "
          f"{'store':>9} {'ultralytics':>11}")
    extra = [{"name": "real boxes", "frames": "", "width": "", "height": "",
              "detections_per_frame": None}]
    for c in res["clips"] + extra:
        n, size = c["name"], f"{c['width']}x{c['height']}" if c["width"] else ""
        if (n, "track", None) in fps:
            print(f"{n:{w}} {c['frames']:>6} {size:>9} {_fmt(c['detections_per_frame'], '9.2f')} "
                  f"{_fmt(fps[(n, 'track', None)], '9.0f')} "
                  f"{_fmt(fps[(n, 'store', None)], '9.0f')} "
                  f"{_fmt(fps.get((n, 'ultralytics', None)), '11.1f')}")
    for r in res["rss"]:
        print(f"e2e on {r['clip']} ({r['frames']} frames, {r['e2e_fps']:.1f} frames/s): peak RSS "
              f"{_fmt(r['peak_rss_mib'], '.0f')} MiB, setup {_fmt(r['setup_rss_mib'], '.0f')} MiB, "
              f"run alone {_fmt(r['run_peak_rss_mib'], '.0f')} MiB")
    if res["rss_long_over_short"] is not None:
        ratio = res["rss_long_over_short"]
        print(f"peak RSS, longest clip / shortest: process {_fmt(ratio['process_peak'], '.3f')}, "
              f"run alone {_fmt(ratio['run_peak'], '.3f')}")
    for r in res["ratios"]:
        if "stage" in r:
            print(f"{r['clip']}: {r['stage']} videos in flight at b={r['batch_size']}: "
                  f"{fps[(r['clip'], r['stage'], r['batch_size'])]:.1f} frames/s, "
                  f"{_fmt(r['e2e_over_detect'], '.2f')}x detect alone, "
                  f"{_fmt(r['e2e_over_ultralytics'], '.2f')}x ultralytics track")
    for note in res["notes"]:
        print(f"note: {note}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda (half precision on cuda)")
    parser.add_argument("--full", action="store_true", help="batch sizes 1, 2, 4, ..., 64")
    parser.add_argument("--batch-sizes", type=int, nargs="+", help="overrides --full")
    parser.add_argument("--imgsz", type=int, help="default 320 on cpu, 640 on cuda")
    parser.add_argument("--model", default="yolo11n.yaml", help="ultralytics model yaml")
    parser.add_argument("--preprocess", default="auto", choices=("auto", "device", "ultralytics"),
                        help="detect.preprocess (auto: device on cuda, ultralytics on cpu)")
    parser.add_argument("--pixel-format", default="auto", choices=("auto", "rgb24", "yuv420p"),
                        help="decode.pixel_format (auto: what the detector takes)")
    parser.add_argument("--hwaccel", default="none", choices=("auto", "cuda", "none"),
                        help="decode.hwaccel (cuda: NVDEC)")
    parser.add_argument("--many-jobs", type=int, default=0,
                        help="also time N copies of each generated clip with N videos in flight "
                        "(track_videos jobs=N) at the largest batch size")
    parser.add_argument("--weights", type=Path, help="where the random weights are saved")
    parser.add_argument("--data", type=Path, default=DATA, help="holds video/ (and MOT15/)")
    parser.add_argument("--clips", type=Path, default=OUT / "clips", help="generated clips")
    parser.add_argument("--sizes", type=_size, nargs="+", default=[(1280, 720), (1920, 1080)])
    parser.add_argument("--seconds", type=float, default=8.0, help="generated clip length")
    parser.add_argument("--detect-frames", type=int, default=32, help="frames timed in detect")
    parser.add_argument("--detect-seconds", type=float, default=2.0, help="detect repeat time")
    parser.add_argument("--ultra-frames", type=int, default=40, help="0: no ultralytics run")
    parser.add_argument("--min-seconds", type=float, default=0.2, help="track/store repeat time")
    parser.add_argument("--rss-seconds", type=float, nargs="*", default=[20.0, 120.0])
    parser.add_argument("--rss-size", type=_size, default=(480, 360))
    parser.add_argument("--rss-only", action="store_true", help="only the peak RSS runs")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULT)
    args = parser.parse_args(argv)
    if args.batch_sizes is None:
        args.batch_sizes = list(BATCHES_FULL if args.full else BATCHES)
    if args.imgsz is None:
        args.imgsz = 640 if args.device.startswith("cuda") else 320
    if args.weights is None:
        args.weights = OUT / f"{Path(args.model).stem}_random.pt"
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    os.environ["YOLO_OFFLINE"] = "1"  # before ultralytics is imported: never download
    args = parse_args(argv)
    doc = run_benchmark(args)
    print_table(doc)
    write_json(args.out, doc)
    print(f"\nwrote {args.out}")
    return doc


if __name__ == "__main__":
    main()
