"""Label Studio ML backend: predictions from a store, and reviewers' annotations back into it.

`LabelStudioBackend` answers Label Studio's ML backend calls over one store; `create_app` puts
it behind HTTP (`trackannot serve labelstudio STORE`). The calls, as Label Studio 1.23 makes
them (`label_studio/ml/api_connector.py`, `ml/models.py`, `webhooks/`) and as
HumanSignal/label-studio-ml-backend answers them (`label_studio_ml/api.py`):

* `GET /health` (and `/`): `{"status": "UP", ...}`; Label Studio checks it before each call.
* `POST /setup` `{project, schema, hostname, access_token, extra_params}`, before every round of
  predictions: answers `{"model_version"}`. The labelling config (`schema`) must have a `<Video>`
  with a `<VideoRectangle>` (else 422, and Label Studio shows the backend in error).
* `POST /predict` `{tasks, project, label_config, params}`: `{"results": [...], "model_version"}`
  with one list of predictions per task, in order. A task whose video is tracked gets one
  `videorectangle` prediction with the sparse keyframes (as `trackannot export --format
  labelstudio-predictions`); a video the store lacks is tracked in the background
  (`TrackingJobs`) and its task gets no prediction yet; `tasks` says per task what is ready
  (status, frames committed) and why. Nothing waits for tracking.
* `POST /webhook` `{action, annotation, task, project}`: Label Studio registers `<url>/webhook`
  for every action when the backend is connected. ANNOTATION_CREATED and ANNOTATION_UPDATED
  become one corrections batch (`VideoSession.apply`), author the Label Studio user, source
  "labelstudio task T annotation A", diffed against the revision the reviewer saw; other
  actions are acknowledged and ignored.

Model versions. Every prediction carries the version `/setup` names, `trackannot-r<R>-<h>`:
the state of the whole store (`labelstudio_versions`), so any edit, or a run finishing, makes
Label Studio's "Retrieve predictions" ask again and show the current annotation.

What the reviewer saw. A webhook's edits are diffed against the annotation at that revision
(`VideoSession.apply(..., expect_revision=...)`: cells others changed since are refused with 409
and named, other cells merge). Predicted regions are named "t<track>-r<revision>", and Label
Studio keeps region ids in the annotations made from them, so the revision is found: for an
updated annotation, from the batch its last submission made (the log's sources); for a new one,
from its regions' ids; failing that (regions named by hand), when it started from a prediction
(`parent_prediction`), from the revision the backend served the task (it remembers), else from
the prediction's version read back through Label Studio's API; when none is known the
annotation is refused (409) rather than applied against a revision the reviewer may not have
seen. An annotation with none of our regions and no `parent_prediction` was drawn from nothing:
it only adds and moves tracks, and tracks it lacks are kept.

Frames. Label Studio frame F is store frame F - 1 when the config's `<Video framerate>` equals
the video's constant rate; otherwise (another rate, variable frame rate) frames are mapped by
time (`trackannot.integrations.labelstudio_frames`) and `tasks` carries a note.

Stores. STORE is a local directory or `s3://bucket/prefix` (the same store code opens both,
`trackannot.store`): the scale-out case, where workers track into object storage and this
backend serves from it. Everything above holds there: reads go through zarr's `ObjectStore`,
webhooks append their batch under the video's lease (the object-storage writer lock), and
background runs write the store directly. Videos given by URL are downloaded to a local folder
(`default_download_dir`).

Framework: Starlette (ASGI) served by uvicorn. Starlette is small and well kept (Encode; FastAPI
is built on it), runs handlers in a thread pool so store I/O never blocks the event loop, and
its TestClient drives the app in-process for tests. FastAPI's pydantic models would add a second
validation layer with its own messages; here every payload goes through the same checks as files
(`labelstudio_keyframes`, `load_json`) so a refusal names the JSON path, and errors map to
status codes by kind (`trackannot.errors.http_status`).
"""

from __future__ import annotations

import os
import threading
import time
import urllib.parse
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from trackannot.errors import (
    ConflictError, InputFormatError, NotFoundError, StoreNotFoundError, TrackannotError,
)
from trackannot.export.labelstudio import (
    format_labelstudio, labelstudio_keyframes, region_revision, region_track_id,
)
from trackannot.integrations.labelstudio_frames import FrameGrid
from trackannot.integrations.labelstudio_tasks import LabelConfig, LabelStudioApi, locate_video
from trackannot.integrations.labelstudio_versions import REMEMBERED, ModelVersions, VideoState
from trackannot.integrations.tracking_jobs import TrackingJobs

