"""CLI options shared by several commands."""

from __future__ import annotations

from typing import Callable, TypeVar

import click

from trackannot.config import DEFAULT_LOCK_TIMEOUT_S

__all__ = ["lock_timeout_option"]

F = TypeVar("F", bound=Callable[..., object])


def lock_timeout_option(command: F) -> F:
    """`--lock-timeout`: how long a writing command waits for another writer of the video."""
    return click.option(
        "--lock-timeout", type=click.FloatRange(min=0), default=DEFAULT_LOCK_TIMEOUT_S,
        show_default=True, metavar="SECONDS",
        help="Wait this long while another process writes the same video (one writer at a "
        "time), then stop with a message naming that process.")(command)
