"""What ships: benchmark sequences tracked through the pipeline (detections file -> store -> MOT
export), and the check that a stored video's tracks equal `track_detections` over its stored
detections.

The pipeline runs on footage-free inputs (`trackannot.seqinfo`): a MOTChallenge seqinfo.ini
gives the frames, `trackannot.detect.FileDetector` the detections. MOT15 uses the files in
../shared/data as they are (seqinfo.ini, det/det_sort_frcnn.txt). KITTI has neither, so each
Sequence's detections (PointRCNN, logistic scores, `benchmarks.datasets`) are written to a MOT
det.txt and a seqinfo.ini (10 fps, 1242 x 375) in a work folder first; box corners and scores
round-trip exactly (float32 values written with 9 / 17 significant digits).

What a user gets is the export: `VideoSession.export("mot")`, i.e. the stored tracks smoothed
over `interpolate.smooth_seconds` (0.1 s by default) and rounded to 0.01 px; the exported file is
read back as the tracks to score.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.datasets import Sequence
from trackannot.boxes import COLUMNS, Boxes
from trackannot.config import PipelineConfig, TrackConfig
from trackannot.detect.from_file import FileDetector, read_mot_file
from trackannot.pipeline import failures, track_videos
from trackannot.provenance import describe_detector
from trackannot.results import open_store
from trackannot.session import VideoSession
from trackannot.store import VideoGroup
from trackannot.track import track_detections

__all__ = ["Shipped", "offline_mismatch", "offline_view", "ship", "write_inputs"]

MOT15_DET_FILE = "det_sort_frcnn.txt"


def offline_view(video: VideoGroup) -> Boxes:
    """A stored video's tracks with `det_index` as `track_detections` numbers it: the row in
    the video's whole detections table (stored: the row within its frame; plus the frame's
    `row_start` in the detections table)."""
    tracks = video.read(table="tracks")
    index, _ = video.frames()
    starts = video.row_starts("detections")
    first = starts[np.searchsorted(index, tracks.frame)]
    return tracks.replace(det_index=np.where(tracks.det_index >= 0, tracks.det_index + first, -1))


def offline_mismatch(video: VideoGroup, cfg: TrackConfig) -> list[str]:
    """The columns in which a stored video's tracks differ from `track_detections` over its
    stored detections and processed frames (`offline_view` for det_index); [] when equal."""
    index, _ = video.frames()
    want = track_detections(video.read(table="detections"), cfg, frames=index)
    got = offline_view(video)
    if len(got) != len(want):
        return [f"rows: stored {len(got)}, track_detections {len(want)}"]
    return [name for name in COLUMNS
            if not np.array_equal(getattr(got, name), getattr(want, name))]


def write_inputs(seq: Sequence, folder: Path) -> tuple[Path, Path]:
    """`folder/<name>/seqinfo.ini` and `.../det/det.txt` for a Sequence (exact round trip)."""
    root = folder / seq.name
    (root / "det").mkdir(parents=True, exist_ok=True)
    seqinfo = root / "seqinfo.ini"
    seqinfo.write_text(f"[Sequence]\nname={seq.name}\nseqLength={seq.num_frames}\n"
                       f"frameRate={seq.fps:g}\nimWidth={seq.width}\nimHeight={seq.height}\n")
    d = seq.detections
    x1, y1 = d.xyxy[:, 0].astype(np.float64), d.xyxy[:, 1].astype(np.float64)
    w, h = d.xyxy[:, 2].astype(np.float64) - x1, d.xyxy[:, 3].astype(np.float64) - y1
    lines = [f"{f + 1},-1,{a:.17g},{b:.17g},{c:.17g},{e:.17g},{s:.9g},-1,-1,-1"
             for f, a, b, c, e, s in zip(d.frame.tolist(), x1.tolist(), y1.tolist(), w.tolist(),
                                         h.tolist(), d.score.tolist())]
    det = root / "det" / "det.txt"
    det.write_text("\n".join(lines) + "\n")
    return seqinfo, det


@dataclass(frozen=True, eq=False)
class Shipped:
    """One sequence through the pipeline.

    Attributes:
        name: the sequence.
        store, key: where it is stored (open with `VideoSession.open(store, key)`).
        exported: the MOT export read back (what a user gets).
        mismatch: `offline_mismatch` of the stored video ([] when the store equals
            track_detections).
        same_detections: the stored detections equal the Sequence's (frame, box, score).
        counts: what FileDetector's frame policy did (clipped, dropped, over max_det).
        seconds: the pipeline run.
    """

    name: str
    store: Path
    key: str
    exported: Boxes
    mismatch: list[str]
    same_detections: bool
    counts: dict[str, int]
    seconds: float


def ship(dataset: str, seqs: list[Sequence], data_dir: Path, workdir: Path,
         cfg: PipelineConfig | None = None) -> list[Shipped]:
    """Track every sequence through the pipeline into `workdir/<dataset>.zarr` and export it.

    Args:
        dataset: "MOT15" (the data's own seqinfo.ini and det_sort_frcnn.txt) or another name
            (inputs written by `write_inputs` under `workdir/inputs`).
        seqs: the sequences (`benchmarks.datasets`).
        data_dir: ../shared/data.
        workdir: an empty or new folder for inputs, store and exports.
        cfg: the pipeline configuration (default `PipelineConfig()`).
    """
    cfg = cfg or PipelineConfig()
    store = workdir / f"{dataset}.zarr"
    out = []
    for seq in seqs:
        if dataset == "MOT15":
            root = data_dir / "MOT15" / seq.name
            seqinfo, det = root / "seqinfo.ini", root / "det" / MOT15_DET_FILE
        else:
            seqinfo, det = write_inputs(seq, workdir / "inputs")
        detector = FileDetector(det, cfg.detect)
        t0 = time.perf_counter()
        summary = track_videos([seqinfo], store, cfg, detector,
                               detector_info=describe_detector(detector, None, det))
        seconds = time.perf_counter() - t0
        if failures(summary):
            raise RuntimeError(f"{seq.name}: {failures(summary)[0].error}")
        key = summary[0].key
        video = open_store(store)[key]
        stored = video.read(table="detections")
        same = len(stored) == len(seq.detections) and all(
            np.array_equal(getattr(stored, c), getattr(seq.detections, c))
            for c in ("frame", "xyxy", "score"))
        path = VideoSession.open(store, key, mode="r").export("mot", workdir / f"{key}.txt")
        out.append(Shipped(seq.name, store, key, read_mot_file(path),
                           offline_mismatch(video, cfg.track), same, dict(detector.counts),
                           seconds))
    return out
