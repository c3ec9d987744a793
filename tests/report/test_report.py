"""`trackannot report` without a browser: what the pages hold, the timeline's binning, bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from trackannot.cli.main import main

from tests.report._pets import KEY, queued_frames
from tests.test_annotate import make_store, write_lines
from trackannot.config import PipelineConfig, StoreConfig, config_to_dict
from trackannot.report import write_report
from trackannot.report.gather import gather_video
from trackannot.report.timeline import build_timeline
from trackannot.results import LOG_COLUMNS
from trackannot.session import VideoSession
from trackannot.store import StoreWriter

SECTIONS = ("summary", "timeline", "previews", "review", "advice")


def _figure(page: str, fig_id: str) -> dict:
    found = re.search(f'<script type="application/json" id="{fig_id}-data">(.*?)</script>', page,
                      re.DOTALL)
    assert found, f"no figure {fig_id}"
    return json.loads(found.group(1).replace("<\\/", "</"))


def _sections(page: str) -> list[str]:
    return re.findall(r'data-section="([^"]+)"', page)


def test_the_pets_report_holds_every_section(pets_store: Path, pets_report: Path) -> None:
    page = (pets_report / "videos" / f"{KEY}.html").read_text()
    lead = (pets_report / "videos" / f"{KEY}.lead.html").read_text()
    for section in SECTIONS:
        assert section in _sections(page) and section in _sections(lead)
    assert "audit" in _sections(lead) and "audit" not in _sections(page)
    session = VideoSession.open(pets_store, KEY)
    stages = session.result.attrs["stage_seconds"]  # recorded by the run, shown per stage
    frames = session.result.attrs["frames_decoded_last"]
    assert set(stages) == {"decode_wait", "detect", "track_write"}
    assert f"<td class=\"num\">{frames / stages['track_write']:.1f}</td>" in page
    tracks = np.unique(session.boxes().track_id)
    fig = _figure(page, "fig-timeline")
    assert fig["meta"]["rows"] == len(tracks)
    assert len(fig["layout"]["yaxis"]["ticktext"]) == len(tracks)  # one tick per row at this size
    drawn = {int(f) for f in re.findall(r'<figure data-frame="(\d+)">', page)}
    assert set(queued_frames(pets_store)) <= drawn
    for f in drawn:
        assert (pets_report / "assets" / "previews" / KEY / f"f{f:07d}.jpg").stat().st_size > 5000
    # honeypots: on the lead's timeline only; the reviewer's page says nowhere where they are
    assert "honeypot in q" not in page and "honeypot in q" in lead
    assert not any(t["name"] == "honeypots" for t in _figure(page, "fig-timeline")["data"])
    assert any(t["name"] == "honeypots" for t in _figure(lead, "fig-timeline")["data"])
    advice = _figure(page, "fig-advice")["data"][0]
    assert advice["x"] == ["manual first", "fast review", "strict review", "active loop"]
    expected = session.audit().advice.projected_s
    assert advice["y"] == [round(expected[m] / 3600, 3) for m in advice["x"]]


def test_the_comparison_page_draws_every_strategy(repo_dir: Path, pets_report: Path) -> None:
    page = (pets_report / "compare.html").read_text()
    doc = json.loads((repo_dir / "benchmarks" / "results" / "effort_MOT15.json").read_text())
    rows = doc["datasets"]["MOT15"]["rows"]
    figs = [_figure(page, f"fig-compare-{i}") for i in range(len(re.findall('id="fig-compare-',
                                                                            page)) // 2)]
    fig = next(f for f in figs if f["layout"]["meta"]["dataset"] == "MOT15")
    lines = [t for t in fig["data"] if t["mode"] == "lines+markers" and t["yaxis"] == "y"]
    assert [t["name"] for t in lines] == list(rows)
    manual = next(t for t in lines if t["name"] == "manual")
    assert sorted(manual["x"]) == sorted(r["human_s_per_frame"] for r in rows["manual"]
                                         if r["human_s_per_frame"] > 0)
    assert "k=10" in " ".join(manual["text"])
    cross = doc["datasets"]["MOT15"]["crossings"]["manual"]["all"]["0.93"]
    assert f"{cross:.3f}" in page
    assert any(s["x0"] == 0.08 for s in fig["layout"]["shapes"])


def test_a_long_timeline_is_binned_but_keeps_every_mark(pets_store: Path) -> None:
    video = gather_video(VideoSession.open(pets_store, KEY))
    full = build_timeline(video, lead=True)
    binned = build_timeline(video, lead=True, max_bins=50)
    assert full.bin_frames == 1 and binned.bin_frames == 16
    assert [(m.name, m.frame.tolist(), m.row.tolist()) for m in binned.marks] == \
        [(m.name, m.frame.tolist(), m.row.tolist()) for m in full.marks]
    assert len(binned.risk_y) == 50 and binned.risk_y.max() == full.risk_y.max()
    # every track keeps its row, and human keyframes stay visible after binning
    rows = set().union(*(set(r.tolist()) for r, _, _ in binned.runs.values()))
    assert rows == set(range(len(full.track_ids)))
    assert 3 in binned.runs  # Origin.KEYFRAME


def test_a_store_without_corrections_or_queue_says_so(tmp_path: Path) -> None:
    store = make_store(tmp_path / "out.zarr")
    index = write_report(store, tmp_path / "rep")
    page = (tmp_path / "rep" / "videos" / "clip.html").read_text()
    assert "No review queue yet" in page and "the advice needs some reviewed items" in page
    assert "No video file is recorded for this run" in page  # no previews, said
    assert "no per-stage times are shown" in page  # a store without stage times
    assert "No effort benchmark results were given" in (tmp_path / "rep" / "compare.html").read_text()
    assert "clip" in index.read_text()
    # corrections but no queue: the review section says there is no queue, the log is counted
    write_lines(tmp_path / "fix.jsonl", [{"op": "adjust", "track": 1, "frame": 5,
                                         "box": [10, 10, 40, 90]}])
    CliRunner().invoke(main, ["correct", str(store), str(tmp_path / "fix.jsonl"), "--author", "a"])
    write_report(store, tmp_path / "rep")
    page = (tmp_path / "rep" / "videos" / "clip.html").read_text()
    assert "No review queue yet" in page and "the advice needs" not in page


def _partial_store(path: Path, key: str, status: str, video_file: Path | None) -> Path:
    attrs = {"config": config_to_dict(PipelineConfig()),
             "video": {"width": 320, "height": 240, "fps": 10.0, "frame_count": 60}}
    if video_file is not None:
        attrs["input"] = {"path": str(video_file), "size_bytes": 1000}
    from trackannot.boxes import Boxes

    writer = StoreWriter.create(path, key, StoreConfig(chunk_rows=16, chunk_frames=8), attrs=attrs,
                                log=LOG_COLUMNS)
    for f in range(20):
        xyxy = np.array([[2.0 * f, 10, 2.0 * f + 30, 90]], np.float32)
        writer.add_frame(f, f / 10.0, Boxes.create(frame=[f], xyxy=xyxy),
                         Boxes.create(frame=[f], xyxy=xyxy, track_id=[1]))
    if status == "failed":
        writer.close({"error": "clip.mp4: cut short at frame 20"}, status="failed")
    else:
        writer.lock.release()  # a run that was killed: committed up to its last whole chunk
    return path


@pytest.mark.parametrize("status", ["failed", "running"])
def test_a_failed_or_running_video_shows_what_it_committed(tmp_path: Path, status: str) -> None:
    store = _partial_store(tmp_path / "out.zarr", "cut", status, None)
    make_store(store, key="clip")
    result = CliRunner().invoke(main, ["report", str(store), "-o", str(tmp_path / "rep"),
                                       "--quiet"])
    assert result.exit_code == 0, result.output
    page = (tmp_path / "rep" / "videos" / "cut.html").read_text()
    frames = 20 if status == "failed" else 16
    assert f"Shown: the {frames} frames it committed" in page
    if status == "failed":
        assert "cut short at frame 20" in page
    assert _figure(page, "fig-timeline")["meta"]["rows"] == 1
    index = (tmp_path / "rep" / "index.html").read_text()
    assert f'<span class="bad">{status}</span>' in index and "clip.html" in index


def test_a_moved_video_gets_a_note_and_no_previews(tmp_path: Path) -> None:
    store = _partial_store(tmp_path / "out.zarr", "moved", "failed", tmp_path / "gone.mp4")
    write_report(store, tmp_path / "rep")
    page = (tmp_path / "rep" / "videos" / "moved.html").read_text()
    assert f"The video file {tmp_path / 'gone.mp4'} is not there any more" in page
    assert "<figure" not in page
    assert "timeline" in _sections(page) and "summary" in _sections(page)


def test_scores_with_gt_of_pre_labels_and_corrected(data_dir: Path, tmp_path: Path) -> None:
    seq = data_dir / "MOT15" / "TUD-Campus"
    store = tmp_path / "tud.zarr"
    runner = CliRunner()
    ran = runner.invoke(main, ["track", "--seqinfo", str(seq / "seqinfo.ini"), "--detections",
                               str(seq / "det" / "det.txt"), "-o", str(store), "--quiet"])
    assert ran.exit_code == 0, ran.output
    session = VideoSession.open(store)
    track = int(session.boxes().track_id[0])
    write_lines(tmp_path / "fix.jsonl", [{"op": "absent", "track": track, "frame": 10}])
    runner.invoke(main, ["correct", str(store), str(tmp_path / "fix.jsonl"), "--author", "a"])
    out = runner.invoke(main, ["report", str(store), "-o", str(tmp_path / "rep"), "--quiet",
                               "--gt", str(seq / "gt" / "gt.txt")])
    assert out.exit_code == 0, out.output
    page = (tmp_path / "rep" / "videos" / f"{session.key}.html").read_text()
    corrected, _, _ = session.evaluate(seq / "gt" / "gt.txt")
    assert "scores" in _sections(page)
    assert f"{100 * corrected.hota:.1f}" in page and f"{100 * corrected.idf1:.1f}" in page
    bad = runner.invoke(main, ["report", str(store), "-o", str(tmp_path / "r2"), "--gt",
                               str(tmp_path / "none.txt")])
    assert bad.exit_code == 1 and "none.txt: no such file" in bad.output


KITTI_SEQ = "0004"  # cars, vans and DontCare from its first frames (0000: no car before 109)


def _kitti_store(data_dir: Path, root: Path, frames: int) -> Path:
    """KITTI 0004's first `frames` frames tracked from the PointRCNN Car detections (written as a
    MOTChallenge det.txt with a seqinfo.ini, scores mapped by the logistic function, as the
    benchmarks read them: benchmarks/datasets.py)."""
    raw = np.loadtxt(data_dir / f"KITTI-tracking/detections/pointrcnn_Car/{KITTI_SEQ}.txt",
                     delimiter=",", ndmin=2)
    raw = raw[(raw[:, 0] < frames) & (raw[:, 4] > raw[:, 2]) & (raw[:, 5] > raw[:, 3])]
    raw = raw[np.argsort(raw[:, 0], kind="stable")]
    score = 1.0 / (1.0 + np.exp(-raw[:, 6]))
    (root / "det.txt").write_text("".join(
        f"{int(f) + 1},-1,{x1},{y1},{x2 - x1},{y2 - y1},{s},-1,-1,-1\n"
        for f, x1, y1, x2, y2, s in zip(*raw[:, [0, 2, 3, 4, 5]].T, score)))
    (root / "seqinfo.ini").write_text(f"[Sequence]\nname=kitti-{KITTI_SEQ}\nframeRate=10\n"
                                      f"seqLength={frames}\nimWidth=1242\nimHeight=375\n")
    store = root / "kitti.zarr"
    ran = CliRunner().invoke(main, ["track", "--seqinfo", str(root / "seqinfo.ini"), "--detections",
                                    str(root / "det.txt"), "-o", str(store), "--quiet"])
    assert ran.exit_code == 0, ran.output
    return store


def test_scores_with_kitti_labels_are_trackeval_s_kitti_car_scores(data_dir: Path,
                                                                  tmp_path: Path) -> None:
    from trackannot.evaluate import evaluate
    from trackannot.groundtruth import read_kitti_labels

    frames = 60
    store = _kitti_store(data_dir, tmp_path, frames)
    labels = data_dir / f"KITTI-tracking/training/label_02/{KITTI_SEQ}.txt"
    session = VideoSession.open(store)
    runner = CliRunner()
    before = runner.invoke(main, ["eval", str(store), "--gt", str(labels)])  # no correction yet
    assert before.exit_code == 0, before.output
    pre_labels = VideoSession.open(store).boxes()
    track = int(session.boxes().for_frame(10).track_id[0])
    write_lines(tmp_path / "fix.jsonl", [{"op": "absent", "track": track, "frame": 10}])
    fixed = runner.invoke(main, ["correct", str(store), str(tmp_path / "fix.jsonl"), "--author",
                                 "a"])
    assert fixed.exit_code == 0, fixed.output
    out = runner.invoke(main, ["report", str(store), "-o", str(tmp_path / "rep"), "--quiet",
                               "--gt", str(labels)])
    assert out.exit_code == 0, out.output
    page = (tmp_path / "rep" / "videos" / f"{session.key}.html").read_text()
    # what trackannot.evaluate gives for the same tracks: every track (the store's detector
    # names no classes) against the labels of the frames tracked, KITTI Car rules
    gt, extra = read_kitti_labels(labels)
    keep = gt.frame < frames
    gt, extra = gt[keep], {k: v[keep] for k, v in extra.items()}
    scores = {name: evaluate(tracks, gt, gt_extra=extra, benchmark="KITTI", num_frames=frames)
              for name, tracks in (("pre-labels", pre_labels), ("corrected", session.boxes()))}
    assert scores["pre-labels"].num_gt_dets > 0 and scores["pre-labels"].hota > 0.5
    section = page[page.index('data-section="scores"'):]
    cells = re.findall(r'<td class="num">([0-9.]+)</td>', section)[:6]
    assert cells == [f"{100 * getattr(scores[n], m):.1f}" for m in ("hota", "mota", "idf1")
                     for n in ("pre-labels", "corrected")]
    assert "KITTI Car rules" in section and f"{KITTI_SEQ}.txt" in section
    # `trackannot eval` said the same of the pre-labels, and says it of the corrected annotation
    ran = runner.invoke(main, ["eval", str(store), "--gt", str(labels)])
    assert ran.exit_code == 0 and "(KITTI Car rules)" in ran.output, ran.output
    for said, name in ((before.output, "pre-labels"), (ran.output, "corrected")):
        assert f"{100 * scores[name].hota:6.2f}  {100 * scores[name].deta:6.2f}" in said


def test_a_damaged_kitti_label_file_fails_the_report_naming_file_and_line(data_dir: Path,
                                                                         tmp_path: Path) -> None:
    store = _kitti_store(data_dir, tmp_path, 10)
    labels = data_dir / f"KITTI-tracking/training/label_02/{KITTI_SEQ}.txt"
    lines = labels.read_text().splitlines()
    lines[6] = " ".join(lines[6].split()[:12])  # a line cut short
    bad = tmp_path / "labels.txt"
    bad.write_text("\n".join(lines) + "\n")
    runner = CliRunner()
    out = runner.invoke(main, ["report", str(store), "-o", str(tmp_path / "rep"), "--gt",
                               str(bad)])
    assert out.exit_code == 1
    assert "labels.txt line 7: expected 17 space-separated KITTI tracking label" in out.output
    assert "got 12" in out.output and not (tmp_path / "rep").exists()  # nothing written
    out = runner.invoke(main, ["report", str(store), "-o", str(tmp_path / "rep"), "--gt",
                               str(labels), "--gt-class", "truck"])
    assert out.exit_code == 1 and "--gt-class 'truck': expected car or pedestrian" in out.output
