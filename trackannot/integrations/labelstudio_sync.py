"""Push a stored video's annotation to a Label Studio task, and pull a task's annotation back.

`push_labelstudio` uploads the current annotation (tracks + corrections) of one video as a
prediction of one task: the sparse keyframes that `trackannot export --format
labelstudio-predictions` writes, as `videorectangle` regions named after the project's labelling
config. Its `model_version` is "trackannot <video> r<revision>": the revision the reviewer is
shown. `pull_labelstudio` reads one submitted annotation of the task and applies it as one
corrections batch (author: the annotator's email; source: "labelstudio:<url> task <id>
annotation <id> updated <time>"), against the revision the annotation was made from: the
revision of its parent prediction when it is ours, else of the task's latest trackannot
prediction. Edits to cells that changed since are refused (`StaleRevisionError`), others merge.
The annotation is the whole annotation of the video: a track it lacks was deleted.

Pulling the same annotation again records nothing while it is unchanged; once it was updated,
only what changed since the last pull is applied (the diff is taken against the revision that
pull produced).

Needs the `labelstudio` extra (`pip install 'trackannot[labelstudio]'`, label-studio-sdk 2.x);
works with a legacy API token and with a personal access token (a JWT the SDK refreshes).

Example:
    >>> from trackannot.integrations.labelstudio_sync import push_labelstudio  # doctest: +SKIP
    >>> push_labelstudio("out.zarr", "http://localhost:8080", token, task=12)
    >>> pull_labelstudio("out.zarr", "http://localhost:8080", token, task=12).summary.counts
    {'adjust': 1, 'absent': 1}
"""

from __future__ import annotations

import re
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from trackannot.errors import (
    InvalidInputError,
    NotFoundError,
    TrackannotError,
    error_for_status,
)

if TYPE_CHECKING:
    from trackannot.annotate import BatchSummary
    from trackannot.export.meta import VideoMeta
    from trackannot.session import VideoSession

__all__ = ["LabelingNames", "PullResult", "PushResult", "connect", "labeling_names",
           "pull_labelstudio", "push_labelstudio"]

MODEL_VERSION = "trackannot {key} r{revision}"
_MODEL_VERSION = re.compile(r"^trackannot (?P<key>.+) r(?P<revision>\d{1,18})$")
DEFAULT_FRAMERATE = 24.0  # Label Studio's <Video> framerate when the config names none
FRAMERATE_TOLERANCE = 1e-3  # relative: frame rates this close give the same frame numbers
TIMEOUT_S = 60.0


@dataclass(frozen=True)
class LabelingNames:
    """What a project's labelling config calls things (`labeling_names`).

    Attributes:
        from_name: the `<VideoRectangle>`'s name (regions' `from_name`).
        to_name: the `<Video>`'s name (regions' `to_name`).
        data_key: the task data key the video URL is under (`value="$video"` -> "video").
        framerate: the `<Video>`'s framerate (Label Studio's default 24 when unset).
        labels: the label values offered for the video's boxes.
    """

    from_name: str
    to_name: str
    data_key: str
    framerate: float
    labels: tuple[str, ...]


@dataclass(frozen=True)
class PushResult:
    """What `push_labelstudio` uploaded."""

    video: str
    project_id: int
    task_id: int
    prediction_id: int
    model_version: str
    revision: int  # the video's revision the prediction shows
    tracks: int  # regions (tracks with a visible box)
    keyframes: int  # Label Studio keyframes over all regions


@dataclass(frozen=True)
class PullResult:
    """What `pull_labelstudio` applied.

    Attributes:
        summary: the batch applied; None when the annotation changes nothing (unchanged since
            its last pull, or equal to what it was made from): nothing was written.
        expect_revision: the revision the edits were taken against (None: the current one).
    """

    video: str
    task_id: int
    annotation_id: int
    author: str
    source: str
    expect_revision: int | None
    summary: BatchSummary | None


