"""Where a store lives: a local directory or an S3-compatible bucket (`s3://bucket/prefix`).

Every part of the store package asks this module, not the file system, whether something of the
store exists, what its top level holds, and for the zarr store object to open; locks come from
`trackannot.store._lock` (OS file locks) or `trackannot.store._lease` (leases on object storage)
by the same test (`is_remote`).

A store argument is a `Path` (or a string without a scheme): a local directory, as always. A
string `s3://bucket/prefix/out.zarr` is a store on S3-compatible object storage, opened through
zarr's own `zarr.storage.ObjectStore` over `obstore` (`pip install 'trackannot[s3]'`). Why obstore
and not `zarr.storage.FsspecStore` over s3fs: the commit protocol needs conditional writes
(create-if-absent for a lease, replace-if-unchanged to renew or take it over: the group's single
writer, `trackannot.store._lease`), and obstore exposes both as `put(..., mode="create")`
(`If-None-Match: *`) and `put(..., mode={"e_tag": ...})` (`If-Match`), raising
`AlreadyExistsError` / `PreconditionError`; s3fs offers neither through its file-system API. It
is also one compiled client (Rust `object_store`) with its own connection pool, no aiobotocore.

Credentials and endpoint come from the usual environment variables, read by obstore's S3
client: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (AWS_SESSION_TOKEN), AWS_REGION or
AWS_DEFAULT_REGION, AWS_ENDPOINT_URL (or AWS_ENDPOINT_URL_S3, which wins, as in the AWS CLI), and
AWS_ALLOW_HTTP=true for a plain-HTTP endpoint (a test server on loopback).

Differences from a local directory, all decided here or in the modules that ask `is_remote`:
there are no temporary files (every PUT is atomic and whole), so temporary-file cleanup finds
nothing; there is no rename, so `--overwrite` (a directory-rename swap, `_replace`) is refused
with a message; the derived state cache (`cache_path`) is local only (None on S3).
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from trackannot.errors import StoreInputError, StoreNotFoundError

__all__ = [
    "SCHEME", "Remote", "any_under", "ensure_reachable", "exists", "is_remote",
    "location", "put_if_absent", "remote", "top_names", "zarr_store",
]

SCHEME = "s3://"
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
# a request that fails is retried a few times, for at most this long (obstore's default is 180 s:
# a wrong endpoint would hang a command for minutes)
_RETRY = {"max_retries": 3, "backoff": {"init_backoff": timedelta(milliseconds=100),
                                        "max_backoff": timedelta(seconds=2), "base": 2},
          "retry_timeout": timedelta(seconds=20)}
_CLIENT = {"connect_timeout": timedelta(seconds=5), "timeout": timedelta(seconds=60)}


class Remote:
    """A store on object storage: `s3://bucket/prefix`, parsed.

    Attributes:
        url: the normalised URL (no trailing slash), as messages show it.
        bucket: the bucket's name.
        prefix: the store's key prefix inside the bucket ("" for the bucket's root).
    """

    def __init__(self, url: str) -> None:
        rest = url[len(SCHEME):].strip("/")
        bucket, _, prefix = rest.partition("/")
        if not bucket:
            raise StoreInputError(f"{url}: no bucket; expected s3://BUCKET/PREFIX/out.zarr")
        prefix = re.sub(r"/+", "/", prefix).strip("/")
        if any(part in (".", "..") for part in prefix.split("/")):
            raise StoreInputError(f"{url}: '.' and '..' are not allowed in an object-store prefix")
        self.bucket = bucket
        self.prefix = prefix
        self.url = f"{SCHEME}{bucket}" + (f"/{prefix}" if prefix else "")

    def __str__(self) -> str:
        return self.url

    def __repr__(self) -> str:
        return f"Remote({self.url!r})"

    def __eq__(self, other: object) -> bool:  # one store, however often its URL is parsed
        return isinstance(other, Remote) and other.url == self.url

    def __hash__(self) -> int:
        return hash(self.url)

    def key(self, rel: str) -> str:
        """The object key of `rel` (a path inside the store) within the bucket."""
        return f"{self.prefix}/{rel}" if self.prefix else rel

    def client(self) -> Any:
        """The obstore `S3Store` rooted at the store's prefix (shared per URL and environment)."""
        return _client(self.url, _env())


def _env() -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("AWS_")))


@lru_cache(maxsize=16)
def _client(url: str, env: tuple[tuple[str, str], ...]) -> Any:
    try:
        from obstore.store import S3Store
    except ImportError as err:
        raise StoreInputError(f"{url}: stores on object storage need obstore; install it with "
                              "pip install 'trackannot[s3]'") from err
    settings = dict(env)
    extra: dict[str, Any] = {}
    endpoint = settings.get("AWS_ENDPOINT_URL_S3") or settings.get("AWS_ENDPOINT_URL")
    if endpoint:
        extra["endpoint"] = endpoint
    region = settings.get("AWS_REGION") or settings.get("AWS_DEFAULT_REGION")
    if region:
        extra["region"] = region
    client = dict(_CLIENT)
    if settings.get("AWS_ALLOW_HTTP", "").lower() in ("1", "true", "yes"):
        client["allow_http"] = True
    remote = Remote(url)
    return S3Store(remote.bucket, prefix=remote.prefix or None, client_options=client,
                   retry_config=_RETRY, **extra)


