"""Evaluation results to MLflow: the flattened metrics, `metrics.json` and the HTML report (which
the MLflow UI shows as is). An unreachable server does not fail the evaluation: the summary
says so and the files stay in the output directory.

    log_evaluation(Path("runs/eval"), metrics, "http://mlflow:5000", "geovr-eval", kfp_run_id="...")
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from geovr.artifacts import flatten_metrics
from geovr.tracking import server_problem, start_stage_run


def log_evaluation(
    out: Path,
    metrics: dict[str, Any],
    tracking_uri: str,
    experiment: str,
    kfp_run_id: str = "",
    run_config: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One MLflow run with the metrics and files of `out`; {"online", "run_id" | "error"}.
    `run_config` (geovr.config.presets.run_record) becomes params: `preset`, `config.<field>`."""
    if problem := server_problem(tracking_uri):
        print(f"WARNING: MLflow unavailable ({problem}); results stay in {out}", file=sys.stderr)
        return {"online": False, "error": problem}
    import mlflow

    try:
        mlflow.set_tracking_uri(tracking_uri)
        tags = {"kfp_run_id": kfp_run_id} if kfp_run_id else None
        with start_stage_run(experiment, tags=tags) as run:
            mlflow.log_metrics(flatten_metrics(metrics))
            mlflow.log_params(
                {
                    "eval_set": metrics["eval_set"],
                    "splits": metrics["splits"],
                    "blank_frames": metrics.get("blank_frames", False),
                    "benchmark": metrics.get("benchmark", ""),
                    "frame_budget": metrics.get("frame_budget", 0),
                    **_config_params(run_config or {}),
                }
            )
            for name in ("metrics.json", "report.html"):
                mlflow.log_artifact(str(out / name))
        return {"online": True, "run_id": run.info.run_id}
    except Exception as exc:  # tracking must not fail a finished evaluation
        print(f"WARNING: MLflow logging failed ({exc}); results stay in {out}", file=sys.stderr)
        return {"online": False, "error": str(exc)}


def _config_params(run_config: dict[str, Any]) -> dict[str, Any]:
    stage = run_config.get("evaluate", {})
    preset = {"preset": run_config["preset"]} if "preset" in run_config else {}
    return {**preset, **{f"config.{k}": v for k, v in stage.items()}}
