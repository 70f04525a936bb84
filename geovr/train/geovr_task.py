"""The GeoVR TrainTask: the student + heads of geovr.model on a clip set and its teacher targets.

The worker builds it from a JSON file of `geovr.train.task_config.GeoVRTaskConfig` fields::

    torchrun --nproc-per-node 2 -m geovr.train.worker --task geovr.train.geovr_task:GeoVRTask \
        --task-config runs/train/task.json --out runs/train --steps 20

`geovr train` (geovr/cli/train.py) writes that file and starts torchrun for you.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from geovr.config.train import TrainConfig
from geovr.model import GeoVRModel, collate, load_student, save_student
from geovr.model.dataset import ClipQADataset
from geovr.model.tokens import IGNORE
from geovr.train.outputs import CHECKPOINT_DIR
from geovr.train.task_config import GeoVRTaskConfig


class GeoVRTask:
    """TrainTask over GeoVRModel; forward(**batch) returns every loss term and "total"."""

    def __init__(self, **options: Any):
        self.config = GeoVRTaskConfig(**options)
        if self.config.targets is None and self.config.geovr_config().geometry:
            raise ValueError(
                f"objectives {self.config.objectives} need teacher targets (--targets)"
            )
        self._processor = None
        self._build_tiny_student()  # here: constructed once per rank, before any other call

    def _build_tiny_student(self) -> None:
        """Rank 0 writes the tiny default student once; the other ranks wait for it (a
        collective: only ever called from the constructor, which every rank runs once)."""
        cfg = self.config
        if cfg.tiny_family is None:
            return
        first = not dist.is_initialized() or dist.get_rank() == 0
        if first and not (Path(cfg.student) / "config.json").exists():
            from geovr.model.tiny import build_tiny_student

            build_tiny_student(
                cfg.tiny_family,
                out_dir=cfg.student,
                seed=cfg.tiny_seed,
                hidden=cfg.tiny_hidden,
                layers=cfg.tiny_layers,
            )
        if dist.is_initialized():
            dist.barrier()

    def _load(self, **model_options: Any) -> tuple[nn.Module, Any]:
        student, processor = load_student(self.config.student, **model_options)
        self._processor = processor
        return student, processor

    @property
    def processor(self) -> Any:
        if self._processor is None:
            self._load()
        return self._processor

    def build_model(self, cfg: TrainConfig) -> nn.Module:
        """The student in the dtype it was saved in (the loop trains fp32 master weights)."""
        student, _ = self._load(attn_implementation=cfg.attn_implementation)
        if cfg.wants_gradient_checkpointing(sum(p.numel() for p in student.parameters())):
            # recompute each decoder layer in backward: activation memory O(layers) -> O(1)
            student.activation_checkpointing_enable({"use_reentrant": False})
        return GeoVRModel(student, self.config.geovr_config(), pack_tokens=cfg.pack_tokens)

    def param_groups(self, model: nn.Module) -> dict[str, list]:
        return model.param_groups()

    def no_weight_decay(self, model: nn.Module) -> list[nn.Parameter]:
        """The camera/scale tokens: embeddings, which decay would pull towards zero."""
        return model.geometry_tokens()

    def fsdp_units(self, model: nn.Module) -> list[nn.Module]:
        """Shard per decoder layer (and per head): one all-gather per layer, as FSDP2 intends."""
        layers = list(model.adapter.decoder_layers(model.student))
        return [*layers, model.adapter.vision_tower(model.student), *model.heads.values()]

    def dataset(self) -> torch.utils.data.Dataset:
        cfg = self.config
        return ClipQADataset(
            cfg.clips,
            self.processor,
            cfg.targets if cfg.geovr_config().geometry else None,
            cfg.splits,
            max_side=cfg.max_side,
            **cfg.storage_options,
        )

    def item_lengths(self, dataset: ClipQADataset) -> list[int]:
        """Token length of each item, the key of length-grouped batching."""
        return dataset.token_lengths()

    def loss_items(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Labelled tokens: the language loss is a mean over the step's answer tokens."""
        return (batch["labels"] != IGNORE).sum()

    def collate(self, samples: list) -> dict[str, torch.Tensor]:
        return collate(samples, self.processor.tokenizer.pad_token_id)

    def save_final(self, model: nn.Module, out_dir: Path) -> None:
        options = {k: v for k, v in self.config.to_dict().items() if k != "checkpoint_meta"}
        save_student(
            model,
            Path(out_dir) / CHECKPOINT_DIR,
            self.processor,
            training_config=options,
            meta=self.config.checkpoint_meta,
        )
