"""Dense depth: a DPT-style head over the visual-token grids of 4 mapped LLM layers, and its loss.

Head (DPT as in VGGT's depth head, over LLM states instead of ViT tokens): per layer, LayerNorm
on the tokens, 1x1 projection to channels[i], resampling to 4x / 2x / 1x / 0.5x the token grid,
3x3 convolution to `features`; the four maps are fused coarse to fine with residual conv units
(each fusion upsamples x2 / to the next finer map), then conv3x3 (features -> features/2),
bilinear upsampling to the target size, conv3x3 -> 32, ReLU, conv1x1 -> 1, exp (depth > 0).

Loss: L1 over valid pixels (target > 0) whose error is within the 98% error quantile, plus the
gradient loss of (pred - target), averaged over 4 scales (strides 1, 2, 4, 8).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

QUANTILE = 0.98
GRADIENT_SCALES = 4
GRADIENT_CLAMP = 100.0
HEAD_HIDDEN = 32


class _ResidualConvUnit(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.block = nn.Sequential(
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class _Fusion(nn.Module):
    """x (+ RCU(skip)) -> RCU -> upsample to `size` -> 1x1 conv."""

    def __init__(self, features: int, has_skip: bool = True):
        super().__init__()
        self.skip = _ResidualConvUnit(features) if has_skip else None
        self.refine = _ResidualConvUnit(features)
        self.out = nn.Conv2d(features, features, 1)

    def forward(
        self, x: torch.Tensor, skip: torch.Tensor | None, size: tuple[int, int]
    ) -> torch.Tensor:
        if self.skip is not None:
            x = x + self.skip(skip)
        x = F.interpolate(self.refine(x), size=size, mode="bilinear", align_corners=True)
        return self.out(x)


def _resample(channels: int, factor: float) -> nn.Module:
    if factor > 1:
        return nn.ConvTranspose2d(channels, channels, kernel_size=int(factor), stride=int(factor))
    if factor < 1:
        return nn.Conv2d(channels, channels, 3, stride=round(1 / factor), padding=1)
    return nn.Identity()


class DepthHead(nn.Module):
    def __init__(
        self,
        hidden_size: int,
        channels: tuple[int, ...] = (256, 512, 1024, 1024),
        features: int = 256,
    ):
        super().__init__()
        if len(channels) != 4:
            raise ValueError(f"the DPT head takes 4 layers, got channels {channels}")
        self.norm = nn.ModuleList(nn.LayerNorm(hidden_size) for _ in channels)
        self.reassemble = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(hidden_size, c, 1),
                _resample(c, factor),
                nn.Conv2d(c, features, 3, padding=1, bias=False),
            )
            for c, factor in zip(channels, (4, 2, 1, 0.5), strict=True)
        )
        self.fusion = nn.ModuleList(
            _Fusion(features, has_skip=i < len(channels) - 1) for i in range(len(channels))
        )
        self.project = nn.Conv2d(features, features // 2, 3, padding=1)
        self.out = nn.Sequential(
            nn.Conv2d(features // 2, HEAD_HIDDEN, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(HEAD_HIDDEN, 1, 1),
        )

    def forward(self, grids: list[torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
        """grids: 4 x [N, h, w, H] (shallow to deep layer) -> depth [N, *size] > 0."""
        maps = [
            block(norm(g).permute(0, 3, 1, 2))
            for norm, block, g in zip(self.norm, self.reassemble, grids, strict=True)
        ]
        x = None
        for level in range(len(maps) - 1, -1, -1):
            finer = (
                maps[level - 1].shape[-2:]
                if level > 0
                else tuple(2 * s for s in maps[0].shape[-2:])
            )
            x = self.fusion[level](
                maps[level] if x is None else x, None if x is None else maps[level], finer
            )
        # the output convs run at the fused resolution (2x the finest token map) and the
        # one-channel log-depth is upsampled: at full resolution they cost more than the student
        x = F.interpolate(self.out(self.project(x)), size=size, mode="bilinear", align_corners=True)
        return torch.exp(x.squeeze(1))


def quantile(values: torch.Tensor, q: float) -> torch.Tensor:
    """Linear-interpolated quantile of a 1-d tensor, exact, with no input size limit (unlike
    torch.quantile). The two order statistics around the quantile come from one top-k of the
    nearer tail: on a GPU, kthvalue of one long row runs on a single block and cost a 2B
    student's step more than all four heads."""
    n = values.numel()
    pos = q * (n - 1)
    lo, hi = int(pos), min(int(pos) + 1, n - 1)
    if lo >= n // 2:  # the upper tail: ranks lo and hi are the last two of the n - lo largest
        tail = torch.topk(values, n - lo, sorted=True).values
        v_lo, v_hi = tail[-1], tail[-2] if hi > lo else tail[-1]
    else:
        tail = torch.topk(values, hi + 1, largest=False, sorted=True).values
        v_lo, v_hi = tail[lo], tail[hi]
    return v_lo + (pos - lo) * (v_hi - v_lo)


def gradient_loss(diff: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Sum of |horizontal and vertical differences| of `diff` over pairs of valid pixels,
    each clamped at 100, divided by the number of valid pixels."""
    diff = diff * valid
    dx = (
        (diff[..., :, 1:] - diff[..., :, :-1]).abs() * (valid[..., :, 1:] & valid[..., :, :-1])
    ).clamp(max=GRADIENT_CLAMP)
    dy = (
        (diff[..., 1:, :] - diff[..., :-1, :]).abs() * (valid[..., 1:, :] & valid[..., :-1, :])
    ).clamp(max=GRADIENT_CLAMP)
    # with no valid pixel both sums are 0 (and so is the gradient); no branch, so no device sync
    return (dx.sum() + dy.sum()) / valid.sum().clamp(min=1)


def depth_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """pred, target [N, h, w]; target 0 (or not finite) = no target at that pixel."""
    target = target.to(pred.dtype)
    valid = torch.isfinite(target) & (target > 0)
    target = torch.where(valid, target, torch.zeros_like(target))
    if not bool(valid.any()):
        return pred.sum() * 0
    diff = pred - target
    err = diff.abs()
    threshold = quantile(err.detach()[valid].float(), QUANTILE).to(err.dtype)
    kept = valid & (err <= threshold)  # a mask, not a gather: no index op in backward
    l1 = (err * kept).sum() / kept.sum()
    steps = [2**s for s in range(GRADIENT_SCALES)]
    gradient = (
        sum(gradient_loss(diff[..., ::s, ::s], valid[..., ::s, ::s]) for s in steps)
        / GRADIENT_SCALES
    )
    return l1 + gradient
