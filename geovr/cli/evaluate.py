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


@click.command("evaluate")
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
@click.option(
    "--splits",
    type=Splits(),
    default="val,test",
    show_default=True,
    help="comma-separated clip-set splits",
)
@click.option(
    "--max-questions", type=click.IntRange(min=1), help="answer at most this many questions"
)
@click.option("--max-new-tokens", type=click.IntRange(min=1), default=16, show_default=True)
@click.option(
    "--max-side", type=click.IntRange(min=16), help="cap the frames' longest side (as in training)"
)
@click.option(
    "--frames",
    type=click.IntRange(min=1),
    help="uniform frame budget per clip (published tables: 16, 32, 64, 128; default: all stored)",
)
@click.option(
    "--blind-baseline",
    is_flag=True,
    help="also answer without the video (VSI-Bench's vision-disabled baseline): vsi_blind",
)
@click.option(
    "--device", type=Device(), default="auto", show_default=True, help="auto | cpu | cuda | cuda:N"
)
@click.option(
    "--tracking-uri",
    default=lambda: os.environ.get("MLFLOW_TRACKING_URI"),
    help="MLflow URI for metrics + report (default $MLFLOW_TRACKING_URI; none: files only)",
)
@click.option("--experiment", default="geovr-eval", show_default=True)
@click.option("--kfp-run-id", default="", help="tagged on the MLflow run")
@click.option(
    "--blank-frames",
    is_flag=True,
    help="answer with black frames instead of the video: the score without vision "
    "(not registrable)",
)
@click.option("--no-progress", is_flag=True, help="no progress bar on stderr")
def evaluate(checkpoint, clips, targets, out, splits, no_progress, **options) -> None:
    """Answer the evaluation questions, score them (VSI-Bench rules), probe the geometry heads."""
    from geovr.eval.evaluate import run_evaluation  # imports torch: only when this command runs

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
            progress=not no_progress,
            **options,
        )
    )


COMMANDS = [evaluate]
