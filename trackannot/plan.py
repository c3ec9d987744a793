"""Run planning: which videos a `track` run writes where, and what it must refuse before writing.

Keys are the videos' file stems made unique (a seqinfo.ini standing for footage, its folder's
name: `trackannot.seqinfo`); the output must be a trackannot store (or the
folder of a run killed before its root existed); a video tracked with other settings or from
another file is refused unless it is replaced (`--overwrite`), and replacing a video that holds
human work needs `discard_corrections`. All of this is decided before anything is written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from trackannot.config import PipelineConfig
from trackannot.errors import StoreError, StoreInputError, VideoDecodeError
from trackannot.decode import probe_input
from trackannot.provenance import mismatch, run_attrs
from trackannot.seqinfo import is_seqinfo, seqinfo_key
from trackannot.store import VideoGroup, has_root, open_store, unstarted_folder, video_key
from trackannot.store._location import Remote, ensure_reachable, location
from trackannot.store._replace import refuse_remote

__all__ = ["check_output", "human_work", "output_location", "plan_videos", "video_keys"]


def video_keys(videos: Sequence[str | Path]) -> list[str]:
    """The group key of each video, in order: file stems (a seqinfo.ini: its folder's name),
    made unique."""
    taken: set[str] = set()
    keys = []
    for path in videos:
        key = video_key(seqinfo_key(path) if is_seqinfo(path) else path, taken)
        taken.add(key)
        keys.append(key)
    return keys


def output_location(store: str | Path, *, overwrite: bool = False) -> Path | Remote:
    """The run's output as a `Path` or a `Remote` (`s3://...`), checked before any work: an
    object store must answer with these credentials and its bucket exist, and does not take
    `overwrite`; an existing output must pass `check_output`."""
    found = location(store)
    if isinstance(found, Remote):
        ensure_reachable(found)
        if overwrite:
            refuse_remote(found)
        check_output(found)
    elif found.exists():
        check_output(found)  # (an empty directory passes: the run creates its root)
    return found


def check_output(store: Path | Remote) -> None:
    """An existing output must be a trackannot store (never delete or write into anything else),
    or the directory of a run killed before the store's root was in place (empty, or holding
    only the store's own folder and temporary files)."""
    if unstarted_folder(store):
        return
    try:
        open_store(store)
    except StoreError as err:
        raise StoreInputError(f"{err}; choose another output path (an existing directory is only "
                              "continued or replaced when it is a trackannot store)") from err


def plan_videos(videos: Sequence[str | Path], keys: list[str], store: Path, cfg: PipelineConfig,
                detector_info: dict | None, pixel_format: str, *, overwrite: bool,
                discard_corrections: bool) -> tuple[dict[str, Path], dict[str, str]]:
    """Videos to run by key, and why those that cannot be opened cannot (by key). Refuses videos whose
    groups in `store` were made from another configuration, detector or file (unless
    `overwrite`), and, with `overwrite`, groups holding human work (unless
    `discard_corrections`)."""
    opened = open_store(store) if has_root(store) else None
    stored = set(opened.videos) if opened is not None else set()
    plan: dict[str, Path] = {}
    failed: dict[str, str] = {}
    refused, human = [], []
    for key, path in zip(keys, videos):
        try:
            info = probe_input(path)
        except VideoDecodeError as err:
            failed[key] = str(err)
            continue
        plan[key] = Path(path)
        if opened is None or key not in stored:
            continue
        video = opened[key]
        if overwrite:
            work = human_work(video)
            if work:
                human.append(f"'{key}' holds {work}")
        elif video.started:
            reason = mismatch(key, video.attrs,
                              run_attrs(path, info, cfg, detector_info, pixel_format))
            if reason is not None:
                refused.append(reason)
    if refused:
        more = f"; and {len(refused) - 3} more" if len(refused) > 3 else ""
        raise StoreInputError(f"{store}: {'; '.join(refused[:3])}{more}; rerun with the same "
                              "settings and inputs to resume, or pass --overwrite to replace those "
                              "videos")
    if human and not discard_corrections:
        raise StoreInputError(f"{store}: --overwrite would discard human work: {'; '.join(human)}; "
                              "pass --discard-corrections as well to replace them anyway, or leave "
                              "those videos out")
    return plan, failed


def human_work(video: VideoGroup) -> str:
    """What people made in a video's group, in words ("" when nothing): corrections by whom,
    review answers."""
    info = video.log_info()
    parts = []
    if info.rows:
        parts.append(f"{info.rows} corrections in {info.batches} batches by "
                     f"{', '.join(info.authors)}")
    answered = sum(info.answers.values())
    if answered:
        parts.append(f"{answered} review answers")
    return " and ".join(parts)
