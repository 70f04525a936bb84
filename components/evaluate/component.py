"""KFP component: evaluate a trained checkpoint (what `geovr evaluate` runs).

Thin by design: standard-library imports at module level (kfp aside); the body imports
`geovr` and calls `geovr.eval.evaluate.run_evaluation`.

    from components.evaluate.component import evaluate
    task = evaluate(checkpoint=train.outputs["checkpoint"], clips=ingest.outputs["clips"],
                    targets=merge.outputs["targets"], splits="val,test")
    task.outputs["evaluation"]   # directory: metrics.json, predictions.jsonl, report.html,
                                 # meta.json
    task.outputs["metrics"]      # KFP Metrics: the headline numbers in the run's UI
    task.outputs["report"]       # KFP HTML: the report, shown by the UI's visualisation tab
"""

from kfp import dsl

from components import BASE_IMAGE


# The project image already holds kfp and geovr: nothing is pip-installed at run time.
@dsl.component(base_image=BASE_IMAGE, install_kfp_package=False)
def evaluate(
    checkpoint: dsl.Input[dsl.Model],
    clips: dsl.Input[dsl.Dataset],
    targets: dsl.Input[dsl.Dataset],
    evaluation: dsl.Output[dsl.Artifact],
    metrics: dsl.Output[dsl.Metrics],
    report: dsl.Output[dsl.HTML],
    splits: str = "val,test",
    max_questions: int = 0,
    max_new_tokens: int = 16,
    tracking_uri: str = "",
    kfp_run_id: str = "",
) -> float:
    """Answer the `splits` questions, score them (VSI-Bench rules), probe the geometry heads;
    returns VSI overall. `max_questions` 0 = all; empty `tracking_uri` = $MLFLOW_TRACKING_URI."""
    import json
    import os
    import shutil

    from geovr.eval.evaluate import run_evaluation

    summary = run_evaluation(
        checkpoint.path,
        clips.path,
        evaluation.path,
        targets=targets.path,
        splits=tuple(s.strip() for s in splits.split(",") if s.strip()),
        max_questions=max_questions or None,
        max_new_tokens=max_new_tokens,
        tracking_uri=tracking_uri or os.environ.get("MLFLOW_TRACKING_URI"),
        kfp_run_id=kfp_run_id,
    )
    with open(f"{evaluation.path}/metrics.json") as f:
        scores = json.load(f)
    metrics.log_metric("vsi_overall", scores["vsi"]["overall"])
    for task, value in scores["vsi"]["per_task"].items():
        metrics.log_metric(f"vsi_{task}", value)
    for name, value in scores["probes"].items():
        metrics.log_metric(name, value)
    shutil.copyfile(f"{evaluation.path}/report.html", report.path)
    tracked = summary["tracking"] or {}
    evaluation.metadata.update(
        {
            "eval_set": scores["eval_set"],
            "questions": summary["questions"],
            "mlflow_run_id": tracked.get("run_id") or "",  # register links it
        }
    )
    print(json.dumps(summary, sort_keys=True))
    return float(summary["vsi_overall"])
