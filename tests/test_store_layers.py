"""The store is a layer under the domain: `trackannot/store/` imports nothing above it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

STORE = Path(__file__).resolve().parents[1] / "trackannot" / "store"
# the base types every layer shares: the automatic tables are `Boxes` columns, the error
# hierarchy, `StoreConfig` and the lock timeout
BASE = {"trackannot.boxes", "trackannot.errors", "trackannot.config"}


def imported(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in a file, at any depth (deferred ones included), and of
    every `importlib.import_module` / `__import__` call given a literal name."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the store package
                base = ".".join(["trackannot", "store"][: 2 - (node.level - 1)])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            found.append((node.lineno, module))
            if module == "trackannot":  # `from trackannot import review`
                found += [(node.lineno, f"trackannot.{a.name}") for a in node.names]
        elif isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else \
                getattr(node.func, "id", "")
            if name in ("import_module", "__import__") and node.args and \
                    isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                found.append((node.lineno, node.args[0].value))
    return found


def domain_imports(path: Path) -> list[str]:
    """The imports of `path` that reach above the store: any trackannot module that is not the
    store itself or a base type."""
    bad = []
    for line, module in imported(path):
        if module != "trackannot" and not module.startswith("trackannot."):
            continue
        if module == "trackannot.store" or module.startswith("trackannot.store.") or module in BASE:
            continue
        bad.append(f"{path.name}:{line} imports {module}")
    return bad


@pytest.mark.parametrize("path", sorted(STORE.glob("*.py")), ids=lambda p: p.name)
def test_the_store_imports_no_domain_module(path: Path) -> None:
    assert domain_imports(path) == []


@pytest.mark.parametrize("source, bad", [
    ("from trackannot.review import ITEM_COLUMNS", True),
    ("def f():\n    from trackannot.corrections import Corrections", True),
    ("import trackannot.annotate", True),
    ("from trackannot import state", True),
    ("import importlib\nimportlib.import_module('trackannot.review')", True),
    ("from trackannot.boxes import COLUMNS", False),
    ("from trackannot.store._layout import Schema", False),
    ("import numpy as np", False),
], ids=["from-import", "deferred", "import", "package-attribute", "import_module", "base-type",
        "store", "third-party"])
def test_the_check_sees_every_kind_of_import(tmp_path: Path, source: str, bad: bool) -> None:
    path = tmp_path / "probe.py"
    path.write_text(source + "\n")
    assert bool(domain_imports(path)) is bad
