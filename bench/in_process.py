"""The pipeline's stages without the orchestration: the baseline of `python -m bench pipeline`.

    python -m bench.in_process PARAMS_JSON OUT_DIR

Calls the very component functions the pipeline runs (`component.python_func`, the bodies
kfp.local executes), in the pipeline's order and wiring, one after another in this one Python
process, with plain kfp artifact objects whose paths lie under OUT_DIR. PARAMS_JSON holds the
pipeline's parameters (the embedded defaults plus data_repo, data_rev and tracking_uri). What
this process does is everything the stages need and nothing KFP adds: one interpreter, one
import of torch / transformers / mlflow, no executor per task, no task bookkeeping. The
distill ranges run concurrently, as the pipeline's ParallelFor runs them. Prints the
register step's version and decision as the last JSON line.
"""

from __future__ import annotations

import inspect
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from kfp import dsl

import geovr.teachers.distill  # noqa: F401  (imported here, not raced for by the distill threads)
from components.distill.component import distill, distill_merge, plan_shard_ranges
from components.evaluate.component import evaluate
from components.fetch_data.component import fetch_data
from components.ingest.component import ingest
from components.register.component import register
from components.train.component import plan_launcher, train
from pipelines.geovr_pipeline import geovr_pipeline

RUN_ID = "bench-in-process"


def pipeline_params(overrides: dict) -> dict:
    """The pipeline function's defaults with `overrides` on top (what a pipeline run gets)."""
    signature = inspect.signature(geovr_pipeline.pipeline_func)
    defaults = {
        name: p.default for name, p in signature.parameters.items() if p.default is not p.empty
    }
    return {**defaults, **overrides}


def run_stages(p: dict, out: Path) -> dict:
    """Every stage with pipeline parameters `p`, artifacts under `out`, wired as the pipeline
    wires them; returns the register step's version and decision."""

    def artifact(kind: type[dsl.Artifact], name: str) -> dsl.Artifact:
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        return kind(name=name, uri=str(out / name), metadata={})

    data = artifact(dsl.Dataset, "fetch-data/data")
    version = fetch_data.python_func(
        data_repo=p["data_repo"],
        data_rev=p["data_rev"],
        dvc_remote=p["dvc_remote"],
        jobs=p["dvc_jobs"],
        data=data,
        target=p["data_target"],
    )
    clips = artifact(dsl.Dataset, "ingest/clips")
    ingest.python_func(
        data=data,
        clips=clips,
        summary=artifact(dsl.Metrics, "ingest/summary"),
        frames=p["frames"],
        max_side=p["max_side"],
        min_valid_fraction=p["min_valid_fraction"],
    )
    ranges = plan_shard_ranges.python_func(clips=clips, tasks=p["distill_tasks"])
    parts = [artifact(dsl.Dataset, f"distill-{i}/targets") for i in range(len(ranges))]

    def distill_range(i: int) -> None:
        distill.python_func(
            clips=clips,
            teacher=p["teacher"],
            targets=parts[i],
            shard_range=ranges[i],
            weights=p["teacher_weights"],
        )

    with ThreadPoolExecutor(max_workers=len(ranges)) as pool:
        list(pool.map(distill_range, range(len(ranges))))
    targets = artifact(dsl.Dataset, "distill-merge/targets")
    distill_merge.python_func(parts=parts, targets=targets)
    # the pipeline's dsl.If/Else runs one of two train tasks; here the chosen one runs
    launcher = plan_launcher.python_func(launcher=p["launcher"], num_nodes=p["num_nodes"])
    checkpoint = artifact(dsl.Model, "train/checkpoint")
    train.python_func(
        clips=clips,
        targets=targets,
        checkpoint=checkpoint,
        student=p["student"],
        objectives=p["objectives"],
        loss_weights=p["loss_weights"],
        steps=p["steps"],
        batch_size=p["batch_size"],
        grad_accum=p["grad_accum"],
        lr_model=p["lr_model"],
        lr_heads=p["lr_heads"],
        parallelism=p["parallelism"],
        num_nodes=p["num_nodes"],
        gpus_per_node=p["gpus_per_node"],
        cpu_ranks=p["cpu_ranks"],
        launcher=launcher,
        work_dir=p["train_work_dir"],
        tracking_uri=p["tracking_uri"],
        kfp_run_id=RUN_ID,
        dvc_md5=version[0],
        git_rev=version[1],
    )
    evaluation = artifact(dsl.Artifact, "evaluate/evaluation")
    evaluate.python_func(
        checkpoint=checkpoint,
        clips=clips,
        targets=targets,
        evaluation=evaluation,
        metrics=artifact(dsl.Metrics, "evaluate/metrics"),
        report=artifact(dsl.HTML, "evaluate/report"),
        splits=p["eval_splits"],
        max_questions=p["max_questions"],
        tracking_uri=p["tracking_uri"],
        kfp_run_id=RUN_ID,
    )
    registered = register.python_func(
        checkpoint=checkpoint,
        metrics=evaluation,
        model_name=p["model_name"],
        tracking_uri=p["tracking_uri"],
        policy=p["promotion_policy"],
        kfp_run_id=RUN_ID,
    )
    return {"version": registered.version, "decision": registered.decision}


if __name__ == "__main__":
    params, out_dir = sys.argv[1:3]
    result = run_stages(pipeline_params(json.loads(params)), Path(out_dir))
    print(json.dumps(result))
