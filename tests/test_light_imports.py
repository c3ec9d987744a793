"""`import trackannot` and `trackannot --help` load no heavy dependency until a command needs it."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "torchvision", "ultralytics", "av", "zarr", "numba", "scipy", "supervision",
         "ray")

_PROBE = """
import sys
{code}
print("loaded:" + ",".join(m for m in {heavy!r} if m in sys.modules))
"""


def _loaded(code: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", _PROBE.format(code=code, heavy=HEAVY)],
                         capture_output=True, text=True, check=True)
    last = out.stdout.strip().splitlines()[-1]
    assert last.startswith("loaded:"), out.stdout
    return [m for m in last.removeprefix("loaded:").split(",") if m]


def test_import_trackannot_loads_nothing_heavy() -> None:
    assert _loaded("import trackannot; trackannot.__all__") == []


def test_help_of_every_command_loads_nothing_heavy() -> None:
    code = """
from click.testing import CliRunner
from trackannot.cli.main import main
runner = CliRunner()
for args in [["--help"], *[[name, "--help"] for name in main.commands]]:
    result = runner.invoke(main, args)
    assert result.exit_code == 0, (args, result.output)
"""
    assert _loaded(code) == []


def test_names_resolve_on_first_use() -> None:
    import trackannot

    missing = [name for name in trackannot.__all__ if getattr(trackannot, name, None) is None]
    assert missing == []
    assert "zarr" in _loaded("import trackannot; trackannot.open_store")


def test_the_engine_never_imports_ray() -> None:
    """Ray is imported only by `trackannot.ray_executor`, which only `--executor ray` loads."""
    code = "import trackannot.pipeline, trackannot.cli.main, trackannot.config"
    out = subprocess.run([sys.executable, "-c", f"{code}\nimport sys\nprint('ray' in sys.modules)"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
