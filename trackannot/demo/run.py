"""The bundled demo: synthetic clip -> real pipeline with the shipped tiny model -> scores."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from trackannot.config import PipelineConfig
from trackannot.demo import DEMO_IMGSZ, DEMO_WEIGHTS
from trackannot.demo.synth import write_demo_clip
from trackannot.detect import make_detector
from trackannot.evaluate import TrackingScores, evaluate
from trackannot.export.mot import write_mot
from trackannot.pipeline import Progress, VideoSummary, track_videos
from trackannot.store import open_store

__all__ = ["DemoReport", "run_demo"]

# The demo clip's frame size; the shipped model was trained on such frames at DEMO_IMGSZ (320).
DEMO_WIDTH, DEMO_HEIGHT, DEMO_FPS = 640, 360, 15


@dataclass(frozen=True)
class DemoReport:
    """What `run_demo` did and how well it scored."""

    clip: Path
    store: Path
    truth_file: Path
    export_file: Path
    summary: VideoSummary
    truth_boxes: int
    truth_tracks: int
    scores: TrackingScores

    def lines(self) -> list[str]:
        s = self.summary
        return [
            f"clip       {self.clip}  ({s.frames} frames, synthetic, known truth: "
            f"{self.truth_tracks} objects, {self.truth_boxes} boxes)",
            f"detector   bundled tiny YOLO ({DEMO_WEIGHTS.name}), trained on synthetic shapes only",
            f"pipeline   decode -> detect -> track -> store: {s.detections} detections, "
            f"{s.tracks} tracks, {s.fps:.1f} frames/s",
            f"store      {self.store}",
            f"export     {self.export_file} (MOTChallenge)",
            f"scores     HOTA {100 * self.scores.hota:.1f}  MOTA {100 * self.scores.mota:.1f}  "
            f"IDF1 {100 * self.scores.idf1:.1f}  (against the clip's truth)",
            "real footage: trackannot track VIDEO -o out.zarr --weights /path/to/yolo11n.pt",
        ]


def run_demo(
    out_dir: str | Path,
    *,
    seconds: float = 10.0,
    seed: int = 7,
    progress: Progress | None = None,
) -> DemoReport:
    """Write a synthetic clip into `out_dir`, track it with the bundled model and score it.

    Re-running replaces the previous demo output in `out_dir`.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    clip = out / "demo.mp4"
    truth = write_demo_clip(clip, seed=seed, seconds=seconds, fps=DEMO_FPS,
                            width=DEMO_WIDTH, height=DEMO_HEIGHT)
    truth_file = write_mot(truth, out / "demo_truth.txt")
    cfg = PipelineConfig()
    cfg = replace(cfg, detect=replace(cfg.detect, weights=str(DEMO_WEIGHTS), imgsz=DEMO_IMGSZ))
    detector = make_detector(cfg.detect)
    store = out / "demo.zarr"
    (summary,) = track_videos([clip], store, cfg, detector,
                              detector_info={"weights": str(DEMO_WEIGHTS)},
                              overwrite=True, progress=progress)
    tracks = open_store(store)[summary.key].read()
    export_file = write_mot(tracks, out / "demo_tracks.txt")
    scores = evaluate(tracks, truth)
    return DemoReport(
        clip=clip, store=store, truth_file=truth_file, export_file=export_file,
        summary=summary, truth_boxes=len(truth),
        truth_tracks=len(set(truth.track_id.tolist())), scores=scores,
    )