if TYPE_CHECKING:
    from trackannot.boxes import Boxes
    from trackannot.keyframes import Keyframes
    from trackannot.session import VideoSession
    from trackannot.store import Remote

__all__ = ["LabelStudioBackend", "create_app", "default_download_dir"]

EDIT_ACTIONS = ("ANNOTATION_CREATED", "ANNOTATION_UPDATED")


@dataclass
class _Project:
    """What `/setup` told about one Label Studio project."""

    config: LabelConfig = field(default_factory=LabelConfig)
    hostname: str | None = None
    token: str | None = None


class LabelStudioBackend:
    """Label Studio's ML backend calls over one store (module docstring).

    Args:
        store: the store, a directory or `s3://bucket/prefix` (`trackannot.store.location`);
            created by the first background run when missing. On object storage the bucket
            must exist and take the credentials (checked here, before anything is served), a
            video's writer lock is its lease, and the background runs write through obstore.
        jobs: background tracking of videos the store lacks; None: such tasks are reported,
            not tracked.
        local_root: Label Studio's local files document root (`/data/local-files/?d=`).
        download_dir: where videos given by URL are downloaded (default:
            `default_download_dir`).
        iou_tolerance: sparse keyframes: the fewest whose interpolation keeps this IoU.
        label_studio_url, label_studio_token: Label Studio's URL and an API token (legacy or
            personal access token), for reading back a prediction's version and the user's
            email; by default those `/setup` sends.
        lock_timeout: seconds a webhook waits for another writer of the video.

    Raises:
        StoreNotFoundError: an s3:// store whose bucket does not exist.
        StoreInputError: an s3:// store whose endpoint refuses the credentials or cannot be
            reached; a URL of another scheme.
    """

    def __init__(self, store: str | Path | Remote, *, jobs: TrackingJobs | None = None,
                 local_root: str | Path | None = None, download_dir: str | Path | None = None,
                 iou_tolerance: float = 0.9, label_studio_url: str | None = None,
                 label_studio_token: str | None = None,
                 lock_timeout: float | None = None) -> None:
        from trackannot.store import Remote, ensure_reachable, location

        self.store: Path | Remote = location(store)
        if isinstance(self.store, Remote):
            ensure_reachable(self.store)  # a missing bucket or refused key: say so before serving
        self.jobs = jobs
        self.local_root = Path(local_root) if local_root is not None else None
        self.download_dir = Path(download_dir) if download_dir is not None else \
            default_download_dir(self.store)
        self.iou_tolerance = iou_tolerance
        self.lock_timeout = lock_timeout
        self._default = _Project(hostname=label_studio_url, token=label_studio_token)
        self._projects: dict[str, _Project] = {}
        self._sessions: dict[str, VideoSession] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._grids: dict[tuple[str, str, float], FrameGrid] = {}
        self._guard = threading.Lock()
        self._versions = ModelVersions()
        self._outcomes: OrderedDict[int, dict[str, Any]] = OrderedDict()  # by annotation
        self._users: dict[int, str] = {}

    # ------------------------------------------------------------------------------ calls

    def health(self) -> dict[str, Any]:
        return {"status": "UP", "model_class": "trackannot", "store": str(self.store)}

    def setup(self, payload: Any) -> dict[str, Any]:
        """`/setup`: remember the project's config and Label Studio's URL; the model version."""
        body = _object(payload, "setup request")
        project = self._project_of(body.get("project"))
        project.config = LabelConfig.parse(body.get("schema"), "setup request schema")
        # what the server was started with wins over what Label Studio sends
        project.hostname = self._default.hostname or _text(body.get("hostname")) or \
            project.hostname
        project.token = self._default.token or _text(body.get("access_token")) or project.token
        return {"model_version": self.model_version()}

    def predict(self, payload: Any) -> dict[str, Any]:
        """`/predict`: per task its predictions (none while its video is being tracked).

        Raises:
            InputFormatError: a malformed request or labelling config (422).
            NotFoundError: no task's video could be found (404).
        """
        body = _object(payload, "predict request")
        tasks = body.get("tasks")
        if not isinstance(tasks, list) or not tasks:
            raise InputFormatError(f"predict request: 'tasks' is {tasks!r:.80}, expected a "
                                   "non-empty list of tasks")
        project = self._project_of(body.get("project"))
        if body.get("label_config") is not None:
            project.config = LabelConfig.parse(body["label_config"], "predict request "
                                               "label_config")
        results, notes, served = [], [], {}
        read: dict[str, tuple[Keyframes, Boxes, int]] = {}  # one revision per video and call
        for i, task in enumerate(tasks):
            predictions, note, revision = self._predict_task(task, project, f"tasks[{i}]", read)
            results.append(predictions)
            notes.append(note)
            if revision is not None:
                served[note["video"]] = revision
        if all(n["status"] == "not_found" for n in notes):
            raise NotFoundError("; ".join(n["message"] for n in notes))
        version = self.model_version(served)
        for predictions, note in zip(results, notes):
            for prediction in predictions:
                prediction["model_version"] = version
                self._versions.served(note["task"], note["video"], note["revision"])
        return {"results": results, "model_version": version, "tasks": notes,
                "message": "; ".join(f"task {n['task']}: {n['message']}" for n in notes)}

    def webhook(self, payload: Any) -> dict[str, Any]:
        """`/webhook`: an annotation becomes one corrections batch of its task's video.

        Raises:
            InputFormatError: a malformed annotation, frames past the end, boxes outside the
                frame (422); NotFoundError: a task whose video the store lacks (404);
                ConflictError: edits to cells others changed since the reviewer's revision,
                the revision unknown, or the video still being tracked (409).
        """
        body = _object(payload, "webhook")
        action = body.get("action")
        if action not in EDIT_ACTIONS:
            return {"status": "ignored", "action": action}
        annotation = _object(body.get("annotation"), "webhook annotation")
        ann_id = _integer(annotation.get("id"), "webhook annotation.id")
        task = _object(body.get("task"), "webhook task")
        task_id = _integer(task.get("id"), "webhook task.id")
        where = f"webhook task {task_id} annotation {ann_id}"
        if annotation.get("was_cancelled"):
            return {"status": "ignored", "action": action, "reason": "the task was skipped"}
        project = self._webhook_project(body.get("project"), where)
        started = time.perf_counter()
        try:
            outcome = self._apply(annotation, ann_id, task, task_id, project, where)
        except TrackannotError as err:
            self._remember_outcome(ann_id, {"task": task_id, "status": "refused",
                                            "annotation": ann_id, "error": str(err)})
            raise
        outcome["seconds"] = round(time.perf_counter() - started, 4)
        self._remember_outcome(ann_id, {"task": task_id, **outcome})
        return outcome

    def status(self) -> dict[str, Any]:
        """What a person checking on the server wants: each video's progress, the background
        runs, and the last webhook outcome of each annotation (oldest first)."""
        videos = []
        for key in self._store_keys():
            try:
                videos.append(self._session(key).progress())
            except TrackannotError as err:
                videos.append({"video": key, "status": "unreadable", "error": str(err)})
        jobs = [j.as_dict() for j in self.jobs.all()] if self.jobs is not None else []
        return {"store": str(self.store), "model_version": self.model_version(),
                "videos": videos, "jobs": jobs,
                "webhooks": list(self._outcomes.values())}

    def close(self) -> None:
        if self.jobs is not None:
            self.jobs.close()

    # ------------------------------------------------------------------------------ versions

    def model_version(self, served: dict[str, int] | None = None) -> str:
        """The store's model version (`labelstudio_versions`); `served` pins videos to the
        revision a prediction was read at."""
        return self._versions.name(self._entries(), served)

    def _entries(self) -> dict[str, VideoState]:
        """Each video's (run id, status, revision; -1 unless complete), by key."""
        entries = {}
        for key in self._store_keys():
            result = self._session(key).result
            status = result.status
            revision = result.log_info().batches if status == "complete" else -1
            entries[key] = (str(result.attrs.get("uid")), status, revision)
        return entries

    def _store_keys(self) -> list[str]:
        from trackannot.store import open_store

        try:
            return list(open_store(self.store, mode="r").videos)
        except StoreNotFoundError:
            return []  # not created yet: the first background run makes it

    # ------------------------------------------------------------------------------ predict

    def _predict_task(self, task: Any, project: _Project, where: str,
                      read: dict[str, tuple[Keyframes, Boxes, int]]
                      ) -> tuple[list[dict[str, Any]], dict[str, Any], int | None]:
        """(predictions, note, revision served) of one task; `read` keeps each video's
        keyframes for the other tasks of the call (all show one revision)."""
        task = _object(task, where)
        task_id = _integer(task.get("id"), f"{where}.id")
        data = _object(task.get("data"), f"{where}.data")
        note: dict[str, Any] = {"task": task_id, "video": None, "revision": None}
        try:
            key = self._video_key(data, project, f"{where}.data")
        except NotFoundError as err:
            return [], note | {"status": "not_found", "message": str(err)}, None
        note["video"] = key
        if key not in self._store_keys() or self._session(key).status == "running":
            return [], note | self._tracking_note(key, data, project, f"{where}.data"), None
        session = self._session(key)
        if session.status != "complete":
            error = session.result.attrs.get("error") or "see `trackannot check`"
            return [], note | {"status": session.status,
                               "message": f"tracking {key} failed: {error}"}, None
        with self._lock(key):
            if key not in read:
                read[key] = _keyframes_at_one_revision(session, self.iou_tolerance)
            keys, boxes, revision = read[key]
            meta = session.meta
            grid = self._grid(session, project.config.framerate_for(data, f"{where}.data"))
            keys = grid.keyframes_to_grid(keys, boxes)
        predicted = format_labelstudio(
            keys, grid.meta(meta), as_predictions=True, revision=revision,
            from_name=project.config.from_name, to_name=project.config.video_name,
            data_key=project.config.data_key)[0]["predictions"][0]
        message = f"{key}: {len(predicted['result'])} tracks at revision {revision}"
        missing = [n for n in meta.class_names if project.config.labels
                   and n not in project.config.labels]
        if missing:
            message += (f"; the labelling config lacks the labels {missing} (the store's "
                        "classes): add them so Label Studio can show those tracks")
        if not grid.identity:
            message += (f"; Label Studio counts {grid.frames_count} frames at "
                        f"{grid.framerate:g} fps, the video has {meta.num_frames} decoded "
                        f"frames at {meta.fps:g} fps: frames are matched by time")
        return [predicted], note | {"status": "complete", "revision": revision,
                                    "message": message}, revision

    def _tracking_note(self, key: str, data: dict[str, Any], project: _Project,
                       where: str) -> dict[str, Any]:
        """Start (or report) the background run of a video the store lacks or is tracking."""
        in_store = key in self._store_keys()
        progress = self._session(key).progress() if in_store else None
        job = self.jobs.get(key) if self.jobs is not None else None
        elsewhere = in_store and (job is None or not job.alive) and \
            _locked_elsewhere(self.store, key)
        if (job is None or not job.alive) and not elsewhere:
            # nobody is tracking it: this server does (an interrupted run resumes)
            source = locate_video(data.get(project.config.data_key), local_root=self.local_root,
                                  download_dir=self.download_dir, hostname=project.hostname,
                                  where=where)
            if self.jobs is None:
                done = (f"its run stopped after {progress['frames_committed']} of "
                        f"{progress['num_frames']} frames" if progress else "it has no run")
                raise NotFoundError(f"{where}: the store has no complete video {key!r} ({done}) "
                                    "and this server tracks nothing (start it with --weights "
                                    "or --detections-dir)")
            headers = LabelStudioApi(project.hostname, project.token).headers() \
                if source.url else None
            job = self.jobs.start(key, source, headers)
        if job is not None and job.state == "failed":
            return {"status": "failed", "message": f"tracking {key} failed: {job.message}"}
        done = f"{progress['frames_committed']} of {progress['num_frames']} frames committed" \
            if progress is not None else "starting"
        by = "another process" if elsewhere else "this server"
        return {"status": "tracking", "message": f"{key} is being tracked by {by} ({done}); "
                "retrieve predictions again when it is complete"} | (
                    {"frames_committed": progress["frames_committed"],
                     "num_frames": progress["num_frames"]} if progress else {})

    def _video_key(self, data: dict[str, Any], project: _Project, where: str) -> str:
        """The store key of a task's video: its file name's stem, as `trackannot track`
        names it."""
        from trackannot.store import video_key

        reference = data.get(project.config.data_key)
        if not isinstance(reference, str) or not reference.strip():
            raise InputFormatError(f"{where}.{project.config.data_key} is {reference!r:.80}, "
                                   "expected the video's URL or path")
        parsed = urllib.parse.urlsplit(reference)
        name = urllib.parse.parse_qs(parsed.query).get("d", [parsed.path])[0]
        if not Path(urllib.parse.unquote(name)).name:
            raise NotFoundError(f"{where}: cannot tell a video file from {reference!r:.120}")
        return video_key(Path(urllib.parse.unquote(name)).name)

    # ------------------------------------------------------------------------------ webhook

    def _apply(self, annotation: dict[str, Any], ann_id: int, task: dict[str, Any],
               task_id: int, project: _Project, where: str) -> dict[str, Any]:
        data = _object(task.get("data"), f"{where} task.data")
        key = self._video_key(data, project, f"{where} task.data")
        if key not in self._store_keys():
            raise StoreNotFoundError(f"{where}: the store has no video {key!r} (its task was "
                                     "never predicted by this backend, or another store)")
        result = annotation.get("result")
        if not isinstance(result, list):
            raise InputFormatError(f"{where}: result is {result!r:.80}, expected a list")
        regions = [r for r in result if isinstance(r, dict) and r.get("type") == "videorectangle"
                   and r.get("from_name", project.config.from_name) == project.config.from_name]
        session = self._session(key)
        with self._lock(key):
            meta = session.meta
            grid = self._grid(session, project.config.framerate_for(data, f"{where} task.data"))
            keys = grid.keyframes_from_grid(
                labelstudio_keyframes(regions, grid.meta(meta), f"{where} result"))
            keys = _new_tracks_get_new_ids(keys, {region_track_id(r) for r in regions},
                                           session.track_ids)
            seen, based_on = self._seen_revision(session, task_id, ann_id, annotation, regions,
                                                 project, where)
            summary = session.apply(keys, author=self._author(annotation, project),
                                    source=f"labelstudio task {task_id} annotation {ann_id}",
                                    expect_revision=seen, replace_tracks=seen is not None)
        return {"status": "applied", "video": key, "annotation": ann_id, "batch": summary.batch,
                "revision": summary.revision, "counts": summary.counts, "seen_revision": seen,
                "based_on": based_on}

    def _seen_revision(self, session: VideoSession, task_id: int, ann_id: int,
                       annotation: dict[str, Any], regions: list[dict[str, Any]],
                       project: _Project, where: str) -> tuple[int | None, str]:
        """The revision the reviewer's annotation was made against, and how it was found
        (module docstring); None for an annotation started from nothing. Regions served at
        different revisions (pasted together) count as the oldest: a conflict, not a silent
        overwrite."""
        source = f"labelstudio task {task_id} annotation {ann_id}"
        mine = [b for b in session.result.batches() if b.get("source") == source]
        if mine:
            return int(mine[-1]["number"]) + 1, "its previous submission"
        shown = {region_revision(r) for r in regions} - {None}
        if shown:  # the regions' ids say which revision they were served at
            return min(shown), "the revision its regions were served at"
        if annotation.get("parent_prediction") is None:
            return None, "nothing (not started from a prediction): tracks are only added"
        served = self._versions.served_to(task_id, session.key)
        if len(served) == 1:
            return served[0], "the prediction served for the task"
        version = self._prediction_version(annotation["parent_prediction"], project)
        revision = self._versions.revision_of(version, session.key, self._entries()) \
            if version else None
        if revision is not None:
            return revision, f"its prediction's model version {version}"
        if served:
            return min(served), "the oldest prediction served for the task"
        raise ConflictError(
            f"{where}: cannot tell which revision of {session.key} the annotation was made "
            f"against (prediction {annotation['parent_prediction']} was not served by this "
            "server run, and its model version could not be read from Label Studio: pass "
            "--label-studio-url and --label-studio-token); retrieve predictions and "
            "resubmit the task")

    def _author(self, annotation: dict[str, Any], project: _Project) -> str:
        """The Label Studio user: their email when Label Studio's API tells it."""
        user = annotation.get("completed_by")
        if isinstance(user, dict):
            return str(user.get("email") or f"labelstudio-user-{user.get('id')}")
        if not isinstance(user, int) or isinstance(user, bool):
            return "labelstudio-user-unknown"
        if user not in self._users:
            record = LabelStudioApi(project.hostname, project.token).get(f"/api/users/{user}")
            email = record.get("email") if isinstance(record, dict) else None
            if not email:
                return f"labelstudio-user-{user}"
            self._users[user] = str(email)
        return self._users[user]

    def _prediction_version(self, prediction: Any, project: _Project) -> str | None:
        if not isinstance(prediction, int) or isinstance(prediction, bool):
            return None
        api = LabelStudioApi(project.hostname, project.token)
        record = api.get(f"/api/predictions/{prediction}")
        version = record.get("model_version") if isinstance(record, dict) else None
        return str(version) if version else None

    def _webhook_project(self, project: Any, where: str) -> _Project:
        if not isinstance(project, dict):
            return self._project_of(None)
        known = self._project_of(project.get("id"))
        if project.get("label_config") is not None:
            known.config = LabelConfig.parse(project["label_config"],
                                             f"{where} project.label_config")
        return known

    # ------------------------------------------------------------------------------ state

    def _project_of(self, uid: Any) -> _Project:
        """The project named by `/setup`'s "12.1700000000" or a webhook's id 12."""
        name = str(uid).split(".")[0] if uid is not None else ""
        with self._guard:
            if name not in self._projects:
                self._projects[name] = _Project(hostname=self._default.hostname,
                                                token=self._default.token)
            return self._projects[name]

    def _session(self, key: str) -> VideoSession:
        from trackannot.session import VideoSession

        with self._guard:
            session = self._sessions.get(key)
        if session is None or session.store_path != self.store:
            session = VideoSession.open(self.store, key, lock_timeout=self.lock_timeout)
            with self._guard:
                self._sessions[key] = session
        return session

    def _lock(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def _grid(self, session: VideoSession, framerate: float) -> FrameGrid:
        """The video's Label Studio frames at `framerate` (kept: a complete video's frames do
        not change)."""
        result = session.result
        cache = (session.key, str(result.attrs.get("uid")), framerate)
        if cache not in self._grids:
            index, time_s = result.frames()
            self._grids[cache] = FrameGrid.for_video(index, time_s, session.num_frames,
                                                     session.meta.fps, framerate)
        return self._grids[cache]

    def _remember_outcome(self, ann_id: int, outcome: dict[str, Any]) -> None:
        with self._guard:
            self._outcomes[ann_id] = outcome
            self._outcomes.move_to_end(ann_id)
            while len(self._outcomes) > REMEMBERED:
                self._outcomes.popitem(last=False)


# ---------------------------------------------------------------------------------- helpers

def _keyframes_at_one_revision(session: VideoSession, iou_tolerance: float
                               ) -> tuple[Keyframes, Boxes, int]:
    """The sparse keyframes, the boxes and the revision they show (read again if a batch
    landed while they were read)."""
    while True:
        revision = session.revision
        boxes = session.boxes()
        keys = session.keyframes(iou_tolerance)
        if session.revision == revision:
            return keys, boxes, revision


def _new_tracks_get_new_ids(keys: Keyframes, named: set[int | None],
                            existing: list[int]) -> Keyframes:
    """Tracks drawn in Label Studio (region ids that name no track) get ids no track of the
    video has, so they are created, never mistaken for an existing track."""
    fresh = sorted(set(keys.track_id.tolist()) - {t for t in named if t is not None})
    if not fresh:
        return keys
    start = max([*existing, *(t for t in named if t is not None), -1]) + 1
    mapping = {old: start + i for i, old in enumerate(fresh)}
    return keys.replace(track_id=np.array([mapping.get(t, t) for t in keys.track_id.tolist()],
                                          np.int64))


def default_download_dir(store: Path | Remote) -> Path:
    """Where videos given by URL are downloaded unless told: `STORE.videos` beside a local
    store. A store on object storage has no "beside" on this machine, so its videos go to this
    machine's cache: `$XDG_CACHE_HOME/trackannot/s3/BUCKET/PREFIX.videos` (`~/.cache` when the
    variable is unset), one folder per store.
    """
    if isinstance(store, Path):
        return store.with_name(store.name + ".videos")
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    folder = cache.joinpath("trackannot", "s3", store.bucket, *store.prefix.split("/"))
    return folder.with_name(folder.name + ".videos")


def _locked_elsewhere(store: Path | Remote, key: str) -> bool:
    """Whether another process holds the video's writer lock (is tracking it) now: its file
    lock, or on object storage its lease (`trackannot.store.group_lock` gives either)."""
    from trackannot.errors import LockedError
    from trackannot.store import group_lock

    try:
        with group_lock(store, key, "trackannot serve labelstudio (probe)", timeout=0):
            return False
    except LockedError:
        return True


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InputFormatError(f"{where} is {value!r:.80}, expected a JSON object")
    return value


def _integer(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputFormatError(f"{where} is {value!r:.80}, expected an integer id")
    return value


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def create_app(backend: LabelStudioBackend) -> Any:
    """The ASGI app (Starlette) serving `backend`; see `trackannot.integrations.labelstudio_app`."""
    from trackannot.integrations.labelstudio_app import make_app

    return make_app(backend)
