"""KFP component: register a checkpoint in the MLflow registry and run the promotion gate.

Thin by design: standard-library imports at module level (kfp aside); the body imports
`geovr` and calls `geovr.registry.register_checkpoint` (what `geovr register` runs).

    from components.register.component import register
    task = register(checkpoint=train.outputs["checkpoint"], metrics=evaluate.outputs["evaluation"],
                    tracking_uri="http://geovr-mlflow:5000",
                    kfp_run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER)
    task.outputs["version"], task.outputs["decision"]
"""

from typing import NamedTuple

from kfp import dsl

from components import BASE_IMAGE


# The project image already holds kfp and geovr: nothing is pip-installed at run time.
@dsl.component(base_image=BASE_IMAGE, install_kfp_package=False)
def register(
    checkpoint: dsl.Input[dsl.Model],
    metrics: dsl.Input[dsl.Artifact],
    model_name: str = "geovr-student",
    tracking_uri: str = "",
    policy: str = "",
    kfp_run_id: str = "",
    eval_set: str = "",
) -> NamedTuple("RegisterOutputs", [("version", str), ("decision", str)]):
    """Register `checkpoint` (alias challenger) with the evaluation `metrics` (metrics.json or
    the directory holding it); the gate `policy` is inline JSON or a path ("" = defaults).
    Empty `tracking_uri` / `kfp_run_id` fall back to $MLFLOW_TRACKING_URI / $KFP_RUN_ID. The
    version links the training and evaluation MLflow runs that the train and evaluate steps
    recorded in their artifacts' metadata (`mlflow_run_id`)."""
    import json
    from collections import namedtuple

    from geovr.registry import GatePolicy, RunLinks, register_checkpoint

    links = RunLinks.of(
        kfp=kfp_run_id or None,
        train=checkpoint.metadata.get("mlflow_run_id") or None,
        evaluation=metrics.metadata.get("mlflow_run_id") or None,
    )
    result = register_checkpoint(
        checkpoint.path,
        metrics.path,
        model_name=model_name,
        tracking_uri=tracking_uri or None,
        policy=GatePolicy.load(policy),
        eval_set=eval_set or None,
        links=links,
    )
    print(json.dumps(result.summary()))
    outputs = namedtuple("RegisterOutputs", ["version", "decision"])
    return outputs(result.version, result.decision.label)
