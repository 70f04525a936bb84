"""The GeoVR Kubeflow pipeline: versioned videos in, a registered spatially aware MLLM out.

    fetch_data (DVC rev) -> ingest -> plan -> ParallelFor(distill per shard range) -> merge
      -> plan_launcher -> train (torchrun in its pod, on GPUs; or a Trainer TrainJob it launches
      from a CPU pod) -> evaluate -> register (+ promotion gate)

`geovr pipeline compile` writes `pipelines/geovr_pipeline.yaml` (checked by a golden test);
`geovr pipeline run` executes this same function through `kfp.local`.
(No `from __future__ import annotations` here: KFP reads the annotations at runtime.)
"""

import os
from pathlib import Path
from typing import NamedTuple

from kfp import compiler, dsl

from components import BASE_IMAGE
from components.distill.component import distill, distill_merge, plan_shard_ranges
from components.evaluate.component import evaluate
from components.fetch_data.component import fetch_data
from components.ingest.component import ingest
from components.register.component import register
from components.train.component import plan_launcher, train
from geovr.config.presets import PAPER
from pipelines.cluster import (
    TRAINJOB_LAUNCHER_STEP,
    on_gpu_nodes,
    with_cluster_env,
    with_step_resources,
    with_training_volume,
)

PIPELINE_NAME = "geovr"
# GPUs per distill task and per training pod, fixed when the pipeline is compiled: KFP
# resolves accelerator limits from pipeline parameters on a cluster but kfp.local cannot
# (set 0 for CPU nodes). The training pod's default matches `gpus_per_node`'s, the ranks
# torchrun starts; a run with more ranks than GPUs stops with a clear error.
DISTILL_GPUS = int(os.environ.get("GEOVR_DISTILL_GPUS", "1"))
TRAIN_GPUS = int(os.environ.get("GEOVR_TRAIN_GPUS", str(PAPER.train.gpus_per_node)))


class Outputs(NamedTuple):
    checkpoint: dsl.Model
    evaluation: dsl.Artifact
    version: str
    decision: str


