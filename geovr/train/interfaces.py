"""The contract between the generic training machinery and a concrete model.

A task is any class implementing :class:`TrainTask` whose constructor takes keyword options
(the worker's ``--task-config`` JSON file).
It is named on the command line as ``"package.module:ClassName"``, e.g.::

    python -m torch.distributed.run --standalone --nproc-per-node 2 \
        -m geovr.train.worker --task tests.train.tiny_task:TinyTask --out runs/x --steps 10
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Protocol, runtime_checkable

import torch

from geovr.config.train import TrainConfig


@runtime_checkable
class TrainTask(Protocol):
    """What the trainer needs from a model: build it, feed it, and save it. Optional:
    ``fsdp_units(model) -> list[nn.Module]``, the modules FSDP2 shards one by one;
    ``loss_items(batch) -> Tensor``, how many items (e.g. labelled tokens) a batch's mean loss
    averages over: the loop then passes ``num_items_in_batch`` to ``forward`` so that the loss
    is one mean over the whole step, however it is split over ranks and micro-steps;
    ``no_weight_decay(model) -> list[Parameter]``, matrices that must not decay (norms and
    biases never do)."""

    def build_model(self, cfg: TrainConfig) -> torch.nn.Module:
        """A fresh model in the dtype its weights are stored in (the loop trains an fp32 copy
        and saves in this dtype); ``forward(**batch)`` returns a dict of loss tensors with key
        ``"total"``. ``cfg`` carries the model-side options (attention, gradient checkpointing)."""
        ...

    def param_groups(self, model: torch.nn.Module) -> dict[str, list]:
        """Trainable parameters split into ``{"heads": [...], "model": [...]}``."""
        ...

    def dataset(self) -> torch.utils.data.Dataset:
        """A deterministic map-style dataset."""
        ...

    def collate(self, samples: list) -> dict[str, torch.Tensor]:
        """Stack samples into the keyword arguments of ``model.forward``."""
        ...

    def save_final(self, model: torch.nn.Module, out_dir: Path) -> None:
        """Write the trained (unwrapped, full, CPU) model to ``out_dir``; called on rank 0 only."""
        ...


def resolve_task(spec: str, options: dict | None = None) -> TrainTask:
    """Import ``"module:Class"``, instantiate it with ``options`` as keyword arguments and check
    it satisfies :class:`TrainTask`."""
    module_name, sep, class_name = spec.partition(":")
    if not sep or not module_name or not class_name:
        raise ValueError(f"task must be 'module:Class', got {spec!r}")
    cls = getattr(importlib.import_module(module_name), class_name)
    task = cls(**(options or {}))
    if not isinstance(task, TrainTask):
        raise TypeError(f"{spec} does not implement TrainTask")
    return task
