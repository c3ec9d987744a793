"""Quality gate: trackannot's tracker on the 10 MOT15 train sequences (SORT's Faster R-CNN
detections, det_sort_frcnn.txt), scored with TrackEval's MOT15 rules and combined over sequences,
must not fall more than 0.5 HOTA points below tests/baselines/mot15_hota.json.

The gate holds twice: for `track_detections` (what the baseline measured), and for what ships,
the pipeline path (`benchmarks.shipped`): detections file + seqinfo.ini (no footage) -> store ->
MOT export (smoothed as the default annotation is) -> TrackEval. The stored tracks must equal
`track_detections` over the stored detections on all 10 MOT15 sequences and KITTI Car 0000-0013.

Scores are fractions in [0, 1] throughout, so 0.5 HOTA points is 0.005. After an intended change
of the tracker's defaults, regenerate the baseline (and say so in the commit):

    python -m benchmarks.bench_tracking --update-baseline
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.datasets import Sequence, load_kitti_car, load_mot15
from benchmarks.shipped import Shipped, ship
from trackannot.config import TrackConfig, config_to_dict
from trackannot.detect.from_file import read_mot_file, read_seqinfo
from trackannot.evaluate import EvalSequence, evaluate_dataset
from trackannot.track import track_detections

BASELINE = Path(__file__).parent / "baselines" / "mot15_hota.json"
MAX_HOTA_DROP = 0.005  # 0.5 HOTA points, on the 0..1 scale
SEQUENCES = (
    "ADL-Rundle-6", "ADL-Rundle-8", "ETH-Bahnhof", "ETH-Pedcross2", "ETH-Sunnyday",
    "KITTI-13", "KITTI-17", "TUD-Campus", "TUD-Stadtmitte", "Venice-2",
)
REGENERATE = "python -m benchmarks.bench_tracking --update-baseline"


def _mot15_scores(data_dir: Path, cfg: TrackConfig) -> dict[str, float]:
    seqs = []
    for name in SEQUENCES:
        root = data_dir / "MOT15" / name
        num_frames = int(read_seqinfo(root / "seqinfo.ini")["seqLength"])
        dets = read_mot_file(root / "det" / "det_sort_frcnn.txt")  # score: conf, 0.5..1.0
        gt, extra = read_mot_file(root / "gt" / "gt.txt", with_extra=True)
        tracks = track_detections(dets, cfg, frames=range(num_frames))
        seqs.append(EvalSequence(tracks=tracks, gt=gt, gt_extra=extra, num_frames=num_frames,
                                 name=name))
    scores = evaluate_dataset(seqs, benchmark="MOT15")
    per_seq = {k: round(v.hota, 4) for k, v in scores.per_sequence.items()}
    c = scores.combined
    return {"hota": c.hota, "mota": c.mota, "idf1": c.idf1, "per_sequence_hota": per_seq}


@pytest.fixture(scope="module")
def baseline() -> dict:
    return json.loads(BASELINE.read_text())


@pytest.fixture(scope="module")
def shipped(data_dir: Path, tmp_path_factory: pytest.TempPathFactory
            ) -> dict[str, tuple[list[Sequence], list[Shipped]]]:
    """Both datasets through the pipeline with the default configuration (a few seconds each)."""
    out = {}
    for name, load in (("MOT15", load_mot15), ("KITTI-Car", load_kitti_car)):
        seqs = load(data_dir)
        out[name] = (seqs, ship(name, seqs, data_dir, tmp_path_factory.mktemp(name)))
    return out


def _gate(got: dict, baseline: dict, what: str) -> None:
    assert got["hota"] >= baseline["hota"] - MAX_HOTA_DROP, (
        f"MOT15 combined HOTA {what} {100 * got['hota']:.2f} is more than "
        f"{100 * MAX_HOTA_DROP:.1f} points below the baseline {100 * baseline['hota']:.2f} (MOTA "
        f"{100 * got['mota']:.2f} vs {100 * baseline['mota']:.2f}, IDF1 {100 * got['idf1']:.2f} "
        f"vs {100 * baseline['idf1']:.2f}); per-sequence HOTA now: {got['per_sequence_hota']}"
    )


@pytest.mark.slow
def test_mot15_hota_not_below_baseline(data_dir: Path, baseline: dict) -> None:
    cfg = TrackConfig(**baseline["track_config"])
    _gate(_mot15_scores(data_dir, cfg), baseline, "of track_detections")


@pytest.mark.slow
def test_mot15_hota_through_the_pipeline_not_below_baseline(
        shipped: dict[str, tuple[list[Sequence], list[Shipped]]], baseline: dict) -> None:
    """What a user exports from `trackannot track --seqinfo ... --detections ...`."""
    assert TrackConfig() == TrackConfig(**baseline["track_config"])
    seqs, runs = shipped["MOT15"]
    scores = evaluate_dataset([EvalSequence(tracks=r.exported, gt=s.gt, gt_extra=s.gt_extra,
                                            num_frames=s.num_frames, name=s.name)
                               for s, r in zip(seqs, runs)], benchmark="MOT15")
    c = scores.combined
    _gate({"hota": c.hota, "mota": c.mota, "idf1": c.idf1,
           "per_sequence_hota": {k: round(v.hota, 4) for k, v in scores.per_sequence.items()}},
          baseline, "through the pipeline (store -> MOT export)")


@pytest.mark.slow
@pytest.mark.parametrize("dataset", ["MOT15", "KITTI-Car"])
def test_pipeline_store_equals_track_detections(
        shipped: dict[str, tuple[list[Sequence], list[Shipped]]], dataset: str) -> None:
    """Every sequence's stored tracks equal track_detections over its stored detections, and
    the stored detections are the benchmark's (frame, box, score: nothing clipped or dropped)."""
    seqs, runs = shipped[dataset]
    assert len(runs) == {"MOT15": 10, "KITTI-Car": 14}[dataset]
    assert {r.name: r.mismatch for r in runs if r.mismatch} == {}
    assert [r.name for r in runs if not r.same_detections] == []
    assert all(len(r.exported) > 0 for r in runs)


def test_baseline_uses_current_defaults(baseline: dict) -> None:
    assert baseline["track_config"] == config_to_dict(TrackConfig()), (
        f"TrackConfig defaults differ from the config stored in {BASELINE.name}; if the change "
        f"is intended, regenerate the baseline: {REGENERATE}"
    )
