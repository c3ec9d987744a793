"""Test helper: the torch devices this machine has, for tests of code that runs on any device."""

from __future__ import annotations

import torch

__all__ = ["DEVICES"]

# "cpu", plus "cuda:0" where CUDA is available: on a GPU machine the CUDA paths are checked too
# (here they are not run, and nothing is skipped).
DEVICES = ["cpu"] + (["cuda:0"] if torch.cuda.is_available() else [])
