"""Pipeline benchmark: clip generation, and one tiny run whose JSON holds every row and ratio."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from benchmarks.bench_pipeline import main, make_clip, pick_encoder
from tests._video import patch_frames, write_clip
from trackannot.config import DecodeConfig
from trackannot.decode import decode_frames, probe_video

SOURCE_FRAMES = 6  # 0.6 s at 10 fps
BATCHES = (1, 4)
DETECT_FRAMES = 4
ULTRA_FRAMES = 3
REPEATS = 2


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A data folder like ../shared/data: one short real-looking clip and a detections file."""
    root = tmp_path_factory.mktemp("data")
    (root / "video").mkdir()
    write_clip(root / "video" / "tiny.mp4", patch_frames(SOURCE_FRAMES, 48, 64), fps=10)
    det = root / "MOT15" / "PETS09-S2L1" / "det"
    det.mkdir(parents=True)
    # two objects over frames 1-5 (1-based), one missing at frame 3: frame, id, l, t, w, h, conf
    lines = [f"{f},-1,{5 + f},10,10,20,0.9,-1,-1,-1" for f in range(1, 6)]
    lines += [f"{f},-1,40,{2 * f},8,16,0.95,-1,-1,-1" for f in (1, 2, 4, 5)]
    det.joinpath("det_sort_frcnn.txt").write_text("\n".join(sorted(lines, key=lambda s: int(
        s.split(",")[0]))) + "\n")
    return root


def _decoded(path):
    return np.concatenate([b.frames for b in decode_frames(path, DecodeConfig(batch_size=64))])


def test_make_clip_upscales_loops_and_is_reused(data, tmp_path):
    source = data / "video" / "tiny.mp4"
    encoder = pick_encoder()
    clip = make_clip(source, tmp_path, 128, 96, 1.0, encoder)
    info = probe_video(clip)
    assert (info.width, info.height, info.fps) == (128, 96, 10.0)
    assert info.codec == ("h264" if encoder in ("libx264", "libopenh264", "h264_nvenc") else encoder)
    frames = _decoded(clip)
    # 1 s at the source's 10 fps: its 6 frames, then up to 4 again (the last pass ends where its
    # packets hold exactly the first frames in display order: B-frames may make it end earlier)
    again = len(frames) - SOURCE_FRAMES
    assert 1 <= again <= 4 and frames.shape[1:] == (96, 128, 3)
    src = _decoded(source).astype(np.float32).mean(axis=(1, 2))  # each frame's mean colour
    got = frames.astype(np.float32).mean(axis=(1, 2))
    np.testing.assert_allclose(got, np.concatenate([src, src[:again]]), atol=4.0)
    longer = make_clip(source, tmp_path, 128, 96, 3.0, encoder)  # 5 passes: every frame again
    np.testing.assert_allclose(_decoded(longer).astype(np.float32).mean(axis=(1, 2))[:30],
                               np.tile(src, (5, 1)), atol=4.0)
    mtime = clip.stat().st_mtime_ns
    assert make_clip(source, tmp_path, 128, 96, 1.0, encoder) == clip
    assert clip.stat().st_mtime_ns == mtime  # reused, not re-encoded
    assert not list(tmp_path.glob("*.partial*"))


@pytest.mark.parametrize(("preprocess", "detector", "pixel_format"),
                         [("auto", "YoloDetector", "rgb24"),
                          ("device", "DeviceYoloDetector", "yuv420p")],
                         ids=["ultralytics-rgb", "device-yuv"])
