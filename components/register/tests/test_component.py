"""The register component run for real by kfp.local (SubprocessRunner, this interpreter)
against a sqlite MLflow store in tmp.

    .venv/bin/pytest -q components/register
"""

import json
from typing import NamedTuple

import pytest
from kfp import dsl, local
from mlflow import MlflowClient

from components.register.component import register
from tests.registry.builders import build_checkpoint, write_metrics

pytestmark = [pytest.mark.integration, pytest.mark.slow]


class Outputs(NamedTuple):
    version: str
    decision: str


@dsl.pipeline(name="register-only")
def register_only(
    checkpoint_uri: str,
    metrics_uri: str,
    tracking_uri: str,
    policy: str,
    train_run_id: str = "",
    eval_run_id: str = "",
) -> Outputs:
    # the metadata the train and evaluate components give their outputs
    checkpoint = dsl.importer(
        artifact_uri=checkpoint_uri,
        artifact_class=dsl.Model,
        metadata={"mlflow_run_id": train_run_id},
    )
    metrics = dsl.importer(
        artifact_uri=metrics_uri,
        artifact_class=dsl.Artifact,
        metadata={"mlflow_run_id": eval_run_id},
    )
    task = register(
        checkpoint=checkpoint.output,
        metrics=metrics.output,
        model_name="geovr-student",
        tracking_uri=tracking_uri,
        policy=policy,
        kfp_run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
    )
    return Outputs(task.outputs["version"], task.outputs["decision"])


def test_register_component_registers_and_gates(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "root"))
    checkpoint = build_checkpoint(tmp_path / "checkpoint")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    policy = json.dumps({"floor": 30.0})

    client = MlflowClient(uri, uri)  # both: an earlier test may have set a global registry
    experiment = client.create_experiment("stages")
    train_run, eval_run = (client.create_run(experiment).info.run_id for _ in range(2))

    metrics = write_metrics(tmp_path / "eval1" / "metrics.json", 40.0, of=checkpoint)
    first = register_only(
        checkpoint_uri=str(checkpoint),
        tracking_uri=uri,
        policy=policy,
        metrics_uri=str(metrics),
        train_run_id=train_run,
        eval_run_id=eval_run,
    )
    assert (first.outputs["version"], first.outputs["decision"]) == ("1", "promote")
    # A metrics directory works as well as the file.
    write_metrics(tmp_path / "eval2" / "metrics.json", 35.0, of=checkpoint)
    second = register_only(
        checkpoint_uri=str(checkpoint),
        metrics_uri=str(tmp_path / "eval2"),
        tracking_uri=uri,
        policy=policy,
    )
    assert (second.outputs["version"], second.outputs["decision"]) == ("2", "reject")

    aliases = {k: str(v) for k, v in client.get_registered_model("geovr-student").aliases.items()}
    assert aliases == {"champion": "1", "challenger": "2"}
    run_id = client.get_model_version("geovr-student", "1").tags["kfp_run_id"]
    assert run_id not in ("", "none") and "{{" not in run_id  # the placeholder was resolved
    tags = client.get_model_version("geovr-student", "1").tags
    assert (tags["train_run_id"], tags["eval_run_id"]) == (train_run, eval_run)
    registration = client.get_run(client.get_model_version("geovr-student", "1").run_id)
    assert registration.data.tags["train_run_id"] == train_run
    # untracked stages (empty metadata) are "none", as by hand
    assert client.get_model_version("geovr-student", "2").tags["train_run_id"] == "none"
