"""What a GeoVR training run trains on and what it trains (the worker's `--task-config` JSON).

Torch-free, like geovr.train.run which writes it: the launcher only starts torchrun.

    GeoVRTaskConfig(clips="runs/clips", student="Qwen/Qwen3-VL-2B-Instruct").to_dict()
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from geovr.model.config import OBJECTIVES, GeoVRConfig, HeadWidths
from geovr.teachers.base import VGGT_FEATURE_DIM


@dataclass
class GeoVRTaskConfig:
    """What to train on and what to train.

    student: a directory or hub id that `load_student` reads.
    tiny_family: set when `student` is the directory of the tiny default student, which rank 0
    builds there (seeded with `tiny_seed`, `tiny_hidden` wide, `tiny_layers` deep) if it is
    not there yet, so every rank loads identical weights and the launcher never imports torch.
    head_widths: "paper" or "tiny" (HeadWidths presets).
    """

    clips: str
    student: str
    targets: str | None = None
    objectives: tuple[str, ...] = OBJECTIVES
    loss_weights: dict[str, float] = field(default_factory=dict)
    teacher_feature_dim: int = VGGT_FEATURE_DIM
    head_widths: str = "paper"
    splits: tuple[str, ...] = ("train",)
    max_side: int | None = None
    freeze_vision: bool = True
    storage_options: dict[str, Any] = field(default_factory=dict)
    checkpoint_meta: dict[str, Any] | None = None  # final checkpoint's meta.json (contracts s. 4)
    tiny_family: str | None = None
    tiny_seed: int = 0
    tiny_hidden: int = 128
    tiny_layers: int = 4

    def geovr_config(self) -> GeoVRConfig:
        widths = {"paper": HeadWidths, "tiny": HeadWidths.tiny}[self.head_widths]()
        return GeoVRConfig(
            objectives=tuple(self.objectives),
            loss_weights=dict(self.loss_weights),
            widths=widths,
            teacher_feature_dim=self.teacher_feature_dim,
            freeze_vision=self.freeze_vision,
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def tracking_params(self) -> dict[str, Any]:
        """MLflow params beside the config: the targets' teacher record (name, hash, and how many
        clips have no metric scale, i.e. a masked scale loss) and the config's preset."""
        meta = self.checkpoint_meta or {}
        teacher = meta.get("teacher")
        params = (
            {f"teacher.{k}": v for k, v in teacher.items()} if isinstance(teacher, dict) else {}
        )
        if "run_config" in meta:  # the preset the run's config was resolved from
            params["preset"] = meta["run_config"]["preset"]
        return params
