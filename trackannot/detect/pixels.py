"""Pixels for a network: frame batches (RGB or YUV 4:2:0) to RGB tensors on any torch device.

`batch_to_device` puts a `FrameBatch` on the model's device in one copy of its uint8 bytes (from
pinned memory on CUDA) and turns it into a normalised (b, 3, H, W) RGB tensor of the size asked
for. For YUV batches the planes are resized first and converted after, so the colour conversion
runs at network size, not frame size: bilinear resizing is linear and the conversion is affine,
so the order changes nothing but the clipping to [0, 1] (and the chroma, resized from its own
half-size grid, is at least as sharp as FFmpeg's nearest-neighbour upsampling).

Conversion (ITU-R BT.601/709/2020 and others, `trackannot.frames.COLORSPACES` gives Kr, Kb):
    limited range: Y' = (Y - 16) / 219,  Cb = (U - 128) / 224,  Cr = (V - 128) / 224
    full range:    Y' = Y / 255,          Cb = (U - 128) / 255,  Cr = (V - 128) / 255
    R = Y' + 2 (1 - Kr) Cr
    G = Y' - 2 Kb (1 - Kb) / Kg Cb - 2 Kr (1 - Kr) / Kg Cr,   Kg = 1 - Kr - Kb
    B = Y' + 2 (1 - Kb) Cb
At frame size with nearest-neighbour chroma (`batch_rgb`) this is FFmpeg's own rgb24 conversion
to within 3 levels of 255 (tested on real footage).
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from trackannot.frames import COLORSPACES, FrameBatch

if TYPE_CHECKING:
    import torch

__all__ = ["batch_rgb", "batch_to_device", "yuv_to_rgb_affine"]


def yuv_to_rgb_affine(colorspace: str, full_range: bool) -> tuple[npt.NDArray[np.float64],
                                                                  npt.NDArray[np.float64]]:
    """(A, c) with [R, G, B] = A [Y, U, V] + c, for 8-bit YUV in and RGB in [0, 1] out.

    Args:
        colorspace: a key of `trackannot.frames.COLORSPACES`.
        full_range: YUV spans 0-255 (else 16-235 luma, 16-240 chroma).

    Returns:
        A (3, 3) and c (3,), float64 (module docstring for the equations).
    """
    kr, kb = COLORSPACES[colorspace]
    kg = 1.0 - kr - kb
    y_scale, c_scale, y_off = (1 / 255, 1 / 255, 0.0) if full_range else (1 / 219, 1 / 224, 16.0)
    # rows R, G, B; columns Y, Cb, Cr, applied to Y' = (Y - y_off) y_scale, C = (U|V - 128) c_scale
    mix = np.array([[1.0, 0.0, 2 * (1 - kr)],
                    [1.0, -2 * kb * (1 - kb) / kg, -2 * kr * (1 - kr) / kg],
                    [1.0, 2 * (1 - kb), 0.0]])
    a = mix * np.array([y_scale, c_scale, c_scale])
    c = -(a @ np.array([y_off, 128.0, 128.0]))
    return a, c


def batch_to_device(batch: FrameBatch, device: str, dtype: torch.dtype,
                    size: tuple[int, int] | None = None) -> torch.Tensor:
    """The batch as a (b, 3, H, W) RGB tensor in [0, 1] on `device`.

    Args:
        batch: RGB or YUV frames (h x w).
        device: "cpu" or "cuda:N"; on CUDA the bytes go from pinned memory, asynchronously.
        dtype: torch.float32 or torch.float16.
        size: (H, W) to resize to (bilinear, no antialiasing, as ultralytics' letterbox on the
            GPU); None keeps (h, w).

    Returns:
        The tensor, contiguous.
    """
    import torch
    import torch.nn.functional as F

    h, w = batch.height, batch.width
    size = size or (h, w)
    x = _to_device(batch.frames, device)
    if batch.pixel_format == "rgb24":
        x = x.permute(0, 3, 1, 2).to(dtype).div_(255.0)
        if size != (h, w):
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        return x.contiguous()
    b = x.shape[0]
    luma = x[:, :h].unsqueeze(1).to(dtype)
    chroma = x[:, h:].reshape(b, 2, h // 2, w // 2).to(dtype)  # the U plane, then the V plane
    if size != (h, w):
        luma = F.interpolate(luma, size=size, mode="bilinear", align_corners=False)
        chroma = F.interpolate(chroma, size=size, mode="bilinear", align_corners=False)
    else:
        chroma = chroma.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)
    weight, bias = _affine_tensors(batch.colorspace, batch.full_range, dtype, str(x.device))
    rgb = F.conv2d(torch.cat([luma, chroma], dim=1), weight, bias)  # A [Y, U, V] + c per pixel
    return rgb.clamp_(0.0, 1.0).contiguous()


def batch_rgb(batch: FrameBatch) -> npt.NDArray[np.uint8]:
    """The batch's frames as (b, h, w, 3) uint8 RGB on the CPU (the array itself for rgb24).

    For consumers that need RGB arrays (ultralytics' predict); converts YUV like FFmpeg does
    (nearest-neighbour chroma), to within 3 levels.
    """
    if batch.pixel_format == "rgb24":
        return batch.frames
    import torch

    with torch.inference_mode():
        rgb = batch_to_device(batch, "cpu", torch.float32)
        out = rgb.mul_(255.0).round_().to(torch.uint8).permute(0, 2, 3, 1).contiguous()
    return out.numpy()


@lru_cache(maxsize=32)
def _affine_tensors(colorspace: str, full_range: bool, dtype: torch.dtype,
                    device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """`yuv_to_rgb_affine` as a (3, 3, 1, 1) conv weight and (3,) bias on `device`, made once
    per combination (a fresh host -> GPU copy per batch would wait for the batch's own copy)."""
    import torch

    a, c = yuv_to_rgb_affine(colorspace, full_range)
    weight = torch.as_tensor(a, dtype=dtype, device=device)[:, :, None, None]
    return weight, torch.as_tensor(c, dtype=dtype, device=device)


def _to_device(frames: npt.NDArray[np.uint8], device: str) -> torch.Tensor:
    """uint8 frames on `device`: one copy, from pinned memory when going to CUDA."""
    import torch

    x = torch.from_numpy(np.ascontiguousarray(frames))
    if not device.startswith("cuda"):
        return x
    if not x.is_pinned():
        x = x.pin_memory()
    return x.to(device, non_blocking=True)
