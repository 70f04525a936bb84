"""The registration run and the model version link the training run, the evaluation run
and the KFP run with one tag spelling; a checkpoint without a data version registers by hand
with a warning and a tag saying why (real `mlflow server`)."""

from __future__ import annotations

import mlflow
import pytest
from mlflow import MlflowClient

from geovr.registry import RetryBudget, connect

from .builders import build_checkpoint, write_metrics
from .test_cli import run_cli

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_runs_are_linked_and_a_missing_data_version_is_recorded(
    capsys, mlflow_server, model_name, tmp_path
):
    checkpoint = build_checkpoint(tmp_path / "checkpoint", data_version={})
    metrics = write_metrics(tmp_path / "metrics.json", 40.0, of=checkpoint)
    connect(mlflow_server, RetryBudget(total_s=120))
    mlflow.set_experiment("geovr-links")
    run_ids = {}
    for stage in ("train", "eval"):  # the runs training and evaluation log, tagged alike
        with mlflow.start_run(tags={"kfp_run_id": "kfp-42"}) as run:
            run_ids[stage] = run.info.run_id
    capsys.readouterr()

    code, summary, err = run_cli(
        capsys,
        "register",
        "--checkpoint",
        checkpoint,
        "--metrics",
        metrics,
        "--model",
        model_name,
        "--tracking-uri",
        mlflow_server,
        "--train-run-id",
        run_ids["train"],
        "--eval-run-id",
        run_ids["eval"],
        "--connect-timeout",
        "120",
    )
    assert code == 0, err
    assert "WARNING" in err and "no data version" in err

    client = MlflowClient(mlflow_server, mlflow_server)
    links = {"train_run_id": run_ids["train"], "eval_run_id": run_ids["eval"], "kfp_run_id": "none"}
    version_tags = client.get_model_version(model_name, summary["version"]).tags
    run_tags = client.get_run(summary["run_id"]).data.tags
    for tags in (version_tags, run_tags):
        assert {key: tags[key] for key in links} == links
    assert "registered by hand (no KFP run)" in version_tags["data.version_missing"]