@contextmanager
def connect(url: str, token: str, *, timeout_s: float = TIMEOUT_S) -> Iterator[Any]:
    """A `label_studio_sdk.LabelStudio` client for `url` with API token `token`; its
    connections are closed when the `with` block ends.

    Example:
        >>> with connect("http://localhost:8080", token) as ls:   # doctest: +SKIP
        ...     ls.projects.list()

    Raises:
        InvalidInputError: a URL that is not http(s), or no token; NotFoundError: the SDK is
            not installed.
    """
    if not url or not url.startswith(("http://", "https://")):
        raise InvalidInputError(f"Label Studio URL {url!r}: expected http(s)://host[:port]")
    if not token:
        raise InvalidInputError("no Label Studio API token: pass --token or set "
                                "LABEL_STUDIO_API_KEY (Account & Settings > Access Token)")
    try:
        with warnings.catch_warnings():
            # the SDK's legacy module still declares pydantic v1 validators at import
            warnings.simplefilter("ignore", DeprecationWarning)
            from label_studio_sdk import LabelStudio
    except ImportError as err:
        raise NotFoundError("label-studio-sdk is not installed: pip install "
                            "'trackannot[labelstudio]'") from err
    import httpx

    with httpx.Client(timeout=timeout_s, follow_redirects=True) as http:
        yield LabelStudio(base_url=url.rstrip("/"), api_key=token, httpx_client=http)


def _client(url: str, token: str, client: Any) -> AbstractContextManager[Any]:
    """`client` as it is, else a new connection closed after use."""
    return nullcontext(client) if client is not None else connect(url, token)


def labeling_names(label_config: str, where: str = "labelling config") -> LabelingNames:
    """The names push and pull need from a project's labelling config (XML).

    Raises:
        InvalidInputError: not XML, or no `<VideoRectangle>` whose `toName` is a `<Video>`
            with `value="$<key>"`.
    """
    try:
        root = ET.fromstring(label_config)
    except ET.ParseError as err:
        raise InvalidInputError(f"{where}: not XML ({err})") from err
    videos = {v.get("name"): v for v in root.iter("Video")}
    for rect in root.iter("VideoRectangle"):
        video = videos.get(rect.get("toName"))
        if video is None or not (video.get("value") or "").startswith("$"):
            continue
        labels = tuple(
            str(label.get("value")) for tag in root.iter()
            if tag.tag in ("Labels", "RectangleLabels") and video.get("name") in
            (tag.get("toName") or "").split(",")
            for label in tag.iter("Label")
        )
        try:
            framerate = float(video.get("framerate") or DEFAULT_FRAMERATE)
        except ValueError as err:
            raise InvalidInputError(f"{where}: <Video framerate={video.get('framerate')!r}> "
                                    "is not a number") from err
        return LabelingNames(from_name=str(rect.get("name")), to_name=str(video.get("name")),
                             data_key=str(video.get("value"))[1:], framerate=framerate,
                             labels=labels)
    raise InvalidInputError(f"{where}: no <VideoRectangle toName=...> of a <Video "
                            'value="$...">; a video tracking config is needed')


# ------------------------------------------------------------------------------------- push

def push_labelstudio(store: str | Path, url: str, token: str, *, task: int,
                     project: int | None = None, video: str | None = None,
                     iou_tolerance: float = 0.9, client: Any = None) -> PushResult:
    """Upload the current annotation of `video` as a prediction of Label Studio task `task`.

    Args:
        store, video: the store and the video (default: the store's only video).
        url, token: the Label Studio server and an API token.
        task: the task whose data names this video; project: when given, the task must be in it.
        iou_tolerance: sparse keyframes, as `trackannot export --iou-tolerance`.
        client: a `connect(url, token)` client to reuse.

    Raises:
        NotFoundError: no such store, video, task (or not in `project`), server or SDK.
        InvalidInputError: the project's config has no video rectangles, another framerate than
            the video, or lacks a label of the video's classes; the task names another video;
            the token is refused.
        ConflictError: Label Studio refused the prediction (its message).
    """
    from trackannot.export.labelstudio import format_labelstudio
    from trackannot.session import VideoSession

    session = VideoSession.open(store, video, mode="r")
    meta = session.meta
    with _client(url, token, client) as ls:
        task_data, project_id, names = _task_and_names(ls, url, task, project, session, meta)
        revision, keyframes = session.keyframes_at_revision(iou_tolerance)
        _check_labels(names, meta, keyframes.class_id, project_id)
        model_version = MODEL_VERSION.format(key=session.key, revision=revision)
        [formatted] = format_labelstudio(
            keyframes, meta, as_predictions=True, model_version=model_version,
            video_url=task_data[names.data_key], from_name=names.from_name,
            to_name=names.to_name, data_key=names.data_key)
        result = formatted["predictions"][0]["result"]
        with _api(url, f"task {task}: creating the prediction"):
            prediction = ls.predictions.create(task=task, result=result,
                                               model_version=model_version, score=1.0)
    return PushResult(video=session.key, project_id=project_id, task_id=task,
                      prediction_id=int(prediction.id), model_version=model_version,
                      revision=revision, tracks=len(result),
                      keyframes=sum(len(r["value"]["sequence"]) for r in result))


