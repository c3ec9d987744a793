"""Command-line interface: `trackannot track | correct | review | export | eval | demo`.

The only place that prints, draws progress bars and turns library errors into exit codes
(`trackannot.cli.options.library_errors`):
`ConfigError` -> usage error (exit 2), any other `TrackannotError` -> error (exit 1).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from trackannot.cli.options import (
    STORE, STORE_OUT, library_errors, lock_timeout_option, resolve_config,
)

__all__ = ["main"]


class _TqdmProgress:
    """One progress bar per video, showing frames/s (on stderr)."""

    def __init__(self, enabled: bool) -> None:
        self._enabled = enabled
        self._bar = None

    def start(self, name: str, total_frames: int | None) -> None:
        from tqdm import tqdm

        self.close()
        self._bar = tqdm(total=total_frames, desc=name, unit="frame", disable=not self._enabled,
                         dynamic_ncols=True, file=sys.stderr)

    def advance(self, frames: int) -> None:
        if self._bar is not None:
            self._bar.update(frames)

    def postfix(self, values: dict[str, str]) -> None:
        """Per-worker frames/s beside the bar (the Ray executor's one bar over all videos)."""
        if self._bar is not None:
            self._bar.set_postfix(values, refresh=False)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="trackannot")
def main() -> None:
    """Turn video into tracked pre-labels that people check at a few keyframes.

    \b
    Quick start (offline, synthetic clip, bundled tiny model):
      trackannot demo
    Real footage with your weights or precomputed detections:
      trackannot track clip.mp4 -o out.zarr --weights yolo11n.pt --fps 10
      trackannot track clip.mp4 -o out.zarr --detections det.txt
    Detections without footage (frames from a MOTChallenge seqinfo.ini):
      trackannot track --seqinfo seq/seqinfo.ini --detections seq/det/det.txt -o out.zarr
      trackannot export out.zarr --format mot -o mot/
      trackannot eval out.zarr --gt gt/gt.txt
    """


@main.command()
@click.argument("videos", nargs=-1, type=click.Path(path_type=Path))
@click.option("-o", "--output", "store", required=True, type=STORE_OUT,
              help="Result store (a zarr directory, e.g. out.zarr, or s3://bucket/prefix/out.zarr "
              "with credentials and endpoint from the AWS_* variables): created, or continued "
              "when an earlier run on it was interrupted.")
@click.option("--manifest", type=click.Path(dir_okay=False, path_type=Path),
              help="Text file listing more videos or directories, one path per line (# starts a "
              "comment line; relative paths are relative to the manifest).")
@click.option("--recursive", is_flag=True, help="Also look for videos in subdirectories.")
@click.option("--jobs", type=click.IntRange(min=1), default=None,
              help="Videos in flight at once. Local: threads of this process, default 1 (no "
              "progress bars when > 1). Ray: actors, default one per GPU of the cluster, else "
              "its CPUs // --ray-num-cpus.")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local",
              show_default=True, help="Where videos run. local: this process. ray: a pool of "
              "Ray actors, each with a warm detector, writing its videos' groups directly (same "
              "locks, commits and resume); needs pip install 'trackannot[ray]'.")
@click.option("--ray-address", metavar="auto|HOST:PORT", help="With --executor ray: the "
              "cluster to join (auto: the one `ray start --head` started here). Default: a Ray "
              "instance started on this machine for the run.")
@click.option("--ray-num-gpus", type=click.FloatRange(min=0), default=None, help="With "
              "--executor ray: GPUs per actor (default 1 when the cluster has GPUs, else 0).")
@click.option("--ray-num-cpus", type=click.FloatRange(min=0, min_open=True), default=1.0,
              show_default=True, help="With --executor ray: CPUs per actor (decoding, tracking "
              "and writing beside the detector).")
@click.option("--weights", help="YOLO weights file (or an ultralytics name such as yolo11n.pt, "
              "downloaded when online). Default: the bundled demo model (synthetic shapes only).")
@click.option("--detections", type=click.Path(dir_okay=False, path_type=Path),
              help="MOTChallenge det.txt/gt.txt with precomputed detections instead of a model "
              "(one video only). Boxes are scaled to the video using the seqinfo.ini beside the "
              "det/ folder when there is one.")
@click.option("--seqinfo", type=click.Path(dir_okay=False, path_type=Path),
              help="Track --detections without footage: this MOTChallenge seqinfo.ini gives the "
              "frames (seqLength frames at frameRate, imWidth x imHeight; no pixels), in place of "
              "VIDEOS. The group is named after its folder; store, resume and export as for a "
              "video.")
