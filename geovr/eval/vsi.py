"""The official VSI-Bench scorer (docs/protocol.md, "Scoring"), to the float.

    from geovr.eval.vsi import score_predictions
    scores = score_predictions(rows)   # rows: {id, question_type, prediction, ground_truth}
    scores["overall"], scores["per_task"]["object_counting"]    # percent, 0-100

or from the shell: `geovr score-vsi --predictions preds.jsonl --out scores.json`.

Rules (those of the official lmms-eval task, reimplemented from its description):
- the answer is `prediction.split(" ")[0].rstrip(".").strip()`: split on one space only, so
  " 3" extracts "" and "3\nThree" extracts "3\nThree" (both score 0);
- numeric tasks: MRA in float64, the mean over the 10 thresholds t of
  `abs(p - g) / g <= 1 - t` (t from np.linspace(0.5, 0.95, 10)); float rounding decides
  the boundaries (gt 5, pred 4 scores 0.6); an answer that `float()` rejects scores 0;
- multiple choice: `answer.lower() == ground_truth.lower()` (the ground truth as given);
- aggregation: the mean per question type; object_rel_direction = (easy + medium + hard) / 3
  with a missing level counting 0; overall = the mean of the task scores present, where
  object_rel_direction is always one of them; x 100.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from geovr.data.vsi_tasks import (
    CHOICE_TASKS,
    NUMERIC_TASKS,
    QUESTION_TYPES,
    REL_DIRECTION,
    REL_DIRECTION_LEVELS,
    TASKS,
)
from geovr.errors import GeoVRError

# Built as the official code builds it: int() truncates 10.999... to 10 points, and the
# float64 values (0.8 - 1 is not exactly 0.2, ...) decide boundary answers.
MRA_THRESHOLDS = np.linspace(0.5, 0.95, int((0.95 - 0.5) / 0.05 + 2))


def extract_answer(prediction: Any) -> str:
    """The official extraction: first space-separated word, trailing dots, then whitespace, off."""
    return str(prediction).split(" ")[0].rstrip(".").strip()


def to_number(text: str) -> float | None:
    """Python float() of the text, None where it refuses (as the official to_float)."""
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _ground_truth_number(ground_truth: Any) -> float:
    value = to_number(ground_truth) if ground_truth is not None else None
    if value is None or not math.isfinite(value) or value <= 0:
        raise GeoVRError(f"numeric ground truth must be a positive number, got {ground_truth!r}")
    return value


def relative_accuracy(prediction: Any, ground_truth: Any) -> float:
    """MRA of one numeric answer, in [0, 1]; 0 when the extracted answer is not a number."""
    truth = _ground_truth_number(ground_truth)
    pred = to_number(extract_answer(prediction))
    if pred is None:
        return 0.0
    # inf and nan compare False with every threshold: they score 0, as officially.
    return float(np.mean(abs(pred - truth) / truth <= 1 - MRA_THRESHOLDS))


def choice_accuracy(prediction: Any, ground_truth: Any) -> float:
    """1.0 when the extracted answer equals the ground truth letter, case aside."""
    if ground_truth is None or not str(ground_truth).strip():
        raise GeoVRError(
            f"multiple-choice ground truth must be an option letter, got {ground_truth!r}"
        )
    return float(extract_answer(prediction).lower() == str(ground_truth).lower())


def score_row(row: Mapping[str, Any]) -> float:
    """The score of one prediction row, in [0, 1]; bad ground truth is an error naming the row."""
    task = row.get("question_type")
    if task in NUMERIC_TASKS:
        scorer = relative_accuracy
    elif task in CHOICE_TASKS:
        scorer = choice_accuracy
    else:
        raise GeoVRError(
            f"row {row.get('id')!r}: unknown question_type {task!r}; "
            f"known: {', '.join(QUESTION_TYPES)}"
        )
    try:
        return scorer(row.get("prediction", ""), row.get("ground_truth"))
    except GeoVRError as e:
        raise GeoVRError(f"row {row.get('id')!r}: {e}") from e


def score_predictions(rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Score prediction rows (`id, question_type, prediction, ground_truth`).

    Returns `{"per_task": {task: percent}, "overall": percent, "counts": {question_type: n},
    "rel_direction_levels": {level: percent}}`; per_task holds the reported tasks present and
    always object_rel_direction (0 when no level is present, as the official aggregation).
    """
    by_type: dict[str, list[float]] = {}
    for row in rows:
        by_type.setdefault(row.get("question_type"), []).append(score_row(row))
    if not by_type:
        raise GeoVRError("no predictions to score")
    accuracy = {task: float(np.mean(scores)) for task, scores in by_type.items()}
    levels = {level: accuracy[level] for level in REL_DIRECTION_LEVELS if level in accuracy}
    # The three levels weigh equally whatever their sizes; a missing one counts 0.
    accuracy[REL_DIRECTION] = sum(levels.values()) / len(REL_DIRECTION_LEVELS)
    per_task = {task: accuracy[task] for task in TASKS if task in accuracy}
    counts = {task: len(by_type[task]) for task in QUESTION_TYPES if task in by_type}
    # Summed in the official order (question types sorted, object_rel_direction last), then
    # x 100: the same float operations, so the same float.
    order = [*sorted(t for t in per_task if t != REL_DIRECTION), REL_DIRECTION]
    overall = sum(per_task[task] for task in order) / len(order) * 100.0
    return {
        "per_task": _percent(per_task),
        "overall": overall,
        "counts": {**counts, "total": sum(counts.values())},
        "rel_direction_levels": _percent(levels),
    }


def task_question_count(counts: Mapping[str, int], task: str) -> int:
    """Questions behind a reported task score (`counts` by question type, as scored)."""
    if task == REL_DIRECTION:
        return sum(counts.get(level, 0) for level in REL_DIRECTION_LEVELS)
    return counts.get(task, 0)


def _percent(scores: Mapping[str, float]) -> dict[str, float]:
    return {task: 100.0 * value for task, value in scores.items()}
