"""`trackannot push TOOL` and `trackannot pull TOOL`: a store's annotation to and from annotation
tools (Label Studio, CVAT; each tool a subcommand over its `trackannot.integrations` module)."""

from __future__ import annotations

import os
from pathlib import Path

import click
from trackannot.cli.options import STORE, library_errors, lock_timeout_option

__all__ = ["pull", "push"]


@click.group()
def push() -> None:
    """Upload a video's current annotation to an annotation tool."""


@click.group()
def pull() -> None:
    """Bring a tool's annotation of a video back as one corrections batch."""


def _labelstudio_options(command):
    command = click.option("--video", help="The store's video (default: its only video).")(command)
    command = click.option(
        "--token", envvar="LABEL_STUDIO_API_KEY", show_envvar=True, required=True,
        help="A Label Studio API token (a legacy token or a personal access token).")(command)
    command = click.option("--project", type=int, help="The task's project (checked).")(command)
    command = click.option("--task", type=int, required=True,
                           help="The Label Studio task of the video.")(command)
    command = click.option("--url", required=True, metavar="URL",
                           help="Label Studio's base URL, e.g. http://localhost:8080.")(command)
    return click.argument(
        "store", type=STORE)(command)


@push.command("labelstudio")
@_labelstudio_options
@click.option("--iou-tolerance", type=click.FloatRange(0.0, 1.0, min_open=True), default=0.9,
              show_default=True, help="Sparse keyframes: keep the fewest keyframes whose linear "
              "interpolation stays at this IoU with every box.")
def push_labelstudio(store: Path, url: str, task: int, project: int | None, token: str,
                     video: str | None, iou_tolerance: float) -> None:
    """Upload the current annotation of a video in STORE as a prediction of a Label Studio task.

    The prediction holds the sparse keyframes (as `export --format labelstudio-predictions`);
    its model version, "trackannot VIDEO rN", records the revision shown, so that `pull`
    applies the annotation made from it against that revision.
    """

    from trackannot.integrations.labelstudio_sync import push_labelstudio as push_

    with library_errors():
        done = push_(store, url, token, task=task, project=project, video=video,
                     iou_tolerance=iou_tolerance)
    click.echo(f"{done.video}: revision {done.revision} pushed to task {done.task_id} (project "
               f"{done.project_id}) as prediction {done.prediction_id}: {done.tracks} tracks, "
               f"{done.keyframes} keyframes, model version {done.model_version!r}")


@pull.command("labelstudio")
@_labelstudio_options
@click.option("--annotation", type=int, help="Which annotation of the task (default: its only "
              "submitted one).")
@lock_timeout_option
def pull_labelstudio(store: Path, url: str, task: int, project: int | None, token: str,
                     video: str | None, annotation: int | None, lock_timeout: float) -> None:
    """Apply a Label Studio task's annotation to a video in STORE as one corrections batch.

    The annotation is the whole annotation of the video (a track it lacks was deleted); it is
    applied against the revision it was made from (see `push labelstudio`): edits to boxes that
    changed since are refused, naming them. The batch's author is the annotator's email.
    """

    from trackannot.integrations.labelstudio_sync import pull_labelstudio as pull_

    with library_errors():
        done = pull_(store, url, token, task=task, project=project, video=video,
                     annotation=annotation, lock_timeout=lock_timeout)
    if done.summary is None:
        click.echo(f"{done.video}: task {done.task_id} annotation {done.annotation_id} changes "
                   "nothing; nothing recorded")
        return
    counts = ", ".join(f"{n} {op}" for op, n in sorted(done.summary.counts.items()))
    click.echo(f"{done.video}: task {done.task_id} annotation {done.annotation_id} by "
               f"{done.author} applied as batch {done.summary.batch} ({counts}); revision "
               f"{done.summary.revision}")


# ------------------------------------------------------------------------------------- CVAT