@click.option("--fps", type=float, help="Sample frames at this rate (by timestamp). Default: all.")
@click.option("--batch-size", type=int, help="Frames per detector batch.")
@click.option("--device", help="auto (default), cpu, cuda, cuda:N.")
@click.option("--config", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="YAML config (see configs/default.yaml).")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Override one setting, e.g. --set track.min_iou=0.4 (repeatable).")
@click.option("--overwrite", is_flag=True, help="Replace the groups of these videos (tracked "
              "afresh beside the old ones and swapped in when done; other videos of the store "
              "stay as they are), instead of continuing them.")
@click.option("--discard-corrections", is_flag=True, help="With --overwrite: also replace videos "
              "that hold human corrections or review answers (they are discarded; without this "
              "flag such videos are refused, and the message says how many edits they hold).")
@lock_timeout_option
@click.option("--quiet", is_flag=True, help="No progress bars.")
def track(videos: tuple[Path, ...], store: Path, manifest: Path | None, recursive: bool,
          jobs: int | None, executor: str, ray_address: str | None, ray_num_gpus: float | None,
          ray_num_cpus: float, weights: str | None, detections: Path | None, seqinfo: Path | None, fps: float | None,
          batch_size: int | None, device: str | None, config: Path | None,
          sets: tuple[str, ...], overwrite: bool, discard_corrections: bool, lock_timeout: float,
          quiet: bool) -> None:
    """Detect and track objects in VIDEOS (files or directories); one store group per video.

    Precomputed detections of a sequence you have no footage of: --seqinfo
    SEQ/seqinfo.ini --detections SEQ/det/det.txt (no VIDEOS).

    \b
    Every file, named or found in a directory, is opened: files that hold no
    video are listed as skipped, whatever their suffix. Damaged videos (cut,
    or ending before their header says) keep the frames decoded before the
    damage and are listed as failed at the end.
    Resume: each video commits its results chunk by chunk; rerunning the same
    command after a crash skips finished videos and continues the others from
    their last commit, giving the same store as an uninterrupted run. A store
    made with other settings or files is refused (see --overwrite).
    One writer per video: a video another process is writing is waited for
    (--lock-timeout), then reported busy while the others go on.
    Exit code: 0 when every video completed, 1 otherwise.

    \b
    Many machines: --executor ray runs each video on a Ray actor
    (--ray-address auto|HOST:PORT, one actor per GPU by default); an actor
    whose process dies is restarted and its video resumes from its last
    commit. One progress bar over all videos; same summary and exit codes.
    """
    from trackannot.detect import make_detector
    from trackannot.inputs import VideoInputs, collect_videos
    from trackannot.pipeline import failures, track_videos
    from trackannot.provenance import describe_detector

    if seqinfo is not None and (videos or manifest is not None or detections is None):
        raise click.UsageError("--seqinfo stands for the footage: it goes with --detections and "
                               "without VIDEOS or --manifest")
    if not videos and manifest is None and seqinfo is None:
        raise click.UsageError("name videos or directories, or pass --manifest FILE")
    if detections is not None and weights is not None:
        raise click.UsageError("--weights and --detections exclude each other")
    if discard_corrections and not overwrite:
        raise click.UsageError("--discard-corrections goes with --overwrite")
    with library_errors():
        inputs = VideoInputs((seqinfo,), ()) if seqinfo is not None \
            else collect_videos(videos, manifest, recursive=recursive)
        if detections is not None and len(inputs.videos) != 1:
            raise click.UsageError(f"--detections goes with exactly one video, got "
                                   f"{len(inputs.videos)}")
        cfg = resolve_config(config, sets, **{"decode.fps": fps, "decode.batch_size": batch_size,
                                              "detect.device": device, "detect.weights": weights})
        pool = None
        if executor == "ray":  # connects and starts the actors before anything is written
            from trackannot.config import RayConfig
            from trackannot.ray_executor import DetectorSpec, RayExecutor

            pool = RayExecutor.start(
                RayConfig(address=ray_address, workers=jobs, num_gpus=ray_num_gpus,
                          num_cpus=ray_num_cpus),
                DetectorSpec(cfg.detect, str(detections.resolve()) if detections else None),
                videos=len(inputs.videos))
            detector = pool.detector
        elif ray_address is not None or ray_num_gpus is not None:
            raise click.UsageError("--ray-address and --ray-num-gpus go with --executor ray")
        else:
            detector = make_detector(cfg.detect, detections=detections)
        info = describe_detector(detector, cfg.detect.weights, detections)
        for skipped in inputs.skipped:
            click.echo(f"skipped {skipped.path}: {skipped.reason}")
        try:
            summaries = track_videos(inputs.videos, store, cfg, detector, detector_info=info,
                                     overwrite=overwrite,
                                     discard_corrections=discard_corrections,
                                     progress=_TqdmProgress(not quiet), jobs=jobs or 1,
                                     lock_timeout=lock_timeout, executor=pool)
        finally:
            if pool is not None:
                pool.close()
    for s in summaries:
        click.echo(_summary_line(s))
    if detections is not None:
        _echo_file_policy(detector, detections)
    failed = failures(summaries)
    click.echo(f"wrote {store}: {len(summaries) - len(failed)} of {len(summaries)} videos complete"
               + (f", {len(inputs.skipped)} non-video files skipped" if inputs.skipped else ""))
    if failed:
        click.echo(f"{len(failed)} failed:", err=True)
        for s in failed:
            click.echo(f"  {s.key}: {s.error}", err=True)
        click.get_current_context().exit(1)


