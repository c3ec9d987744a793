"""Benchmark helpers: write a result JSON atomically, describe the machine it ran on, time a call
and read this process's peak resident set."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numba
import numpy as np

__all__ = ["machine_info", "reset_peak_rss", "result_doc", "timed", "vm_hwm_mib",
           "vm_rss_mib", "write_json"]


def write_json(path: Path, doc: Any, *, indent: int = 1, final_newline: bool = False) -> Path:
    """Write `doc` as JSON to `path` atomically (a `.partial` file, then a rename).

    A run that is interrupted leaves the previous result in place, never half a file.

    Args:
        path: the result file; missing parent folders are created.
        doc: anything `json.dumps` takes.
        indent: spaces per nesting level.
        final_newline: end the file with a newline.

    Returns:
        `path`.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(doc, indent=indent) + ("\n" if final_newline else ""))
    partial.replace(path)
    return path


def machine_info() -> dict[str, Any]:
    """The machine and versions a timing depends on.

    Returns:
        {"cpus": logical CPU count (int or None), "python", "numba", "numpy": version strings,
        "processor": `platform.processor()` (may be "")}.
    """
    return {"cpus": os.cpu_count(), "python": platform.python_version(),
            "numba": numba.__version__, "numpy": np.__version__,
            "processor": platform.processor()}


def result_doc(module: str, results: Any, **fields: Any) -> dict[str, Any]:
    """The JSON of a benchmark run: its command line, `fields`, the machine, then `results`.

    Args:
        module: the benchmark's module, e.g. "benchmarks.bench_sparse".
        results: the measurements.
        **fields: settings to record, in order, after "command".

    Returns:
        {"command", **fields, "python": version (kept for older readers; also in "machine"),
        "machine": `machine_info()`, "results"}.
    """
    return {"command": f"python -m {module} " + " ".join(sys.argv[1:]), **fields,
            "python": platform.python_version(), "machine": machine_info(), "results": results}


def timed(fn: Callable[[], Any]) -> float:
    """Wall seconds of one call of `fn`."""
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def vm_hwm_mib() -> float | None:
    """This process's peak resident set since start or the last `reset_peak_rss` (/proc VmHWM),
    MiB; None where /proc is not there. (getrusage's ru_maxrss cannot be reset, and Linux keeps
    it across the exec of a spawned process.)"""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def vm_rss_mib() -> float | None:
    """This process's resident set now (/proc VmRSS), MiB; None where /proc is not there."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0: write 5 to clear_refs); False where the
    kernel does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
    except OSError:
        return False
    return True
