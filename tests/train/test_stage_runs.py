"""Under KFP's MLflow plugin (MLFLOW_RUN_ID / MLFLOW_EXPERIMENT_ID in the step's environment)
the training and evaluation runs nest under the pipeline's run, on a real `mlflow server`;
without it, the train, evaluate and register runs of one KFP run share the KFP run's own run."""

import json
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from geovr.eval.tracking import log_evaluation
from geovr.pipeline_run import PIPELINE_EXPERIMENT
from geovr.registry import register_checkpoint
from geovr.train.tracking import Tracker
from tests.registry.builders import build_checkpoint, write_metrics
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


KFP_RUN = "kfp-run-7"


def _train_run(out: Path, uri: str, kfp_run_id: str = "") -> str:
    tags = {"kfp_run_id": kfp_run_id} if kfp_run_id else None
    tracker = Tracker(out, uri, "geovr-train", {"lr": 1}, enabled=True, tags=tags)
    assert tracker.online
    tracker.log_metrics({"loss": 1.5}, step=1)
    tracker.close()
    return tracker.run_id


def _register(tmp_path: Path, uri: str, model_name: str):
    """`register_checkpoint` of a tiny checkpoint and its metrics, in KFP run KFP_RUN."""
    checkpoint = build_checkpoint(tmp_path / "checkpoint")
    return register_checkpoint(
        checkpoint,
        write_metrics(tmp_path / "metrics.json", 40.0, of=checkpoint),
        model_name=model_name,
        tracking_uri=uri,
        kfp_run_id=KFP_RUN,
    )


@pytest.mark.integration
@pytest.mark.slow
def test_train_evaluate_and_register_of_one_kfp_run_share_its_parent_run(tmp_path, monkeypatch):
    """Without KFP's MLflow plugin the KFP run's own run (tag kfp_run_id, experiment
    geovr-pipeline) is created by the first stage and found by the later ones (sqlite store)."""
    for name in ("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_ID", "MLFLOW_TRACKING_URI", "KFP_RUN_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    train_run = _train_run(tmp_path / "train", uri, KFP_RUN)
    out = tmp_path / "eval"
    out.mkdir()
    metrics = {"eval_set": "e1", "splits": "val", "vsi": {"overall": 12.5}}
    (out / "metrics.json").write_text(json.dumps(metrics))
    (out / "report.html").write_text("<html></html>")
    evaluation = log_evaluation(out, metrics, uri, "geovr-eval", kfp_run_id=KFP_RUN)
    assert evaluation["online"], evaluation
    registration = _register(tmp_path, uri, "geovr-nested")
    other_kfp_run = _train_run(tmp_path / "train-2", uri, "kfp-run-8")
    by_hand = _train_run(tmp_path / "train-3", uri)

    client = MlflowClient(uri)
    pipeline = client.get_experiment_by_name(PIPELINE_EXPERIMENT)
    (parent,) = client.search_runs(
        [pipeline.experiment_id], filter_string=f"tags.kfp_run_id = '{KFP_RUN}'"
    )
    assert parent.info.status == "FINISHED"
    stage_runs = {"train": train_run, "eval": evaluation["run_id"], "register": registration.run_id}
    for stage, run_id in stage_runs.items():
        run = client.get_run(run_id)
        assert run.data.tags.get("mlflow.parentRunId") == parent.info.run_id, stage
        assert run.data.tags["kfp_run_id"] == KFP_RUN
        assert run.info.experiment_id != pipeline.experiment_id  # each stage keeps its own
    other_parent = client.get_run(other_kfp_run).data.tags["mlflow.parentRunId"]
    assert other_parent not in (parent.info.run_id, None)
    assert "mlflow.parentRunId" not in client.get_run(by_hand).data.tags
    assert len(client.search_runs([pipeline.experiment_id])) == 2  # one per KFP run


@pytest.mark.integration
@pytest.mark.slow
def test_registration_nests_under_the_plugins_run_instead_of_resuming_it(tmp_path, monkeypatch):
    for name in ("MLFLOW_TRACKING_URI", "KFP_RUN_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    experiment = client.create_experiment("kfp-pipeline-runs")
    plugin_run = client.create_run(experiment).info.run_id
    monkeypatch.setenv("MLFLOW_RUN_ID", plugin_run)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_ID", experiment)
    registration = _register(tmp_path, uri, "geovr-plugin")
    assert registration.run_id != plugin_run
    tags = client.get_run(registration.run_id).data.tags
    assert tags["mlflow.parentRunId"] == plugin_run
    # in the plugin run's experiment, where the train and evaluate runs also go
    assert client.get_run(registration.run_id).info.experiment_id == experiment
    assert client.get_run(plugin_run).data.params == {}  # nothing logged into the plugin's run


def test_a_local_store_keeps_stage_artifacts_beside_its_database(tmp_path, monkeypatch):
    """MLflow's default for a sqlite store is ./mlruns under whatever directory the stage runs
    in (a checkout, a KFP step's working dir): the stage experiments keep theirs beside the db."""
    import mlflow

    from geovr.tracking import start_stage_run

    store, elsewhere = tmp_path / "store", tmp_path / "cwd"
    store.mkdir()
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    mlflow.set_tracking_uri(f"sqlite:///{store / 'mlflow.db'}")
    try:
        for tags in ({}, {"kfp_run_id": "kfp-1"}):  # by hand, and nested in a KFP run
            with start_stage_run("geovr-eval", tags=tags):
                mlflow.log_text("{}", "metrics.json")
    finally:
        mlflow.set_tracking_uri(None)
    assert list(elsewhere.iterdir()) == []
    assert len(list((store / "mlartifacts").rglob("metrics.json"))) == 2
