"""Dense depth: a DPT-style head over 4 LLM layers' visual-token grids, and its loss.

Each layer's grid is projected and resampled to its own scale (x4, x2, x1, x1/2 of the token
grid), fused coarse to fine with residual convolution units, upsampled to the target size and
passed through exp (depth > 0).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

QUANTILE = 0.98
GRADIENT_SCALES = 4


class _Residual(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.block = nn.Sequential(nn.ReLU(), nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(), nn.Conv2d(channels, channels, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


def _resample(channels: int, factor: float) -> nn.Module:
    if factor > 1:
        return nn.ConvTranspose2d(channels, channels, kernel_size=int(factor), stride=int(factor))
    if factor < 1:
        return nn.Conv2d(channels, channels, 3, stride=int(1 / factor), padding=1)
    return nn.Identity()


class DepthHead(nn.Module):
    def __init__(self, hidden_size: int, channels: tuple[int, int, int, int] = (256, 512, 1024, 1024)):
        super().__init__()
        features = channels[0]
        self.reassemble = nn.ModuleList(
            nn.Sequential(nn.Conv2d(hidden_size, c, 1), _resample(c, factor), nn.Conv2d(c, features, 3, padding=1, bias=False))
            for c, factor in zip(channels, (4, 2, 1, 0.5), strict=True)
        )
        self.fuse = nn.ModuleList(_Residual(features) for _ in channels)
        self.out = nn.Sequential(nn.Conv2d(features, features // 2, 3, padding=1), nn.ReLU(), nn.Conv2d(features // 2, 1, 1))

    def forward(self, grids: list[torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
        """grids: 4 x [N, h, w, H] (fine to deep layers) -> depth [N, *size]."""
        maps = [block(g.permute(0, 3, 1, 2)) for block, g in zip(self.reassemble, grids, strict=True)]
        x = self.fuse[-1](maps[-1])
        for level in range(len(maps) - 2, -1, -1):
            x = F.interpolate(x, size=maps[level].shape[-2:], mode="bilinear", align_corners=False)
            x = self.fuse[level](x + maps[level])
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        return torch.exp(self.out(x).squeeze(1))


def _gradient_term(diff: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    dx = (diff[..., :, 1:] - diff[..., :, :-1]).abs()
    vx = valid[..., :, 1:] & valid[..., :, :-1]
    dy = (diff[..., 1:, :] - diff[..., :-1, :]).abs()
    vy = valid[..., 1:, :] & valid[..., :-1, :]
    count = vx.sum() + vy.sum()
    if count == 0:
        return diff.new_zeros(())
    return ((dx * vx).sum() + (dy * vy).sum()) / count


def depth_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 on valid pixels (target > 0) whose error is within the 98% quantile, plus the
    gradient loss of (pred - target) at 4 scales (strides 1, 2, 4, 8)."""
    valid = target > 0
    err = (pred - target).abs()
    valid_err = err[valid]
    if valid_err.numel() == 0:
        return pred.sum() * 0
    kept = valid_err[valid_err <= torch.quantile(valid_err.detach().float(), QUANTILE)]
    l1 = kept.mean()
    diff = (pred - target) * valid
    gradient = sum(_gradient_term(diff[..., ::s, ::s], valid[..., ::s, ::s]) for s in (1, 2, 4, 8)[:GRADIENT_SCALES])
    return l1 + gradient
