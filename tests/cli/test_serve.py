"""`trackannot serve labelstudio`: options, refusals, and the app it hands to uvicorn."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from tests.test_annotate import make_store
from trackannot.cli.main import main


def test_help_says_how_to_connect_it() -> None:
    result = CliRunner().invoke(main, ["serve", "labelstudio", "--help"])
    assert result.exit_code == 0
    assert "Connect Model" in result.output and "--detections-dir" in result.output


def test_weights_and_detections_exclude_each_other(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["serve", "labelstudio", str(tmp_path / "s.zarr"),
                                       "--weights", "yolo11n.pt", "--detections-dir",
                                       str(tmp_path)])
    assert result.exit_code == 2
    assert "--weights and --detections-dir exclude each other" in result.output


def test_it_serves_the_store_on_the_address_given(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    store = make_store(tmp_path / "out.zarr")
    served: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: served.update(app=app, **kwargs))
    result = CliRunner().invoke(main, ["serve", "labelstudio", str(store), "--port", "9191",
                                       "--detections-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert f"Label Studio ML backend for {store} on http://127.0.0.1:9191" in result.output
    assert (served["host"], served["port"]) == ("127.0.0.1", 9191)
    with TestClient(served["app"]) as client:
        assert client.get("/health").json()["store"] == str(store)
        status = client.get("/status").json()
    assert [v["video"] for v in status["videos"]] == ["clip"] and status["jobs"] == []
