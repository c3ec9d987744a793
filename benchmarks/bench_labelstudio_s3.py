"""The Label Studio ML backend's /predict on a store on S3 against the same store in a local
directory (issue 14: the annotation backend serving what workers wrote to object storage).

One video, PETS09-S2L1 (MOT15: 795 frames, its official detections over its seqinfo.ini, no
pixels), is tracked once into a local directory with the default store settings; the store is
then copied object for object into a bucket of moto's S3 server (`python -m moto.server` on
loopback, as `benchmarks.bench_object_store` and the tests start it), so both hold the same
bytes. For each store, interleaved, `--repeats` times:

* **cold**: a new `LabelStudioBackend` (what `trackannot serve labelstudio` builds; on S3 it
  first checks the bucket and credentials) and its first POST /predict for the video's task:
  the store opened, the video's boxes read, sparse keyframes computed;
* **warm**: the next `--calls` POST /predict of the same backend (sessions kept; each call
  reads the video's revision and boxes again, as a reviewer's edit may have landed).

Calls go through Starlette's TestClient, in-process: no HTTP socket, so the figures are the
backend's own time. moto is an in-process Python emulator (a few ms per request, no network):
the S3 figures say what the object-store path costs against this server, not against AWS.

Writes benchmarks/results/labelstudio_s3.json. Run from the repository root:

    python -m benchmarks.bench_labelstudio_s3
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

os.environ.setdefault("YOLO_OFFLINE", "1")

from benchmarks._common import result_doc, write_json  # noqa: E402

OUT = Path(__file__).parent / "results" / "labelstudio_s3.json"
DATA = Path(os.environ.get("TRACKANNOT_DATA", Path(__file__).resolve().parents[2] / "shared"
                           / "data"))
SEQ = ("MOT15", "PETS09-S2L1")
FRAMERATE = 7.0  # its seqinfo.ini's frameRate: Label Studio frames are the video's


def _track(seq: Path, store: Path) -> None:
    from trackannot.config import PipelineConfig
    from trackannot.detect.from_file import FileDetector
    from trackannot.pipeline import track_videos

    cfg = PipelineConfig()
    dets = seq / "det" / "det.txt"
    detector = FileDetector(dets, cfg.detect)
    summaries = track_videos([seq / "seqinfo.ini"], store, cfg, detector,
                             detector_info={"detections": str(dets)})
    assert all(s.ok for s in summaries), summaries


def _upload(local: Path, bucket: str, prefix: str) -> str:
    import boto3

    client = boto3.client("s3")
    files = {p.relative_to(local).as_posix(): p for p in local.rglob("*") if p.is_file()}

    def put(rel: str) -> None:
        client.put_object(Bucket=bucket, Key=f"{prefix}/{rel}", Body=files[rel].read_bytes())

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, [r for r in files if not r.startswith(".trackannot/locks/")]))
    return f"s3://{bucket}/{prefix}"


def _serve(store: str | Path, calls: int) -> tuple[float, list[float], int]:
    """(cold s, warm s per call, tracks predicted) of one backend over `store`."""
    from starlette.testclient import TestClient

    from tests.integrations._labelstudio import video_label_config
    from trackannot.integrations.labelstudio_backend import LabelStudioBackend, create_app

    body = {"tasks": [{"id": 1, "data": {"video": f"/data/local-files/?d=v/{SEQ[1]}.mp4"}}],
            "project": "1.1", "label_config": video_label_config(FRAMERATE, ("class0",))}
    t0 = time.perf_counter()
    with TestClient(create_app(LabelStudioBackend(store))) as client:
        answer = client.post("/predict", json=body)
        cold = time.perf_counter() - t0
        assert answer.status_code == 200, answer.text
        tracks = len(answer.json()["results"][0][0]["result"])
        warm = []
        for _ in range(calls):
            t0 = time.perf_counter()
            again = client.post("/predict", json=body)
            warm.append(time.perf_counter() - t0)
            assert again.json()["results"] == answer.json()["results"]
    return cold, warm, tracks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="backends per store")
    parser.add_argument("--calls", type=int, default=5, help="warm /predict calls per backend")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)

    from tests.objectstore.conftest import s3_env, start_moto, stop

    proc, endpoint = start_moto()
    try:
        env = s3_env(endpoint)
        for name in ("TRACKANNOT_LEASE_S", "TRACKANNOT_LEASE_SKEW_S"):
            env.pop(name)  # the default lease, as a real server
        os.environ.update(env)
        import boto3

        bucket = f"bench-{uuid.uuid4().hex[:8]}"
        boto3.client("s3").create_bucket(Bucket=bucket)
        with tempfile.TemporaryDirectory(prefix="bench_labelstudio_s3_") as tmp:
            local = Path(tmp) / "out.zarr"
            _track(DATA.joinpath(*SEQ), local)
            stores: dict[str, str | Path] = {"local": local,
                                             "s3": _upload(local, bucket, "team/out.zarr")}
            _serve(local, 1)  # imports and compiled kernels loaded before timing
            cold: dict[str, list[float]] = {"local": [], "s3": []}
            warm: dict[str, list[float]] = {"local": [], "s3": []}
            tracks = {}
            for i in range(args.repeats):
                for name in (("local", "s3") if i % 2 == 0 else ("s3", "local")):
                    c, w, tracks[name] = _serve(stores[name], args.calls)
                    cold[name].append(c)
                    warm[name].extend(w)
                    print(f"{name} #{i}: cold {c:.3f} s, warm median "
                          f"{statistics.median(w):.3f} s", file=sys.stderr)
    finally:
        stop(proc)
    assert tracks["local"] == tracks["s3"], tracks
    cmed = {k: statistics.median(v) for k, v in cold.items()}
    wmed = {k: statistics.median(v) for k, v in warm.items()}
    results = {
        "sequence": "/".join(SEQ), "frames": 795, "tracks_predicted": tracks["s3"],
        "cold_s": cold, "cold_median_s": cmed,
        "cold_ratio_s3_over_local": cmed["s3"] / cmed["local"],
        "warm_s": warm, "warm_median_s": wmed,
        "warm_ratio_s3_over_local": wmed["s3"] / wmed["local"],
        "server": "moto 5.2.1 server mode on 127.0.0.1 (in-process Python S3 emulator)",
    }
    write_json(args.out, result_doc("benchmarks.bench_labelstudio_s3", results,
                                    repeats=args.repeats, calls=args.calls))
    print(f"| /predict | local dir | moto S3 | s3/local |\n|---|---|---|---|\n"
          f"| cold (new backend, first call), median of {args.repeats} | {cmed['local']:.3f} s"
          f" | {cmed['s3']:.3f} s | {results['cold_ratio_s3_over_local']:.2f}x |\n"
          f"| warm, median of {args.repeats * args.calls} | {wmed['local']:.3f} s | "
          f"{wmed['s3']:.3f} s | {results['warm_ratio_s3_over_local']:.2f}x |\n"
          f"{tracks['s3']} tracks predicted")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
