"""CLI: `trackannot report`, a dashboard of a store (`trackannot.report`)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from trackannot.cli.options import STORE, library_errors

__all__ = ["report"]


@click.command("report")
@click.argument("store", type=STORE)
@click.option("-o", "--output", "out_dir", required=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write the dashboard into (created; pages written there before "
              "are replaced). Open OUTPUT/index.html.")
@click.option("--gt", "gts", multiple=True, metavar="[KEY=]PATH",
              help="Ground truth to score the pre-labels and the corrected annotation against "
              "(HOTA, MOTA, IDF1): a MOTChallenge gt.txt or a KITTI tracking label file (told "
              "apart by content); PATH for a store of one video, KEY=PATH per video otherwise "
              "(repeatable).")
@click.option("--gt-class", "gt_class", metavar="car|pedestrian[=ID,...]",
              help="With KITTI labels: the class scored (TrackEval's KITTI rules), and optionally "
              "the store's class ids that stand for it (car=2). Default: the detector's class "
              "named car or person/pedestrian with the most tracks; a store whose detector names "
              "no classes is scored whole as the labels' more frequent class. The page says which.")
@click.option("--effort", "effort", multiple=True,
              type=click.Path(exists=True, path_type=Path),
              help="The effort benchmark's results for the workflow comparison page: "
              "effort_<dataset>.json files or their folder, e.g. benchmarks/results "
              "(repeatable). Without it the page says how to make them.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def report(store: Path | str, out_dir: Path, gts: tuple[str, ...], gt_class: str | None,
           effort: tuple[Path, ...], quiet: bool) -> None:
    """Write a dashboard of STORE: open OUTPUT/index.html from disk or any static server.

    \b
    index.html          every video: status, frames, tracks, review, advice;
                        projected human hours per mode over all videos
    videos/KEY.html     the reviewer's view of one video: run summary (boxes
                        by origin, recorded throughput, detector, config),
                        the track timeline (one row per track, coloured by
                        origin; risk strip; queued frames, identity edits and
                        open ends; drag to zoom), previews of the queued and
                        riskiest frames with boxes and reasons (decoded from
                        the video now), review progress, mode advice, scores
    videos/KEY.lead.html  the lead's view: also honeypots and the reviewer
                        audit (reviewers never see these)
    compare.html        workflow comparison from the effort benchmark (--effort)
    assets/             plotly.min.js, style, preview thumbnails

    Dark theme; no network needed to view. Videos that failed or are still
    running show what they committed; a video file that moved gets no
    previews and a note.
    """
    from trackannot.report import write_report

    gt: Path | dict[str, Path] | None = None
    if len(gts) == 1 and "=" not in gts[0]:
        gt = Path(gts[0])
    elif gts:
        bad = [g for g in gts if "=" not in g]
        if bad:
            raise click.UsageError(f"--gt {bad[0]}: with several --gt give each as KEY=PATH")
        gt = {k: Path(v) for k, v in (g.split("=", 1) for g in gts)}
    bar = None

    def progress(step: str, done: int, total: int) -> None:
        nonlocal bar
        if quiet:
            return
        from tqdm import tqdm

        if bar is None or bar.desc != step:
            if bar is not None:
                bar.close()
            bar = tqdm(total=total, desc=step, unit="video", file=sys.stderr, dynamic_ncols=True)
        bar.n = done
        bar.refresh()

    with library_errors():
        index = write_report(store, out_dir, gt=gt, gt_class=gt_class,
                             effort=list(effort) or None, progress=progress)
    if bar is not None:
        bar.close()
    click.echo(f"dashboard written: {index}")
    click.echo(f"open it: file://{index.resolve()}")
