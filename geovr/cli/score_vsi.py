"""`geovr score-vsi`: score VSI-Bench predictions with the official rules (geovr/eval/vsi.py).

    geovr score-vsi --predictions preds.jsonl --out scores.json

Each line of preds.jsonl: {"id", "question_type", "prediction", "ground_truth"}. The scores
(percent; per task, overall, counts) are written atomically to --out; the summary line
carries the overall score, the number of questions and the output path.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from geovr.cli import emit
from geovr.errors import GeoVRError

REQUIRED = ("id", "question_type", "prediction", "ground_truth")


def read_predictions(path: Path) -> list[dict]:
    """Prediction rows of a JSONL file; a bad line is an error naming its line number."""
    rows = []
    with path.open() as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise GeoVRError(f"{path}:{number}: not valid JSON: {e}") from e
            missing = [key for key in REQUIRED if not isinstance(row, dict) or key not in row]
            if missing:
                raise GeoVRError(f"{path}:{number}: missing {', '.join(missing)}")
            rows.append(row)
    return rows


@click.command("score-vsi")
@click.option(
    "--predictions",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="JSONL of {id, question_type, prediction, ground_truth}.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="JSON file to write the scores to.",
)
def score_vsi_command(predictions: Path, out: Path) -> None:
    """Score predictions with the official VSI-Bench rules (MRA / exact match)."""
    # Imported here: `geovr --help` stays fast for every other command.
    from geovr.artifacts import atomic_write_json
    from geovr.eval.vsi import score_predictions

    scores = score_predictions(read_predictions(predictions))
    atomic_write_json(out, scores)
    emit(
        {
            "overall": round(scores["overall"], 2),
            "questions": scores["counts"]["total"],
            "tasks": len(scores["per_task"]),
            "out": str(out),
        }
    )


COMMANDS = [score_vsi_command]
