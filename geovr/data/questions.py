"""The question schema of qa.jsonl (docs/contracts.md section 1), checked row by row at ingest.

    question_problem({"id": "q1", "scene_name": "c0", "question_type": "object_counting",
                      "question": "How many chairs?", "options": None, "ground_truth": "0"})
    # -> "numeric ground_truth '0' must be a finite number > 0"

A row that breaks the schema is quarantined at ingest with this reason, so that evaluation
never meets it (the scorer would stop at the first one, after answering every question).
"""

from __future__ import annotations

import math
import re
from typing import Any

from geovr.data.vsi_tasks import CHOICE_TASKS, NUMERIC_TASKS, QUESTION_TYPES

REQUIRED = ("id", "question_type", "question", "ground_truth")
# VSI-Bench options read "A. chair": a capital letter, a dot, the text.
OPTION_RE = re.compile(r"([A-Z])\.\s*\S")


def _numeric_problem(answer: Any) -> str | None:
    # bool is an int to Python, never a count or a length
    if isinstance(answer, bool) or not isinstance(answer, str | int | float):
        return f"numeric ground_truth {answer!r} must be a number or a numeric string"
    try:
        value = float(answer)
    except ValueError:
        return f"numeric ground_truth {answer!r} is not a number"
    if not math.isfinite(value) or value <= 0:
        return f"numeric ground_truth {answer!r} must be a finite number > 0"
    return None


def _choice_problem(options: Any, answer: Any) -> str | None:
    if not isinstance(options, list) or not options:
        return "multiple-choice question needs a non-empty options list"
    letters = []
    for option in options:
        match = OPTION_RE.match(option) if isinstance(option, str) else None
        if match is None:
            return f"option {option!r} does not read 'A. text'"
        letters.append(match.group(1))
    if len(set(letters)) != len(letters):
        return f"options repeat a letter ({', '.join(letters)})"
    if not isinstance(answer, str) or answer.strip() not in letters:
        return f"ground_truth {answer!r} is not one of the option letters {', '.join(letters)}"
    return None


def question_problem(row: dict[str, Any]) -> str | None:
    """Why `row` breaks the question schema, or None when it is a valid question."""
    missing = [key for key in REQUIRED if row.get(key) is None]
    if not isinstance(row.get("scene_name", row.get("clip_id")), str):
        missing.append("scene_name")
    if missing:
        return f"missing field(s) {', '.join(missing)}"
    if not isinstance(row["id"], str | int) or isinstance(row["id"], bool):
        return f"id {row['id']!r} must be a string or an integer"
    if not isinstance(row["question"], str) or not row["question"].strip():
        return "question must be a non-empty string"
    task = row["question_type"]
    if task in NUMERIC_TASKS:
        return _numeric_problem(row["ground_truth"])
    if task in CHOICE_TASKS:
        return _choice_problem(row.get("options"), row["ground_truth"])
    return f"unknown question_type {task!r}; known: {', '.join(QUESTION_TYPES)}"
