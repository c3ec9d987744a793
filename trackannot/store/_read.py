"""Verified reads: arrays and row ranges of a store, never fill values in place of lost data.

zarr reads a chunk that is not there as its fill value, and a chunk whose bytes changed as
whatever they decompress to. Format /2 arrays (`checksummed`) are written with every chunk present
and a CRC-32C per chunk, so here a missing chunk, a failed checksum or undecodable bytes inside
the committed extent raise `CorruptStoreError` naming the array, the chunk and its rows. Arrays
of /1 stores have no checksum and may legitimately lack all-zero chunks: only undecodable bytes
are caught there.
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import zarr
from zarr.api.asynchronous import open_array as open_async_array
from zarr.core.sync import sync

from trackannot.errors import CorruptStoreError
from trackannot.store._layout import checksummed

__all__ = ["missing_chunks", "open_array", "open_child", "read_many", "read_rows"]

# what zarr and numcodecs raise for bytes that do not decode: a failed CRC-32C is a ValueError,
# a broken zstd frame a RuntimeError, a short buffer a ValueError or TypeError
_DECODE_ERRORS = (ValueError, RuntimeError, TypeError)
_CHECK = "run `trackannot check STORE` to see all damage, `--repair` to roll back to the last " \
         "consistent commit where that loses no human work"


def open_child(group: zarr.Group, path: str, what: str) -> Any:
    """`group[path]` (an array or a group), with damage reported as `CorruptStoreError`.

    Raises:
        CorruptStoreError: `path` is missing or its metadata (zarr.json) does not load.
    """
    try:
        return group[path]
    except KeyError as err:
        raise CorruptStoreError(f"{what}: '{path}' is missing from the store; {_CHECK}") from err
    except _DECODE_ERRORS as err:
        raise CorruptStoreError(f"{what}: the metadata of '{path}' (zarr.json) does not load "
                                f"({err}); {_CHECK}") from err


def open_array(group: zarr.Group, path: str, what: str) -> zarr.Array:
    """The array at `path` in `group` (see `open_child`)."""
    found = open_child(group, path, what)
    if not isinstance(found, zarr.Array):
        raise CorruptStoreError(f"{what}: '{path}' should be an array, found a group; {_CHECK}")
    return found


def _chunk_rows(array: zarr.Array) -> int:
    return int(array.chunks[0])


def missing_chunks(array: zarr.Array, start: int, stop: int) -> list[int]:
    """Chunks (along rows) of rows start..stop-1 that are not in the store (checksummed arrays
    only: other arrays may leave out chunks that hold only fill values)."""
    return sync(_missing(array.async_array, start, stop))


async def _missing(array: Any, start: int, stop: int) -> list[int]:
    """`missing_chunks` of an `AsyncArray` (one check per chunk, concurrently)."""
    if stop <= start or not checksummed(array):
        return []
    rows = int(array.metadata.chunk_grid.chunk_shape[0])
    chunks = list(range(start // rows, (stop - 1) // rows + 1))
    tail = (0,) * (len(array.metadata.shape) - 1)
    prefix = array.store_path.path + "/" if array.store_path.path else ""
    present = await asyncio.gather(*(
        array.store_path.store.exists(prefix + array.metadata.encode_chunk_key((k, *tail)))
        for k in chunks))
    return [k for k, there in zip(chunks, present) if not there]


def read_rows(array: zarr.Array, start: int, stop: int, what: str) -> np.ndarray:
    """Rows start..stop-1 of `array`, each from a chunk that is there and intact.

    Raises:
        CorruptStoreError: a chunk of those rows is missing, fails its checksum or does not
            decode; the message names the array, the chunk and its rows.
    """
    start, stop = max(int(start), 0), int(stop)
    if stop <= start:
        return array[0:0]
    gone = missing_chunks(array, start, stop)
    if gone:
        raise CorruptStoreError(f"{what}: chunk {gone[0]} ({_rows(array, gone[0])}) is missing"
                                f"{f' (and {len(gone) - 1} more)' if len(gone) > 1 else ''}; "
                                f"{_CHECK}")
    try:
        return array[start:stop]
    except _DECODE_ERRORS as err:
        bad = _first_bad_chunk(array, start, stop)
        where = f"chunk {bad} ({_rows(array, bad)})" if bad is not None else \
            f"rows {start}..{stop - 1}"
        raise CorruptStoreError(f"{what}: {where} is damaged ({err}); {_CHECK}") from err


def read_many(group: zarr.Group, reads: list[tuple[str, int, int]],
              what: str) -> list[np.ndarray]:
    """`read_rows` of several arrays of `group` at once: [(path, start, stop), ...] -> arrays.

    The arrays are opened, their chunks checked and read concurrently, in one round trip to
    zarr's event loop instead of three per array. Any problem is reported as `read_rows`
    reports it (the sync path is rerun to name the array and chunk).
    """
    base = f"{group.path}/" if group.path else ""

    async def one(path: str, start: int, stop: int) -> np.ndarray:
        array = await open_async_array(store=group.store, path=base + path, zarr_format=3,
                                       mode="r")
        start, stop = max(int(start), 0), int(stop)
        if stop <= start:
            return await array.getitem(slice(0, 0))
        if await _missing(array, start, stop):  # every chunk of the rows must be there
            raise _Problem
        return await array.getitem(slice(start, stop))

    async def all_of() -> list[Any]:
        return list(await asyncio.gather(*(one(*r) for r in reads), return_exceptions=True))

    out = sync(all_of())
    for (path, start, stop), got in zip(reads, out):
        if isinstance(got, BaseException):
            if not isinstance(got, (_Problem, *_DECODE_ERRORS, KeyError, FileNotFoundError,
                                    zarr.errors.BaseZarrError)):
                raise got
            read_rows(open_array(group, path, what), start, stop, f"{what}/{path}")  # names it
            raise CorruptStoreError(f"{what}/{path}: rows {start}..{stop - 1} do not read "
                                    f"({got!r}); {_CHECK}") from got
    return out


class _Problem(Exception):
    """A chunk is missing (the sync path names it)."""


def _rows(array: zarr.Array, chunk: int) -> str:
    rows = _chunk_rows(array)
    return f"rows {chunk * rows}..{min((chunk + 1) * rows, array.shape[0]) - 1}"


def _first_bad_chunk(array: zarr.Array, start: int, stop: int) -> int | None:
    rows = _chunk_rows(array)
    for k in range(start // rows, (stop - 1) // rows + 1):
        try:
            array[k * rows:min((k + 1) * rows, array.shape[0])]
        except _DECODE_ERRORS:
            return k
    return None
