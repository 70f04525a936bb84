"""Under KFP's MLflow plugin (MLFLOW_RUN_ID / MLFLOW_EXPERIMENT_ID in the step's environment)
the training and evaluation runs nest under the pipeline's run, on a real `mlflow server`."""

import json

import pytest
from mlflow.tracking import MlflowClient

from geovr.eval.tracking import log_evaluation
from geovr.train.tracking import Tracker
from tests.registry.servers import MLFLOW_START_S, free_port, mlflow_server_cmd, running


@pytest.mark.integration
@pytest.mark.slow
def test_stage_runs_nest_under_the_pipeline_run(tmp_path, monkeypatch):
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    cmd = mlflow_server_cmd(port, tmp_path / "mlflow.db", str(tmp_path / "artifacts"))
    with running(cmd, f"{uri}/health", tmp_path / "mlflow.log", MLFLOW_START_S):
        client = MlflowClient(uri)
        experiment = client.create_experiment("kfp-pipeline-runs")
        parent = client.create_run(experiment).info.run_id
        plugin_env = {"MLFLOW_RUN_ID": parent, "MLFLOW_EXPERIMENT_ID": experiment}

        for name, value in plugin_env.items():  # each step is a process with the plugin's env
            monkeypatch.setenv(name, value)
        tracker = Tracker(tmp_path / "train", uri, "geovr-train", {"lr": 1}, enabled=True)
        assert tracker.online
        tracker.log_metrics({"loss": 1.5}, step=1)
        tracker.close()

        for name, value in plugin_env.items():
            monkeypatch.setenv(name, value)
        out = tmp_path / "eval"
        out.mkdir()
        metrics = {"eval_set": "e1", "splits": "val", "vsi": {"overall": 12.5}}
        (out / "metrics.json").write_text(json.dumps(metrics))
        (out / "report.html").write_text("<html></html>")
        evaluation = log_evaluation(out, metrics, uri, "geovr-eval")
        assert evaluation["online"], evaluation

        children = {tracker.run_id, evaluation["run_id"]}
        for run_id in children:
            run = client.get_run(run_id)
            assert run.data.tags.get("mlflow.parentRunId") == parent
            assert run.info.experiment_id == experiment
        assert parent not in children
        assert client.get_run(parent).data.metrics == {}  # nothing logged into the parent itself
