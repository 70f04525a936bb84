"""Which config field (geovr/config) each parameter of the GeoVR pipeline sets.

The pipeline's defaults are the `paper` preset's values at these paths, a local run's
parameters (`geovr pipeline run`, `make run`) the `embedded` preset's; the config-agreement
test checks both against this table.

    preset_parameters(preset("embedded"))["steps"]   # 60
"""

from typing import Any

from geovr.config.presets import RunConfig

# pipeline parameter -> dotted path in geovr.config.presets.RunConfig
PIPELINE_FIELDS = {
    "dvc_remote": "fetch.remote",
    "dvc_jobs": "fetch.jobs",
    "frames": "ingest.frames",
    "sampling": "ingest.sampling",
    "sampling_fps": "ingest.fps",
    "min_frames": "ingest.min_frames",
    "max_frames": "ingest.max_frames",
    "max_side": "ingest.max_side",
    "min_valid_fraction": "ingest.min_valid_fraction",
    "teacher": "distill.teacher",
    "teacher_weights": "distill.weights",
    "teacher_options": "distill.teacher_options",
    "scale_teacher": "distill.scale_teacher",
    "scale_teacher_weights": "distill.scale_weights",
    "distill_tasks": "distill.tasks",
    "student": "train.student",
    "objectives": "train.objectives",
    "loss_weights": "train.loss_weights",
    "steps": "train.steps",
    "batch_size": "train.batch_size",
    "grad_accum": "train.grad_accum",
    "pack_tokens": "train.pack_tokens",
    "lr_model": "train.lr_model",
    "lr_heads": "train.lr_heads",
    "parallelism": "train.parallelism",
    "num_nodes": "train.num_nodes",
    "gpus_per_node": "train.gpus_per_node",
    "cpu_ranks": "train.cpu_ranks",
    "launcher": "train.launcher",
    "eval_splits": "evaluate.splits",
    "max_questions": "evaluate.max_questions",
    "model_name": "register.model_name",
    "promotion_policy": "register.policy",
}


def preset_parameters(config: RunConfig) -> dict[str, Any]:
    """The pipeline parameters that carry `config`'s stage settings."""
    return {name: config.get(path) for name, path in PIPELINE_FIELDS.items()}
