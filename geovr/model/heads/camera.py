"""Camera head: per-frame camera-token state -> 9-d pose encoding (absT_quaR_FoV)."""

from __future__ import annotations

import torch
from torch import nn

PART_WEIGHTS = {"T": 1.0, "R": 1.0, "FoV": 0.5}
TRANSLATION_CLAMP = 100.0


class CameraHead(nn.Module):
    def __init__(self, hidden_size: int, width: int = 1536):
        super().__init__()
        self.trunk = nn.Sequential(nn.LayerNorm(hidden_size), nn.Linear(hidden_size, width), nn.GELU())
        self.translation = nn.Linear(width, 3)
        self.rotation = nn.Linear(width, 4)
        self.fov = nn.Linear(width, 2)

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        """[..., H] -> [..., 9]: translation 3, quaternion xyzw 4, field of view 2 (>= 0)."""
        x = self.trunk(states)
        return torch.cat([self.translation(x), self.rotation(x), torch.relu(self.fov(x))], dim=-1)


def camera_loss(pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """Weighted per-part L1 over frames; translation error clamped at 100 (outlier scenes)."""
    err = (pred - target).abs()
    if valid is not None:
        err = err[valid]
    parts = {
        "T": err[..., :3].clamp(max=TRANSLATION_CLAMP).mean(),
        "R": err[..., 3:7].mean(),
        "FoV": err[..., 7:9].mean(),
    }
    return sum(PART_WEIGHTS[k] * v for k, v in parts.items())
