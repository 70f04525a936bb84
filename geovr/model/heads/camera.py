"""Camera pose: each frame's camera-token state (last LLM layer) -> 9-d pose encoding
(absT_quaR_FoV: translation 3, quaternion xyzw 4, field of view h/w 2), and its loss."""

from __future__ import annotations

import torch
from torch import nn

PART_WEIGHTS = {"T": 1.0, "R": 1.0, "FoV": 0.5}
TRANSLATION_CLAMP = 100.0


class CameraHead(nn.Module):
    """LN, Linear(H -> width), GELU, then three linear outputs; FoV through ReLU (>= 0)."""

    def __init__(self, hidden_size: int, width: int = 1536):
        super().__init__()
        self.trunk = nn.Sequential(
            nn.LayerNorm(hidden_size), nn.Linear(hidden_size, width), nn.GELU()
        )
        self.translation = nn.Linear(width, 3)
        self.rotation = nn.Linear(width, 4)
        self.fov = nn.Linear(width, 2)

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        """[..., H] -> [..., 9]."""
        x = self.trunk(states)
        return torch.cat([self.translation(x), self.rotation(x), torch.relu(self.fov(x))], dim=-1)


def camera_loss(
    pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor | None = None
) -> torch.Tensor:
    """Per-part mean L1 over the valid frames, weighted T 1 / R 1 / FoV 0.5; the translation
    error is clamped at 100 (outlier scenes). No valid frame: 0, still connected to `pred`."""
    err = (pred - target.to(pred.dtype)).abs()
    if valid is not None:
        err = err[valid.bool()]
    if err.numel() == 0:
        return pred.sum() * 0
    parts = {
        "T": err[..., :3].clamp(max=TRANSLATION_CLAMP).mean(),
        "R": err[..., 3:7].mean(),
        "FoV": err[..., 7:9].mean(),
    }
    return sum(PART_WEIGHTS[k] * v for k, v in parts.items())
