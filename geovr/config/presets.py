"""Named run configurations: every default of every stage comes from one of these.

embedded  what `make run` runs: offline on one machine in minutes (synthetic clips, the
          oracle teacher, a tiny random-init Qwen3-VL, 2 gloo CPU ranks). The default of
          the `geovr` commands (`--preset`, $GEOVR_PRESET).
paper     the GeoVR paper's recipe (docs/decisions.md, "One config tree"): Qwen3-VL-2B,
          VGGT + DA3-metric teachers, 4-32 frames at 2 fps, 504 px, LR 2e-5 / 1e-4,
          cosine with 3% warm-up, bf16, batch 2 x grad-accum 4 on 4 GPUs. The default of
          the Kubeflow pipeline and its components.

from geovr.config.presets import preset
preset("paper").train.lr_heads      # 1e-4
preset("embedded").get("ingest.frames")   # 8
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from geovr.config.fields import as_dict
from geovr.config.ingest import IngestConfig
from geovr.config.stages import DistillConfig, EvaluateConfig, FetchConfig, RegisterConfig
from geovr.config.train import TrainConfig
from geovr.errors import GeoVRError

PRESET_ENV = "GEOVR_PRESET"
DEFAULT_PRESET = "embedded"


@dataclass(frozen=True)
class RunConfig:
    """One resolved configuration of every stage of a run."""

    name: str
    fetch: FetchConfig = field(default_factory=FetchConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    register: RegisterConfig = field(default_factory=RegisterConfig)

    def get(self, path: str) -> Any:
        """The value at a dotted path, e.g. "train.lr_model" or "ingest.limits.min_side"."""
        value: Any = self
        for name in path.split("."):
            if not dataclasses.is_dataclass(value) or name not in _field_names(value):
                raise KeyError(f"no config field {path!r}")
            value = getattr(value, name)
        return value

    def stage_config(self, path: str) -> Any:
        """The config object that holds the field at `path` ("ingest.limits.min_side" ->
        the VideoLimits)."""
        return self.get(path.rpartition(".")[0])

    def to_dict(self) -> dict[str, Any]:
        return as_dict(self)


def _field_names(config: Any) -> set[str]:
    return {f.name for f in dataclasses.fields(config)}


EMBEDDED = RunConfig(
    "embedded",
    fetch=FetchConfig(remote="", jobs=4),  # the default remote, ~/.cache/geovr/dvcstore
    ingest=IngestConfig(frames=8, max_side=128),
    distill=DistillConfig(teacher="oracle", tasks=2),
    train=TrainConfig(
        student="tiny",
        steps=60,
        batch_size=2,
        grad_accum=1,
        # a randomly initialised tiny student learns nothing at the paper's fine-tuning rates
        lr_model=1e-3,
        lr_heads=1e-3,
        parallelism="ddp",
        launcher="local",
        gpus_per_node=0,
        cpu_ranks=2,
    ),
)

PAPER = RunConfig(
    "paper",
    ingest=IngestConfig(sampling="fps", fps=2.0, min_frames=4, max_frames=32, max_side=504),
    distill=DistillConfig(teacher="vggt", scale_teacher="da3-metric"),
    train=TrainConfig(
        student="Qwen/Qwen3-VL-2B-Instruct",
        loss_weights="cam=2.5,depth=1.0,scale=1.0,distill=1.0",
        steps=2000,
        batch_size=2,
        grad_accum=4,
        lr_model=2e-5,
        lr_heads=1e-4,
        warmup_ratio=0.03,
        precision="auto",  # bf16 autocast on GPU; the train component has no precision knob
        # two clips of the longest kind (32 frames at 504 px, about 4.3k tokens each) fit, so a
        # micro-batch of 2 is always one sequence without padding (docs/decisions.md)
        pack_tokens=16384,
        parallelism="fsdp2",
        gpus_per_node=4,
    ),
)

PRESETS = {preset.name: preset for preset in (EMBEDDED, PAPER)}


def preset(name: str) -> RunConfig:
    """The preset called `name`; an unknown name is a one-line error."""
    try:
        return PRESETS[name]
    except KeyError:
        raise GeoVRError(f"preset {name!r}: choose {' or '.join(PRESETS)}") from None


def with_values(config: Any, values: dict[str, Any]) -> Any:
    """`config` with the fields at the dotted paths of `values` replaced, e.g.
    with_values(EMBEDDED, {"train.steps": 5, "ingest.limits.min_side": 32})."""
    direct = {path: value for path, value in values.items() if "." not in path}
    nested: dict[str, dict[str, Any]] = {}
    for path, value in values.items():
        if "." in path:
            head, _, rest = path.partition(".")
            nested.setdefault(head, {})[rest] = value
    for head, inner in nested.items():
        direct[head] = with_values(getattr(config, head), inner)
    return dataclasses.replace(config, **direct)


def run_record(preset_name: str, stage: str, config: Any) -> dict[str, Any]:
    """What a stage's meta.json records as `run_config`: the resolved `config` of `stage` and
    the preset it was resolved from ("" for a library call that named none)."""
    return {"preset": preset_name, stage: as_dict(config)}