# ------------------------------------------------------------------------------------- pull

def pull_labelstudio(store: str | Path, url: str, token: str, *, task: int,
                     project: int | None = None, video: str | None = None,
                     annotation: int | None = None, lock_timeout: float | None = None,
                     client: Any = None) -> PullResult:
    """Apply one submitted annotation of Label Studio task `task` as a corrections batch.

    Args:
        store, video, url, token, task, project, client: as for `push_labelstudio`.
        annotation: which annotation of the task (default: its only one not cancelled).
        lock_timeout: seconds to wait while another process writes the video.

    Returns:
        What was applied (module docstring); `summary` None when nothing changed.

    Raises:
        NotFoundError: no such store, video, task, annotation, server or SDK.
        InvalidInputError: a malformed annotation (naming the task, annotation and the JSON
            path), a cancelled one, several annotations and none chosen, or a config or task
            that does not fit the video (as for push).
        ConflictError: `StaleRevisionError` (cells changed since the annotation's revision,
            named), `LockedError`, or the run of the video is not complete.
    """
    from trackannot.export.labelstudio import labelstudio_keyframes
    from trackannot.session import VideoSession

    session = VideoSession.open(store, video, mode="a", lock_timeout=lock_timeout)
    meta = session.meta
    with _client(url, token, client) as ls:
        _task_and_names(ls, url, task, project, session, meta)
        chosen = _pick_annotation(ls, url, task, annotation)
        ann_id = int(chosen.id)
        updated = chosen.updated_at or chosen.created_at
        prefix = f"labelstudio:{url.rstrip('/')} task {task} annotation {ann_id}"
        source = f"{prefix} updated {updated.isoformat() if updated else 'unknown'}"
        author = _author(ls, url, chosen.completed_by)
        last = _last_pull(session, prefix)
        if last is not None and last[1] == source:
            return PullResult(session.key, task, ann_id, author, source, last[0], None)
        expect = last[0] if last is not None else _based_on(ls, url, task, chosen, session.key)
    where = f"Label Studio task {task} annotation {ann_id} result"
    keyframes = labelstudio_keyframes(chosen.result or [], meta, where)
    trial = session.apply(keyframes, author=author, source=source, expect_revision=expect,
                          replace_tracks=True, dry_run=True)
    if not trial.counts:
        return PullResult(session.key, task, ann_id, author, source, expect, None)
    summary = session.apply(keyframes, author=author, source=source, expect_revision=expect,
                            replace_tracks=True)
    return PullResult(session.key, task, ann_id, author, source, expect, summary)


def _pick_annotation(client: Any, url: str, task: int, annotation: int | None) -> Any:
    with _api(url, f"task {task}: listing its annotations"):
        annotations = list(client.annotations.list(id=task))
    if annotation is not None:
        for item in annotations:
            if int(item.id) == annotation:
                if item.was_cancelled:
                    raise InvalidInputError(f"task {task} annotation {annotation} was cancelled "
                                            "(skipped); nothing to pull")
                return item
        raise NotFoundError(f"task {task} has no annotation {annotation} (it has "
                            f"{_ids(annotations) or 'none'})")
    submitted = [a for a in annotations if not a.was_cancelled]
    if not submitted:
        raise NotFoundError(f"task {task} has no submitted annotation to pull")
    if len(submitted) > 1:
        raise InvalidInputError(f"task {task} has {len(submitted)} annotations "
                                f"({_ids(submitted)}); pass --annotation ID to choose one")
    return submitted[0]


def _ids(items: list[Any]) -> str:
    return ", ".join(str(int(a.id)) for a in items)


def _author(client: Any, url: str, completed_by: Any) -> str:
    """The annotator's email (Label Studio records a user id, or the user inline)."""
    if isinstance(completed_by, dict):
        completed_by = completed_by.get("email") or completed_by.get("id")
    if isinstance(completed_by, str) and "@" in completed_by:
        return completed_by
    if completed_by is None:
        raise InvalidInputError("the annotation names no annotator (completed_by)")
    with _api(url, f"user {completed_by}"):
        user = client.users.get(id=int(completed_by))
    return str(user.email or f"labelstudio user {int(completed_by)}")


def _last_pull(session: VideoSession, prefix: str) -> tuple[int, str] | None:
    """The revision after the last batch pulled from this annotation, and its source."""
    found = None
    for record in session.result.batches():
        source = str(record.get("source") or "")
        if source.startswith(prefix + " "):
            found = (int(record["number"]) + 1, source)
    return found


