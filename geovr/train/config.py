"""Training hyper-parameters, shared by the worker CLI, the launcher and the tracker.

Every field is also a ``--flag`` of :mod:`geovr.train.worker`::

    from geovr.train.config import TrainConfig
    cfg = TrainConfig(steps=100, parallelism="fsdp2")
    cfg.to_dict()  # flat, JSON-serialisable; logged as MLflow params
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal, get_args

Parallelism = Literal["ddp", "fsdp2"]
Precision = Literal["auto", "fp32", "bf16"]
AttnImplementation = Literal["sdpa", "eager", "flash_attention_2"]
Switch = Literal["auto", "on", "off"]

# Students larger than this recompute their decoder layers in backward by default: from about
# 1 B parameters a long video sequence's activations no longer fit beside the fp32 weights and
# AdamW states (docs/decisions.md, "Precision and memory"); smaller students skip the recompute.
GRADIENT_CHECKPOINTING_ABOVE = 1_000_000_000


@dataclass
class TrainConfig:
    """All knobs of one training run (``batch_size`` is per device and per micro-step)."""

    steps: int = 1000
    batch_size: int = 8
    grad_accum: int = 1
    lr_model: float = 2e-5
    lr_heads: float = 1e-4
    warmup_ratio: float = 0.03
    schedule: Literal["cosine"] = "cosine"
    weight_decay: float = 0.01  # on matrices only: never norms, biases, geometry tokens
    grad_clip: float = 1.0
    seed: int = 0
    length_group_steps: int = 0  # > 0: each run of this many steps is sorted by token length
    # > 0: the clips of a micro-batch are packed, in order, into sequences of at most this many
    # tokens, attention kept within each clip (geovr.model.tokens): the same losses as padded
    # rows without their padding; a budget of the micro-batch's total tokens gives one sequence
    pack_tokens: int = 0
    parallelism: Parallelism = "ddp"
    precision: Precision = "auto"
    attn_implementation: AttnImplementation = "sdpa"
    gradient_checkpointing: Switch = "auto"
    num_workers: int = 2
    prefetch: int = 4
    checkpoint_every: int = 500
    keep_last: int = 2
    log_every: int = 1
    tracking_uri: str | None = None
    experiment: str = "geovr-train"
    kfp_run_id: str = ""

    def __post_init__(self) -> None:
        if self.parallelism not in ("ddp", "fsdp2"):
            raise ValueError(f"parallelism must be 'ddp' or 'fsdp2', got {self.parallelism!r}")
        if self.precision not in ("auto", "fp32", "bf16"):
            raise ValueError(f"precision must be auto, fp32 or bf16, got {self.precision!r}")
        if self.attn_implementation not in get_args(AttnImplementation):
            raise ValueError(
                f"attn_implementation must be one of {', '.join(get_args(AttnImplementation))}"
                f", got {self.attn_implementation!r}"
            )
        if self.gradient_checkpointing not in get_args(Switch):
            raise ValueError(
                f"gradient_checkpointing must be auto, on or off, got {self.gradient_checkpointing!r}"
            )
        if self.num_workers < 0:
            raise ValueError("num_workers must be >= 0")
        if self.pack_tokens < 0:
            raise ValueError("pack_tokens must be >= 0 (0: one clip per padded sequence)")
        if self.length_group_steps < 0:
            raise ValueError("length_group_steps must be >= 0 (0: no length grouping)")
        if self.schedule != "cosine":
            raise ValueError(f"only the cosine schedule is supported, got {self.schedule!r}")
        for name in (
            "steps",
            "batch_size",
            "grad_accum",
            "checkpoint_every",
            "keep_last",
            "log_every",
            "prefetch",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ValueError("warmup_ratio must be in [0, 1)")

    def wants_gradient_checkpointing(self, student_parameters: int) -> bool:
        """Whether a student of this many parameters recomputes its layers in backward."""
        if self.gradient_checkpointing == "auto":
            return student_parameters > GRADIENT_CHECKPOINTING_ABOVE
        return self.gradient_checkpointing == "on"

    def to_dict(self) -> dict[str, Any]:
        """A flat dict of every field (all values are JSON scalars)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - names
        if unknown:
            raise ValueError(f"unknown config keys: {sorted(unknown)}")
        return cls(**values)
