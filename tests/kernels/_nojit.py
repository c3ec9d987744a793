"""Test helper: run a script with numba's JIT off (NUMBA_DISABLE_JIT=1) in a child process.

numba reads NUMBA_DISABLE_JIT once, when it is imported, so a test process that has already
compiled kernels cannot switch the JIT off: the kernels run as plain Python only in a fresh
interpreter. Test modules import it as `from tests.kernels._nojit import run_without_jit`.
Nothing here is part of the library.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

__all__ = ["run_without_jit"]

TIMEOUT_S = 300  # plain-Python kernels on the tests' small inputs take seconds; this is a hang


def run_without_jit(script: str, inputs: dict[str, np.ndarray],
                    tmp_path: Path) -> dict[str, np.ndarray]:
    """Run `script` with `python -c` and NUMBA_DISABLE_JIT=1; return the arrays it saved.

    The script reads its inputs with `np.load(sys.argv[1])` (an .npz of `inputs`) and saves its
    outputs with `np.savez(sys.argv[2], name=array, ...)`.

    Args:
        script: Python source of the child process.
        inputs: arrays by name, saved to `tmp_path / "in.npz"` for the child.
        tmp_path: a scratch folder (pytest's `tmp_path`).

    Returns:
        The arrays the script saved, by name, loaded into memory.

    Raises:
        AssertionError: the child exited with a non-zero status (its stderr is the message).
    """
    in_path, out_path = tmp_path / "in.npz", tmp_path / "out.npz"
    np.savez(in_path, **inputs)
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", script, str(in_path), str(out_path)],
        env=env, capture_output=True, text=True, timeout=TIMEOUT_S,
    )
    assert proc.returncode == 0, proc.stderr
    with np.load(out_path) as saved:
        return dict(saved)
