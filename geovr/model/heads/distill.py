"""Multi-scale feature distillation: one projector per mapped LLM layer, cosine to the
teacher's features of the matching layer (patch tokens, 2x2 pooled)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class DistillHead(nn.Module):
    """Per layer: LN, Linear(H -> width), GELU, Linear(width -> C_teacher)."""

    def __init__(self, hidden_size: int, teacher_dim: int, n_layers: int = 4, width: int = 1024):
        super().__init__()
        self.projectors = nn.ModuleList(
            nn.Sequential(
                nn.LayerNorm(hidden_size),
                nn.Linear(hidden_size, width),
                nn.GELU(),
                nn.Linear(width, teacher_dim),
            )
            for _ in range(n_layers)
        )

    def forward(self, grids: list[torch.Tensor]) -> list[torch.Tensor]:
        """Per layer [N, h, w, H] (N = frames) -> [N, h, w, C]."""
        return [proj(grid) for proj, grid in zip(self.projectors, grids, strict=True)]


def resize_grid(grid: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """[N, h, w, C] -> [N, H', W', C], bilinear, only when the grids differ."""
    if tuple(grid.shape[1:3]) == tuple(size):
        return grid
    resized = F.interpolate(
        grid.permute(0, 3, 1, 2), size=size, mode="bilinear", align_corners=False
    )
    return resized.permute(0, 2, 3, 1)


def distill_loss(preds: list[torch.Tensor], targets: list[torch.Tensor]) -> torch.Tensor:
    """Mean over layers of mean(1 - cosine) over tokens, student grid resized to the teacher's."""
    if len(preds) != len(targets):
        raise ValueError(f"{len(preds)} student layers for {len(targets)} teacher layers")
    losses = []
    for pred, target in zip(preds, targets, strict=True):
        pred = resize_grid(pred, tuple(target.shape[1:3]))
        losses.append((1 - F.cosine_similarity(pred.float(), target.float(), dim=-1)).mean())
    return torch.stack(losses).mean()