def _echo_file_policy(detector, path: Path) -> None:  # noqa: ANN001
    """What the detections file's frame and max_det policy did in this run (when anything)."""
    c = getattr(detector, "counts", None)  # a FileDetector's, or the Ray actors' summed
    if not isinstance(c, dict) or not any(c.values()):
        return
    click.echo(f"{path.name}: {c['clipped']} boxes clipped to the frame, {c['dropped']} dropped "
               f"(no area inside it), {c['over_max_det']} over detect.max_det")


def _summary_line(s) -> str:
    """One line per video of `trackannot track`."""
    if s.busy:
        return f"{s.key}: BUSY, not written (another process is writing it)"
    if s.skipped:
        return f"{s.key}: {s.status} in an earlier run ({s.frames} frames), skipped"
    counts = (f"{s.frames} frames, {s.detections} detections, {s.tracks} tracks, "
              f"{s.fps:.1f} frames/s")
    resumed = f" (resumed after frame {s.resumed_from})" if s.resumed_from else ""
    resumed += " (replaced the earlier group)" if s.replaced else ""
    if s.ok:
        return f"{s.key}: {counts}{resumed}"
    if s.frames == 0:
        return f"{s.key}: FAILED, no frame kept{resumed}"
    return f"{s.key}: FAILED after {s.frames} frames kept{resumed}"


def _formats() -> dict[str, tuple[str, str]]:
    from trackannot.session import EXPORT_FORMATS

    return EXPORT_FORMATS


@main.command()
@click.argument("store", type=STORE)
@click.option("--format", "fmt", type=click.Choice(list(_formats())), default="mot",
              show_default=True, help="Output format: " + "; ".join(
                  f"{k}: {v[1]}" for k, v in _formats().items()) + ".")
@click.option("-o", "--output", "out_dir", required=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="Directory for the exported files (one per video).")
@click.option("--video", "keys", multiple=True, help="Export only this video (repeatable).")
@click.option("--iou-tolerance", type=click.FloatRange(0.0, 1.0, min_open=True), default=0.9,
              show_default=True, help="Sparse keyframes (CVAT, Label Studio): keep the fewest "
              "keyframes whose linear interpolation stays at this IoU with every box.")
@click.option("--overwrite", is_flag=True, help="Write into an output directory that already "
              "holds files, replacing the outputs of the same names (each replaced whole).")
def export(store: Path, fmt: str, out_dir: Path, keys: tuple[str, ...], iou_tolerance: float,
           overwrite: bool) -> None:
    """Export the current annotation in STORE (tracks + corrections), one output per video.

    An output directory that already holds files is refused, whatever the format, unless
    --overwrite; each output is written whole (a temporary name, then a rename).
    """
    from trackannot.session import VideoSession

    with library_errors():
        sessions = [VideoSession.open(store, k, mode="r") for k in keys] if keys \
            else list(VideoSession.all(store))
        _check_out_dir(out_dir, overwrite)
        out_dir.mkdir(parents=True, exist_ok=True)
        for session in sessions:
            path = session.export(fmt, out_dir / _formats()[fmt][0].format(key=session.key),
                                  iou_tolerance=iou_tolerance)
            click.echo(f"{session.key}: {path}")


