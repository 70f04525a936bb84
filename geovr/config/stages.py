"""The knobs of the stages around training: fetching the data, distilling the teachers,
evaluating and registering (ingest and train have modules of their own).

    DistillConfig(teacher="vggt", scale_teacher="da3-metric")
"""

from __future__ import annotations

from dataclasses import dataclass

from geovr.devices import DEVICE_RE
from geovr.errors import GeoVRError


@dataclass(frozen=True)
class FetchConfig:
    """Where the pipeline's first step gets the DVC-versioned data."""

    remote: str = "s3"
    """DVC remote to download from ("" = the repository's default remote)."""
    jobs: int = 8
    """Parallel DVC downloads."""

    def __post_init__(self) -> None:
        if self.jobs < 1:
            raise GeoVRError(f"dvc jobs must be >= 1, got {self.jobs}")


@dataclass(frozen=True)
class DistillConfig:
    """Which teachers compute the targets, and how the work is split."""

    teacher: str = "oracle"
    """3D teacher: oracle (ground truth), depth-anything, vggt, da3."""
    weights: str = ""
    """Teacher weights: a local directory or hub id ("" = the teacher's default)."""
    scale_teacher: str = ""
    """Metric-scale source paired with the teacher (da3-metric, the paper's with vggt;
    "" = ground-truth depth where a clip has it)."""
    scale_weights: str = ""
    """Scale teacher weights: a local directory or hub id ("" = its default)."""
    teacher_options: str = ""
    """Teacher constructor options as a JSON object, e.g. {"input_size": 518} ("" = none)."""
    batch_size: int = 8
    """Frames per teacher forward."""
    device: str = "auto"
    """auto | cpu | cuda | cuda:N."""
    clips_per_shard: int = 16
    """Clips per target shard (the unit of resume)."""
    tasks: int = 4
    """Parallel distill tasks of the pipeline (one GPU each on a cluster)."""

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.clips_per_shard < 1 or self.tasks < 1:
            raise GeoVRError("distill batch_size, clips_per_shard and tasks must be >= 1")
        if not DEVICE_RE.fullmatch(self.device):
            raise GeoVRError(f"device {self.device!r}: expected auto, cpu, cuda or cuda:N")
        if self.scale_weights and not self.scale_teacher:
            raise GeoVRError("--scale-weights needs --scale-teacher")


@dataclass(frozen=True)
class EvaluateConfig:
    """What the evaluation answers and how (VSI-Bench rules)."""

    splits: str = "val,test"
    """Comma-separated clip-set splits whose questions are answered."""
    max_questions: int = 0
    """Answer at most this many questions (0 = all)."""
    max_new_tokens: int = 16
    """Tokens generated per answer (the official task's 16)."""
    max_side: int | None = None
    """Cap on the frames' longest side in pixels, as in training (None: the stored size)."""
    frames: int | None = None
    """Uniform frame budget per clip (published tables: 16, 32, 64, 128; None: all stored)."""
    device: str = "auto"
    """auto | cpu | cuda | cuda:N."""
    experiment: str = "geovr-eval"
    """MLflow experiment of the evaluation run."""

    def __post_init__(self) -> None:
        if isinstance(self.splits, tuple | list):  # as the command line parses them
            object.__setattr__(self, "splits", ",".join(self.splits))
        if self.max_questions < 0 or self.max_new_tokens < 1:
            raise GeoVRError("max_questions must be >= 0 and max_new_tokens >= 1")
        if self.frames is not None and self.frames < 1:
            raise GeoVRError(f"--frames must be >= 1, got {self.frames}")
        if self.max_side is not None and self.max_side < 16:
            raise GeoVRError(f"--max-side must be >= 16, got {self.max_side}")
        if not DEVICE_RE.fullmatch(self.device):
            raise GeoVRError(f"device {self.device!r}: expected auto, cpu, cuda or cuda:N")
        if not [s for s in self.splits.split(",") if s.strip()]:
            raise GeoVRError("evaluation splits must name at least one split")


@dataclass(frozen=True)
class RegisterConfig:
    """Where a checkpoint is registered and when it is promoted."""

    model_name: str = "geovr-student"
    """MLflow registered model the new version goes to."""
    policy: str = ""
    """Promotion gate policy: inline JSON or a path ("" = defaults: beat the champion on VSI
    overall)."""
    margin: float | None = None
    """Override of the policy's margin (None: the policy's)."""
    floor: float | None = None
    """Override of the policy's floor (None: the policy's)."""
    experiment: str = "geovr-registry"
    """MLflow experiment of the registration run."""
