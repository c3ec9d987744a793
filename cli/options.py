"""CLI options and helpers shared by several commands: the lock timeout option, the resolved
config, and the mapping of library errors to exit codes."""

from __future__ import annotations

import contextlib
import errno
from pathlib import Path
from typing import Callable, Iterator, Sequence, TypeVar

import click

from trackannot.config import DEFAULT_LOCK_TIMEOUT_S, PipelineConfig, load_config
from trackannot.errors import ConfigError, TrackannotError

__all__ = ["STORE", "STORE_OUT", "StoreArg", "library_errors", "lock_timeout_option",
           "os_error_message", "resolve_config"]

F = TypeVar("F", bound=Callable[..., object])


class StoreArg(click.ParamType):
    """A store argument: a local directory (a `Path`; with `exists`, it must be one) or an
    object-storage URL `s3://bucket/prefix/out.zarr` (kept a string: the store package opens
    it, `trackannot.store._location`)."""

    name = "store"

    def __init__(self, exists: bool) -> None:
        self._local = click.Path(exists=exists, file_okay=False, path_type=Path)

    def convert(self, value: object, param: click.Parameter | None,
                ctx: click.Context | None) -> Path | str:
        if isinstance(value, str) and "://" in value:
            from trackannot.errors import StoreInputError
            from trackannot.store._location import location

            try:
                return str(location(value))
            except StoreInputError as err:
                self.fail(str(err), param, ctx)
        return self._local.convert(value, param, ctx)


STORE = StoreArg(exists=True)
"""An existing store: a directory, or s3://bucket/prefix (checked when it is opened)."""
STORE_OUT = StoreArg(exists=False)
"""A store to create or continue: a directory, or s3://bucket/prefix."""


def lock_timeout_option(command: F) -> F:
    """`--lock-timeout`: how long a writing command waits for another writer of the video."""
    return click.option(
        "--lock-timeout", type=click.FloatRange(min=0), default=DEFAULT_LOCK_TIMEOUT_S,
        show_default=True, metavar="SECONDS",
        help="Wait this long while another process writes the same video (one writer at a "
        "time), then stop with a message naming that process.")(command)


@contextlib.contextmanager
def library_errors() -> Iterator[None]:
    """Map library errors to click's exit codes, keeping the message."""
    try:
        yield
    except ConfigError as err:
        raise click.UsageError(str(err)) from err
    except TrackannotError as err:
        raise click.ClickException(str(err)) from err
    except OSError as err:  # a disk that is full, read-only, gone: the store keeps its commits
        raise click.ClickException(os_error_message(err)) from err


_OS_HINTS = {
    errno.ENOSPC: "the disk is full: free space, then rerun the same command",
    errno.EDQUOT: "the disk quota is used up: free space, then rerun the same command",
    errno.EROFS: "the file system is read-only: write to another path",
    errno.EACCES: "permission denied: write to a path you may write to",
    errno.EPERM: "operation not permitted: write to a path you may write to",
}


def os_error_message(err: OSError) -> str:
    """What an operating-system error means for the command, and what to do."""
    where = f" {err.filename}" if err.filename else ""
    hint = _OS_HINTS.get(err.errno or 0, "fix that, then rerun the same command")
    return (f"cannot read or write{where}: {err.strerror or err}; {hint}. Work committed before "
            "the error is kept (a rerun continues from it); nothing half-written is ever read")


def resolve_config(config: Path | None, sets: Sequence[str], **flags: object) -> PipelineConfig:
    """Config file < --set overrides < dedicated flags (--fps, --batch-size, ...)."""
    overrides = list(sets)
    for key, value in flags.items():
        if value is not None:
            overrides.append(f"{key}={value}")
    return load_config(config, overrides)
