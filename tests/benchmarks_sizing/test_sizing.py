"""The sizing table's arithmetic, on stage figures chosen so every number is known by hand."""

from __future__ import annotations

import pytest

from benchmarks.sizing import s3_s_per_frame, table

# 1 kept frame decodes 3 source frames: 3 / 300 = 10 ms; detect 20 ms; track and store 1 ms each
STAGES = {"batch_size": 8, "decode_fps": 300.0, "detect_fps": 50.0, "e2e_fps": 40.0,
          "track_fps": 1000.0, "store_fps": 1000.0}
NO_RAY = {"per_video_s": 0.0, "start_s": 0.0}


def _table(machines, **kw):
    args = dict(hours=10, sample_fps=10, source_fps=30, video_hours=1, machines=machines,
                stages=STAGES, s3_frame_s=0.0, ray=NO_RAY, gpu_detect_fps=None,
                gpu_cores_factor=8.0)
    args.update(kw)
    return table(**args)


def test_cpu_time_per_frame_adds_the_stages_and_machines_divide_the_videos() -> None:
    doc = _table([1, 2, 3, 20])
    assert doc["frames"] == 360_000 and doc["videos"] == 10
    assert doc["cpu_s_per_frame"] == pytest.approx(0.032)
    by_n = {r["machines"]: r for r in doc["rows"]}
    assert by_n[1]["cpu_wall_h"] == pytest.approx(3.2)  # 360,000 frames x 32 ms
    assert by_n[2]["cpu_wall_h"] == pytest.approx(1.6)
    assert by_n[1]["cpu_bottleneck"] == "detect"
    # 10 videos on 3 machines: 4 rounds, a sixth of the machine time idle
    assert by_n[3]["rounds"] == 4 and by_n[3]["cpu_wall_h"] == pytest.approx(4 * 0.32)
    assert by_n[3]["cpu_bottleneck"] == "video count"
    assert by_n[20]["rounds"] == 1 and by_n[20]["idle_share"] == pytest.approx(0.5)


def test_model_check_predicts_the_rate_at_the_source_frame_rate() -> None:
    doc = _table([1])
    # every decoded frame kept: 1/300 + 1/50 + 1/1000 + 1/1000 s a frame
    assert doc["model_check"]["predicted_e2e_fps_at_source_rate"] == pytest.approx(
        1 / (1 / 300 + 1 / 50 + 2 / 1000), abs=0.05)


def test_gpu_rows_are_bound_by_the_slower_of_decoding_and_the_detector() -> None:
    # decoding on 8x the cores: 300 * 8 / 3 = 800 kept frames/s
    bound = _table([1])["rows"][0]
    assert bound["gpu_bottleneck"] == "decode (CPU)"
    assert bound["gpu_wall_h"] == pytest.approx(360_000 / 800 / 3600)
    slow = _table([1], gpu_detect_fps=400.0)["rows"][0]
    assert slow["gpu_bottleneck"] == "detect (GPU)"
    assert slow["gpu_wall_h"] == pytest.approx(360_000 / 400 / 3600)


def test_ray_overheads_are_added_per_video_and_once_for_the_cluster() -> None:
    plain = _table([1])["rows"][0]["cpu_wall_h"]
    ray = _table([1], ray={"per_video_s": 36.0, "start_s": 360.0})["rows"][0]["cpu_wall_h"]
    assert ray - plain == pytest.approx((10 * 36 + 360) / 3600)


def test_object_storage_cost_scales_chunks_to_the_default_chunk_size() -> None:
    doc = {"results": {"chunks_written": {"s3": 100}, "frames": 1000, "chunk_rows": 4096,
                       "write_overhead_per_chunk_s": 0.016}}
    # 0.1 chunk a frame at 4096 rows -> 1/16 of that at 65536 rows, 16 ms each
    assert s3_s_per_frame(doc) == pytest.approx(0.016 * 0.1 / 16)
    assert s3_s_per_frame(None) == 0.0
