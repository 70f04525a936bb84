"""Scale head: scale-token state -> metric scale factor s > 0 (exp activation)."""

from __future__ import annotations

import torch
from torch import nn


class ScaleHead(nn.Module):
    def __init__(self, hidden_size: int, width: int = 512):
        super().__init__()
        self.mlp = nn.Sequential(nn.LayerNorm(hidden_size), nn.Linear(hidden_size, width), nn.GELU(), nn.Linear(width, 1))

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        """[B, H] -> [B]."""
        return torch.exp(self.mlp(states).squeeze(-1))


def scale_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 between log1p(s_true) and log1p(s_pred): relative errors at any scale."""
    return (torch.log1p(target) - torch.log1p(pred)).abs().mean()
