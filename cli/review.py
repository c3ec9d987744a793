"""CLI: `trackannot review`, a ranked review queue of a stored video and its task files."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import click

from trackannot.cli.options import STORE, library_errors, lock_timeout_option, resolve_config

if TYPE_CHECKING:
    from trackannot.review import ReviewQueue

__all__ = ["review"]


@click.command("review")
@click.argument("store", type=STORE)
@click.option("--budget", required=True, type=int,
              help="Frames (--order frames) or keyframe items (--order keyframes) to review in "
              "this round.")
@click.option("--order", type=click.Choice(["frames", "keyframes"]), default="frames",
              show_default=True,
              help="frames: whole frames, every box of each: first an even coverage skeleton, "
              "about one look every review.anchor_frames (default 5) frames, coarse to fine, then "
              "the frames with the most expected error runs; keyframes: one box per item, "
              "the (track, frame) keyframes that would change their track most per second. Both "
              "rank in possible missed objects (detections no track explains) and probably "
              "missing boxes; in frames order they are shown when their probability is at least "
              "review.frames_candidate_min_p / review.frames_missing_min_p (default 0.27; where "
              "propagation stopped at a conflict or a cut, always).")
@click.option("--video", help="Video group to review (default: the only one).")
@click.option("--mode", type=click.Choice(["fast", "strict"]), default=None,
              help="fast: ranked frames only; strict: also random spot checks of confident "
              "frames (review.spot_check_rate). Default: review.mode of the config.")
@click.option("--config", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="YAML config (see configs/default.yaml, section review).")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Override one setting, e.g. --set review.honeypot_rate=0.05 (repeatable).")
@click.option("-o", "--output", "--out-dir", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("."), show_default="current directory",
              help="Directory for the task files.")
@click.option("--no-honeypots", is_flag=True, help="Queue no honeypots this round.")
@click.option("--check-min-risk", type=click.FloatRange(0.0, 1.0), default=None, metavar="R",
              help="The team's check policy: reviewers check box items of risk >= R and leave "
              "the others, which show as 'low risk, not asked' (left unchanged they are no "
              "answer). Honeypots and spot checks then look like asked items. 0: every box. "
              "Default: review.check_min_risk of the config (0).")
@lock_timeout_option
def review(store: Path, budget: int, order: str, video: str | None, mode: str | None,
           config: Path | None, sets: tuple[str, ...], out_dir: Path, no_honeypots: bool,
           check_min_risk: float | None, lock_timeout: float) -> None:
    """Write a ranked review queue of the current annotation in STORE, and its task files.

    \b
    The active loop:
      1. trackannot review out.zarr --budget 20        -> queue q0000-..., task files
      2. reviewers answer the items (accept / adjust / absent) in answers.jsonl;
         a "possible missed object" item: accept (or adjust) creates the object,
         absent rejects it (it is not asked again)
      3. trackannot correct out.zarr answers.jsonl --queue q0000-...
         (applies the batch; boxes between the new keyframes are re-interpolated)
      4. trackannot review out.zarr --budget 20        -> re-ranked: the next frames to check
    The frames order first spreads its looks evenly, about one every review.anchor_frames frames
    (default 5; earlier keyframes count), coarse to fine, then picks the riskiest frames;
    --set review.anchor_frames=0 ranks by risk alone.
    A new queue supersedes the open one; answers to a superseded or stale queue are refused.

    --order keyframes proposes single (track, frame) keyframes instead of whole frames, ranked
    by the expected change of the track per second of review (VATIC's criterion).

    Files: DIR/<video>.<queue>.csv and .json (task list), .cvat.xml (CVAT for images 1.1) and
    .labelstudio.json (Label Studio tasks, one per frame). A small share of the items are
    honeypots (boxes moved off a known truth, review.honeypot_rate) that measure whether
    reviewers look; they are not marked in the files.

    With --check-min-risk R reviewers check only the boxes of risk >= R (on KITTI Car 0.8
    halved the seconds to 95% box accuracy, at a lower HOTA; on footage whose pre-labels are
    often wrong it pays only if reviewers key an object along where the engine did not carry
    the box they drew: benchmarks/RESULTS.md). Honeypots are then among the asked items and
    show an asked item's score, so reviewers who follow the policy still meet them.
    """
    from trackannot.session import VideoSession

    if budget < 1:
        unit = "frame" if order == "frames" else "item"
        raise click.BadParameter(f"--budget must be >= 1 {unit}", param_hint="--budget")
    with library_errors():
        cfg = resolve_config(config, sets, **{"review.mode": mode,
                                              "review.check_min_risk": check_min_risk})
        session = VideoSession.open(store, video, lock_timeout=lock_timeout)
        if order == "frames" and budget > session.num_frames:
            raise click.UsageError(f"--budget {budget} is more than the video has: the video "
                                   f"has {session.num_frames} frames")
        round_ = session.review(budget, cfg, honeypots=not no_honeypots, order=order)
        paths = session.write_review_tasks(out_dir, round_)
    _echo_queue(session.key, round_.queue, round_.frames_with_boxes, budget, paths)


def _echo_queue(video: str, queue: ReviewQueue, eligible: int, budget: int,
                paths: Sequence[Path]) -> None:
    import numpy as np

    from trackannot.export.review_tasks import NOT_ASKED_LABEL, item_reason
    from trackannot.review import ItemKind

    spot = len(np.unique(queue.frame[queue.kind == ItemKind.SPOT_CHECK]))
    honey = int((queue.kind == ItemKind.HONEYPOT).sum())
    missed = int((queue.kind == ItemKind.CANDIDATE).sum())
    proposed = int((queue.kind == ItemKind.PROPOSAL).sum())
    spots = f"{spot} spot-check frames" if queue.order == "frames" else \
        f"{int((queue.kind == ItemKind.SPOT_CHECK).sum())} spot checks"
    click.echo(f"{video}: queue {queue.queue_id} ({queue.mode}): {len(queue.frames)} frames, "
               f"{len(queue)} items, {spots}, {honey} honeypots")
    click.echo(f"{queue.order} order: {missed} possible missed objects, {proposed} keyframe "
               "proposals")
    if queue.order == "frames" and budget > len(queue.frames):
        click.echo(f"note: only {len(queue.frames)} frames have boxes ({eligible}) or other items "
                   "to show (probably missing boxes, possible missed objects); all of them are "
                   "queued")
    asked = queue.asked()
    if queue.check_min_risk > 0:
        click.echo(f"check policy: box items of risk >= {queue.check_min_risk:g} are asked; "
                   f"{int((~asked).sum())} of {len(queue)} items show as '{NOT_ASKED_LABEL}' "
                   "(left unchanged they are no answer)")
    click.echo("top items (item, frame, track, reason, score):")
    for i in range(min(len(queue), 10)):
        reason = item_reason(queue, i, asked)
        click.echo(f"  {int(queue.item[i]):5d}  frame {int(queue.frame[i]):6d}  track "
                   f"{int(queue.track_id[i]):5d}  {reason:<16} {float(queue.score[i]):.3f}")
    for path in paths:
        click.echo(f"wrote {path}")
    click.echo(f"next: answer the items, then `trackannot correct STORE answers.jsonl --queue "
               f"{queue.queue_id}`")