def _cvat_options(command):
    command = click.option("--video", help="The store's video (default: its only video).")(command)
    command = click.option(
        "--user", envvar="CVAT_USER", show_envvar=True,
        help="A CVAT user name, with the password in CVAT_PASSWORD (instead of --token).")(command)
    command = click.option(
        "--token", envvar="CVAT_ACCESS_TOKEN", show_envvar=True,
        help="A CVAT personal access token.")(command)
    command = click.option("--task", type=int, required=True,
                           help="The CVAT task made from the video.")(command)
    command = click.option("--url", required=True, metavar="URL",
                           help="CVAT's base URL, e.g. https://cvat.example.com.")(command)
    return click.argument(
        "store", type=STORE)(command)


@push.command("cvat")
@_cvat_options
@click.option("--iou-tolerance", type=click.FloatRange(0.0, 1.0, min_open=True), default=0.9,
              show_default=True, help="Sparse keyframes: keep the fewest keyframes whose linear "
              "interpolation stays at this IoU with every box.")
@click.option("--overwrite", is_flag=True, help="Replace annotations the task already holds.")
def push_cvat(store: Path, url: str, task: int, token: str | None, user: str | None,
              video: str | None, iou_tolerance: float, overwrite: bool) -> None:
    """Upload the current annotation of a video in STORE as the tracks of a CVAT task.

    The tracks hold the sparse keyframes (as `export --format cvat`); the task's labels must
    be named as the store's classes. A task that already holds annotations is refused unless
    --overwrite. Prints the revision pushed, for `pull cvat --revision`.
    """
    from trackannot.integrations.cvat_sync import connect, push_cvat as push_

    password = os.environ.get("CVAT_PASSWORD")
    with library_errors(), connect(url, token=token, user=user, password=password) as client:
        done = push_(store, client, task=task, video=video, iou_tolerance=iou_tolerance,
                     overwrite=overwrite)
    replaced = f" (replaced {done.replaced} annotations)" if done.replaced else ""
    click.echo(f"{done.video}: revision {done.revision} pushed to CVAT task {done.task_id}: "
               f"{done.tracks} tracks, {done.keyframes} keyframes{replaced}; pull with "
               f"--revision {done.revision}")


@pull.command("cvat")
@_cvat_options
@click.option("--revision", type=click.IntRange(min=0), help="The revision `push cvat` "
              "printed: edits to boxes changed since are refused. Default: the revision the "
              "last pull from this task left, else the current one.")
@click.option("--author", default=lambda: os.environ.get("USER") or "unknown",
              show_default="$USER", help="Author recorded with the edits.")
@click.option("--dry-run", is_flag=True, help="Check the task's annotations; write nothing.")
@lock_timeout_option
def pull_cvat(store: Path, url: str, task: int, token: str | None, user: str | None,
              video: str | None, revision: int | None, author: str, dry_run: bool,
              lock_timeout: float) -> None:
    """Apply a CVAT task's annotations to a video in STORE as one corrections batch.

    The task's tracks are the whole annotation of the video: they are matched to the store's
    tracks by overlap; a new one is created, a store track CVAT lacks was deleted.
    """
    from trackannot.integrations.cvat_sync import connect, pull_cvat as pull_

    password = os.environ.get("CVAT_PASSWORD")
    with library_errors(), connect(url, token=token, user=user, password=password) as client:
        done = pull_(store, client, task=task, author=author, video=video, revision=revision,
                     lock_timeout=lock_timeout, dry_run=dry_run)
    if done.summary is None:
        click.echo(f"{done.video}: CVAT task {done.task_id} changes nothing; nothing recorded")
        return
    counts = ", ".join(f"{n} {op}" for op, n in sorted(done.summary.counts.items()))
    tracks = f"{done.matched} tracks matched, {done.created} new, {done.deleted} deleted"
    if dry_run:
        click.echo(f"{done.video}: CVAT task {done.task_id} would apply {counts} ({tracks}); "
                   "dry run, nothing written")
        return
    click.echo(f"{done.video}: CVAT task {done.task_id} applied as batch {done.summary.batch} "
               f"({counts}); revision {done.summary.revision} ({tracks})")
