"""Config loading: defaults, YAML, overrides, and the errors for bad keys and values."""

from __future__ import annotations

from pathlib import Path

import pytest

from trackannot.config import PipelineConfig, TrackConfig, config_to_dict, load_config
from trackannot.errors import ConfigError


def test_default_yaml_equals_dataclass_defaults(repo_dir: Path) -> None:
    cfg = load_config(repo_dir / "configs" / "default.yaml")
    assert config_to_dict(cfg) == config_to_dict(PipelineConfig())


def test_default_yaml_documents_every_setting(repo_dir: Path) -> None:
    text = (repo_dir / "configs" / "default.yaml").read_text()
    for section, values in config_to_dict(PipelineConfig()).items():
        for key in values:
            assert f"  {key}:" in text, f"{section}.{key} missing from configs/default.yaml"


def test_overrides_parse_yaml_values() -> None:
    cfg = load_config(None, ["track.min_iou=0.4", "decode.fps=10", "detect.classes=[0, 2]",
                             "detect.weights=/w/model.pt"])
    assert cfg.track.min_iou == 0.4
    assert cfg.decode.fps == 10.0
    assert cfg.detect.classes == (0, 2)
    assert cfg.detect.weights == "/w/model.pt"


def test_partial_file_keeps_other_defaults(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("track:\n  max_lost_frames: 5\n")
    cfg = load_config(path)
    assert cfg.track.max_lost_frames == 5
    assert cfg.track.min_iou == TrackConfig().min_iou


@pytest.mark.parametrize(
    ("text", "overrides", "message"),
    [
        ("track:\n  min_iuo: 0.3\n", [], r"c\.yaml: unknown key 'track\.min_iuo'; allowed keys under track: .*min_iou"),
        ("trak: {}\n", [], r"unknown key 'trak'; allowed keys: decode, detect, track, store"),
        ("track:\n  min_iou: 1.5\n", [], r"track\.min_iou should be a number in \[0, 1\]\. The selected value is 1\.5"),
        ("track:\n  max_lost_frames: ten\n", [], r"track\.max_lost_frames: expected an int, got 'ten'"),
        ("- 1\n- 2\n", [], r"expected a mapping"),
        ("track: [\n", [], r"not valid YAML"),
        ("", ["track.min_iou"], r"expected key=value"),
        ("", ["store.chunk_rows=0"], r"store\.chunk_rows should be an int >= 1"),
        ("", ["decode.fps=-3"], r"decode\.fps should be null or a number > 0"),
    ],
    ids=["typo-key", "typo-section", "out-of-range", "wrong-type", "not-mapping", "bad-yaml",
         "override-no-equals", "override-range", "negative-fps"],
)
def test_bad_config_messages(tmp_path: Path, text: str, overrides: list[str], message: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path, overrides)


def test_missing_file() -> None:
    with pytest.raises(ConfigError, match="cannot read config .*nope.yaml"):
        load_config("nope.yaml")
