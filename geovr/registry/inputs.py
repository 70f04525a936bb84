"""What registration reads: the training checkpoint and the evaluation's `metrics.json`
(docs/contracts.md sections 4 and 5), checked before anything is sent to MLflow.

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

from geovr.artifacts import (
    META_FILE,
    canonical_json,
    checkpoint_fingerprint,
    config_hash,
    flatten_metrics,
    read_meta,
)
from geovr.errors import ArtifactError

# The files every checkpoint must carry besides its weights (docs/contracts.md section 4).
CHECKPOINT_FILES = ("config.json", "geovr_heads.safetensors", "geovr_config.json", META_FILE)
# Single-file or sharded Hugging Face weights.
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json")
METRICS_FILE = "metrics.json"
PRIMARY_METRIC = "vsi.overall"  # the gate's default primary metric (gate.GatePolicy)
VSI_RANGE = (0.0, 100.0)  # VSI-Bench scores are percentages


@dataclass(frozen=True)
class CheckpointInfo:
    """Provenance of a checkpoint, as read from its `meta.json`."""

    path: Path
    config_hash: str
    teacher: str
    student_base: str
    dvc_md5: str
    git_rev: str
    fingerprint: str  # artifacts.checkpoint_fingerprint: its content, as evaluation saw it

    def tags(self) -> dict[str, str]:
        """Model-version tags (docs/contracts.md section 6): where this checkpoint came from."""
        return {
            "data.dvc_md5": self.dvc_md5,
            "data.git_rev": self.git_rev,
            "teacher": self.teacher,
            "student_base": self.student_base,
            "config_hash": self.config_hash,
        }


@dataclass(frozen=True)
class EvalMetrics:
    """Flattened evaluation metrics (`vsi.overall`, `probes.depth_absrel`, ...), the id of the
    evaluation set they were measured on, and the fingerprint of the checkpoint evaluated."""

    values: dict[str, float]
    eval_set: str | None
    checkpoint_sha256: str

    def tags(self) -> dict[str, str]:
        tags = {f"metric.{key}": repr(value) for key, value in sorted(self.values.items())}
        if self.eval_set is not None:
            tags["eval.set"] = self.eval_set
        tags["checkpoint.sha256"] = self.checkpoint_sha256
        return tags

    def check_measured(self, info: CheckpointInfo) -> None:
        """ArtifactError unless these metrics were measured on the checkpoint `info` names."""
        if self.checkpoint_sha256 != info.fingerprint:
            raise ArtifactError(
                f"the metrics were measured on checkpoint sha256 {self.checkpoint_sha256[:12]}, "
                f"not on {info.path} (sha256 {info.fingerprint[:12]}): evaluate this checkpoint"
            )


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
        fingerprint=checkpoint_fingerprint(root),
    )


def _eval_set_from_meta(metrics_path: Path) -> str | None:
    # Without an explicit id, the evaluation's own meta.json names its inputs by content
    # hash; everything but the checkpoint identifies the evaluation set.
    meta_path = metrics_path.parent / META_FILE
    if not meta_path.is_file():
        return None
    meta = read_meta(metrics_path.parent, "evaluation")
    data = {k: v for k, v in (meta.get("inputs") or {}).items() if k != "checkpoint"}
    return config_hash(data) if data else None


def _leaves(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Every non-mapping leaf of a nested dict as {"a.b.c": value}, whatever its type."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        flat |= _leaves(value, f"{name}.") if isinstance(value, Mapping) else {name: value}
    return flat


def _is_vsi_score(key: str) -> bool:
    # VSI-Bench scores are percentages; `vsi.counts.*` are question counts.
    return key.startswith("vsi.") and not key.startswith("vsi.counts.")


def _check_values(file: Path, tree: Mapping[str, Any], primary: str) -> None:
    """Refuse metrics the gate must not trust: a primary metric that is missing or not a
    number, any non-finite number, a VSI score outside [0, 100]."""
    leaves = _leaves(tree)
    if primary not in leaves:
        raise ArtifactError(f"metrics file {file} has no primary metric {primary}")
    value = leaves[primary]
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ArtifactError(
            f"metrics file {file}: primary metric {primary} is {value!r} "
            f"({type(value).__name__}), not a number"
        )
    for key, number in flatten_metrics(tree).items():
        if not math.isfinite(number):
            raise ArtifactError(f"metrics file {file}: {key} is {number}, not a finite number")
        if _is_vsi_score(key) and not VSI_RANGE[0] <= number <= VSI_RANGE[1]:
            raise ArtifactError(
                f"metrics file {file}: {key} = {number:g} is outside the VSI-Bench range "
                f"[{VSI_RANGE[0]:g}, {VSI_RANGE[1]:g}]"
            )


def _load_tree(file: Path) -> dict[str, Any]:
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
    return tree


def _eval_set(file: Path, tree: Mapping[str, Any], given: str | None) -> str | None:
    recorded = tree.get("eval_set") or _eval_set_from_meta(file)
    if recorded is not None and given is not None and _text(recorded) != given:
        raise ArtifactError(
            f"--eval-set {given} contradicts metrics file {file}, measured on eval set "
            f"{_text(recorded)}"
        )
    found = recorded if recorded is not None else given
    return None if found is None else _text(found)


def read_metrics(
    path: str | Path, eval_set: str | None = None, primary: str = PRIMARY_METRIC
) -> EvalMetrics:
    """Read and check `metrics.json` (a file, or a directory holding one).

    The evaluation-set id is `metrics.json`'s `eval_set` field, else a hash of the evaluation
    `meta.json` inputs beside it, else `eval_set` given here (which may not contradict the
    first two), else None (the gate then refuses to compare with a champion). The file must
    name the checkpoint it measured (`checkpoint_sha256`, written by `geovr evaluate`).
    """
    file = Path(path)
    if file.is_dir():
        file = file / METRICS_FILE
    tree = _load_tree(file)
    _check_values(file, tree, primary)
    measured = tree.get("checkpoint_sha256")
    if not isinstance(measured, str) or not measured:
        raise ArtifactError(
            f"metrics file {file} does not name the checkpoint it measured (checkpoint_sha256): "
            "it was not written by `geovr evaluate`; evaluate the checkpoint again"
        )
    return EvalMetrics(flatten_metrics(tree), _eval_set(file, tree, eval_set), measured)
