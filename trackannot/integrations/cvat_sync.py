"""Push a stored video's annotation to a CVAT task as tracks, and pull a task's tracks back.

`push_cvat` uploads the current annotation (tracks + corrections) of one video as rectangle
tracks of one CVAT task: the sparse keyframes that `trackannot export --format cvat` writes
(clipped to the frame, each track closed by an outside keyframe, so CVAT shows exactly our
boxes), in one `PUT /api/tasks/{id}/annotations/` (cvat-sdk's `tasks_api.update_annotations`
with a `LabeledDataRequest`), which replaces the task's annotations. A task that already holds
annotations is refused unless `overwrite`. Before writing it checks that the task is this
video (frames 0..n-1, step 1, the video's frame size: `GET /api/tasks/{id}/data/meta`) and has
a label for every class it sends (`GET /api/labels?task_id=...`, matched by name as CVAT does).

`pull_cvat` reads the task's annotations (`GET /api/tasks/{id}/annotations/`, a `LabeledData`)
and applies them as one corrections batch through `VideoSession.apply`: every shape CVAT
stores in a track is a keyframe; CVAT shows a track's last box to the end of the task, and a
standalone rectangle for its frame only, and so do the keyframes made of them. CVAT gives
tracks its own ids, so they are matched to the store's tracks by overlap: the mean IoU of a
CVAT track's present keyframes with the store track's boxes at those frames, one-to-one by
Hungarian assignment, pairs below `MATCH_MIN_IOU` never matched. A CVAT track matched by none is
a new track; a store track matched by none was deleted in CVAT and becomes absent from its
first frame. Source "cvat:<url> task <id>"; author the caller's. The batch is made against
`revision` (the revision `push_cvat` reported), else the revision the last pull from this task
left, else the current one: edits to cells that changed since are refused
(`StaleRevisionError`), others merge. Pulling an unchanged task again records nothing.

Needs the `cvat` extra (`pip install 'trackannot[cvat]'`, cvat-sdk 2.80). Credentials: a
personal access token, or a user name and password (a session login).

Example:
    >>> from trackannot.integrations.cvat_sync import connect, push_cvat  # doctest: +SKIP
    >>> with connect("https://cvat.example.com", token=token) as client:
    ...     pushed = push_cvat("out.zarr", client, task=12)
    ...     pull_cvat("out.zarr", client, task=12, author="ana",
    ...               revision=pushed.revision).summary.counts
    {'adjust': 3, 'absent': 1}
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from trackannot.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    TrackannotError,
    error_for_status,
)

if TYPE_CHECKING:
    from cvat_sdk import Client, models

    from trackannot.annotate import BatchSummary
    from trackannot.export.meta import VideoMeta
    from trackannot.keyframes import Keyframes
    from trackannot.session import VideoSession
    from trackannot.state import AnnotationState

__all__ = [
    "MATCH_MIN_IOU",
    "PullResult",
    "PushResult",
    "connect",
    "cvat_keyframes",
    "match_tracks",
    "pull_cvat",
    "push_cvat",
    "push_request",
]

# A CVAT track and a store track are the same object when the CVAT track's keyframes overlap
# the store track's boxes at those frames by this mean IoU (the usual "same object" threshold).
MATCH_MIN_IOU = 0.5
SOURCE = "cvat:{url} task {task}"
_RECTANGLE = "rectangle"
_TRACK_SOURCE = "auto"  # CVAT's SourceType of the tracks we push: made by a model
_LABEL_TYPES = ("any", _RECTANGLE)  # task label types that take rectangles


@dataclass(frozen=True)
class PushResult:
    """What `push_cvat` uploaded.

    Attributes:
        revision: the video's revision the tracks show; pass it to `pull_cvat`.
        replaced: annotations the task held before (tracks + shapes + tags), now gone.
    """

    video: str
    task_id: int
    revision: int
    tracks: int
    keyframes: int
    replaced: int


@dataclass(frozen=True)
class PullResult:
    """What `pull_cvat` applied.

    Attributes:
        expect_revision: the revision the edits were taken against (None: the current one).
        matched, created, deleted: CVAT tracks matched to a store track, CVAT tracks new to the
            store, store tracks that CVAT no longer has.
        summary: the batch applied (or checked, with dry_run); None when the task changes
            nothing: nothing was written.
    """

    video: str
    task_id: int
    source: str
    expect_revision: int | None
    matched: int
    created: int
    deleted: int
    summary: BatchSummary | None


@contextmanager
def connect(url: str, *, token: str | None = None, user: str | None = None,
            password: str | None = None) -> Iterator[Client]:
    """A cvat-sdk `Client` for the CVAT server at `url`, logged in; closed after the block.

    Args:
        url: http(s)://host[:port] of the server.
        token: a personal access token; or `user` and `password` (a session login).

    Raises:
        InvalidInputError: a URL that is not http(s), no or half credentials, credentials
            refused. NotFoundError: no server answers, or cvat-sdk is not installed.
    """
    if not url or not url.startswith(("http://", "https://")):
        raise InvalidInputError(f"CVAT URL {url!r}: expected http(s)://host[:port]")
    if token is None and (user is None or password is None):
        raise InvalidInputError("no CVAT credentials: pass --token (or set CVAT_ACCESS_TOKEN), "
                                "or set CVAT_USER and CVAT_PASSWORD")
    try:
        from cvat_sdk import Client
        from cvat_sdk.core.client import AccessTokenCredentials, PasswordCredentials
    except ImportError as err:
        raise NotFoundError("cvat-sdk is not installed: pip install 'trackannot[cvat]'") from err
    # no version probe: a request of its own, and the few endpoints used here are stable
    client = Client(url.rstrip("/"), check_server_version=False)
    with client:
        credentials = AccessTokenCredentials(token) if token is not None \
            else PasswordCredentials(str(user), str(password))
        with _api(url, "logging in"):
            client.login(credentials)
        yield client


# ------------------------------------------------------------------------------------- push

def push_cvat(store: str | Path, client: Client, *, task: int, video: str | None = None,
              iou_tolerance: float = 0.9, overwrite: bool = False) -> PushResult:
    """Upload the current annotation of `video` as the tracks of CVAT task `task`.

    Args:
        store, video: the store and the video (default: the store's only video).
        client: a `connect(...)` client.
        task: the CVAT task made from this video.
        iou_tolerance: sparse keyframes, as `trackannot export --iou-tolerance`.
        overwrite: replace annotations the task already holds.

    Raises:
        NotFoundError: no such store, video, task or server.
        InvalidInputError: the task is not this video (frames, step, size), lacks a label for
            a class sent, or the credentials are refused.
        ConflictError: the task already holds annotations and not `overwrite`; the server
            refused the upload or failed.
    """
    from trackannot.session import VideoSession

    session = VideoSession.open(store, video, mode="r")
    meta = session.meta
    url = client.api_map.host
    api = client.api_client
    _check_task_video(api, url, task, meta)
    labels = _task_labels(api, url, task)
    with _api(url, f"task {task}: reading its annotations"):
        current, _ = api.tasks_api.retrieve_annotations(task)
    held = len(current.tracks) + len(current.shapes) + len(current.tags)
    if held and not overwrite:
        raise ConflictError(
            f"CVAT task {task} already holds {len(current.tracks)} tracks, "
            f"{len(current.shapes)} shapes and {len(current.tags)} tags; pass --overwrite to "
            "replace them (pull them first to keep what people did: trackannot pull cvat)")
    revision, keyframes = session.keyframes_at_revision(iou_tolerance)
    body = push_request(keyframes, meta, labels)
    with _api(url, f"task {task}: uploading the tracks"):
        api.tasks_api.update_annotations(task, labeled_data_request=body)
    return PushResult(video=session.key, task_id=task, revision=revision,
                      tracks=len(body.tracks),
                      keyframes=sum(len(t.shapes) for t in body.tracks), replaced=held)


def push_request(keyframes: Keyframes, meta: VideoMeta,
                 labels: dict[str, int]) -> models.LabeledDataRequest:
    """The request body that makes a task show `keyframes`: one rectangle track per track.

    Args:
        keyframes: sparse keyframes of the video (`VideoSession.keyframes`); clipped to the
            frame and each track closed by an outside keyframe here, as the CVAT export does.
        meta: the video; class k is label `meta.class_names[k]`.
        labels: the task's label name -> label id.

    Raises:
        InvalidInputError: a class whose name is not a label of the task.
    """
    from cvat_sdk import models

    from trackannot.export.meta import check_keyframes, close_tracks, fit_to_frame

    check_keyframes(keyframes, meta, what="push_cvat")
    keys = close_tracks(fit_to_frame(keyframes, meta), meta.num_frames)
    used = sorted({meta.class_names[int(c)] for c in np.unique(keys.class_id)})
    missing = [name for name in used if name not in labels]
    if missing:
        raise InvalidInputError(
            f"the CVAT task has no label {', '.join(map(repr, missing))} (its labels: "
            f"{', '.join(map(repr, sorted(labels))) or 'none'}); add them to the task, named "
            "as the store's classes")
    ids, starts = keys.track_bounds()
    coords = keys.xyxy.astype(np.float64).tolist()  # float32 -> float64 is exact
    tracks = []
    for t in range(len(ids)):
        lo, hi = int(starts[t]), int(starts[t + 1])
        shapes = [models.TrackedShapeRequest(
            type=models.ShapeType(_RECTANGLE), frame=int(keys.frame[i]), points=coords[i],
            outside=bool(keys.outside[i]), occluded=False, z_order=0, rotation=0.0,
            attributes=[]) for i in range(lo, hi)]
        tracks.append(models.LabeledTrackRequest(
            label_id=labels[meta.class_names[int(keys.class_id[lo])]], frame=int(keys.frame[lo]),
            group=0, source=_TRACK_SOURCE, shapes=shapes, attributes=[]))
    return models.LabeledDataRequest(version=0, tags=[], shapes=[], tracks=tracks)


# ------------------------------------------------------------------------------------- pull

def pull_cvat(store: str | Path, client: Client, *, task: int, author: str,
              video: str | None = None, revision: int | None = None,
              lock_timeout: float | None = None, dry_run: bool = False) -> PullResult:
    """Apply the annotations of CVAT task `task` to `video` as one corrections batch.

    Args:
        store, video, client, task: as for `push_cvat`.
        author: recorded with every edit.
        revision: the revision the task's tracks were pushed at (`PushResult.revision`).
        lock_timeout: seconds to wait while another process writes the video.
        dry_run: check the batch against the store, write nothing.

    Returns:
        What was applied (module docstring); `summary` None when nothing changed.

    Raises:
        NotFoundError: no such store, video, task or server.
        InvalidInputError: the task is not this video; it holds tags, shapes other than
            rectangles, rotated rectangles or labels that are not the store's classes (named);
            it holds nothing; a box outside the frame; credentials refused.
        ConflictError: `StaleRevisionError` (cells changed since `revision`, named),
            `LockedError`, or the run of the video is not complete.
    """
    from trackannot.replay import read_state
    from trackannot.session import VideoSession

    session = VideoSession.open(store, video, mode="r" if dry_run else "a",
                                lock_timeout=lock_timeout)
    meta = session.meta
    url = client.api_map.host
    api = client.api_client
    _check_task_video(api, url, task, meta)
    names = {label_id: name for name, label_id in _task_labels(api, url, task).items()}
    with _api(url, f"task {task}: reading its annotations"):
        data, _ = api.tasks_api.retrieve_annotations(task)
    source = SOURCE.format(url=url, task=task)
    expect = revision if revision is not None else _last_pull(session, source)
    keyframes = cvat_keyframes(data, names, meta, f"CVAT task {task}")
    seen = read_state(session.result, until=expect) \
        if expect is not None and expect < session.revision else session.state()
    ours, matched = match_tracks(keyframes, seen, start_id=max(session.track_ids, default=-1) + 1)
    kept = set(ours.track_id.tolist())
    deleted = sum(1 for t in seen.track_ids if t not in kept and len(seen.track_boxes(t)))
    counts = {"matched": matched, "created": len(set(ours.track_id.tolist())) - matched,
                  "deleted": deleted}
    trial = session.apply(ours, author=author, source=source, expect_revision=expect,
                          replace_tracks=True, dry_run=True)
    if not trial.counts or dry_run:
        return PullResult(session.key, task, source, expect, **counts,
                          summary=trial if trial.counts else None)
    summary = session.apply(ours, author=author, source=source, expect_revision=expect,
                            replace_tracks=True)
    return PullResult(session.key, task, source, expect, **counts, summary=summary)


def cvat_keyframes(data: models.LabeledData, labels: dict[int, str], meta: VideoMeta,
                   where: str) -> Keyframes:
    """The keyframes a task's annotations show, with CVAT's track ids (shapes: 2**40 + index).

    Every shape of a track is a keyframe (CVAT stores keyframes only); a track whose last
    keyframe is a box keeps it to the end of the video, as CVAT shows it. A standalone
    rectangle is a track of its frame only (closed by an outside keyframe after it).

    Args:
        data: `GET /api/tasks/{id}/annotations/`.
        labels: the task's label id -> name; names map to classes by `meta.class_names`.
        where: names the task in messages.

    Raises:
        InvalidInputError: tags, a shape that is not a rectangle, a rotated rectangle, a track
            with elements, a label that is not one of the store's classes, or no rectangle at
            all; the message names the track or shape, its frame and what was expected.
    """
    from trackannot.export.meta import propagate_to_end
    from trackannot.keyframes import Keyframes

    if data.tags:
        raise InvalidInputError(f"{where} holds {len(data.tags)} tags (frame {data.tags[0].frame} "
                                "first); trackannot reads rectangles: delete the tags")
    rows: list[tuple[int, int, bool, int, list[float]]] = []  # track, frame, outside, class, box
    for track in data.tracks:
        what = f"{where}: track {track.id}"
        if getattr(track, "elements", None):
            raise InvalidInputError(f"{what} has elements (a skeleton); trackannot reads "
                                    "rectangles")
        class_id = _class_of(track.label_id, labels, meta, what)
        for shape in track.shapes:
            _check_rectangle(shape, f"{what} frame {shape.frame}")
            rows.append((int(track.id), int(shape.frame), bool(shape.outside), class_id,
                         list(shape.points)))
    for i, shape in enumerate(data.shapes):
        what = f"{where}: shape {shape.id} (frame {shape.frame})"
        _check_rectangle(shape, what)
        class_id = _class_of(shape.label_id, labels, meta, what)
        track_id = 2**40 + i  # outside CVAT's id range; only its difference from others counts
        rows.append((track_id, int(shape.frame), False, class_id, list(shape.points)))
        if shape.frame + 1 < meta.num_frames:
            rows.append((track_id, int(shape.frame) + 1, True, class_id, list(shape.points)))
    if not rows:
        raise InvalidInputError(f"{where} holds no rectangles; nothing to pull")
    track_id, frame, outside, class_id, xyxy = zip(*rows)
    keys = Keyframes.create(track_id=track_id, frame=frame, outside=outside, class_id=class_id,
                            xyxy=xyxy)
    return propagate_to_end(keys, meta.num_frames)


def match_tracks(keyframes: Keyframes, state: AnnotationState,
                 start_id: int) -> tuple[Keyframes, int]:
    """`keyframes` (a tool's track ids) renumbered to the store tracks they are.

    Args:
        keyframes: the tool's keyframes.
        state: the annotation the tool was given.
        start_id: first id for tracks new to the store (above every id it has).

    Returns:
        (keyframes with store ids, number of tracks matched); see the module docstring.
    """
    from trackannot.keyframes import Keyframes
    from trackannot.track.assign import assign_tracks

    tool_ids, starts = keyframes.track_bounds()
    store_ids = [t for t in state.track_ids if len(state.track_boxes(t))]
    overlap = np.zeros((len(tool_ids), len(store_ids)), np.float32)
    for j, track in enumerate(store_ids):
        boxes = state.track_boxes(track)
        for i in range(len(tool_ids)):
            keys = keyframes[int(starts[i]):int(starts[i + 1])]
            overlap[i, j] = _mean_iou(keys, boxes.frame, boxes.xyxy)
    found = assign_tracks(overlap, MATCH_MIN_IOU)
    new_id = dict(zip(found.rows.tolist(), (store_ids[c] for c in found.cols.tolist())))
    for k, row in enumerate(found.unmatched_rows.tolist()):
        new_id[row] = start_id + k
    counts = np.diff(starts)
    track_id = np.repeat([new_id[i] for i in range(len(tool_ids))], counts)
    renumbered = Keyframes.create(track_id=track_id, frame=keyframes.frame, xyxy=keyframes.xyxy,
                                  outside=keyframes.outside, class_id=keyframes.class_id)
    return renumbered, len(found.rows)


def _mean_iou(keys: Keyframes, frame: npt.NDArray[np.int64],
              xyxy: npt.NDArray[np.float32]) -> float:
    """Mean IoU of the present keyframes with the boxes (frame, xyxy) at their frames (0
    where those boxes have none)."""
    from trackannot.boxes import pair_iou

    present = keys[~keys.outside]
    if not len(present):
        return 0.0
    at = np.searchsorted(frame, present.frame)
    hit = (at < len(frame)) & (frame[np.minimum(at, len(frame) - 1)] == present.frame)
    iou = np.zeros(len(present))
    if hit.any():
        iou[hit] = pair_iou(present.xyxy[hit], xyxy[at[hit]])
    return float(iou.mean())


def _class_of(label_id: int, labels: dict[int, str], meta: VideoMeta, what: str) -> int:
    name = labels.get(int(label_id))
    if name is None or name not in meta.class_names:
        shown = repr(name) if name is not None else f"id {label_id} (not a label of the task)"
        raise InvalidInputError(f"{what}: label {shown}; expected one of the store's classes "
                                f"{list(meta.class_names)}")
    return meta.class_names.index(name)


def _check_rectangle(shape: Any, what: str) -> None:
    kind = shape.type.value if hasattr(shape.type, "value") else str(shape.type)
    if kind != _RECTANGLE:
        raise InvalidInputError(f"{what}: a {kind!r}; trackannot reads rectangles only")
    if float(getattr(shape, "rotation", 0.0) or 0.0) != 0.0:
        raise InvalidInputError(f"{what}: rotated by {shape.rotation} degrees; trackannot "
                                "reads axis-aligned rectangles (rotation 0)")
    if len(shape.points) != 4:
        raise InvalidInputError(f"{what}: {len(shape.points)} points; a rectangle has 4")


def _last_pull(session: VideoSession, source: str) -> int | None:
    """The revision after the last batch pulled from this task (None: never pulled)."""
    found = None
    for record in session.result.batches():
        if str(record.get("source") or "") == source:
            found = int(record["number"]) + 1
    return found


# ------------------------------------------------------------------------------------ checks

def _check_task_video(api: Any, url: str, task: int, meta: VideoMeta) -> None:
    """Refuse a task that is not this video: frames 0..n-1, step 1, the video's frame size."""
    with _api(url, f"task {task}: reading its data"):
        data, _ = api.tasks_api.retrieve_data_meta(task)
    size = int(data.size)
    step = str(getattr(data, "frame_filter", "") or "")
    frames = data.frames or []
    shape = (int(frames[0].width), int(frames[0].height)) if frames else None
    problems = []
    if size != meta.num_frames:
        problems.append(f"{size} frames, the video {meta.num_frames}")
    if int(data.start_frame) != 0 or int(data.stop_frame) != meta.num_frames - 1:
        problems.append(f"frames {data.start_frame}..{data.stop_frame}, the video "
                        f"0..{meta.num_frames - 1}")
    if step not in ("", "step=1"):
        problems.append(f"frame filter {step!r}, expected every frame")
    if shape != (meta.width, meta.height):
        got = f"frame size {shape[0]}x{shape[1]}" if shape else "no frames"
        problems.append(f"{got}, the video {meta.width}x{meta.height}")
    if problems:
        raise InvalidInputError(
            f"CVAT task {task} is not video {meta.name!r}: " + "; ".join(problems) +
            "; create the task from the same video file, with every frame (start 0, step 1)")


def _task_labels(api: Any, url: str, task: int) -> dict[str, int]:
    """The task's labels that take rectangles: name -> id."""
    from cvat_sdk.core.helpers import get_paginated_collection

    with _api(url, f"task {task}: reading its labels"):
        labels = get_paginated_collection(api.labels_api.list_endpoint, task_id=task)
    return {str(label.name): int(label.id) for label in labels
            if str(getattr(label, "type", "any") or "any") in _LABEL_TYPES
            and not getattr(label, "parent_id", None)}


@contextmanager
def _api(url: str, what: str) -> Iterator[None]:
    """Turn cvat-sdk and transport errors inside into trackannot error kinds."""
    import urllib3
    from cvat_sdk.api_client.exceptions import ApiException

    try:
        yield
    except ApiException as err:
        raise _api_error(url, what, err) from err
    except (urllib3.exceptions.HTTPError, OSError) as err:
        raise NotFoundError(f"no CVAT server answers at {url} ({what}: {type(err).__name__}: "
                            f"{err}); is the URL right and the server up?") from err


def _api_error(url: str, what: str, err: Any) -> TrackannotError:
    status = int(err.status or 0)
    body = err.body.decode("utf-8", "replace") if isinstance(err.body, bytes) \
        else str(err.body or err.reason or "")
    return error_for_status(
        status, f"CVAT at {url}, {what}: HTTP {status}: {body[:300]}",
        not_found="no such task, or not visible to this user",
        refused="the credentials are refused; pass a valid --token (or CVAT_ACCESS_TOKEN), or "
                "CVAT_USER and CVAT_PASSWORD")
