"""The official VSI-Bench scorer (GEOVR_METHOD.md, "VSI-Bench protocol") and a reader for the
public benchmark's files.

    from geovr.eval.vsi import score_predictions, read_vsibench
    scores = score_predictions(rows)   # rows: {id, question_type, prediction, ground_truth}
    scores["overall"], scores["per_task"]["object_counting"]    # percent, 0-100
    qa = read_vsibench("/data/VSI-Bench")                      # qa.jsonl rows + "video"

or from the shell: `geovr score-vsi --predictions preds.jsonl --out scores.json`.

Rules:
- numeric tasks score the Mean Relative Accuracy (MRA): the mean over t in 0.50, 0.55, ...,
  0.95 of [ |pred - gt| / gt <= 1 - t ];
- multiple-choice tasks score exact match;
- a prediction is its first whitespace-separated word with trailing '.' removed ("3.",
  "B. sofa" -> "3", "B"); a numeric answer that does not parse scores 0;
- object_rel_direction = mean of its easy/medium/hard accuracies; overall = unweighted mean of
  the task scores present (8 tasks on the full benchmark).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from decimal import MAX_EMAX, MIN_EMIN, Context, Decimal, InvalidOperation, localcontext
from pathlib import Path
from typing import Any

from geovr.errors import GeoVRError

NUMERIC_TASKS = (
    "object_counting",
    "object_abs_distance",
    "object_size_estimation",
    "room_size_estimation",
)
REL_DIRECTION_LEVELS = (
    "object_rel_direction_easy",
    "object_rel_direction_medium",
    "object_rel_direction_hard",
)
CHOICE_TASKS = (
    "object_rel_distance",
    *REL_DIRECTION_LEVELS,
    "route_planning",
    "obj_appearance_order",
)
QUESTION_TYPES = NUMERIC_TASKS + CHOICE_TASKS
# The 8 reported tasks, in the order of the VSI-Bench tables.
TASKS = (
    *NUMERIC_TASKS,
    "object_rel_distance",
    "object_rel_direction",
    "route_planning",
    "obj_appearance_order",
)
REL_DIRECTION = "object_rel_direction"

# 1 - t for t = 0.50 ... 0.95 is k/20 for k = 10 ... 1; kept as integers so that the
# comparison is exact (see relative_accuracy).
_TOLERANCE_TWENTIETHS = tuple(range(10, 0, -1))

# Wide exponent range and 100 digits: no overflow on answers like "1e999999", and rounding
# only beyond 100 significant digits (the default context rounds at 28).
_EXACT = Context(prec=100, Emax=MAX_EMAX, Emin=MIN_EMIN)

# Percentages are rounded to 1e-6 so that a sum of tenths reads 55.0, not 55.00000000000001.
_DIGITS = 6

QUESTION_COLUMNS = (
    "id",
    "dataset",
    "scene_name",
    "question_type",
    "question",
    "options",
    "ground_truth",
)


def first_word(answer: Any) -> str:
    """The official answer extraction: first whitespace-separated word, trailing '.' removed."""
    words = str(answer).split()
    return words[0].rstrip(".") if words else ""


def parse_number(answer: Any) -> Decimal | None:
    """A finite number from an answer's first word, or None if it does not parse.

    Decimal, not float: "1.45" is then exactly 1.45, so thresholds hit on the boundary count.
    Floats are read through their shortest repr (0.1 -> "0.1"), i.e. as the number they print as.
    """
    try:
        value = Decimal(first_word(answer))
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def relative_accuracy(prediction: Any, ground_truth: Any) -> float:
    """MRA of one numeric answer, in [0, 1]; 0 when the prediction is not a number."""
    gt = parse_number(ground_truth)
    if gt is None or gt <= 0:
        raise GeoVRError(f"numeric ground truth must be a positive number, got {ground_truth!r}")
    pred = parse_number(prediction)
    if pred is None:
        return 0.0
    # |pred - gt| / gt <= k/20  <=>  20 |pred - gt| <= k gt: exact in Decimal, so the
    # `<=` of the protocol holds on the boundary (pred 1.5, gt 1.0 passes t = 0.50), where a
    # float computation of 1 - t and of the ratio may land on either side.
    with localcontext(_EXACT):
        error = 20 * abs(pred - gt)
        hits = sum(error <= k * gt for k in _TOLERANCE_TWENTIETHS)
    return hits / len(_TOLERANCE_TWENTIETHS)


def choice_accuracy(prediction: Any, ground_truth: Any) -> float:
    """1.0 when the answer's first word (trailing '.' removed) equals the ground truth letter.

    Case-insensitive, as the official scorer; both sides go through first_word, so "B",
    "b", "B." and "B. sofa" all match "B". "(B)" or "Answer: B" do not (official behaviour).
    """
    truth = "" if ground_truth is None else first_word(ground_truth)
    if not truth:
        raise GeoVRError(
            f"multiple-choice ground truth must be an option letter, got {ground_truth!r}"
        )
    return float(first_word(prediction).lower() == truth.lower())


def score_row(row: Mapping[str, Any]) -> float:
    """The score of one prediction row, in [0, 1]; bad ground truth is an error naming the row."""
    task = row.get("question_type")
    if task in NUMERIC_TASKS:
        scorer = relative_accuracy
    elif task in CHOICE_TASKS:
        scorer = choice_accuracy
    else:
        raise GeoVRError(
            f"row {row.get('id')!r}: unknown question_type {task!r}; known: {', '.join(QUESTION_TYPES)}"
        )
    try:
        return scorer(row.get("prediction", ""), row.get("ground_truth"))
    except GeoVRError as e:
        raise GeoVRError(f"row {row.get('id')!r}: {e}") from e


def _mean(values: Iterable[float]) -> float:
    values = list(values)
    return sum(values) / len(values)


def score_predictions(rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Score prediction rows (`id, question_type, prediction, ground_truth`).

    Returns `{"per_task": {task: percent}, "overall": percent, "counts": {question_type: n},
    "rel_direction_levels": {level: percent}}`; per_task holds the reported tasks present
    (object_rel_direction combines the levels present), overall is their unweighted mean.
    """
    by_type: dict[str, list[float]] = {}
    for row in rows:
        by_type.setdefault(row.get("question_type"), []).append(score_row(row))
    if not by_type:
        raise GeoVRError("no predictions to score")
    accuracy = {task: 100.0 * _mean(scores) for task, scores in by_type.items()}
    levels = {level: accuracy[level] for level in REL_DIRECTION_LEVELS if level in accuracy}
    if levels:
        # Official aggregation: the three difficulty levels weigh equally, whatever their sizes.
        accuracy[REL_DIRECTION] = _mean(levels.values())
    per_task = {task: accuracy[task] for task in TASKS if task in accuracy}
    counts = {task: len(by_type[task]) for task in QUESTION_TYPES if task in by_type}
    return {
        "per_task": _rounded(per_task),
        "overall": round(_mean(per_task.values()), _DIGITS),
        "counts": {**counts, "total": sum(counts.values())},
        "rel_direction_levels": _rounded(levels),
    }