def _check_out_dir(out_dir: Path, overwrite: bool) -> None:
    """One policy for every format: an output directory with files in it needs --overwrite."""
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise click.UsageError(f"-o {out_dir} is a file; give a directory")
    found = sorted(p.name for p in out_dir.iterdir())
    if found and not overwrite:
        shown = ", ".join(found[:3]) + (f" and {len(found) - 3} more" if len(found) > 3 else "")
        raise click.ClickException(f"{out_dir} already holds files ({shown}); pass --overwrite "
                                   "to replace the outputs of the same names, or choose an "
                                   "empty directory")


@main.command()
@click.argument("store", type=STORE)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--video", help="Video group the corrections are for (default: the only one).")
@click.option("--author", default=lambda: os.environ.get("USER") or "unknown",
              show_default="$USER", help="Author of edits that name none.")
@click.option("--dry-run", is_flag=True, help="Check the file against the store; write nothing.")
@click.option("--queue", "queue_id", help="Review queue the file's {\"item\": N, ...} lines answer "
              "(see `trackannot review`).")
@click.option("--expect-revision", type=click.IntRange(min=0), help="The revision (committed "
              "batches, `trackannot` prints it after each batch) the file was made against: "
              "refused when cells it edits changed since; edits to other cells merge.")
@lock_timeout_option
def correct(store: Path, file: Path, video: str | None, author: str, dry_run: bool,
            queue_id: str | None, expect_revision: int | None, lock_timeout: float) -> None:
    """Apply the corrections in FILE to STORE, all or none.

    \b
    FILE is one of:
      .jsonl  trackannot corrections, one JSON object per line, e.g.
              {"op": "adjust", "track": 3, "frame": 120, "box": [10, 20, 60, 140]}
              ops: accept, adjust, absent, create, split, merge, class
              (see `python -c "import trackannot.corrections as c; help(c)"`)
      .xml    CVAT for video 1.1 annotations of this video
      .json   Label Studio video annotations of this video

    Every edit is appended to the video's audit log (who, when, what, previous value); nothing is
    overwritten. A file with any bad line leaves the store unchanged, byte for byte. The batch is
    checked and appended under the video's writer lock: corrections applied at the same time by
    several people land one after the other, each checked against the ones before it.

    \b
    Answering a review queue (--queue ID): lines may name a queue item instead of track/frame:
      {"item": 7, "op": "accept"}
      {"item": 8, "op": "adjust", "box": [10, 20, 60, 140]}
      {"item": 9, "op": "absent"}
    or FILE is the queue's .cvat.xml (CVAT for images) or .labelstudio.json as reviewers saved
    them: unchanged boxes are accepted, moved ones adjusted, deleted ones absent.
    """
    from trackannot.session import VideoSession

    with library_errors():
        session = VideoSession.open(store, video, mode="r" if dry_run else "a",
                                    lock_timeout=lock_timeout)
        summary = session.apply(file, author=author, queue=queue_id, dry_run=dry_run,
                                expect_revision=expect_revision)
    ops = ", ".join(f"{n} {op}" for op, n in sorted(summary.counts.items()))
    verb = "would apply" if dry_run else f"applied as batch {summary.batch}:"
    click.echo(f"{summary.video}: {verb} {sum(summary.counts.values())} corrections ({ops}); "
               f"{summary.tracks_touched} tracks, {summary.rows_recomputed} boxes re-interpolated"
               + ("" if dry_run else f"; now at revision {summary.revision}"))
    if queue_id is not None:
        click.echo(f"{summary.video}: {summary.answers} answers to queue {queue_id} "
                   f"{'checked' if dry_run else 'recorded'}")


@main.command(name="eval")
@click.argument("store", type=STORE)
@click.option("--gt", "gt_path", required=True, type=click.Path(exists=True, dir_okay=False,
              path_type=Path), help="MOTChallenge gt.txt (boxes are scaled to the video using the "
              "seqinfo.ini beside the gt/ folder when there is one) or KITTI tracking label "
              "file (told apart by content).")
@click.option("--video", "key", help="Video group to evaluate (default: the only one).")
@click.option("--benchmark", type=click.Choice(["MOT15", "MOT17", "MOT20", "KITTI"]),
              default=None, help="Ground-truth preprocessing (TrackEval's rules); default: KITTI "
              "for KITTI labels, MOT17 for 9-column gt (class and visibility columns), else MOT15.")
