"""Write a store's dashboard: gather each video, draw its previews, render the pages."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["write_report"]


def write_report(store: str | Path, out_dir: str | Path, *, gt: str | Path | dict[str, Any] | None = None,
                 gt_class: str | None = None,
                 effort: str | Path | list[str | Path] | None = None,
                 progress: Callable[[str, int, int], None] | None = None) -> Path:
    """Write the dashboard of `store` into `out_dir` and return the path of its index.html.

    Args:
        store: a result store (directory or s3:// URL).
        out_dir: the report's folder (created; pages it wrote before are replaced).
        gt: ground truth to score against (MOTChallenge gt.txt or KITTI tracking label file,
            told apart by content: `trackannot.groundtruth`): one path (a store with one video)
            or {video key: path}.
        gt_class: with KITTI labels, the class scored: "car", "pedestrian", or "car=ID[,ID]"
            naming the store's class ids; default: picked from the detector's class names (the
            one with the most tracks), or, when it names none, the labels' more frequent class
            (`trackannot.groundtruth.choose_kitti_class`). The page says which.
        effort: the effort benchmark's results (``benchmarks/results/effort_*.json`` files or
            their folder) for the workflow comparison page; default: none (the page says so).
        progress: called as progress(step, done, total) while videos are gathered.

    Raises:
        StoreNotFoundError: no store there.
        NotFoundError, InputFormatError: a ground-truth file is missing or malformed (names the
            file and line), found before anything is written; InvalidInputError: `gt_class`
            fits no class of the store. Videos that failed or are still running are reported
            with what they committed; a video whose file moved gets no previews and a note.
    """
    from trackannot.groundtruth import read_ground_truth
    from trackannot.report.assets import write_assets
    from trackannot.report.compare import load_effort
    from trackannot.report.gather import IndexRow, gather_video, gt_paths
    from trackannot.report.previews import write_previews
    from trackannot.report.render import render_compare, render_index, render_video
    from trackannot.session import VideoSession

    sessions = list(VideoSession.all(store))
    gts = gt_paths(gt, [s.key for s in sessions], store)
    # every ground-truth file read before a page is written: a bad one fails the report whole
    truths = {s.key: read_ground_truth(gts[s.key], video_width=(
        s.result.attrs.get("video") or {}).get("width")) for s in sessions if s.key in gts}
    out = Path(out_dir)
    (out / "videos").mkdir(parents=True, exist_ok=True)
    write_assets(out)
    videos = []
    for i, session in enumerate(sessions):
        if progress is not None:
            progress("videos", i, len(sessions))
        video = gather_video(session, gt=truths.get(session.key), gt_class=gt_class)
        videos.append(IndexRow.of(video))
        previews = write_previews(video, out / "assets" / "previews")
        _write(out / "videos" / f"{video.key}.html", render_video(video, previews))
        _write(out / "videos" / f"{video.key}.lead.html", render_video(video, previews, lead=True))
        if progress is not None:
            progress("videos", i + 1, len(sessions))
        del video, previews  # one video's boxes in memory at a time
    _write(out / "compare.html", render_compare(load_effort(effort)))
    index = out / "index.html"
    _write(index, render_index(str(store), videos))
    return index


def _write(path: Path, text: str) -> None:
    """Write a page whole: to a temporary name, then renamed over `path`."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)
