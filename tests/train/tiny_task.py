"""A tiny, real :class:`geovr.train.interfaces.TrainTask` for the training tests.

Regression of a fixed random linear map with a 2-layer MLP trunk ("model" group) and a linear
head ("heads" group). ``TINY_TASK_SLEEP`` (seconds per batch) slows it down for the kill test.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import torch
from torch import nn

from geovr.config.train import TrainConfig

DIM, N_SAMPLES = 8, 64


class TinyNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(DIM, 16), nn.Tanh(), nn.Linear(16, 16))
        self.head = nn.Linear(16, 1)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        pred = self.head(torch.tanh(self.trunk(x))).squeeze(-1)
        mse = torch.mean((pred - y) ** 2)
        l1 = torch.mean(torch.abs(pred - y))
        return {"total": mse + 0.1 * l1, "mse": mse, "l1": l1}


class TinyDataset(torch.utils.data.Dataset):
    def __init__(self) -> None:
        gen = torch.Generator().manual_seed(1234)
        self.x = torch.randn(N_SAMPLES, DIM, generator=gen)
        self.y = torch.sin(self.x @ torch.randn(DIM, generator=gen))

    def __len__(self) -> int:
        return N_SAMPLES

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[i], self.y[i]


class TinyTask:
    def build_model(self, cfg: TrainConfig) -> nn.Module:
        return TinyNet()

    def param_groups(self, model: nn.Module) -> dict[str, list]:
        return {"heads": list(model.head.parameters()), "model": list(model.trunk.parameters())}

    def dataset(self) -> torch.utils.data.Dataset:
        return TinyDataset()

    def collate(self, samples: list) -> dict[str, torch.Tensor]:
        delay = float(os.environ.get("TINY_TASK_SLEEP", "0"))
        if delay:
            time.sleep(delay)
        return {
            "x": torch.stack([s[0] for s in samples]),
            "y": torch.stack([s[1] for s in samples]),
        }

    def save_final(self, model: nn.Module, out_dir: Path) -> None:
        torch.save(model.state_dict(), Path(out_dir) / "final.pt")
