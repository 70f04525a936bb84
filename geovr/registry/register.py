"""Register a trained checkpoint as a new version of an MLflow registered model, alias it
`challenger`, and let the promotion gate decide whether it becomes `champion`.

    from geovr.registry import register_checkpoint
    result = register_checkpoint("runs/train/checkpoint", "runs/eval/metrics.json",
                                 tracking_uri="http://mlflow:5000")
    result.version, result.decision.label

or `geovr register --checkpoint DIR --metrics FILE --model geovr-student`.

The checkpoint is logged as a pyfunc whose one artifact is the Hugging Face directory,
uploaded file by file as training wrote it (see `student_model.py` for why not the
transformers flavour). Against a server with `--serve-artifacts` and an S3 destination,
files of MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE or more go straight to the bucket as
presigned multipart uploads (docs/decisions.md).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
from mlflow import MlflowClient

from geovr.registry.connection import (
    RetryBudget,
    connect,
    local_artifact_root,
    registry_call,
    resolve_uri,
)
from geovr.registry.gate import Candidate, Decision, GatePolicy, decide
from geovr.registry.inputs import CheckpointInfo, EvalMetrics, read_checkpoint, read_metrics
from geovr.registry.promotion import CHALLENGER, CHAMPION, alias_holder, move_alias
from geovr.registry.serving import log_served_model

DEFAULT_MODEL = "geovr-student"
DEFAULT_EXPERIMENT = "geovr-registry"
MODEL_NAME_IN_RUN = "student"
# What the pyfunc imports at load time; pinned to this environment's versions so that
# MLflow does not load the (possibly multi-GB) model just to infer them.
# av, pillow and fsspec (s3fs, aiohttp) read and sample the videos requests name.
RUNTIME_PACKAGES = ("mlflow", "torch", "torchvision", "transformers", "safetensors", "numpy",
                    "av", "pillow", "fsspec", "s3fs", "aiohttp")
TAG_VALUE_LIMIT = 5000  # MLflow's limit on a model-version tag value


@dataclass(frozen=True)
class Registration:
    """The new version, the run that logged it, and the gate's decision."""

    model_name: str
    version: str
    run_id: str
    tracking_uri: str
    decision: Decision
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "model": self.model_name,
            "version": self.version,
            "run_id": self.run_id,
            "tracking_uri": self.tracking_uri,
            "decision": self.decision.label,
            "champion": self.version if self.decision.promote else self.decision.champion_version,
            "reasons": list(self.decision.reasons),
            "seconds": round(self.seconds, 2),
        }


def pinned_requirements() -> list[str]:
    pins = []
    for package in RUNTIME_PACKAGES:
        try:
            version = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
        pins.append(f"{package}=={version.split('+')[0]}")  # drop local tags like +cpu
    return pins


def ensure_experiment(client: MlflowClient, name: str, uri: str) -> str:
    """The experiment's id, creating it (with artifacts beside a local database) if new."""
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    return client.create_experiment(name, artifact_location=local_artifact_root(uri))


def version_tags(info: CheckpointInfo, metrics: EvalMetrics, kfp_run_id: str) -> dict[str, str]:
    """Contract 5: data version, teacher, student base, config hash, KFP run id, metrics."""
    return {**info.tags(), "kfp.run_id": kfp_run_id, **metrics.tags()}


def champion_candidate(client: MlflowClient, model_name: str) -> Candidate | None:
    """The current champion as the gate sees it (metrics and eval set from its tags)."""
    holder = alias_holder(client, model_name, CHAMPION)
    if holder is None:
        return None
    metrics = {}
    for key, value in holder.tags.items():
        if key.startswith("metric."):
            try:
                metrics[key.removeprefix("metric.")] = float(value)
            except ValueError:
                continue  # a hand-edited tag is not a number: treated as missing
    return Candidate(str(holder.version), holder.tags.get("eval.set"), metrics)


def _log_run(info: CheckpointInfo, metrics: EvalMetrics, policy: GatePolicy) -> None:
    mlflow.log_params({**info.tags(), "eval.set": metrics.eval_set or "unknown"})
    mlflow.log_params({"gate.policy": json.dumps(policy.to_dict(), sort_keys=True)})
    mlflow.log_metrics(metrics.values)


def _log_model(info: CheckpointInfo) -> str:
    return log_served_model(MODEL_NAME_IN_RUN, info.path, pinned_requirements()).model_uri


def record_decision(
    client: MlflowClient, model_name: str, version: str, run_id: str, decision: Decision
) -> None:
    """The decision and its reasons, on the version and on the registration run."""
    tags = {
        "gate.decision": decision.label,
        "gate.reasons": "; ".join(decision.reasons)[:TAG_VALUE_LIMIT],
        "gate.champion": decision.champion_version or "none",
    }
    for key, value in tags.items():
        client.set_model_version_tag(model_name, version, key, value)
        client.set_tag(run_id, key, value)
    client.set_tag(run_id, "registered.version", f"{model_name}/{version}")


def register_checkpoint(
    checkpoint: str | Path,
    metrics: str | Path,
    model_name: str = DEFAULT_MODEL,
    tracking_uri: str | None = None,
    policy: GatePolicy | None = None,
    kfp_run_id: str | None = None,
    eval_set: str | None = None,
    experiment: str = DEFAULT_EXPERIMENT,
    retry: RetryBudget | None = None,
) -> Registration:
    """Log, register (alias challenger) and gate one checkpoint; see the module docstring.

    `kfp_run_id` defaults to $KFP_RUN_ID; `eval_set` overrides what `metrics.json` says.
    """
    start = time.perf_counter()
    info = read_checkpoint(checkpoint)  # inputs are checked before anything is uploaded
    evaluation = read_metrics(metrics, eval_set)
    policy = policy or GatePolicy()
    kfp_run_id = kfp_run_id or os.environ.get("KFP_RUN_ID", "") or "none"
    uri = resolve_uri(tracking_uri)
    client = connect(uri, retry)
    experiment_id = ensure_experiment(client, experiment, uri)
    run_name = f"register-{kfp_run_id}" if kfp_run_id != "none" else f"register-{info.path.name}"
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as run:
        _log_run(info, evaluation, policy)
        model_uri = _log_model(info)
    version = str(registry_call(
        f"register {model_uri} as {model_name!r}", mlflow.register_model, model_uri, model_name,
        tags=version_tags(info, evaluation, kfp_run_id),
    ).version)
    champion = champion_candidate(client, model_name)
    move_alias(client, model_name, CHALLENGER, version, by="registration")
    decision = decide(Candidate(version, evaluation.eval_set, evaluation.values), champion, policy)
    record_decision(client, model_name, version, run.info.run_id, decision)
    if decision.promote:
        move_alias(client, model_name, CHAMPION, version, by="gate")
    return Registration(model_name, version, run.info.run_id, uri, decision, time.perf_counter() - start)
