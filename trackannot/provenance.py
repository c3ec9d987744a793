"""Group provenance: what a video's store group was made from, and whether a run may continue it.

A group records the resolved configuration, the input file's identity (size, SHA-256 of its first
MiB), the video's header, the detector and the pixel format frames were decoded to. A run may
continue (resume) a group only when all of these are the same, because only then does the
continued group equal one written in a single run.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trackannot.config import DecodeConfig, PipelineConfig, config_to_dict
from trackannot.decode import VideoInfo
from trackannot.store import input_identity

if TYPE_CHECKING:
    from trackannot.detect import Detector

__all__ = ["RUN_ONLY_ATTRS", "decode_config_for", "describe_detector", "mismatch", "run_attrs"]

# Attributes that differ between an uninterrupted and a resumed run of the same video (and "uid",
# the identity every group gets when it is created, which differs between any two groups).
RUN_ONLY_ATTRS = ("seconds", "stage_seconds", "resumed_from", "uid")


def decode_config_for(cfg: PipelineConfig, detector: Detector) -> DecodeConfig:
    """`cfg.decode` with its pixel format resolved for `detector` ("auto": the form the detector
    takes without a CPU conversion, `Detector.pixel_format`)."""
    if cfg.decode.pixel_format != "auto":
        return cfg.decode
    return replace(cfg.decode, pixel_format=str(detector.pixel_format))


def describe_detector(detector: Detector, weights: str | None,
                      detections: str | Path | None = None) -> dict[str, Any]:
    """What a group records about its detector: the detections file or the weights, and the
    class names (class id -> name, for exports) when the detector names its classes."""
    info: dict[str, Any] = ({"detections": str(Path(detections).resolve())} if detections
                            else {"weights": weights or "bundled demo model"})
    names = detector.names
    if names:
        info["class_names"] = [str(names[i]) for i in sorted(names)]
    return info


def run_attrs(path: str | Path, info: VideoInfo, cfg: PipelineConfig,
              detector_info: dict | None, pixel_format: str) -> dict[str, Any]:
    """The attributes that say what a group was made from (compared when a run resumes)."""
    return {
        "pixel_format": pixel_format,
        "config": config_to_dict(cfg),
        "input": input_identity(path),
        "video": {
            "width": info.width,
            "height": info.height,
            "fps": info.fps,
            "frame_count": info.frame_count,
            "codec": info.codec,
            "duration_s": info.duration_s,
            "rotation": info.rotation,  # turned upright before detection: boxes in display pixels
            "container": info.container,
        },
        "detector": detector_info or {},
    }


def mismatch(key: str, stored: dict[str, Any], attrs: dict[str, Any]) -> str | None:
    """Why group `key` cannot be continued by this run (None when it can)."""
    if stored.get("config") != attrs["config"]:
        diffs = _dict_diff(stored.get("config") or {}, attrs["config"])
        return f"'{key}' was tracked with another configuration ({'; '.join(diffs[:3])})"
    old, new = stored.get("input") or {}, attrs["input"]
    if (old.get("size_bytes"), old.get("first_mib_sha256")) != (
            new["size_bytes"], new["first_mib_sha256"]):
        return (f"'{key}' was tracked from another file ({old.get('path')}, "
                f"{old.get('size_bytes')} bytes; now {new['path']}, {new['size_bytes']} bytes)")
    if (stored.get("detector") or {}) != attrs["detector"]:
        return f"'{key}' was tracked with another detector ({stored.get('detector')})"
    turned = (stored.get("video") or {}).get("rotation", 0)  # groups before rotation: upright
    if turned != attrs["video"]["rotation"]:
        return (f"'{key}' was decoded with frames turned {turned} degrees, this run turns them "
                f"{attrs['video']['rotation']} (an older trackannot kept the stored orientation)")
    if stored.get("pixel_format") != attrs["pixel_format"]:
        return (f"'{key}' was decoded to {stored.get('pixel_format')} frames, this detector "
                f"takes {attrs['pixel_format']} (set decode.pixel_format to match)")
    return None


def _dict_diff(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k), new.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _dict_diff(a, b, f"{prefix}{k}.")
        elif a != b:
            out.append(f"{prefix}{k}: stored {a!r}, now {b!r}")
    return out