def _based_on(client: Any, url: str, task: int, chosen: Any, key: str) -> int | None:
    """The revision the annotation was made from: its parent prediction's when that is ours
    for this video, else the task's latest trackannot prediction's, else None."""
    parent = getattr(chosen, "parent_prediction", None)
    if parent is not None:
        with _api(url, f"prediction {parent}"):
            revision = _revision(client.predictions.get(id=int(parent)).model_version, key)
        if revision is not None:
            return revision
    with _api(url, f"task {task}: listing its predictions"):
        predictions = list(client.predictions.list(task=task))
    ours = [(int(p.id), r) for p in predictions
            if (r := _revision(p.model_version, key)) is not None]
    return max(ours)[1] if ours else None


def _revision(model_version: Any, key: str) -> int | None:
    match = _MODEL_VERSION.match(str(model_version or ""))
    return int(match["revision"]) if match and match["key"] == key else None


# ------------------------------------------------------------------------------- shared

def _task_and_names(client: Any, url: str, task: int, project: int | None,
                    session: VideoSession, meta: VideoMeta,
                    ) -> tuple[dict[str, Any], int, LabelingNames]:
    """The task's data, its project id and the config's names, all checked against the video."""
    with _api(url, f"task {task}"):
        found = client.tasks.get(id=str(task))
    project_id = int(found.project)
    if project is not None and project_id != project:
        raise NotFoundError(f"task {task} is in project {project_id}, not in project {project}")
    with _api(url, f"project {project_id}"):
        config = client.projects.get(id=project_id).label_config
    names = labeling_names(config or "", f"project {project_id}'s labelling config")
    _check_framerate(names, meta, project_id)
    data = dict(found.data or {})
    if names.data_key not in data:
        raise InvalidInputError(f"task {task} has no data[{names.data_key!r}] (the config's "
                                f"video is ${names.data_key}); it has {sorted(data)}")
    named = _video_name(str(data[names.data_key]))
    if PurePosixPath(named).stem != session.key and named != session.key:
        raise InvalidInputError(f"task {task}'s video is {named!r}, not the store's video "
                                f"{session.key!r}; pass the task of this video, or --video")
    return data, project_id, names


def _check_labels(names: LabelingNames, meta: VideoMeta, class_id: Any, project_id: int) -> None:
    """Every class the keyframes use must be a label the config offers."""
    used = sorted({meta.class_names[int(c)] for c in set(class_id.tolist())})
    missing = [name for name in used if name not in names.labels]
    if missing:
        raise InvalidInputError(
            f"project {project_id}'s labelling config offers labels {list(names.labels)} for "
            f"<Video name={names.to_name!r}>, but the boxes of video {meta.name!r} have classes "
            f"{missing}; add <Label value=...> for them")


def _check_framerate(names: LabelingNames, meta: VideoMeta, project_id: int) -> None:
    if abs(names.framerate - meta.fps) > FRAMERATE_TOLERANCE * meta.fps:
        raise InvalidInputError(
            f"project {project_id}'s <Video name={names.to_name!r}> has framerate "
            f"{names.framerate:g}, video {meta.name!r} has {meta.fps:g} fps: Label Studio would "
            f"show every box on the wrong frame; set framerate=\"{meta.fps:g}\" in the config")


def _video_name(value: str) -> str:
    """The file name a task's video URL names (a local-files `?d=` path, or the URL's path)."""
    parts = urlsplit(value)
    inner = parse_qs(parts.query).get("d")
    path = inner[0] if inner else unquote(parts.path)
    return PurePosixPath(path).name


@contextmanager
def _api(url: str, what: str) -> Iterator[None]:
    """Turn label-studio-sdk and transport errors inside into trackannot error kinds."""
    import httpx
    from label_studio_sdk.core.api_error import ApiError

    try:
        yield
    except ApiError as err:
        raise _api_error(url, what, err) from err
    except httpx.HTTPError as err:
        raise NotFoundError(f"no Label Studio answers at {url} ({what}: {type(err).__name__}: "
                            f"{err}); is the URL right and the server up?") from err


def _api_error(url: str, what: str, err: Any) -> TrackannotError:
    status = int(err.status_code or 0)
    detail = err.body.get("detail") if isinstance(err.body, dict) else None
    detail = detail or err.body
    return error_for_status(
        status, f"Label Studio at {url}, {what}: HTTP {status}: {str(detail)[:300]}",
        not_found="no such object",
        refused="the token is refused; pass a valid --token or set LABEL_STUDIO_API_KEY")