def is_remote(store: Any) -> bool:
    """Whether `store` (a store argument, or a `Remote`) names object storage."""
    if isinstance(store, Remote):
        return True
    return isinstance(store, str) and bool(_URL.match(store))


def location(store: str | Path | Remote) -> Path | Remote:
    """A store argument as a `Path` (local) or a `Remote` (object storage).

    Raises:
        StoreInputError: a URL of a scheme other than s3://.
    """
    if isinstance(store, (Path, Remote)):
        return store
    match = _URL.match(store)
    if match is None:
        return Path(store)
    if match.group(1).lower() != "s3":
        raise StoreInputError(f"{store}: stores are local directories or s3://bucket/prefix URLs; "
                              f"{match.group(1)}:// is not supported")
    return Remote(SCHEME + store[match.end():])


def remote(store: str | Path | Remote) -> Remote | None:
    """The `Remote` of `store`, None for a local directory."""
    found = location(store)
    return found if isinstance(found, Remote) else None


def zarr_store(store: str | Path | Remote, read_only: bool = False) -> Any:
    """What `zarr.open_group` opens: the directory's path as a string, or a
    `zarr.storage.ObjectStore` over the bucket's prefix."""
    found = location(store)
    if isinstance(found, Path):
        return str(found)
    from zarr.storage import ObjectStore

    return ObjectStore(found.client(), read_only=read_only)


def exists(store: str | Path | Remote, rel: str) -> bool:
    """Whether the file / object `rel` (a path inside the store) exists."""
    found = location(store)
    if isinstance(found, Path):
        return (found / rel).is_file()
    import obstore

    try:
        obstore.head(found.client(), rel)
    except FileNotFoundError:
        return False
    return True


def any_under(store: str | Path | Remote, rel: str) -> bool:
    """Whether anything of `rel` exists: the file or folder, or any object below the prefix."""
    found = location(store)
    if isinstance(found, Path):
        return (found / rel).exists()
    import obstore

    if exists(found, rel):
        return True
    page = obstore.list(found.client(), prefix=rel.rstrip("/") + "/", chunk_size=1)
    return any(len(batch) for batch in page)


def top_names(store: str | Path | Remote, rel: str = "") -> list[str]:
    """Names directly under `rel` in the store (files and folders; objects and prefixes)."""
    found = location(store)
    if isinstance(found, Path):
        folder = found / rel
        return [p.name for p in folder.iterdir()] if folder.is_dir() else []
    import obstore

    listed = obstore.list_with_delimiter(found.client(), rel.rstrip("/") + "/" if rel else None)
    names = [p.rstrip("/").rsplit("/", 1)[-1] for p in listed["common_prefixes"]]
    names += [o["path"].rsplit("/", 1)[-1] for o in listed["objects"]]
    return names


def put_if_absent(store: Remote, rel: str, data: bytes) -> bool:
    """Write object `rel` unless it exists (`If-None-Match: *`); whether this call wrote it."""
    import obstore
    from obstore.exceptions import AlreadyExistsError, PreconditionError

    try:
        obstore.put(store.client(), rel, data, mode="create")
    except (AlreadyExistsError, PreconditionError):
        return False
    return True


def ensure_reachable(store: str | Path | Remote) -> None:
    """Check, before any work, that an object store answers with these credentials and that
    its bucket exists (one listing of the store's prefix); a local directory passes.

    Raises:
        StoreNotFoundError: the bucket does not exist.
        StoreInputError: the endpoint refuses the credentials, cannot be reached, or obstore
            is not installed.
    """
    found = location(store)
    if isinstance(found, Path):
        return
    import obstore
    from obstore.exceptions import BaseError, PermissionDeniedError, UnauthenticatedError

    endpoint = (os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
                or "AWS S3")
    try:
        obstore.list_with_delimiter(found.client())
    except (PermissionDeniedError, UnauthenticatedError) as err:
        raise StoreInputError(_credentials_message(found, endpoint, err)) from err
    except (BaseError, OSError) as err:
        text = str(err)
        if "NoSuchBucket" in text or "bucket does not exist" in text.lower():
            raise StoreNotFoundError(f"{found}: bucket '{found.bucket}' does not exist at "
                                     f"{endpoint}; create it, or check the URL") from err
        if any(code in text for code in ("InvalidAccessKeyId", "SignatureDoesNotMatch",
                                         "AccessDenied", "403 Forbidden", "ExpiredToken")):
            raise StoreInputError(_credentials_message(found, endpoint, err)) from err
        first = text.splitlines()[0] if text else type(err).__name__
        raise StoreInputError(f"{found}: the object store at {endpoint} cannot be reached "
                              f"({first[:300]}); check AWS_ENDPOINT_URL and the network") from err


def _credentials_message(found: Remote, endpoint: str, err: BaseException) -> str:
    code = next((c for c in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied",
                             "ExpiredToken") if c in str(err)), "access denied")
    key = os.environ.get("AWS_ACCESS_KEY_ID") or "(none set)"
    return (f"{found}: {endpoint} refuses the credentials ({code}; AWS_ACCESS_KEY_ID {key}); "
            "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY to a key allowed to read and "
            f"write bucket '{found.bucket}'")
