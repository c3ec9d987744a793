"""in_background: order, backpressure, errors after the items before them, early close."""

from __future__ import annotations

import threading
import time

import pytest

from trackannot.overlap import in_background

NAME = "trackannot-test-stage"


def _threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == NAME]


def test_items_come_in_order_from_another_thread() -> None:
    seen: list[str] = []

    def make():
        for i in range(50):
            seen.append(threading.current_thread().name)
            yield i

    assert list(in_background(make, 3, NAME)) == list(range(50))
    assert set(seen) == {NAME}
    assert not _threads()


def test_the_producer_stays_at_most_depth_items_ahead() -> None:
    produced = []

    def make():
        for i in range(100):
            produced.append(i)
            yield i

    ahead = []
    for i in in_background(make, 4, NAME):
        time.sleep(0.002)  # a slow consumer
        ahead.append(len(produced) - (i + 1))
    # queue of 4, one item waiting to be put, the one just handed over
    assert max(ahead) <= 4 + 1
    assert max(ahead) >= 3  # and it does run ahead


def test_an_error_comes_after_the_items_before_it() -> None:
    def make():
        yield 1
        yield 2
        raise RuntimeError("disk full")

    got = []
    with pytest.raises(RuntimeError, match="disk full"):
        for item in in_background(make, 2, NAME):
            got.append(item)
    assert got == [1, 2]
    assert not _threads()


def test_closing_early_stops_the_producer_and_runs_its_cleanup() -> None:
    closed = threading.Event()

    def make():
        try:
            for i in range(10_000):
                yield i
        finally:
            closed.set()

    items = in_background(make, 2, NAME)
    assert next(items) == 0
    items.close()
    assert closed.wait(2.0)
    assert not _threads()


def test_depth_must_be_positive() -> None:
    with pytest.raises(ValueError, match="depth must be >= 1"):
        in_background(lambda: iter(()), 0, NAME)