def task_question_count(counts: Mapping[str, int], task: str) -> int:
    """Questions behind a reported task score (`counts` by question type, as scored)."""
    if task == REL_DIRECTION:
        return sum(counts.get(level, 0) for level in REL_DIRECTION_LEVELS)
    return counts.get(task, 0)


def _rounded(scores: Mapping[str, float]) -> dict[str, float]:
    return {task: round(value, _DIGITS) for task, value in scores.items()}


def _read_table(path: Path) -> list[dict[str, Any]]:
    """Rows of a .parquet, .jsonl or .csv question table."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq  # only this reader needs pyarrow (an mlflow dependency)

        return pq.read_table(path).to_pylist()
    if path.suffix == ".jsonl":
        with path.open() as f:
            return [json.loads(line) for line in f if line.strip()]
    if path.suffix == ".csv":
        import csv

        with path.open(newline="") as f:
            return list(csv.DictReader(f))
    raise GeoVRError(f"{path}: question table must be .parquet, .jsonl or .csv")


def _options(value: Any) -> list[str] | None:
    """Options as a list (parquet/jsonl give a list, CSV a JSON string); None for numeric tasks."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as e:
            raise GeoVRError(f"options must be a JSON list, got {value!r}") from e
    return [str(option) for option in value]


def _find_table(root: Path) -> Path:
    tables = sorted(p for ext in ("parquet", "jsonl", "csv") for p in root.glob(f"*.{ext}"))
    if len(tables) != 1:
        raise GeoVRError(
            f"{root}: expected exactly one question table (*.parquet|*.jsonl|*.csv), found {len(tables)}"
        )
    return tables[0]


def _name(table: Path, raw: dict[str, Any], column: str) -> str:
    """A `dataset` or `scene_name` cell, used as one path component (and as a clip id)."""
    value = str(raw[column])
    if not value or value in (".", "..") or "/" in value or "\\" in value:
        raise GeoVRError(
            f"{table}: question {raw['id']!r} has {column} {value!r}, not a plain name; "
            "refusing a path that could leave the VSI-Bench root"
        )
    return value


def read_vsibench(
    root: str | Path, table: str | Path | None = None, check_videos: bool = True
) -> list[dict[str, Any]]:
    """Read the public VSI-Bench release as qa.jsonl rows, each with its `video` path.

    Expected layout (the Hugging Face release nyu-visionx/VSI-Bench with its zips unpacked):

        ROOT/test-00000-of-00001.parquet      (or one .jsonl / .csv with the same columns)
        ROOT/<dataset>/<scene_name>.mp4       dataset: arkitscenes | scannet | scannetpp

    Columns: id, dataset, scene_name, question_type, question, options (list or null),
    ground_truth. Ids become strings; missing videos are an error unless check_videos=False.
    """
    root = Path(root)
    path = Path(table) if table is not None else _find_table(root)
    rows = []
    for raw in _read_table(path):
        missing = [c for c in QUESTION_COLUMNS if c not in raw]
        if missing:
            raise GeoVRError(f"{path}: question {raw.get('id')!r} lacks columns {missing}")
        if raw["question_type"] not in QUESTION_TYPES:
            raise GeoVRError(
                f"{path}: question {raw['id']!r} has unknown question_type {raw['question_type']!r}"
            )
        video = root / _name(path, raw, "dataset") / f"{_name(path, raw, 'scene_name')}.mp4"
        rows.append(
            {
                "id": str(raw["id"]),
                "dataset": raw["dataset"],
                "scene_name": raw["scene_name"],
                "question_type": raw["question_type"],
                "question": raw["question"],
                "options": _options(raw["options"]),
                "ground_truth": str(raw["ground_truth"]),
                "video": str(video),
            }
        )
    absent = sorted({r["video"] for r in rows if check_videos and not Path(r["video"]).is_file()})
    if absent:
        raise GeoVRError(f"{len(absent)} videos missing under {root}, e.g. {absent[0]}")
    return rows
