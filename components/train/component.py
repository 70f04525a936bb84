"""KFP component: GeoVR training of the student (what `geovr train` runs).

Thin by design: standard-library imports at module level (kfp aside); the body imports
`geovr` and calls `geovr.train.run.run_training`. Single node: torchrun inside this pod with
`gpus_per_node` ranks (or `cpu_ranks` gloo ranks without a GPU). `num_nodes > 1` or
`launcher="trainjob"`: a Kubeflow Trainer TrainJob runs the same workers on many nodes.

    from components.train.component import train
    task = train(clips=ingest.outputs["clips"], targets=merge.outputs["targets"], steps=2000,
                 gpus_per_node=8, student="Qwen/Qwen3-VL-2B-Instruct",
                 kfp_run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER)
    task.outputs["checkpoint"]
"""

from kfp import dsl

from components import BASE_IMAGE


# The project image already holds kfp and geovr: nothing is pip-installed at run time.
@dsl.component(base_image=BASE_IMAGE, install_kfp_package=False)
def train(
    clips: dsl.Input[dsl.Dataset],
    targets: dsl.Input[dsl.Dataset],
    checkpoint: dsl.Output[dsl.Model],
    student: str = "Qwen/Qwen3-VL-2B-Instruct",
    objectives: str = "lm,cam,depth,scale,distill",
    loss_weights: str = "cam=2.5,depth=1.0,scale=1.0,distill=1.0",
    steps: int = 2000,
    batch_size: int = 2,
    grad_accum: int = 4,
    pack_tokens: int = 16384,
    lr_model: float = 2e-5,
    lr_heads: float = 1e-4,
    parallelism: str = "fsdp2",
    gradient_checkpointing: str = "auto",
    attn_implementation: str = "sdpa",
    num_nodes: int = 1,
    gpus_per_node: int = 4,
    cpu_ranks: int = 2,
    launcher: str = "auto",
    work_dir: str = "",
    checkpoint_every: int = 500,
    tracking_uri: str = "",
    kfp_run_id: str = "",
    dvc_md5: str = "",
    git_rev: str = "",
) -> dict:
    """Train and write the checkpoint contract (plain HF student + geovr_heads.safetensors +
    geovr_config.json + meta.json) to `checkpoint`; returns the training summary.

    `work_dir` (e.g. a mounted volume) keeps the resumable DCP checkpoints across retries,
    in `work_dir/<kfp_run_id>`: a retried step resumes there, another run starts anew.
    `launcher`: auto | local | trainjob.
    `pack_tokens` > 0: each micro-batch's clips share sequences of at most that many tokens
    (no padding; 0: one padded row per clip).
    `gradient_checkpointing` (auto | on | off) and `attn_implementation` (sdpa | eager |
    flash_attention_2). The defaults are the `paper` preset's (geovr/config/presets.py;
    tests/config checks them): KFP ships only this function's source to the container, so
    they are literals here.
    """
    import json
    import os
    import shutil
    import tempfile

    from geovr.train.cluster import node_url
    from geovr.train.launch import resolve_launcher
    from geovr.train.run import run_training

    # a TrainJob's nodes read the inputs from the artifact store (s3://) and write to work_dir
    on_cluster = resolve_launcher(launcher, num_nodes) == "trainjob"
    # one folder per KFP run on the volume: a retried step resumes its own run's checkpoints,
    # the next scheduled run (new data, same train_work_dir) starts fresh beside it
    run_dir = os.path.join(work_dir, kfp_run_id) if work_dir and kfp_run_id else work_dir
    work = run_dir or tempfile.mkdtemp(prefix="geovr-train-")
    summary = run_training(
        node_url(clips.uri) if on_cluster else clips.path,
        node_url(targets.uri) if on_cluster else targets.path,
        work,
        nproc=gpus_per_node or cpu_ranks,
        node_gpus=gpus_per_node,
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
        gradient_checkpointing=gradient_checkpointing,
        attn_implementation=attn_implementation,
        num_nodes=num_nodes,
        gpus_per_node=gpus_per_node,
        cpu_ranks=cpu_ranks,
        launcher=launcher,
        checkpoint_every=checkpoint_every,
        tracking_uri=tracking_uri or os.environ.get("MLFLOW_TRACKING_URI"),
        kfp_run_id=kfp_run_id,
        data_version={"dvc_md5": dvc_md5, "git_rev": git_rev},
        resume=bool(work_dir),
    )
    shutil.copytree(summary["checkpoint"], checkpoint.path, dirs_exist_ok=True)
    if not work_dir:
        shutil.rmtree(work, ignore_errors=True)
    checkpoint.metadata.update(
        {
            "steps": summary["steps"],
            "objectives": ",".join(summary["objectives"]),
            "student": student,
            "mlflow_run_id": summary["mlflow_run_id"] or "",
        }
    )
    print(json.dumps(summary, sort_keys=True))
    return summary


@dsl.component(base_image=BASE_IMAGE, install_kfp_package=False)
def plan_launcher(launcher: str, num_nodes: int) -> str:
    """Who runs the workers: "trainjob" (a Kubeflow Trainer TrainJob; the train step's pod only
    launches it, so the pipeline gives that pod no GPU) or "local" (torchrun in the train
    step's own pod, on its GPUs). The pipeline branches on this (dsl.If / dsl.Else)."""
    from geovr.train.launch import resolve_launcher

    return resolve_launcher(launcher, num_nodes)
