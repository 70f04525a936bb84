"""`geovr evaluate`: VSI-Bench answers + geometry probes of a trained checkpoint.

The CLI over geovr/eval/evaluate.py:

    geovr evaluate --checkpoint runs/train/checkpoint --clips runs/clips --targets runs/targets \\
        --out runs/eval
    geovr evaluate ... --splits test --max-questions 200 --tracking-uri http://mlflow:5000
    geovr evaluate ... --frames 32 --blind-baseline   # VSI-Bench protocol: 32 uniform frames,
                                                     # and the same questions without the video
    geovr evaluate ... --blank-frames     # black frames instead of the video (a diagnostic)

Writes metrics.json, predictions.jsonl (with each prompt and frame indices), report.html and
meta.json under --out; the last stdout line is the JSON summary (VSI overall, probes, counts,
eval set id).
"""

from __future__ import annotations

import dataclasses
import os

import click

from geovr.cli import emit
from geovr.cli._params import (
    Artifact,
    Checkpoint,
    Device,
    Splits,
    check_splits_present,
    check_targets_match,
)
from geovr.cli._preset import config_option, preset_name, preset_option, resolved_config


@click.command("evaluate")
@preset_option
@click.option(
    "--checkpoint",
    required=True,
    type=Checkpoint(),
    help="checkpoint directory (geovr train output) or plain HF student",
)
@click.option(
    "--clips",
    required=True,
    type=Artifact("clipset"),
    help="clip set directory (geovr ingest output)",
)
@click.option(
    "--targets",
    type=Artifact("targets"),
    help="teacher targets directory: enables the geometry probes",
)
@click.option(
    "--out",
    required=True,
    help="evaluation directory: absent, empty or an earlier evaluation (replaced whole)",
)
@config_option("--splits", field="evaluate.splits", type=Splits())
@click.option(
    "--max-questions",
    type=click.IntRange(min=1),
    help="answer at most this many questions [default: the preset's; 0 there = all]",
)
@config_option("--max-new-tokens", field="evaluate.max_new_tokens", type=click.IntRange(min=1))
@config_option("--max-side", field="evaluate.max_side", type=click.IntRange(min=16))
@config_option("--frames", field="evaluate.frames", type=click.IntRange(min=1))
@click.option(
    "--blind-baseline",
    is_flag=True,
    help="also answer without the video (VSI-Bench's vision-disabled baseline): vsi_blind",
)
@config_option("--device", field="evaluate.device", type=Device())
@click.option(
    "--tracking-uri",
    default=lambda: os.environ.get("MLFLOW_TRACKING_URI"),
    help="MLflow URI for metrics + report (default $MLFLOW_TRACKING_URI; none: files only)",
)
@config_option("--experiment", field="evaluate.experiment")
@click.option("--kfp-run-id", default="", help="tagged on the MLflow run")
@click.option(
    "--blank-frames",
    is_flag=True,
    help="answer with black frames instead of the video: the score without vision "
    "(not registrable)",
)
@click.option("--no-progress", is_flag=True, help="no progress bar on stderr")
def evaluate(
    checkpoint,
    clips,
    targets,
    out,
    splits,
    max_questions,
    blind_baseline,
    tracking_uri,
    kfp_run_id,
    blank_frames,
    no_progress,
    **_,
) -> None:
    """Answer the evaluation questions, score them (VSI-Bench rules), probe the geometry heads."""
    from geovr.eval.evaluate import run_evaluation  # imports torch: only when this command runs

    ctx = click.get_current_context()
    cfg = resolved_config(ctx).evaluate
    if max_questions is not None:
        cfg = dataclasses.replace(cfg, max_questions=max_questions)
    check_splits_present(clips, splits)
    if targets:
        check_targets_match(clips, targets)
    emit(
        run_evaluation(
            checkpoint,
            clips,
            out,
            targets=targets,
            splits=splits,
            max_questions=cfg.max_questions or None,
            max_new_tokens=cfg.max_new_tokens,
            device=cfg.device,
            max_side=cfg.max_side,
            frames=cfg.frames,
            blind_baseline=blind_baseline,
            tracking_uri=tracking_uri,
            experiment=cfg.experiment,
            kfp_run_id=kfp_run_id,
            progress=not no_progress,
            blank_frames=blank_frames,
            preset=preset_name(ctx),
        )
    )


COMMANDS = [evaluate]
