"""What registration reads: the training checkpoint (contract 3) and the evaluation's
`metrics.json` (contract 4), checked before anything is sent to MLflow.

    from geovr.registry.inputs import read_checkpoint, read_metrics
    info = read_checkpoint("runs/train/checkpoint")
    metrics = read_metrics("runs/eval/metrics.json")
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geovr.artifacts import META_FILE, canonical_json, config_hash, read_meta
from geovr.errors import ArtifactError

# The files every checkpoint must carry besides its weights (contract 3).
CHECKPOINT_FILES = ("config.json", "geovr_heads.safetensors", "geovr_config.json", META_FILE)
# Single-file or sharded Hugging Face weights.
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json")
METRICS_FILE = "metrics.json"


@dataclass(frozen=True)
class CheckpointInfo:
    """Provenance of a checkpoint, as read from its `meta.json`."""

    path: Path
    config_hash: str
    teacher: str
    student_base: str
    dvc_md5: str
    git_rev: str

    def tags(self) -> dict[str, str]:
        """Model-version tags (contract 5) naming where this checkpoint came from."""
        return {
            "data.dvc_md5": self.dvc_md5,
            "data.git_rev": self.git_rev,
            "teacher": self.teacher,
            "student_base": self.student_base,
            "config_hash": self.config_hash,
        }


@dataclass(frozen=True)
class EvalMetrics:
    """Flattened evaluation metrics (`vsi.overall`, `probes.depth_absrel`, ...) and the id of
    the evaluation set they were measured on (None when the evaluation did not say)."""

    values: dict[str, float]
    eval_set: str | None

    def tags(self) -> dict[str, str]:
        tags = {f"metric.{key}": repr(value) for key, value in sorted(self.values.items())}
        if self.eval_set is not None:
            tags["eval.set"] = self.eval_set
        return tags


def _text(value: Any) -> str:
    # The teacher may be a name or a small record (name + config); tags are strings.
    return value if isinstance(value, str) else canonical_json(value)


def read_checkpoint(path: str | Path) -> CheckpointInfo:
    """Check a checkpoint directory and return its provenance; ArtifactError if incomplete."""
    root = Path(path)
    if not root.is_dir():
        raise ArtifactError(f"checkpoint {root} is not a directory")
    meta = read_meta(root, "checkpoint")
    missing = [name for name in CHECKPOINT_FILES if not (root / name).is_file()]
    if not any((root / name).is_file() for name in WEIGHT_FILES):
        missing.append(" or ".join(WEIGHT_FILES))
    if missing:
        raise ArtifactError(f"checkpoint {root} is incomplete: missing {', '.join(missing)}")
    data_version = meta.get("data_version") or {}
    return CheckpointInfo(
        path=root,
        config_hash=str(meta.get("config_hash", "")),
        teacher=_text(meta.get("teacher", "")),
        student_base=_text(meta.get("student_base", "")),
        dvc_md5=str(data_version.get("dvc_md5", "")),
        git_rev=str(data_version.get("git_rev", "")),
    )


def flatten_metrics(tree: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """Numeric leaves of a nested dict as {"a.b.c": value}; text, lists and booleans are
    skipped because MLflow metrics are numbers."""
    flat: dict[str, float] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_metrics(value, f"{name}."))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            flat[name] = float(value)
    return flat


def _eval_set_from_meta(metrics_path: Path) -> str | None:
    # Without an explicit id, the evaluation's own meta.json names its inputs by content
    # hash; everything but the checkpoint identifies the evaluation set.
    meta_path = metrics_path.parent / META_FILE
    if not meta_path.is_file():
        return None
    meta = read_meta(metrics_path.parent, "evaluation")
    data = {k: v for k, v in (meta.get("inputs") or {}).items() if k != "checkpoint"}
    return config_hash(data) if data else None


def read_metrics(path: str | Path, eval_set: str | None = None) -> EvalMetrics:
    """Read `metrics.json` (a file, or a directory holding one).

    The evaluation-set id is, in order: `eval_set` given here, `metrics.json`'s `eval_set`
    field, a hash of the evaluation `meta.json` inputs beside it, else None (the gate then
    refuses to compare with a champion).
    """
    file = Path(path)
    if file.is_dir():
        file = file / METRICS_FILE
    try:
        tree = json.loads(file.read_text())
    except FileNotFoundError as e:
        raise ArtifactError(f"metrics file {file} does not exist") from e
    except json.JSONDecodeError as e:
        raise ArtifactError(f"metrics file {file} is not valid JSON: {e}") from e
    if not isinstance(tree, dict):
        raise ArtifactError(f"metrics file {file} must hold a JSON object")
    if tree.get("blank_frames"):
        raise ArtifactError(
            f"metrics file {file} comes from an evaluation with blank frames (--blank-frames): "
            "it scores the model without its video and cannot back a registration"
        )
    values = {k: v for k, v in flatten_metrics(tree).items() if math.isfinite(v)}
    found = eval_set or tree.get("eval_set") or _eval_set_from_meta(file)
    return EvalMetrics(values=values, eval_set=None if found is None else _text(found))
