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
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
from mlflow import MlflowClient

from geovr.mlflow_store import ensure_experiment
from geovr.pipeline_run import pipeline_parent
from geovr.registry.connection import (
    RetryBudget,
    connect,
    identity,
    registry_call,
    resolve_uri,
)
from geovr.registry.gate import Candidate, Decision, GatePolicy, decide
from geovr.registry.history import GATE, REJECT, append_entry
from geovr.registry.inputs import CheckpointInfo, EvalMetrics, read_checkpoint, read_metrics
from geovr.registry.lock import promotion_lock
from geovr.registry.promotion import CHALLENGER, CHAMPION, alias_holder, locked_move, move_alias
from geovr.registry.serving import log_served_model
from geovr.registry.verify import verify_checkpoint, verify_uploaded

DEFAULT_MODEL = "geovr-student"
DEFAULT_EXPERIMENT = "geovr-registry"
MODEL_NAME_IN_RUN = "student"
# What the pyfunc imports at load time; pinned to this environment's versions so that
# MLflow does not load the (possibly multi-GB) model just to infer them.
# av, pillow and fsspec (s3fs, aiohttp) read and sample the videos requests name.
RUNTIME_PACKAGES = (
    "mlflow",
    "torch",
    "torchvision",
    "transformers",
    "safetensors",
    "numpy",
    "av",
    "pillow",
    "fsspec",
    "s3fs",
    "aiohttp",
)
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


@dataclass(frozen=True)
class RunLinks:
    """The runs a registration comes from, tagged on its run and on the version with the
    spelling training and evaluation use for the KFP run ("none" when unknown)."""

    kfp_run_id: str = "none"
    train_run_id: str = "none"
    eval_run_id: str = "none"

    @classmethod
    def of(
        cls, kfp: str | None = None, train: str | None = None, evaluation: str | None = None
    ) -> RunLinks:
        """Links from the arguments; the KFP run defaults to $KFP_RUN_ID."""
        kfp = kfp or os.environ.get("KFP_RUN_ID", "")
        return cls(kfp or "none", train or "none", evaluation or "none")

    def tags(self) -> dict[str, str]:
        return {
            "kfp_run_id": self.kfp_run_id,
            "train_run_id": self.train_run_id,
            "eval_run_id": self.eval_run_id,
        }


def data_version_tags(info: CheckpointInfo, links: RunLinks) -> dict[str, str]:
    """Why a version has no data version, when it has none (warned on stderr too)."""
    if info.dvc_md5:
        return {}
    how = "by hand (no KFP run)" if links.kfp_run_id == "none" else f"in KFP run {links.kfp_run_id}"
    why = f"registered {how} from a checkpoint whose meta.json has no data_version"
    print(f"WARNING: {info.path}: no data version; {why}", file=sys.stderr)
    return {"data.version_missing": why}


def version_tags(info: CheckpointInfo, metrics: EvalMetrics, links: RunLinks) -> dict[str, str]:
    """The version tags of docs/contracts.md section 6: data version, teacher, student base,
    config hash, linked runs, metrics and the fingerprint of the checkpoint they were measured
    on."""
    return {**info.tags(), **links.tags(), **data_version_tags(info, links), **metrics.tags()}


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


def log_checkpoint_model(info: CheckpointInfo) -> str:
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


def gate(
    client: MlflowClient,
    model_name: str,
    version: str,
    run_id: str,
    evaluation: EvalMetrics,
    policy: GatePolicy,
) -> Decision:
    """Decide against the champion current at the move, and move: all under the lock, so a
    concurrent registration cannot decide against a champion that is about to change."""
    with promotion_lock(client, model_name, identity()) as lock:
        champion = champion_candidate(client, model_name)
        move_alias(client, model_name, CHALLENGER, version, by="registration")
        challenger = Candidate(version, evaluation.eval_set, evaluation.values)
        decision = decide(challenger, champion, policy)
        record_decision(client, model_name, version, run_id, decision)
        why = "; ".join(decision.reasons)
        if decision.promote:
            locked_move(client, model_name, CHAMPION, version, GATE, why, lock)
        else:
            current = decision.champion_version
            append_entry(
                client, model_name, CHAMPION, REJECT, version, (current, current), identity(), why
            )
    return decision


def _upload(
    info: CheckpointInfo,
    evaluation: EvalMetrics,
    policy: GatePolicy,
    links: RunLinks,
    experiment_id: str,
    run_name: str,
) -> tuple[str, str]:
    """Log the registration run and the model; (run id, model URI) once the stored copy is
    verified. A copy that fails verification leaves a FAILED run and no version."""
    parent = pipeline_parent(links.kfp_run_id)  # nested in the KFP run's own run
    # under KFP's MLflow plugin, in the plugin run's experiment beside train and evaluate
    # (MLflow's UI nests runs only within one experiment), as geovr.tracking's stage runs
    if parent and parent.experiment_id:
        experiment_id = parent.experiment_id
    with mlflow.start_run(
        experiment_id=experiment_id,
        run_name=run_name,
        tags=links.tags(),
        parent_run_id=parent.run_id if parent else None,
    ) as run:
        _log_run(info, evaluation, policy)
        model_uri = log_checkpoint_model(info)
        verify_uploaded(model_uri, info)
    return run.info.run_id, model_uri


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
    links: RunLinks | None = None,
) -> Registration:
    """Verify, log, register (alias challenger) and gate one checkpoint; see the module
    docstring.

    `links` (default: the KFP run from `kfp_run_id`, else $KFP_RUN_ID) name the runs the
    version comes from; `eval_set` is used only when `metrics.json` names none and may not
    contradict it.
    """
    start = time.perf_counter()
    policy = policy or GatePolicy()
    links = links or RunLinks.of(kfp=kfp_run_id)
    # Inputs are checked before anything is uploaded.
    info = read_checkpoint(checkpoint)
    evaluation = read_metrics(metrics, eval_set, primary=policy.primary.key)
    evaluation.check_measured(info)
    verify_checkpoint(info.path)
    tags = version_tags(info, evaluation, links)
    uri = resolve_uri(tracking_uri)
    client = connect(uri, retry)
    experiment_id = ensure_experiment(client, experiment, uri)
    kfp = links.kfp_run_id
    run_name = f"register-{kfp}" if kfp != "none" else f"register-{info.path.name}"
    run_id, model_uri = _upload(info, evaluation, policy, links, experiment_id, run_name)
    version = str(
        registry_call(
            f"register {model_uri} as {model_name!r}",
            mlflow.register_model,
            model_uri,
            model_name,
            tags=tags,
        ).version
    )
    client.set_tag(run_id, "registered.version", f"{model_name}/{version}")
    decision = gate(client, model_name, version, run_id, evaluation, policy)
    return Registration(model_name, version, run_id, uri, decision, time.perf_counter() - start)
