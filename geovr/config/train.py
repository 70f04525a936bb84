"""The train stage's knobs: the optimisation loop the workers run and the launch around it.

Every field is a ``--flag`` of :mod:`geovr.train.worker`; ``geovr train`` has options for
the ones a user tunes, and takes the rest from its ``--preset``::

    from geovr.config.train import TrainConfig
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
Launcher = Literal["auto", "local", "trainjob"]

# Students larger than this recompute their decoder layers in backward by default: from about
# 1 B parameters a long video sequence's activations no longer fit beside the fp32 weights and
# AdamW states (docs/decisions.md, "Precision and memory"); smaller students skip the recompute.
GRADIENT_CHECKPOINTING_ABOVE = 1_000_000_000

POSITIVE_FIELDS = (
    "steps",
    "batch_size",
    "grad_accum",
    "checkpoint_every",
    "keep_last",
    "log_every",
    "prefetch",
    "num_nodes",
    "cpu_ranks",
)


@dataclass(frozen=True)
class TrainConfig:
    """All knobs of one training run (``batch_size`` is per device and per micro-step)."""

    student: str = "tiny"
    """The base student: `tiny[:FAMILY[:HIDDENxLAYERS]]` (offline, random init; e.g.
    tiny:qwen3_vl:256x6), a checkpoint directory or a hub id."""
    objectives: str = "lm,cam,depth,scale,distill"
    """Comma-separated subset of lm,cam,depth,scale,distill; `lm` alone is the SFT baseline."""
    loss_weights: str = ""
    """Weights of the geometry losses, e.g. cam=2.5,depth=1 ("" or a missing term: the paper's
    cam=2.5, depth=1, scale=1, distill=1)."""
    splits: str = "train"
    """Comma-separated clip-set splits to train on."""
    max_side: int | None = None
    """Cap on the frames' longest side in pixels (None: the clip set's stored size)."""
    freeze_vision: bool = True
    """The vision tower stays frozen, as in the paper (its merger trains); False trains it too,
    for a student whose vision was never trained (one built from random weights)."""
    steps: int = 1000
    """Optimizer steps (they also set the cosine schedule's length)."""
    batch_size: int = 8
    """Clips per rank per micro-step."""
    grad_accum: int = 1
    """Micro-steps per optimizer step."""
    lr_model: float = 2e-5
    """AdamW learning rate of the student."""
    lr_heads: float = 1e-4
    """AdamW learning rate of the new heads and geometry tokens."""
    warmup_ratio: float = 0.03
    """Fraction of the steps spent in linear warm-up."""
    schedule: Literal["cosine"] = "cosine"
    """Learning-rate schedule after warm-up."""
    weight_decay: float = 0.01
    """AdamW weight decay, on matrices only: never norms, biases or geometry tokens."""
    grad_clip: float = 1.0
    """Gradient norm clip."""
    seed: int = 0
    """Seed of the data order, the tiny student and the heads' initialisation."""
    length_group_steps: int = 0
    """> 0: each run of this many steps' samples is sorted by token length (less padding)."""
    pack_tokens: int = 0
    """> 0: each micro-batch's clips are packed into sequences of at most this many tokens,
    attention kept within each clip (geovr.model.tokens): the losses of the same clips in
    padded rows, without the padding. 0: one clip per padded row."""
    parallelism: Parallelism = "ddp"
    """ddp or fsdp2."""
    precision: Precision = "auto"
    """Compute precision (weights always train in fp32): auto = bf16 autocast on GPU, fp32 on
    CPU."""
    attn_implementation: AttnImplementation = "sdpa"
    """The student's attention kernels (flash_attention_2 needs flash-attn installed)."""
    gradient_checkpointing: Switch = "auto"
    """Recompute decoder layers in backward: auto = on for students over 1 B parameters."""
    num_workers: int = 2
    """Data loader processes per rank."""
    prefetch: int = 4
    """Batches each data loader process prepares ahead."""
    checkpoint_every: int = 500
    """Steps between resumable checkpoints."""
    keep_last: int = 2
    """Resumable checkpoints kept."""
    log_every: int = 1
    """Steps between metric records (and the host reads of the step's loss and grad norm)."""
    tracking_uri: str | None = None
    """MLflow tracking URI (None: $MLFLOW_TRACKING_URI; unreachable: the metrics buffer file)."""
    experiment: str = "geovr-train"
    """MLflow experiment of the training run."""
    kfp_run_id: str = ""
    """Kubeflow run id tagged on the MLflow run."""
    num_nodes: int = 1
    """Training nodes; more than 1 runs a Kubeflow Trainer TrainJob."""
    launcher: Launcher = "auto"
    """auto (local torchrun for one node, TrainJob for more), local or trainjob."""
    gpus_per_node: int = 0
    """GPU ranks per node of the pipeline's train step (0: CPU, `cpu_ranks` gloo ranks)."""
    cpu_ranks: int = 2
    """Ranks per node of the pipeline's train step when it has no GPU."""

    def __post_init__(self) -> None:
        # the command line and the pipeline pass these as text, Python callers as dict/tuple
        if isinstance(self.loss_weights, dict):
            text = ",".join(f"{k}={float(v)}" for k, v in self.loss_weights.items())
            object.__setattr__(self, "loss_weights", text)
        for name in ("objectives", "splits"):
            if isinstance(getattr(self, name), tuple | list):
                object.__setattr__(self, name, ",".join(getattr(self, name)))
        self._check_choices()
        self._check_numbers()

    def _check_choices(self) -> None:
        for name, kind in (
            ("parallelism", Parallelism),
            ("precision", Precision),
            ("attn_implementation", AttnImplementation),
            ("gradient_checkpointing", Switch),
            ("launcher", Launcher),
        ):
            value = getattr(self, name)
            if value not in get_args(kind):
                raise ValueError(
                    f"{name} must be one of {', '.join(get_args(kind))}, got {value!r}"
                )
        # transformers' flash path splits a packed row into its samples only when the batch is
        # one row; with more rows every later clip would attend to the earlier ones
        if self.pack_tokens and self.attn_implementation == "flash_attention_2":
            raise ValueError(
                "pack_tokens needs attn_implementation sdpa or eager (each clip's attention "
                "kept apart); flash_attention_2 would attend across packed clips: use sdpa or "
                "pack_tokens 0"
            )
        if self.schedule != "cosine":
            raise ValueError(f"only the cosine schedule is supported, got {self.schedule!r}")

    def _check_numbers(self) -> None:
        if self.num_workers < 0:
            raise ValueError("num_workers must be >= 0")
        if self.gpus_per_node < 0:
            raise ValueError("gpus_per_node must be >= 0")
        if self.pack_tokens < 0:
            raise ValueError("pack_tokens must be >= 0 (0: one clip per padded row)")
        if self.length_group_steps < 0:
            raise ValueError("length_group_steps must be >= 0 (0: no length grouping)")
        if self.max_side is not None and self.max_side < 16:
            raise ValueError(f"max_side must be >= 16, got {self.max_side}")
        for name in POSITIVE_FIELDS:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ValueError("warmup_ratio must be in [0, 1)")

    def wants_gradient_checkpointing(self, student_parameters: int) -> bool:
        """Whether a student of this many parameters recomputes its layers in backward."""
        if self.gradient_checkpointing == "auto":
            return student_parameters > GRADIENT_CHECKPOINTING_ABOVE
        return self.gradient_checkpointing == "on"

    def loss_weight_dict(self) -> dict[str, float]:
        """`loss_weights` as {objective: weight} (terms it leaves out keep the paper's)."""
        pairs = (p.partition("=") for p in self.loss_weights.split(",") if p.strip())
        return {key.strip(): float(value) for key, _, value in pairs}

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
