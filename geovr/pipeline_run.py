"""The MLflow run of a whole KFP run, under which its train, evaluate and register runs nest.

Under KFP's MLflow plugin the step's environment names the pipeline's run (MLFLOW_RUN_ID,
MLFLOW_EXPERIMENT_ID). Without it, the parent is the run tagged `kfp_run_id=<id>` in
experiment `geovr-pipeline`: the first stage of a KFP run creates it, the later ones (and
retries) find it by the tag. The stages that log run one after another (train -> evaluate ->
register), so two of them never race to create it.

    parent = pipeline_parent(kfp_run_id)   # None outside a KFP run (tracking URI already set)
    mlflow.start_run(experiment_id=..., parent_run_id=parent.run_id if parent else None)
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from geovr.errors import GeoVRError

PIPELINE_EXPERIMENT = "geovr-pipeline"
KFP_RUN_TAG = "kfp_run_id"  # the spelling training, evaluation and registration tag alike
NO_KFP_RUN = ("", "none")  # what the stages pass when they run by hand


@dataclass(frozen=True)
class PipelineParent:
    run_id: str
    # the plugin run's experiment, where the stage runs go too; None: each stage keeps its own
    experiment_id: str | None = None


def pipeline_parent(kfp_run_id: str | None) -> PipelineParent | None:
    """The parent run of this stage's run, or None when it runs outside a KFP run.

    MLFLOW_RUN_ID is taken out of this process's environment: `mlflow.start_run` would
    otherwise resume the pipeline's run instead of starting the stage's own.
    """
    import mlflow
    from mlflow import MlflowClient

    from geovr.mlflow_store import ensure_experiment

    plugin_run = os.environ.pop("MLFLOW_RUN_ID", None)
    if plugin_run:
        experiment_id = os.environ.get("MLFLOW_EXPERIMENT_ID")
        return PipelineParent(
            plugin_run, experiment_id or MlflowClient().get_run(plugin_run).info.experiment_id
        )
    if (kfp_run_id or "") in NO_KFP_RUN:
        return None
    if "'" in kfp_run_id or '"' in kfp_run_id:
        raise GeoVRError(f"KFP run id {kfp_run_id!r}: quotes are not allowed")
    client = MlflowClient()
    experiment_id = ensure_experiment(client, PIPELINE_EXPERIMENT, mlflow.get_tracking_uri())
    found = client.search_runs(
        [experiment_id],
        filter_string=f"tags.{KFP_RUN_TAG} = '{kfp_run_id}'",
        order_by=["attributes.start_time ASC"],
        max_results=1,
    )
    if found:
        return PipelineParent(found[0].info.run_id)
    run = client.create_run(
        experiment_id, tags={KFP_RUN_TAG: kfp_run_id}, run_name=f"kfp-{kfp_run_id}"
    )
    # a record that groups the stages' runs, not a process: finished as soon as it exists
    client.set_terminated(run.info.run_id, "FINISHED")
    return PipelineParent(run.info.run_id)
