"""`geovr train`: GeoVR training of the student under torchrun (geovr/train/run.py).

    geovr train --clips runs/clips --targets runs/targets --out runs/train --nproc 2 --steps 20
    geovr train --clips C --targets T --out runs/sft --objectives lm          # the SFT baseline
    geovr train ... --student Qwen/Qwen3-VL-2B-Instruct --parallelism fsdp2 \\
        --no-gradient-checkpointing
    geovr train ... --resume                                                  # after a crash

The last stdout line is the JSON summary (checkpoint path, steps, final losses, MLflow run).
"""

from __future__ import annotations

import dataclasses
import os
from typing import get_args

import click

from geovr.cli import emit
from geovr.cli._params import (
    Artifact,
    FiniteFloat,
    LossWeights,
    Splits,
    check_splits_present,
    check_targets_match,
)
from geovr.cli._preset import config_option, preset_name, preset_option, resolved_config
from geovr.config.train import (
    GRADIENT_CHECKPOINTING_ABOVE,
    AttnImplementation,
    Parallelism,
    Precision,
)
from geovr.model.config import parse_objectives
from geovr.train.lifetime import EXIT_CODES_HELP
from geovr.train.resume import SAFE_TO_CHANGE


def _objectives(ctx, param, value: str) -> str:
    try:
        parse_objectives(value)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None
    return value


def _switch(name: str, value: bool | None) -> dict[str, str]:
    """An on/off flag pair as a TrainConfig switch; neither flag: the config's default."""
    return {} if value is None else {name: "on" if value else "off"}


@click.command("train", epilog=EXIT_CODES_HELP)
@preset_option
@click.option(
    "--clips",
    required=True,
    type=Artifact("clipset"),
    help="clip set directory (geovr ingest output), local or s3://",
)
@click.option(
    "--targets",
    type=Artifact("targets"),
    help="teacher targets directory (geovr distill output); needed by geometry objectives",
)
@click.option(
    "--out", required=True, help="training directory (checkpoints, final checkpoint, summary)"
)
@click.option(
    "--nproc",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="torchrun ranks on this node",
)
@config_option("--steps", field="train.steps", type=click.IntRange(min=1))
@config_option("--objectives", field="train.objectives", callback=_objectives)
@config_option("--loss-weights", field="train.loss_weights", type=LossWeights())
@config_option("--student", field="train.student")
@config_option("--batch-size", field="train.batch_size", type=click.IntRange(min=1))
@config_option("--grad-accum", field="train.grad_accum", type=click.IntRange(min=1))
@config_option("--length-group-steps", field="train.length_group_steps", type=click.IntRange(min=0))
@config_option("--pack-tokens", field="train.pack_tokens", type=click.IntRange(min=0))
@config_option("--lr-model", field="train.lr_model", type=FiniteFloat(min=0.0))
@config_option("--lr-heads", field="train.lr_heads", type=FiniteFloat(min=0.0))
@config_option("--parallelism", field="train.parallelism", type=click.Choice(get_args(Parallelism)))
@config_option("--precision", field="train.precision", type=click.Choice(get_args(Precision)))
@config_option(
    "--attn-implementation",
    field="train.attn_implementation",
    type=click.Choice(get_args(AttnImplementation)),
)
@click.option(
    "--gradient-checkpointing/--no-gradient-checkpointing",
    default=None,
    help="recompute decoder layers in backward "
    "[default: the preset's; auto: on for students over "
    f"{GRADIENT_CHECKPOINTING_ABOVE:,} parameters]",
)
@config_option("--splits", field="train.splits", type=Splits())
@config_option("--max-side", field="train.max_side", type=click.IntRange(min=16))
@config_option(
    "--freeze-vision/--train-vision",
    field="train.freeze_vision",
    help="keep the vision tower frozen, as the paper does, or train it too (a student built "
    "from random weights has no trained vision to keep)",
)
@config_option("--checkpoint-every", field="train.checkpoint_every", type=click.IntRange(min=1))
@config_option("--keep-last", field="train.keep_last", type=click.IntRange(min=1))
@config_option("--log-every", field="train.log_every", type=click.IntRange(min=1))
@config_option("--num-workers", field="train.num_workers", type=click.IntRange(min=0))
@config_option("--seed", field="train.seed", type=click.IntRange(min=0))
@click.option(
    "--tracking-uri",
    default=lambda: os.environ.get("MLFLOW_TRACKING_URI"),
    help="MLflow tracking URI (default $MLFLOW_TRACKING_URI; none: metrics go to the buffer file)",
)
@config_option("--experiment", field="train.experiment")
@click.option("--kfp-run-id", default="", help="tagged on the MLflow run")
@click.option(
    "--data-dvc-md5", default="", help="data version recorded in the checkpoint (DVC md5 of data/)"
)
@click.option(
    "--data-git-rev", default="", help="git revision of data.dvc, recorded in the checkpoint"
)
@click.option(
    "--resume",
    is_flag=True,
    help="continue from the newest checkpoint in --out; refused if any option that shapes the "
    f"result differs from the run's (only {', '.join(SAFE_TO_CHANGE)} may change)",
)
def train(
    clips,
    targets,
    out,
    nproc,
    splits,
    gradient_checkpointing,
    tracking_uri,
    kfp_run_id,
    resume,
    data_dvc_md5,
    data_git_rev,
    **_,
) -> None:
    """GeoVR training (language + camera, depth, scale and feature distillation losses).

    SIGTERM/SIGINT stop the workers cleanly (forwarded, waited for); killing this process
    stops them too.
    """
    from geovr.train.run import run_training

    ctx = click.get_current_context()
    cfg = resolved_config(ctx).train
    cfg = dataclasses.replace(
        cfg,
        tracking_uri=tracking_uri,
        kfp_run_id=kfp_run_id,
        **_switch("gradient_checkpointing", gradient_checkpointing),
    )
    check_splits_present(clips, splits)
    if targets:
        check_targets_match(clips, targets)
    summary = run_training(
        clips,
        targets,
        out,
        nproc=nproc,
        resume=resume,
        data_version={"dvc_md5": data_dvc_md5, "git_rev": data_git_rev},
        preset=preset_name(ctx),
        **cfg.to_dict(),
    )
    emit(summary)


COMMANDS = [train]
