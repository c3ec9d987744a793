"""`trackannot serve labelstudio`: the Label Studio ML backend over a store (HTTP, uvicorn)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from trackannot.cli.options import STORE_OUT, library_errors, lock_timeout_option

__all__ = ["serve"]


@click.group()
def serve() -> None:
    """Serve a store to an annotation tool over HTTP."""


@serve.command()
@click.argument("store", type=STORE_OUT)
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (0.0.0.0: every interface; Label Studio in Docker "
              "reaches the host through it).")
@click.option("--port", type=click.IntRange(0, 65535), default=9090, show_default=True,
              help="Port to listen on (Label Studio's ML backends default to 9090).")
@click.option("--weights", help="YOLO weights for videos the store lacks (tracked in the "
              "background when Label Studio first asks for them).")
@click.option("--detections-dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Precomputed detections instead of a model: DIR/<video>.txt or "
              "DIR/<video>/det/det.txt (MOTChallenge, with DIR/<video>/seqinfo.ini to scale).")
@click.option("--config", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="YAML config for those runs (see configs/default.yaml).")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Override one setting of those runs (repeatable).")
@click.option("--local-files-root", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=lambda: os.environ.get("LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT"),
              help="Label Studio's LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT, where its "
              "/data/local-files/?d=... paths start (default: that variable).")
@click.option("--download-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Where videos given by URL or uploaded to Label Studio are downloaded "
              "(default: STORE.videos beside a local store; for an s3:// store, this "
              "machine's cache: $XDG_CACHE_HOME/trackannot/s3/BUCKET/PREFIX.videos, "
              "~/.cache when unset).")
@click.option("--label-studio-url", help="Label Studio's URL (default: what it sends to "
              "/setup), to download uploads and read back predictions and user emails.")
@click.option("--label-studio-token", default=lambda: os.environ.get("LABEL_STUDIO_API_KEY"),
              help="A Label Studio API token (legacy or personal access token; default: "
              "$LABEL_STUDIO_API_KEY, else the one Label Studio sends to /setup).")
@click.option("--iou-tolerance", type=click.FloatRange(0.0, 1.0, min_open=True), default=0.9,
              show_default=True, help="Sparse keyframes: keep the fewest whose linear "
              "interpolation stays at this IoU with every box.")
@lock_timeout_option
def labelstudio(store: Path | str, host: str, port: int, weights: str | None,
                detections_dir: Path | None, config: Path | None, sets: tuple[str, ...],
                local_files_root: Path | None, download_dir: Path | None,
                label_studio_url: str | None, label_studio_token: str | None,
                iou_tolerance: float, lock_timeout: float) -> None:
    """Serve STORE as a Label Studio ML backend (GET /health, POST /setup, /predict, /webhook).

    \b
    In Label Studio: project > Settings > Model > Connect Model, URL
    http://HOST:PORT. Label Studio then asks for predictions (the Data
    Manager's "Retrieve Predictions", or on opening a task) and sends every
    submitted or updated annotation to /webhook, which records it as one
    corrections batch (author: the Label Studio user). Videos STORE lacks
    are tracked in the background with --weights or --detections-dir; their
    tasks get predictions once tracking completes. GET /status shows progress.

    \b
    STORE is a directory or s3://BUCKET/PREFIX (credentials and endpoint
    from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL, ...):
    workers track into object storage and this server reads from it and
    records webhooks there, under each video's lease. A missing bucket or
    refused credentials stop it before it serves.
    """
    try:
        import uvicorn

        from trackannot.integrations.labelstudio_backend import LabelStudioBackend, create_app
        from trackannot.integrations.tracking_jobs import TrackingJobs
    except ImportError as err:
        raise click.ClickException(f"{err}; install the server: pip install "
                                   "'trackannot[serve]'") from err
    if weights is not None and detections_dir is not None:
        raise click.UsageError("--weights and --detections-dir exclude each other")
    track_args = [*(["--weights", weights] if weights else []),
                  *(["--config", str(config)] if config else []),
                  *(a for s in sets for a in ("--set", s))]
    jobs = TrackingJobs(store, track_args, detections_dir=detections_dir)
    with library_errors():  # an s3:// store: a missing bucket or refused key, before serving
        backend = LabelStudioBackend(store, jobs=jobs, local_root=local_files_root,
                                     download_dir=download_dir, iou_tolerance=iou_tolerance,
                                     label_studio_url=label_studio_url,
                                     label_studio_token=label_studio_token,
                                     lock_timeout=lock_timeout)
    click.echo(f"trackannot: Label Studio ML backend for {backend.store} on "
               f"http://{host}:{port}; videos given by URL are downloaded to "
               f"{backend.download_dir}")
    uvicorn.run(create_app(backend), host=host, port=port, log_level="info")
