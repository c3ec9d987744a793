"""Model versions for Label Studio: one name per state of the store, and what each one showed.

Label Studio asks the ML backend's `/setup` for a `model_version` before each round of
predictions, skips tasks that already hold a prediction of that version, and (with its default
flags) shows a task only the predictions of that version. trackannot's predictions change
whenever anyone edits a video or a run completes, so the version names the state of the whole
store: `trackannot-r<R>-<h>`, where R is the store's committed correction batches (for a store
of one video: that video's revision) and h the first 8 hex digits of a SHA-1 over each video's
key, run id, status and revision. Every prediction carries the version `/setup` names at that
moment, so Label Studio shows it, and asks again after any change.

The backend needs the other direction too: the revision of a video that a version showed (what
a reviewer saw). `ModelVersions` remembers it for every version it named (the last
`REMEMBERED`), and otherwise recomputes it when only that video changed since: R pins its
revision (the others' are known), and h confirms it. It also remembers which revisions it
served to each task.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections import OrderedDict

__all__ = ["MODEL_PREFIX", "REMEMBERED", "ModelVersions", "VideoState"]

MODEL_PREFIX = "trackannot"
REMEMBERED = 4096
"""Versions (and tasks) whose served revisions are kept."""

_VERSION = re.compile(rf"^{MODEL_PREFIX}-r(\d{{1,18}})-([0-9a-f]{{8}})$")

VideoState = tuple[str, str, int]
"""A video's (run id, status, revision; -1 unless its status is "complete")."""


def version_name(states: dict[str, VideoState]) -> str:
    """The version of a store whose videos (by key) are in `states`."""
    total = sum(s[2] for s in states.values() if s[1] == "complete")
    text = json.dumps(sorted((k, *s) for k, s in states.items()))
    return f"{MODEL_PREFIX}-r{total}-{hashlib.sha1(text.encode()).hexdigest()[:8]}"


class ModelVersions:
    """The versions a backend named, and the revisions it served (module docstring).
    Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._named: OrderedDict[str, dict[str, int]] = OrderedDict()  # version -> key -> rev
        self._tasks: OrderedDict[int, list[tuple[str, int]]] = OrderedDict()

    def name(self, states: dict[str, VideoState], served: dict[str, int] | None = None) -> str:
        """The version of `states`, with the videos of `served` at the revision a prediction
        was read at; remembered."""
        states = dict(states)
        for key, revision in (served or {}).items():
            if key in states:
                states[key] = (states[key][0], "complete", revision)
        version = version_name(states)
        revisions = {k: s[2] for k, s in states.items() if s[1] == "complete"}
        with self._lock:
            self._named[version] = revisions
            _bounded(self._named, version)
        return version

    def revision_of(self, version: str, key: str, states: dict[str, VideoState]) -> int | None:
        """The revision of video `key` that `version` showed, or None when unknown: remembered,
        else recomputed from `states` (the store now) when only that video changed since."""
        with self._lock:
            known = self._named.get(version, {})
        if key in known:
            return known[key]
        match = _VERSION.match(version)
        if match is None or key not in states:
            return None
        others = sum(s[2] for k, s in states.items() if k != key and s[1] == "complete")
        revision = int(match.group(1)) - others
        if revision < 0:
            return None
        trial = dict(states)
        trial[key] = (states[key][0], "complete", revision)
        return revision if version_name(trial) == version else None

    def served(self, task_id: int, key: str, revision: int) -> None:
        """Remember that task `task_id` was given video `key` at `revision`."""
        with self._lock:
            given = self._tasks.setdefault(task_id, [])
            if (key, revision) not in given:
                given.append((key, revision))
            _bounded(self._tasks, task_id)

    def served_to(self, task_id: int, key: str) -> list[int]:
        """The revisions of video `key` served to a task, in the order first served."""
        with self._lock:
            return [r for k, r in self._tasks.get(task_id, []) if k == key]


def _bounded(table: OrderedDict, key: object) -> None:  # type: ignore[type-arg]
    table.move_to_end(key)
    while len(table) > REMEMBERED:
        table.popitem(last=False)
