"""`geovr train`: GeoVR training of the student under torchrun (geovr/train/run.py).

    geovr train --clips runs/clips --targets runs/targets --out runs/train --nproc 2 --steps 20
    geovr train --clips C --targets T --out runs/sft --objectives lm          # the SFT baseline
    geovr train ... --student Qwen/Qwen3-VL-2B-Instruct --parallelism fsdp2 --no-gradient-checkpointing
    geovr train ... --resume                                                  # after a crash

The last stdout line is the JSON summary (checkpoint path, steps, final losses, MLflow run).
"""

from __future__ import annotations

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
from geovr.model.config import parse_objectives
from geovr.train.config import GRADIENT_CHECKPOINTING_ABOVE, AttnImplementation, TrainConfig
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
@click.option("--steps", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option(
    "--objectives",
    default="lm,cam,depth,scale,distill",
    show_default=True,
    callback=_objectives,
    help="comma-separated subset of lm,cam,depth,scale,distill; `lm` alone is the SFT baseline",
)
@click.option(
    "--loss-weights",
    type=LossWeights(),
    default="",
    help="e.g. cam=2.5,depth=1,scale=1,distill=1 (the paper's defaults); each finite, >= 0",
)
@click.option(
    "--student",
    default="tiny",
    show_default=True,
    help="`tiny[:FAMILY[:HIDDENxLAYERS]]` (offline, random init; e.g. tiny:qwen3_vl:256x6), "
    "a checkpoint directory or a hub id",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="per rank, per micro-step",
)
@click.option("--grad-accum", type=click.IntRange(min=1), default=1, show_default=True)
@click.option(
    "--length-group-steps",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="sort each run of N steps' samples by token length (less padding); 0: off",
)
@click.option(
    "--pack-tokens",
    type=click.IntRange(min=0),
    default=TrainConfig.pack_tokens,
    show_default=True,
    help="pack each micro-batch's clips into sequences of at most N tokens, attention kept "
    "within each clip (no padding waste); 0: off",
)
@click.option("--lr-model", type=FiniteFloat(min=0.0), default=2e-5, show_default=True)
@click.option("--lr-heads", type=FiniteFloat(min=0.0), default=1e-4, show_default=True)
@click.option(
    "--parallelism", type=click.Choice(["ddp", "fsdp2"]), default="ddp", show_default=True
)
@click.option(
    "--precision",
    type=click.Choice(["auto", "fp32", "bf16"]),
    default="auto",
    show_default=True,
    help="compute precision (weights always train in fp32): auto = bf16 autocast on GPU, fp32 on CPU",
)
@click.option(
    "--attn-implementation",
    type=click.Choice(get_args(AttnImplementation)),
    default=TrainConfig.attn_implementation,
    show_default=True,
    help="the student's attention kernels (flash_attention_2 needs flash-attn installed)",
)
@click.option(
    "--gradient-checkpointing/--no-gradient-checkpointing",
    default=None,
    help="recompute decoder layers in backward "
    f"[default: on for students over {GRADIENT_CHECKPOINTING_ABOVE:,} parameters]",
)
@click.option(
    "--splits",
    type=Splits(),
    default="train",
    show_default=True,
    help="comma-separated clip-set splits to train on",
)
@click.option(
    "--max-side", type=click.IntRange(min=16), help="cap the frames' longest side (pixels)"
)
@click.option("--checkpoint-every", type=click.IntRange(min=1), default=500, show_default=True)
@click.option("--keep-last", type=click.IntRange(min=1), default=2, show_default=True)
@click.option(
    "--log-every",
    type=click.IntRange(min=1),
    default=TrainConfig.log_every,
    show_default=True,
    help="log (and read the step's values on the host) every N steps",
)
@click.option(
    "--num-workers",
    type=click.IntRange(min=0),
    default=2,
    show_default=True,
    help="data loader processes",
)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option(
    "--tracking-uri",
    default=lambda: os.environ.get("MLFLOW_TRACKING_URI"),
    help="MLflow tracking URI (default $MLFLOW_TRACKING_URI; none: metrics go to the buffer file)",
)
@click.option("--experiment", default="geovr-train", show_default=True)
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
    objectives,
    loss_weights,
    student,
    splits,
    max_side,
    gradient_checkpointing,
    resume,
    data_dvc_md5,
    data_git_rev,
    **config,
) -> None:
    """GeoVR training (language + camera, depth, scale and feature distillation losses).

    SIGTERM/SIGINT stop the workers cleanly (forwarded, waited for); killing this process
    stops them too.
    """
    from geovr.train.run import run_training

    check_splits_present(clips, splits)
    if targets:
        check_targets_match(clips, targets)
    summary = run_training(
        clips,
        targets,
        out,
        nproc=nproc,
        student=student,
        objectives=objectives,
        resume=resume,
        loss_weights=loss_weights,
        max_side=max_side,
        splits=splits,
        **_switch("gradient_checkpointing", gradient_checkpointing),
        data_version={"dvc_md5": data_dvc_md5, "git_rev": data_git_rev},
        **config,
    )
    emit(summary)


COMMANDS = [train]