@dsl.pipeline(
    name=PIPELINE_NAME,
    description="GeoVR: DVC-versioned video -> 3D teacher targets -> GeoVR training -> "
    "evaluation -> MLflow registry.",
)
def geovr_pipeline(
    data_repo: str,
    data_rev: str = "main",
    data_target: str = "data",
    dvc_remote: str = PAPER.fetch.remote,
    dvc_jobs: int = PAPER.fetch.jobs,
    frames: int = PAPER.ingest.frames,
    sampling: str = PAPER.ingest.sampling,
    sampling_fps: float = PAPER.ingest.fps,
    min_frames: int = PAPER.ingest.min_frames,
    max_frames: int = PAPER.ingest.max_frames,
    max_side: int = PAPER.ingest.max_side,
    min_valid_fraction: float = PAPER.ingest.min_valid_fraction,
    teacher: str = PAPER.distill.teacher,
    teacher_weights: str = PAPER.distill.weights,
    teacher_options: str = PAPER.distill.teacher_options,
    scale_teacher: str = PAPER.distill.scale_teacher,
    scale_teacher_weights: str = PAPER.distill.scale_weights,
    distill_tasks: int = PAPER.distill.tasks,
    student: str = PAPER.train.student,
    objectives: str = PAPER.train.objectives,
    loss_weights: str = PAPER.train.loss_weights,
    steps: int = PAPER.train.steps,
    batch_size: int = PAPER.train.batch_size,
    grad_accum: int = PAPER.train.grad_accum,
    pack_tokens: int = PAPER.train.pack_tokens,
    lr_model: float = PAPER.train.lr_model,
    lr_heads: float = PAPER.train.lr_heads,
    parallelism: str = PAPER.train.parallelism,
    num_nodes: int = PAPER.train.num_nodes,
    gpus_per_node: int = PAPER.train.gpus_per_node,
    cpu_ranks: int = PAPER.train.cpu_ranks,
    launcher: str = PAPER.train.launcher,
    train_work_dir: str = "",
    eval_splits: str = PAPER.evaluate.splits,
    max_questions: int = PAPER.evaluate.max_questions,
    tracking_uri: str = "",
    model_name: str = PAPER.register.model_name,
    promotion_policy: str = PAPER.register.policy,
) -> Outputs:
    """Shown in the Kubeflow UI with these descriptions. The defaults are the `paper` preset's
    (geovr/config/presets.py; pipelines/parameters.py says which field each parameter sets).

    Args:
        data_repo: git URL (or local path) of the repository whose data.dvc versions the videos.
        data_rev: git revision of the data; a branch makes scheduled runs take the newest data.
        data_target: the DVC-tracked directory of data_repo to fetch (pointer: <data_target>.dvc).
        dvc_remote: DVC remote to download from ("" = the repository's default remote).
        dvc_jobs: parallel DVC downloads.
        frames: frames sampled per clip when sampling is "count".
        sampling: count (frames per clip) or fps (the paper's: sampling_fps/s, min..max_frames).
        sampling_fps: frames per second of video when sampling is "fps".
        min_frames: fewest frames per clip when sampling is "fps" (shorter clips are quarantined).
        max_frames: most frames per clip when sampling is "fps".
        max_side: longest side of the stored frames in pixels.
        min_valid_fraction: ingest fails if fewer clips than this survive validation.
        teacher: 3D teacher: oracle (ground truth), depth-anything, vggt, da3.
        teacher_weights: local path or hub id of the teacher weights ("" = the teacher's default).
        teacher_options: teacher constructor options, JSON such as {"input_size": 518} ("" = none).
        scale_teacher: metric-scale teacher: da3-metric (with vggt), "" = ground-truth depth if any.
        scale_teacher_weights: local path or hub id of the scale teacher weights ("" = its default).
        distill_tasks: parallel distill tasks (one GPU each on a cluster).
        student: base student: a hub id, a path, or tiny[:family] (offline, random init).
        objectives: training objectives, a subset of lm,cam,depth,scale,distill (lm = SFT baseline).
        loss_weights: weights of the geometry losses (the paper's defaults).
        steps: optimizer steps.
        batch_size: clips per rank per micro-step.
        grad_accum: micro-steps per optimizer step.
        pack_tokens: a micro-batch's clips share sequences of this many tokens (0 = padded rows).
        lr_model: AdamW learning rate of the student (cosine schedule, 3% warm-up).
        lr_heads: AdamW learning rate of the new heads and geometry tokens.
        parallelism: ddp or fsdp2.
        num_nodes: training nodes; more than 1 runs a Kubeflow Trainer TrainJob.
        gpus_per_node: training ranks per node (0 = CPU, cpu_ranks gloo ranks).
        cpu_ranks: ranks per node without a GPU.
        launcher: auto (local torchrun for one node, TrainJob for more), local or trainjob.
        train_work_dir: resumable checkpoints and TrainJobs, /mnt/geovr-train/... ("" = pod-local).
        eval_splits: clip-set splits the evaluation answers questions on.
        max_questions: evaluate at most this many questions (0 = all).
        tracking_uri: MLflow tracking and registry URI ("" = $MLFLOW_TRACKING_URI of the image).
        model_name: MLflow registered model the new version goes to.
        promotion_policy: promotion gate policy as JSON ("" = beat the champion on VSI overall).
    """
    data = fetch_data(
        data_repo=data_repo,
        data_rev=data_rev,
        dvc_remote=dvc_remote,
        jobs=dvc_jobs,
        target=data_target,
    )
    data.set_caching_options(False)  # same inputs every scheduled run, while the branch moves
    clips = ingest(
        data=data.outputs["data"],
        frames=frames,
        max_side=max_side,
        min_valid_fraction=min_valid_fraction,
        sampling=sampling,
        fps=sampling_fps,
        min_frames=min_frames,
        max_frames=max_frames,
    )
    plan = plan_shard_ranges(clips=clips.outputs["clips"], tasks=distill_tasks)
    with dsl.ParallelFor(plan.output) as shard_range:
        part = distill(
            clips=clips.outputs["clips"],
            teacher=teacher,
            weights=teacher_weights,
            shard_range=shard_range,
            teacher_options=teacher_options,
            scale_teacher=scale_teacher,
            scale_weights=scale_teacher_weights,
        )
        on_gpu_nodes(with_step_resources(with_cluster_env(part)), DISTILL_GPUS)
    targets = distill_merge(parts=dsl.Collected(part.outputs["targets"]))
    launch = plan_launcher(launcher=launcher, num_nodes=num_nodes)
    training = dict(
        clips=clips.outputs["clips"],
        targets=targets.outputs["targets"],
        student=student,
        objectives=objectives,
        loss_weights=loss_weights,
        steps=steps,
        batch_size=batch_size,
        grad_accum=grad_accum,
        pack_tokens=pack_tokens,
        lr_model=lr_model,
        lr_heads=lr_heads,
        parallelism=parallelism,
        num_nodes=num_nodes,
        gpus_per_node=gpus_per_node,
        cpu_ranks=cpu_ranks,
        work_dir=train_work_dir,
        tracking_uri=tracking_uri,
        kfp_run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
        dvc_md5=data.outputs["dvc_md5"],
        git_rev=data.outputs["git_rev"],
    )
    # Two train tasks, one runs: a TrainJob's launcher pod holds no GPU while the nodes train.
    with dsl.If(launch.output == "local", name="torchrun-in-pod"):
        trained_here = train(launcher="local", **training)
        on_gpu_nodes(with_training_volume(trained_here, BASE_IMAGE), TRAIN_GPUS)
        with_step_resources(trained_here)
    with dsl.Else(name="trainjob"):
        launched = train(launcher="trainjob", **training)
        with_training_volume(launched, BASE_IMAGE)
        with_step_resources(launched, TRAINJOB_LAUNCHER_STEP)
    checkpoint = dsl.OneOf(trained_here.outputs["checkpoint"], launched.outputs["checkpoint"])
    evaluated = evaluate(
        checkpoint=checkpoint,
        clips=clips.outputs["clips"],
        targets=targets.outputs["targets"],
        splits=eval_splits,
        max_questions=max_questions,
        tracking_uri=tracking_uri,
        kfp_run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
    )
    registered = register(
        checkpoint=checkpoint,
        metrics=evaluated.outputs["evaluation"],
        model_name=model_name,
        tracking_uri=tracking_uri,
        policy=promotion_policy,
        kfp_run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
    )
    for task in (trained_here, launched):
        with_cluster_env(task)
    for task in (data, clips, plan, targets, launch, evaluated, registered):
        with_step_resources(with_cluster_env(task))
    return Outputs(
        checkpoint,
        evaluated.outputs["evaluation"],
        registered.outputs["version"],
        registered.outputs["decision"],
    )


def compile_pipeline(out: Path) -> str:
    out.parent.mkdir(parents=True, exist_ok=True)
    compiler.Compiler().compile(geovr_pipeline, package_path=str(out))
    return str(out)