@click.option("--gt-class", "gt_class", metavar="car|pedestrian[=ID,...]",
              help="With KITTI labels: the class scored, optionally with the store's class ids "
              "that stand for it (car=2); default as `trackannot report --gt-class`.")
def eval_(store: Path, gt_path: Path, key: str | None, benchmark: str | None,
          gt_class: str | None) -> None:
    """Score the current annotation in STORE (tracks + corrections) against ground truth.

    HOTA, MOTA and IDF1, computed with TrackEval's code.
    """
    from trackannot.session import VideoSession

    with library_errors():
        session = VideoSession.open(store, key, mode="r")
        scores, benchmark, scale = session.evaluate(gt_path, benchmark, gt_class)
    key = session.key
    click.echo(f"{key} vs {gt_path} ({benchmark} rules"
               f"{f', gt scaled x{scale:.4g}' if scale != 1.0 else ''})")
    click.echo("  ".join(f"{k:>6}" for k in ("HOTA", "DetA", "AssA", "MOTA", "IDF1")))
    click.echo("  ".join(f"{100 * v:6.2f}" for v in (scores.hota, scores.deta, scores.assa,
                                                       scores.mota, scores.idf1)))


@main.command()
@click.option("-o", "--output", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("trackannot-demo"), show_default=True,
              help="Directory for the demo clip, its truth and the result store.")
@click.option("--seconds", type=float, default=10.0, show_default=True, help="Clip length.")
@click.option("--seed", type=int, default=7, show_default=True, help="Scene seed.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def demo(out_dir: Path, seconds: float, seed: int, quiet: bool) -> None:
    """Run the whole pipeline offline on a synthetic clip with known truth.

    Writes a short clip of moving, crossing and occluded shapes, tracks it with the tiny
    detector bundled in the package (trained by us on such shapes, useless on real footage),
    stores the result and scores it against the truth; then builds a review queue, lets a
    simulated reviewer answer it from the clip's truth, applies the answers, and prints the
    scores after them with the human seconds they would cost; then writes the dashboard.
    """
    from trackannot.demo.run import run_demo

    os.environ.setdefault("YOLO_OFFLINE", "1")
    with library_errors():
        report = run_demo(out_dir, seconds=seconds, seed=seed,
                          progress=_TqdmProgress(not quiet))
    for line in report.lines():
        click.echo(line)


@main.command()
@click.argument("store", type=STORE)
@click.option("--repair", is_flag=True, help="Delete crash leftovers, finish interrupted "
              "replacements and roll damaged automatic results back to their last good commit "
              "(rerun `trackannot track` to redo them). Never touches what people made.")
@click.option("--video", "keys", multiple=True, help="Check only this video (repeatable).")
@lock_timeout_option
def check(store: Path, repair: bool, keys: tuple[str, ...], lock_timeout: float) -> None:
    """Verify every video of STORE: metadata, commit markers, every chunk, the corrections log.

    \b
    Reads every committed chunk (missing chunks and failed checksums are damage), compares the
    arrays with their commit markers, recomputes the corrections log's digest and replays it.
    Exit code: 0 when the store is consistent (after --repair: when everything found could be
    repaired), 1 when damage remains. Damage to corrections or review queues is never repaired
    (that would lose human work): restore those from a backup.
    """
    from trackannot.check import check_store

    with library_errors():
        report = check_store(store, repair=repair, videos=list(keys) or None,
                             lock_timeout=lock_timeout)
    for finding in report.findings:
        fix = f" [--repair: {finding.repair}]" if finding.repair else \
            (" [not repairable without losing human work]" if finding.kind == "damage" else "")
        click.echo(f"{finding.kind.upper()}: {finding.message}{fix}")
    for line in report.repaired:
        click.echo(f"repaired: {line}")
    for note in report.notes:
        click.echo(f"note: {note}")
    found = len(report.findings)
    verdict = "consistent" if report.consistent else f"DAMAGED ({len(report.remaining)} problems left)"
    click.echo(f"{store}: {len(report.videos)} videos checked, {found} findings; store {verdict}")
    if not report.consistent:
        click.get_current_context().exit(1)


def _register() -> None:
    """Commands that live in their own modules."""
    from trackannot.cli.audit import audit
    from trackannot.cli.integrations import pull, push
    from trackannot.cli.report import report
    from trackannot.cli.review import review
    from trackannot.cli.serve import serve

    main.add_command(review)
    main.add_command(audit)
    main.add_command(push)
    main.add_command(pull)
    main.add_command(serve)
    main.add_command(report)


_register()

if __name__ == "__main__":
    main()
