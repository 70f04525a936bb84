"""The evaluate component run for real by kfp.local (SubprocessRunner, this interpreter) on a
tiny untrained checkpoint and a synthetic clip set with oracle targets.

    .venv/bin/pytest -q components/evaluate
"""

import json
from pathlib import Path
from typing import NamedTuple

import pytest
from kfp import dsl, local
from mlflow import MlflowClient

from components.evaluate.component import evaluate
from geovr.model import GeoVRConfig, GeoVRModel, HeadWidths, build_tiny_student, save_student
from geovr.model.config import teacher_feature_dim
from tests.geovr_data import make_geovr_data

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings(
        "ignore:You may be attemping to run a task:RuntimeWarning"
    ),  # the image is ours
]


class Outputs(NamedTuple):
    evaluation: dsl.Artifact
    metrics: dsl.Metrics
    report: dsl.HTML


@dsl.pipeline(name="evaluate-only")
def evaluate_only(checkpoint_uri: str, clips_uri: str, targets_uri: str) -> Outputs:
    checkpoint = dsl.importer(artifact_uri=checkpoint_uri, artifact_class=dsl.Model)
    clips = dsl.importer(artifact_uri=clips_uri, artifact_class=dsl.Dataset)
    targets = dsl.importer(artifact_uri=targets_uri, artifact_class=dsl.Dataset)
    task = evaluate(
        checkpoint=checkpoint.output, clips=clips.output, targets=targets.output, max_questions=5
    )
    task.set_caching_options(False)
    return Outputs(task.outputs["evaluation"], task.outputs["metrics"], task.outputs["report"])


def test_writes_evaluation_metrics_and_html(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    clips, targets = make_geovr_data(tmp_path)
    student, processor = build_tiny_student("qwen3_vl")
    geo = GeoVRModel(
        student,
        GeoVRConfig(widths=HeadWidths.tiny(), teacher_feature_dim=teacher_feature_dim(targets)),
    )
    checkpoint = save_student(geo, tmp_path / "checkpoint", processor)
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking)  # the step's env, as on the cluster
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "root"))
    out = evaluate_only(
        checkpoint_uri=str(checkpoint), clips_uri=str(clips), targets_uri=str(targets)
    ).outputs
    scores = json.loads((Path(out["evaluation"].path) / "metrics.json").read_text())
    assert scores["counts"]["questions"] == 5
    assert out["metrics"].metadata["vsi_overall"] == scores["vsi"]["overall"]
    assert out["metrics"].metadata["depth_absrel"] == scores["probes"]["depth_absrel"]
    assert Path(out["report"].path).read_text().startswith("<!DOCTYPE html>")
    # the evaluation run, which the register step links to the model version
    run = MlflowClient(tracking).get_run(out["evaluation"].metadata["mlflow_run_id"])
    assert run.data.metrics["vsi.overall"] == scores["vsi"]["overall"]
