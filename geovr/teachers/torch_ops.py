"""Small torch helpers shared by the model-based teachers (device, inference mode, resizing,
token pooling, checks). The distill stage itself never imports torch: a model-free teacher
(the oracle) runs without it."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from geovr.teachers.base import ClipRejected

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def inference(targets: Callable[..., Any]) -> Callable[..., Any]:
    """Decorates a teacher's `targets`: no autograd, and bf16 autocast when the teacher's
    `device` is CUDA (the backends' documented inference precision)."""

    @functools.wraps(targets)
    def run(self: Any, *args: Any, **kwargs: Any) -> Any:
        with contextlib.ExitStack() as stack:
            stack.enter_context(torch.inference_mode())
            if str(self.device).startswith("cuda"):
                stack.enter_context(torch.autocast("cuda", dtype=torch.bfloat16))
            return targets(self, *args, **kwargs)

    return run


def model_input_hw(image_hw: tuple[int, int], longest: int, multiple: int = 28) -> tuple[int, int]:
    """Resize target: longest side ~`longest`, both sides multiples of `multiple`.

    28 = 2 patches of 14, so the patch grid is even and 2x2 pooling drops nothing.
    """
    height, width = image_hw
    factor = longest / max(height, width)
    return tuple(
        max(multiple, round(side * factor / multiple) * multiple) for side in (height, width)
    )


def frames_to_tensor(
    frames: np.ndarray, size: tuple[int, int], device: str | torch.device
) -> torch.Tensor:
    """uint8 `[T,H,W,3]` -> float `[T,3,h,w]` in [0, 1] at `size` (bilinear, antialiased)."""
    x = (
        torch.from_numpy(np.ascontiguousarray(frames)).to(device).permute(0, 3, 1, 2).float()
        / 255.0
    )
    if tuple(x.shape[-2:]) != tuple(size):
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
    return x


def normalize_imagenet(x: torch.Tensor) -> torch.Tensor:
    mean = x.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = x.new_tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (x - mean) / std


def resize_maps(maps: torch.Tensor, image_hw: tuple[int, int]) -> np.ndarray:
    """`[T,h,w]` -> float32 numpy `[T,H,W]` (bilinear): targets live at the stored frame size."""
    maps = maps.float()
    if tuple(maps.shape[-2:]) != tuple(image_hw):
        maps = F.interpolate(maps[:, None], size=image_hw, mode="bilinear", align_corners=False)[
            :, 0
        ]
    return maps.cpu().numpy()


def pool_patch_tokens(tokens: torch.Tensor, grid: tuple[int, int]) -> np.ndarray:
    """Patch tokens `[B,N,C]` (N = gh*gw, row-major) -> 2x2-averaged float16 `[B,gh/2,gw/2,C]`.

    Pooled in float32 on the model's device (4x less to copy back), stored as float16.
    """
    b, n, c = tokens.shape
    if n != grid[0] * grid[1]:
        raise ValueError(f"{n} patch tokens do not fill a {grid[0]}x{grid[1]} grid")
    x = tokens.float().reshape(b, grid[0], grid[1], c).permute(0, 3, 1, 2)
    pooled = F.avg_pool2d(x, kernel_size=2, stride=2)
    return pooled.permute(0, 2, 3, 1).cpu().numpy().astype(np.float16)


def ensure_finite(name: str, x: torch.Tensor) -> None:
    """Raise ClipRejected (-> quarantine) if a raw model output holds NaN or inf.

    Checked on raw outputs because later masking (e.g. depth > eps) would hide a NaN.
    """
    bad = int((~torch.isfinite(x)).sum())
    if bad:
        raise ClipRejected(f"non-finite teacher output: {bad} of {x.numel()} values in {name}")
