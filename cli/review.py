"""CLI: `trackannot review`, a ranked review queue of a stored video and its task files."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import click
import numpy as np

from trackannot.cli.options import lock_timeout_option

if TYPE_CHECKING:
    from trackannot.config import PipelineConfig
    from trackannot.export.meta import VideoMeta
    from trackannot.review import ReviewQueue
    from trackannot.store import TrackStore, VideoResult

__all__ = ["review"]


@click.command("review")
@click.argument("store", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--budget", required=True, type=int, help="Frames to review in this round.")
@click.option("--video", help="Video group to review (default: the only one).")
@click.option("--mode", type=click.Choice(["fast", "strict"]), default=None,
              help="fast: riskiest frames only; strict: also random spot checks of confident "
              "frames (review.spot_check_rate). Default: review.mode of the config.")
@click.option("--config", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="YAML config (see configs/default.yaml, section review).")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Override one setting, e.g. --set review.honeypot_rate=0.05 (repeatable).")
@click.option("-o", "--output", "--out-dir", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("."), show_default="current directory",
              help="Directory for the task files.")
@click.option("--no-honeypots", is_flag=True, help="Queue no honeypots this round.")
@lock_timeout_option
def review(store: Path, budget: int, video: str | None, mode: str | None, config: Path | None,
           sets: tuple[str, ...], out_dir: Path, no_honeypots: bool, lock_timeout: float) -> None:
    """Write a ranked review queue of the current annotation in STORE, and its task files.

    \b
    The active loop:
      1. trackannot review out.zarr --budget 20        -> queue q0000-..., task files
      2. reviewers answer the items (accept / adjust / absent) in answers.jsonl
      3. trackannot correct out.zarr answers.jsonl --queue q0000-...
         (applies the batch; boxes between the new keyframes are re-interpolated)
      4. trackannot review out.zarr --budget 20        -> re-ranked: the next frames to check
    A new queue supersedes the open one; answers to a superseded or stale queue are refused.

    Files: DIR/<video>.<queue>.csv and .json (task list), .cvat.xml (CVAT for images 1.1) and
    .labelstudio.json (Label Studio tasks, one per frame). A small share of the items are
    honeypots (boxes moved off a known truth, review.honeypot_rate) that measure whether
    reviewers look; they are not marked in the files.
    """
    from trackannot.cli.main import _errors, _resolve_config

    if budget < 1:
        raise click.BadParameter("--budget must be >= 1 frame", param_hint="--budget")
    with _errors():
        cfg = _resolve_config(config, sets, **{"review.mode": mode})
        opened, key = _pick_video(store, video)
        # built from the state and stored under the video's lock: no batch lands in between
        with opened.writer(key, "trackannot review", lock_timeout) as result:
            queue, meta, eligible = _build_review(result, budget, cfg, not no_honeypots)
        from trackannot.export.review_tasks import write_review_tasks

        paths = write_review_tasks(out_dir, queue, meta)
    _echo_queue(key, queue, eligible, budget, paths)


def _pick_video(store: Path, video: str | None) -> tuple[TrackStore, str]:
    """The store (opened for writing) and the key of its video `video`, or of its only one."""
    from trackannot.store import open_store

    opened = open_store(store, mode="a")
    if video is None:
        if len(opened.videos) != 1:
            raise click.UsageError(f"{store} holds {len(opened.videos)} videos "
                                   f"({', '.join(opened.videos)}); choose one with --video")
        video = opened.videos[0]
    opened[video]  # no such video: say so before taking its lock
    return opened, video


def _build_review(result: VideoResult, budget: int, cfg: PipelineConfig,
                  honeypots: bool) -> tuple[ReviewQueue, VideoMeta, int]:
    """Build the queue from the current state and store it; (queue, meta, frames with boxes)."""
    import hashlib
    import json

    from trackannot.annotate import load_state, video_meta
    from trackannot.config import config_to_dict
    from trackannot.review import build_queue

    num_frames = result.num_frames
    if budget > num_frames:
        raise click.UsageError(f"--budget {budget} is more than the video has: the video has "
                               f"{num_frames} frames")
    state = load_state(result)
    boxes = state.boxes()
    if not len(boxes):
        raise click.ClickException(f"{result.key}: the annotation has no boxes to review")
    meta = video_meta(result)
    based_on = result.log_info().rows
    settings = config_to_dict(cfg.review) | {"honeypots": honeypots, "budget": budget}
    number = len(result.queue_records())
    digest = hashlib.sha256(json.dumps([number, based_on, settings], sort_keys=True).encode())
    queue_id = f"q{number:04d}-{digest.hexdigest()[:8]}"
    queue = build_queue(state, result.read(table="detections"), num_frames, budget, cfg.review,
                        queue_id=queue_id, based_on=based_on, frame_size=(meta.width, meta.height),
                        honeypots=honeypots)
    stored = config_to_dict(cfg.review)
    if not honeypots:
        stored["honeypot_rate"] = 0.0
    result.write_queue(queue, stored)
    return queue, meta, len(np.unique(boxes.frame))


def _echo_queue(video: str, queue: ReviewQueue, eligible: int, budget: int, paths: Sequence[Path]) -> None:
    from trackannot.review import ItemKind
    from trackannot.risk import Reason

    spot = len(np.unique(queue.frame[queue.kind == ItemKind.SPOT_CHECK]))
    honey = int((queue.kind == ItemKind.HONEYPOT).sum())
    click.echo(f"{video}: queue {queue.queue_id} ({queue.mode}): {len(queue.frames)} frames, "
               f"{len(queue)} items, {spot} spot-check frames, {honey} honeypots")
    if budget > eligible:
        click.echo(f"note: only {eligible} frames have boxes; all of them are queued")
    click.echo("top items (item, frame, track, reason, score):")
    for i in range(min(len(queue), 10)):
        click.echo(f"  {int(queue.item[i]):5d}  frame {int(queue.frame[i]):6d}  track "
                   f"{int(queue.track_id[i]):5d}  {Reason(int(queue.reason[i])).label:<16} "
                   f"{float(queue.score[i]):.3f}")
    for path in paths:
        click.echo(f"wrote {path}")
    click.echo(f"next: answer the items, then `trackannot correct STORE answers.jsonl --queue "
               f"{queue.queue_id}`")
