"""Test oracle: what Label Studio draws for the videorectangle regions of a task.

Written from reading Label Studio's frontend (HumanSignal/label-studio, web/libs/editor/src:
`regions/VideoRectangleRegion.js` `getShape`, `regions/VideoRegion.js` `isInLifespan` and
`closestKeypoint`, `utils/props.ts` `interpolateProp`, `tags/object/Video/VideoRegions.jsx`, which
draws a region at frame F when `isInLifespan(F) && getShape(F)`), not copied from it. In percent
of the frame size, frames 1-based:

* getShape(F): the keyframe's values if one is at F; else, with `prev` the last keyframe before F
  and `next` the first after it: nothing without `prev`, prev's values without `next`, otherwise
  prev + (next - prev) * ((F - prev.frame) / (next.frame - prev.frame)) per value (`enabled` plays
  no part);
* isInLifespan(F): the last keyframe at or before F (else the first keyframe) decides: True when
  it is enabled, or when it is disabled but sits exactly at F.
"""

from __future__ import annotations

from typing import Any

_PROPS = ("x", "y", "width", "height")


def get_shape(sequence: list[dict[str, Any]], frame: int) -> dict[str, float] | None:
    prev = nxt = None
    for item in sequence:
        if item["frame"] == frame:
            return {p: item[p] for p in _PROPS}
        if item["frame"] > frame:
            nxt = item
            break
        prev = item
    if prev is None:
        return None
    if nxt is None:
        return {p: prev[p] for p in _PROPS}
    r = (frame - prev["frame"]) / (nxt["frame"] - prev["frame"])
    return {p: prev[p] + (nxt[p] - prev[p]) * r for p in _PROPS}


def in_lifespan(sequence: list[dict[str, Any]], frame: int) -> bool:
    before = [item for item in sequence if item["frame"] <= frame]
    closest = before[-1] if before else next((i for i in sequence if i["frame"] >= frame), None)
    if closest is None:
        return False
    if closest["frame"] == frame and not closest["enabled"]:
        return True
    return bool(closest["enabled"])


def drawn_boxes(task: dict[str, Any], key: str = "annotations") -> dict[tuple[str, int], dict]:
    """{(region id, LS frame): {x, y, width, height} in percent} for every frame a box is drawn."""
    out = {}
    for region in task[key][0]["result"]:
        if region["type"] != "videorectangle":
            continue
        value = region["value"]
        sequence = value["sequence"]
        for frame in range(1, value["framesCount"] + 1):
            shape = get_shape(sequence, frame)
            if shape is not None and in_lifespan(sequence, frame):
                out[(region["id"], frame)] = shape
    return out
