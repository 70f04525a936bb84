"""Metric scale: the scale-token state (last LLM layer) -> scale factor s > 0, and its loss.
s maps the teacher's normalised depth to metres (metric depth = depth * s)."""

from __future__ import annotations

import torch
from torch import nn


class ScaleHead(nn.Module):
    """LN, Linear(H -> width), GELU, Linear(width -> 1), exp."""

    def __init__(self, hidden_size: int, width: int = 512):
        super().__init__()
        self.mlp = nn.Sequential(
            nn.LayerNorm(hidden_size), nn.Linear(hidden_size, width), nn.GELU(), nn.Linear(width, 1)
        )

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        """[B, H] -> [B]."""
        return torch.exp(self.mlp(states).squeeze(-1))


def scale_loss(
    pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean |log1p(s_true) - log1p(s_pred)| over the valid clips (0 when none is valid)."""
    err = (torch.log1p(target.to(pred.dtype)) - torch.log1p(pred)).abs()
    if valid is not None:
        err = err[valid.bool()]
    if err.numel() == 0:
        return pred.sum() * 0
    return err.mean()
