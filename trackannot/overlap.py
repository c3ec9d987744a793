"""Overlapping stages: run an iterator in a background thread behind a bounded queue.

`in_background(make, depth, name)` starts `make()` in a daemon thread and yields its items in
order. The thread runs at most `depth` items ahead (backpressure: a slow consumer blocks the
producer, so memory stays bounded). An exception in the producer is raised in the consumer after
every item produced before it. Closing the consumer early (`break`, `.close()`, an exception in
its loop) stops the producer at its next item, closes its iterator and joins the thread.

The stages that use it release the GIL where they spend their time (FFmpeg decoding, torch
inference), so a chain decode -> detect -> track/write keeps every stage busy at once.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from typing import Callable, Iterator, TypeVar

__all__ = ["in_background"]

T = TypeVar("T")

_POLL_S = 0.05  # how often a producer blocked on a full queue checks whether the consumer left
_DONE = object()


@dataclass(frozen=True, slots=True)
class _Failed:
    error: BaseException


def _produce(make: Callable[[], Iterator[object]], out: queue.Queue[object],
             stop: threading.Event) -> None:
    """Thread body: put items, then `_DONE` or `_Failed`, unless the consumer has stopped."""

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                out.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    items = None
    try:
        items = make()
        for item in items:
            if not put(item):
                return
        put(_DONE)
    except BaseException as err:  # noqa: BLE001 - every failure is handed to the consumer
        put(_Failed(err))
    finally:
        close = getattr(items, "close", None)
        if close is not None:
            close()  # a generator's cleanup (files, containers) runs when the consumer left early


def in_background(make: Callable[[], Iterator[T]], depth: int, name: str) -> Iterator[T]:
    """Yield the items of `make()`, produced in a thread at most `depth` items ahead.

    Args:
        make: builds the iterator; called in the thread (so its setup overlaps too).
        depth: queue size, >= 1.
        name: the thread's name (shows in thread dumps and profilers).

    Raises:
        ValueError: depth < 1.
        Whatever the producer raises, after the items it produced before.
    """
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    return _consume(make, depth, name)


def _consume(make: Callable[[], Iterator[T]], depth: int, name: str) -> Iterator[T]:
    out: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()
    thread = threading.Thread(target=_produce, args=(make, out, stop), name=name, daemon=True)
    thread.start()
    try:
        while True:
            item = out.get()
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        while thread.is_alive():
            try:  # free a slot so a producer blocked in put() sees `stop` at once
                out.get(timeout=_POLL_S)
            except queue.Empty:
                pass
        thread.join()
