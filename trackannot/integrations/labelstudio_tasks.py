"""What a Label Studio task asks for: the labelling config's video controls, and the task's video.

`LabelConfig.parse` reads the tags the ML backend needs from a labelling config (Label Studio
sends it with `/setup` as `schema`, with `/predict` as `label_config`, and in webhooks as the
project's `label_config`)::

    <View>
      <Video name="video" value="$video" framerate="10"/>
      <VideoRectangle name="box" toName="video"/>
      <Labels name="labels" toName="video"><Label value="person"/></Labels>
    </View>

`locate_video` turns the task's video reference into a file on this machine, the way Label
Studio serves it: `/data/local-files/?d=<path>` is relative to Label Studio's local files
document root (`LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT`, passed as `local_root`); an uploaded
file (`/data/upload/...`), an absolute http(s) URL or a path relative to nothing known is
fetched (`fetch_video`) through Label Studio or from the URL into `download_dir`; a path on
this machine is used as it is.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trackannot.errors import InputFormatError, NotFoundError
from trackannot.integrations.labelstudio_frames import DEFAULT_FRAMERATE

__all__ = ["LabelConfig", "LabelStudioApi", "VideoSource", "fetch_video", "locate_video"]

_FETCH_TIMEOUT_S = 30.0
_API_TIMEOUT_S = 2.0
_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class LabelConfig:
    """The video controls of a labelling config.

    Attributes:
        video_name: `<Video name>` (the regions' `to_name`).
        data_key: the task data key of `<Video value="$key">`.
        framerate: `<Video framerate>`: a number, or "$key" to read it from the task's data.
        from_name: `<VideoRectangle name>` (the regions' `from_name`).
        labels: the `<Label value>`s of the `<Labels>` on the video (may be empty).
    """

    video_name: str = "video"
    data_key: str = "video"
    framerate: float | str = DEFAULT_FRAMERATE
    from_name: str = "box"
    labels: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def parse(cls, text: Any, where: str = "label config") -> LabelConfig:
        """The video controls of a labelling config's XML.

        Raises:
            InputFormatError: not XML, or no `<Video>` with a `<VideoRectangle>` on it.
        """
        if not isinstance(text, str) or not text.strip():
            raise InputFormatError(f"{where} is {text!r:.80}, expected a labelling config (XML)")
        try:
            root = ET.fromstring(text)
        except ET.ParseError as err:
            raise InputFormatError(f"{where}: not XML ({err})") from err
        videos = {v.get("name"): v for v in root.iter("Video") if v.get("name")}
        rects = [r for r in root.iter("VideoRectangle") if r.get("toName") in videos]
        if not rects:
            raise InputFormatError(
                f"{where}: no <VideoRectangle> on a <Video>; trackannot's backend needs e.g. "
                '<Video name="video" value="$video" framerate="25"/> <VideoRectangle '
                'name="box" toName="video"/>')
        rect = rects[0]
        video = videos[rect.get("toName")]
        value = video.get("value") or ""
        if not value.startswith("$") or len(value) < 2:
            raise InputFormatError(f"{where}: <Video name={video.get('name')!r}> has value "
                                   f"{value!r}; expected a task data key such as \"$video\"")
        rate_text = video.get("framerate") or ""
        framerate: float | str = DEFAULT_FRAMERATE
        if rate_text.startswith("$"):
            framerate = rate_text
        elif rate_text:
            framerate = _framerate(rate_text, f"{where}: <Video framerate>")
        labels = tuple(label.get("value") or "" for tag in root.iter("Labels")
                       if tag.get("toName") == video.get("name") for label in tag.iter("Label"))
        return cls(video_name=str(video.get("name")), data_key=value[1:], framerate=framerate,
                   from_name=str(rect.get("name")), labels=labels)

    def framerate_for(self, data: dict[str, Any], where: str = "task data") -> float:
        """The framerate Label Studio uses for a task (its data names it for "$key")."""
        if isinstance(self.framerate, str):
            key = self.framerate[1:]
            if key not in data:
                raise InputFormatError(f"{where} lacks {key!r}, which the labelling config's "
                                       f"<Video framerate=\"{self.framerate}\"> reads")
            return _framerate(data[key], f"{where}.{key}")
        return self.framerate


def _framerate(value: Any, where: str) -> float:
    try:
        rate = float(value)
    except (TypeError, ValueError):
        rate = math.nan
    if isinstance(value, bool) or not math.isfinite(rate) or rate <= 0:
        raise InputFormatError(f"{where} is {value!r:.40}, expected a frame rate > 0")
    return rate


@dataclass(frozen=True)
class VideoSource:
    """Where a task's video is: a file on this machine, or a URL to fetch.

    Attributes:
        reference: what the task's data says.
        path: the local file (for a URL: where `fetch_video` puts it).
        url: the URL to fetch, None for a local file.
    """

    reference: str
    path: Path
    url: str | None = None


def locate_video(reference: Any, *, local_root: Path | None, download_dir: Path,
                 hostname: str | None, where: str = "task data") -> VideoSource:
    """Where the video a task names is (module docstring).

    Args:
        reference: the task data's video value.
        local_root: Label Studio's local files document root, or None.
        download_dir: where fetched videos go.
        hostname: Label Studio's URL (from `/setup`), for its `/data/...` paths; None: unknown.

    Raises:
        InputFormatError: not a string, or a local-files path that leaves the root.
        NotFoundError: a local file that does not exist, or a `/data/...` path with no Label
            Studio URL or root to resolve it.
    """
    if not isinstance(reference, str) or not reference.strip():
        raise InputFormatError(f"{where}: the video is {reference!r:.80}, expected a URL or path")
    parsed = urllib.parse.urlsplit(reference)
    if parsed.scheme in ("http", "https"):
        if hostname and reference.startswith(hostname.rstrip("/") + "/data/"):
            return locate_video(reference[len(hostname.rstrip("/")):], local_root=local_root,
                                download_dir=download_dir, hostname=hostname, where=where)
        return VideoSource(reference, download_dir / _file_name(parsed.path, where), reference)
    if parsed.scheme:
        raise NotFoundError(f"{where}: cannot read {reference!r:.120}: scheme {parsed.scheme!r} "
                            "is not supported (use Label Studio local files, an upload, or http)")
    if parsed.path.startswith("/data/local-files"):
        return VideoSource(reference, _local_file(parsed.query, local_root, where))
    if parsed.path.startswith("/data/") and not Path(parsed.path).is_file():
        if not hostname:
            raise NotFoundError(f"{where}: {reference!r:.120} is a Label Studio file, but the "
                                "backend does not know Label Studio's URL yet (connect the "
                                "backend in the project's settings: Label Studio calls /setup)")
        url = hostname.rstrip("/") + reference
        return VideoSource(reference, download_dir / _file_name(parsed.path, where), url)
    path = Path(urllib.parse.unquote(parsed.path)).expanduser()
    if not path.is_absolute() and local_root is not None:
        path = local_root / path
    if not path.is_file():
        raise NotFoundError(f"{where}: video {reference!r:.120} not found on this machine "
                            f"(looked at {path})")
    return VideoSource(reference, path)


def _local_file(query: str, local_root: Path | None, where: str) -> Path:
    """The file of a `/data/local-files/?d=<path>` URL under the document root."""
    values = urllib.parse.parse_qs(query).get("d")
    if not values:
        raise InputFormatError(f"{where}: a /data/local-files URL without ?d=<path>")
    if local_root is None:
        raise NotFoundError(f"{where}: a Label Studio local file ({values[0]!r:.120}), but the "
                            "backend has no --local-files-root (Label Studio's "
                            "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT)")
    root = Path(local_root).resolve()
    path = (root / values[0]).resolve()
    if not path.is_relative_to(root):
        raise InputFormatError(f"{where}: local file {values[0]!r:.120} is outside the local "
                               f"files root {root}")
    if not path.is_file():
        raise NotFoundError(f"{where}: local file {values[0]!r:.120} not found (looked at "
                            f"{path})")
    return path


def _file_name(url_path: str, where: str) -> str:
    name = Path(urllib.parse.unquote(url_path)).name
    if not name or name.startswith("."):
        raise InputFormatError(f"{where}: cannot tell a file name from {url_path!r:.120}")
    return name


def fetch_video(source: VideoSource, headers: dict[str, str] | None = None) -> Path:
    """Download `source.url` to `source.path` (once: an existing file is kept), via a
    `.partial` file and a rename; `headers` carry Label Studio's authorization for its URLs.

    Raises:
        NotFoundError: the server answered an error, or the download failed.
    """
    if source.url is None or source.path.is_file():
        return source.path
    source.path.parent.mkdir(parents=True, exist_ok=True)
    partial = source.path.with_name(f"{source.path.name}.{os.getpid()}.partial")
    request = urllib.request.Request(source.url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=_FETCH_TIMEOUT_S) as answer, \
                open(partial, "wb") as out:
            shutil.copyfileobj(answer, out, _CHUNK_BYTES)
        os.replace(partial, source.path)
    except (urllib.error.URLError, OSError) as err:
        partial.unlink(missing_ok=True)
        raise NotFoundError(f"cannot download {source.url}: {err}") from err
    return source.path


class LabelStudioApi:
    """Requests to Label Studio with an API token: a legacy token ("Token <key>") or a personal
    access token (a JWT refresh token, exchanged for an access token). Failures give None: the
    backend falls back to what it knows (`labelstudio_backend`).

    Args:
        url: Label Studio's base URL (None: unknown, every call gives None).
        token: the API token (None: none, every call gives None).
    """

    def __init__(self, url: str | None, token: str | None) -> None:
        self.url = (url or "").rstrip("/")
        self.token = token

    def headers(self) -> dict[str, str] | None:
        """The Authorization header, or None without a URL and token (or a refresh failed)."""
        if not self.url or not self.token:
            return None
        if self.token.count(".") != 2:
            return {"Authorization": f"Token {self.token}"}
        access = self._post("/api/token/refresh", {"refresh": self.token}, {})
        if not isinstance(access, dict) or not access.get("access"):
            return None
        return {"Authorization": f"Bearer {access['access']}"}

    def get(self, path: str) -> Any:
        """The JSON of GET `path` (e.g. "/api/users/3"), or None."""
        headers = self.headers()
        if headers is None:
            return None
        return self._send(urllib.request.Request(self.url + path, headers=headers))

    def _post(self, path: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
        return self._send(urllib.request.Request(
            self.url + path, data=json.dumps(body).encode(), method="POST",
            headers=headers | {"Content-Type": "application/json"}))

    @staticmethod
    def _send(request: urllib.request.Request) -> Any:
        try:
            with urllib.request.urlopen(request, timeout=_API_TIMEOUT_S) as answer:
                return json.loads(answer.read().decode("utf-8"))
        except (urllib.error.URLError, OSError, ValueError):
            return None
