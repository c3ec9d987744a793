"""Object-storage write overhead per chunk against a local directory, same run (issue 14).

The same `track_videos` run (detections from a MOTChallenge file over its seqinfo.ini: no
decoding, no model, so the store's writes are a large share of the time) goes into a fresh local
directory and into a fresh prefix of an S3-compatible server, interleaved, `--repeats` times
each; the medians give the write overhead per chunk written ((s3 - local) / chunks, and the
ratio of the wall times). Then the read path of an annotation backend: `VideoSession.open` and
`boxes()` of the whole video, from either store, interleaved, medians.

The server is moto's S3 server mode (`python -m moto.server`, started here on loopback), an
in-process Python emulator: its latency per request (a few ms of Python per PUT, no network, no
disks replicated) is unlike real S3's (tens of ms per PUT from outside the region, fewer inside),
so the per-chunk figure is what the object-store path costs on top of the local one against this
server, not a prediction for AWS. MinIO's server is not on the package registries used here.

Writes benchmarks/results/object_store.json. Run from the repository root:

    python -m benchmarks.bench_object_store
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

os.environ.setdefault("YOLO_OFFLINE", "1")

from benchmarks._common import result_doc, write_json  # noqa: E402

OUT = Path(__file__).parent / "results" / "object_store.json"
DATA = Path(os.environ.get("TRACKANNOT_DATA", Path(__file__).resolve().parents[2] / "shared"
                           / "data"))
SEQ = ("MOT17", "MOT17-04-SDP")  # 1050 frames; its gt.txt (108005 boxes) as detections


def _run(seq: Path, dets: Path, store: str | Path, chunk_rows: int, chunk_frames: int) -> float:
    from trackannot.config import PipelineConfig, StoreConfig
    from trackannot.detect.from_file import FileDetector
    from trackannot.pipeline import track_videos

    cfg = PipelineConfig()
    cfg = replace(cfg, store=StoreConfig(chunk_rows=chunk_rows, chunk_frames=chunk_frames))
    detector = FileDetector(dets, cfg.detect)
    t0 = time.perf_counter()
    summaries = track_videos([seq / "seqinfo.ini"], store, cfg, detector,
                             detector_info={"detections": str(dets)})
    wall = time.perf_counter() - t0
    assert all(s.ok for s in summaries), summaries
    return wall


def _chunks_local(store: Path) -> int:
    return sum(1 for p in store.rglob("*") if p.is_file() and "/c/" in p.as_posix())


def _chunks_s3(url: str) -> int:
    import obstore

    from trackannot.store._location import remote

    client = remote(url).client()  # type: ignore[union-attr]
    return sum(1 for batch in obstore.list(client) for o in batch if "/c/" in o["path"])


class _Requests:
    """Counts the object-store requests zarr makes (obstore's async calls), by kind."""

    KINDS = ("put_async", "get_async", "get_range_async", "get_ranges_async", "head_async",
             "delete_async", "list_with_delimiter_async")

    def __init__(self) -> None:
        import obstore

        self.counts = dict.fromkeys(self.KINDS, 0)
        self.active = False
        for kind in self.KINDS:
            real = getattr(obstore, kind)

            def counted(*a: Any, _real: Any = real, _kind: str = kind, **k: Any) -> Any:
                if self.active:
                    self.counts[_kind] += 1
                return _real(*a, **k)

            setattr(obstore, kind, counted)


def _read(store: str | Path) -> float:
    from trackannot.session import VideoSession

    t0 = time.perf_counter()
    session = VideoSession.open(store, mode="r")
    boxes = session.boxes()
    wall = time.perf_counter() - t0
    assert len(boxes) > 0
    return wall


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs into each store")
    parser.add_argument("--read-repeats", type=int, default=5)
    parser.add_argument("--chunk-rows", type=int, default=4096)
    parser.add_argument("--chunk-frames", type=int, default=256)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)

    from tests.objectstore.conftest import s3_env, start_moto, stop

    seq = DATA.joinpath(*SEQ)
    dets = seq / "gt" / "gt.txt"
    proc, endpoint = start_moto()
    try:
        env = s3_env(endpoint)
        for name in ("TRACKANNOT_LEASE_S", "TRACKANNOT_LEASE_SKEW_S"):
            env.pop(name)  # the default lease, as a real run
        os.environ.update(env)
        import boto3

        bucket = f"bench-{uuid.uuid4().hex[:8]}"
        boto3.client("s3").create_bucket(Bucket=bucket)
        with tempfile.TemporaryDirectory(prefix="bench_object_store_") as tmp:
            write: dict[str, list[float]] = {"local": [], "s3": []}
            chunks: dict[str, int] = {}
            last: dict[str, Any] = {}
            _run(seq, dets, Path(tmp) / "warm.zarr", args.chunk_rows, args.chunk_frames)  # JIT
            requests = _Requests()
            for i in range(args.repeats):
                local = Path(tmp) / f"run{i}.zarr"
                url = f"s3://{bucket}/run{i}/out.zarr"
                order = [("local", local), ("s3", url)] if i % 2 == 0 else \
                    [("s3", url), ("local", local)]
                for name, store in order:
                    requests.active = name == "s3" and i == 0
                    write[name].append(_run(seq, dets, store, args.chunk_rows,
                                            args.chunk_frames))
                    last[name] = store
                    print(f"write {name} #{i}: {write[name][-1]:.2f} s", file=sys.stderr)
            requests.active = False
            chunks["local"] = _chunks_local(last["local"])
            chunks["s3"] = _chunks_s3(last["s3"])
            read: dict[str, list[float]] = {"local": [], "s3": []}
            for i in range(args.read_repeats):
                for name in (("local", "s3") if i % 2 == 0 else ("s3", "local")):
                    read[name].append(_read(last[name]))
        from trackannot.store import open_store

        video = open_store(last["s3"])[SEQ[1]]
        frames, rows = video.committed()
    finally:
        stop(proc)
    med = {k: statistics.median(v) for k, v in write.items()}
    rmed = {k: statistics.median(v) for k, v in read.items()}
    n = chunks["s3"]
    results = {
        "sequence": "/".join(SEQ), "frames": frames, "rows": rows,
        "chunk_rows": args.chunk_rows, "chunk_frames": args.chunk_frames,
        "chunks_written": chunks,
        "write_s": write, "write_median_s": med,
        "write_overhead_per_chunk_s": (med["s3"] - med["local"]) / n,
        "write_ratio_s3_over_local": med["s3"] / med["local"],
        "s3_requests_of_one_run": requests.counts,
        "s3_requests_per_chunk": sum(requests.counts.values()) / n,
        "read_s": read, "read_median_s": rmed,
        "read_ratio_s3_over_local": rmed["s3"] / rmed["local"],
        "server": "moto 5.2.1 server mode on 127.0.0.1 (in-process Python S3 emulator)",
    }
    doc = result_doc("benchmarks.bench_object_store", results, repeats=args.repeats,
                     read_repeats=args.read_repeats)
    write_json(args.out, doc)
    print(f"| store | write median s | chunks | read median s |\n|---|---|---|---|\n"
          f"| local dir | {med['local']:.2f} | {chunks['local']} | {rmed['local']:.3f} |\n"
          f"| moto S3 | {med['s3']:.2f} | {chunks['s3']} | {rmed['s3']:.3f} |\n"
          f"write overhead per chunk: {results['write_overhead_per_chunk_s'] * 1e3:.2f} ms "
          f"(s3/local {results['write_ratio_s3_over_local']:.2f}x, "
          f"{results['s3_requests_per_chunk']:.2f} requests per chunk: "
          f"{requests.counts}); read s3/local "
          f"{results['read_ratio_s3_over_local']:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