def test_tiny_run_writes_every_row_and_ratio(data, tmp_path, preprocess, detector, pixel_format):
    out = tmp_path / "pipeline.json"
    doc = main(["--preprocess", preprocess, "--data", str(data), "--clips", str(tmp_path / "clips"),
                "--weights", str(tmp_path / "random.pt"), "--sizes", "96x64", "--seconds", "0.8",
                "--batch-sizes", *map(str, BATCHES), "--imgsz", "64",
                "--detect-frames", str(DETECT_FRAMES), "--ultra-frames", str(ULTRA_FRAMES),
                "--rss-seconds", "0.4", "0.8", "--rss-size", "64x48", "--repeats", str(REPEATS),
                "--detect-seconds", "0.01", "--min-seconds", "0.01", "--many-jobs", "2",
                "--out", str(out)])
    assert json.loads(out.read_text()) == doc
    assert doc["command"].startswith("python -m benchmarks.bench_pipeline")
    assert (doc["device"], doc["imgsz"], doc["batch_sizes"]) == ("cpu", 64, list(BATCHES))
    assert doc["git"]["commit"] and all(p.startswith(("trackannot/", "kernels/"))
                                        for p in doc["git"]["uncommitted"])
    res = doc["results"]
    assert (res["detector"], res["pixel_format"]) == (detector, pixel_format)
    assert res["rounds_done"] == REPEATS
    clips = {c["name"]: c for c in res["clips"]}
    generated = [c for c in res["clips"] if c["generated"]]
    assert clips["tiny"]["frames"] == SOURCE_FRAMES and not clips["tiny"]["generated"]
    # 0.8 s: the 6 source frames, then up to 2 again (`make_clip` ends the last pass early where
    # a B-frame would leave a gap)
    assert [(c["width"], c["height"]) for c in generated] == [(96, 64)]
    assert SOURCE_FRAMES < generated[0]["frames"] <= 8

    rows = {(r["clip"], r["stage"], r["batch_size"]): r for r in res["stages"]}
    lap = importlib.util.find_spec("lap") is not None
    expected = {(n, s, b) for n in clips for s in ("decode", "detect", "e2e") for b in BATCHES}
    expected |= {(n, s, None) for n in clips for s in ("track", "store")}
    expected |= {("real boxes", s, None) for s in ("track", "store")}
    expected |= {(n, "ultralytics", None) for n in clips} if lap else set()
    expected |= {(c["name"], "e2e x2", max(BATCHES)) for c in generated}  # 2 copies, 2 in flight
    assert set(rows) == expected
    for (name, stage, b), row in rows.items():
        assert len(row["fps_runs"]) == REPEATS and row["fps"] > 0, (name, stage, b)
        assert row["fps"] == pytest.approx(float(np.median(row["fps_runs"])))
    for c in generated:
        assert rows[(c["name"], "e2e x2", max(BATCHES))]["frames"] == 2 * c["frames"]
    for name, clip in clips.items():
        for b in BATCHES:
            assert rows[(name, "e2e", b)]["frames"] == clip["frames"]
            assert rows[(name, "decode", b)]["frames"] == clip["frames"]
            passes, rest = divmod(rows[(name, "detect", b)]["frames"],
                                  min(clip["frames"], max(b, DETECT_FRAMES)))
            assert passes >= 1 and rest == 0  # whole passes over the clip's first frames
        if lap:  # frames after the first (its model setup is not timed)
            assert rows[(name, "ultralytics", None)]["frames"] == ULTRA_FRAMES - 1
    assert rows[("real boxes", "track", None)]["frames"] % 5 == 0  # whole passes over 5 frames

    ratios = {(r["clip"], r["batch_size"], r.get("stage", "e2e")): r for r in res["ratios"]}
    assert set(ratios) == {(n, b, "e2e") for n in clips for b in BATCHES} | {
        (c["name"], max(BATCHES), "e2e x2") for c in generated}
    for (name, b, stage), r in ratios.items():
        e2e = rows[(name, stage, b)]["fps"]
        assert r["e2e_over_detect"] == pytest.approx(e2e / rows[(name, "detect", b)]["fps"])
        if lap:
            ultra = rows[(name, "ultralytics", None)]["fps"]
            assert r["e2e_over_ultralytics"] == pytest.approx(e2e / ultra)
        else:
            assert r["e2e_over_ultralytics"] is None
    assert bool(res["notes"]) != lap  # a missing lap is said, not silently dropped

    short, long = res["rss"]
    assert short["frames"] == 4 and SOURCE_FRAMES < long["frames"] <= 8
    for r in res["rss"]:
        assert 0 < r["setup_rss_mib"] <= r["peak_rss_mib"]
        assert r["run_peak_rss_mib"] is None or r["run_peak_rss_mib"] <= r["peak_rss_mib"]
    assert res["rss_long_over_short"]["process_peak"] == pytest.approx(
        long["peak_rss_mib"] / short["peak_rss_mib"])
