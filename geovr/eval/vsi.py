"""The official VSI-Bench scorer (GEOVR_METHOD.md, "VSI-Bench protocol"), to the float, and a
reader for the public benchmark's files.

    from geovr.eval.vsi import score_predictions, read_vsibench
    scores = score_predictions(rows)   # rows: {id, question_type, prediction, ground_truth}
    scores["overall"], scores["per_task"]["object_counting"]    # percent, 0-100
    qa = read_vsibench("/data/VSI-Bench")                      # qa.jsonl rows + "video"

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

import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

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

# Built as the official code builds it: int() truncates 10.999... to 10 points, and the
# float64 values (0.8 - 1 is not exactly 0.2, ...) decide boundary answers.
MRA_THRESHOLDS = np.linspace(0.5, 0.95, int((0.95 - 0.5) / 0.05 + 2))

QUESTION_COLUMNS = (
    "id",
    "dataset",
    "scene_name",
    "question_type",
    "question",
    "options",
    "ground_truth",
)


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


DEBIASED_TABLE = "test_debiased.parquet"
BENCHMARKS = {False: "vsi-bench", True: "vsi-bench-debiased"}


def _find_table(root: Path, debiased: bool = False) -> Path:
    """The release's full question table, or with `debiased` VSI-Bench-Debiased's
    (test_debiased.parquet, beside the full one in the release)."""
    if debiased:
        if not (root / DEBIASED_TABLE).is_file():
            raise GeoVRError(f"{root}: no {DEBIASED_TABLE} (VSI-Bench-Debiased) in this download")
        return root / DEBIASED_TABLE
    tables = sorted(
        p
        for ext in ("parquet", "jsonl", "csv")
        for p in root.glob(f"*.{ext}")
        if "debiased" not in p.name
    )
    # The release may carry the same table twice (parquet and jsonl): parquet is the reference.
    if len(tables) > 1:
        tables = [p for p in tables if p.suffix == ".parquet"] or tables
    if len(tables) != 1:
        raise GeoVRError(
            f"{root}: expected exactly one question table (*.parquet|*.jsonl|*.csv), "
            f"found {len(tables)}"
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
    root: str | Path,
    table: str | Path | None = None,
    check_videos: bool = True,
    debiased: bool = False,
) -> list[dict[str, Any]]:
    """Read the public VSI-Bench release as qa.jsonl rows, each with its `video` path.

    Expected layout (the Hugging Face release nyu-visionx/VSI-Bench with its zips unpacked):

        ROOT/test-00000-of-00001.parquet      (or one .jsonl / .csv with the same columns)
        ROOT/<dataset>/<scene_name>.mp4       dataset: arkitscenes | scannet | scannetpp

    Columns: id, dataset, scene_name, question_type, question, options (list or null),
    ground_truth. Ids become strings; missing videos are an error unless check_videos=False.
    `debiased`: the VSI-Bench-Debiased table instead; each row's `benchmark` says which.
    Reading the full table beside test_debiased.parquet marks its rows `in_debiased`.
    """
    root = Path(root)
    path = Path(table) if table is not None else _find_table(root, debiased)
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
                "benchmark": BENCHMARKS[debiased],
                "video": str(video),
            }
        )
    absent = sorted({r["video"] for r in rows if check_videos and not Path(r["video"]).is_file()})
    if absent:
        raise GeoVRError(f"{len(absent)} videos missing under {root}, e.g. {absent[0]}")
    if table is None and not debiased and (root / DEBIASED_TABLE).is_file():
        _mark_debiased(rows, _read_table(root / DEBIASED_TABLE))
    return rows


def _question_key(row: Mapping[str, Any]) -> tuple[str, str, str]:
    return str(row["id"]), str(row["question"]), str(row["ground_truth"])


def _mark_debiased(rows: list[dict[str, Any]], debiased: list[dict[str, Any]]) -> None:
    """Set `in_debiased` on the full table's rows when the debiased table is a subset of it
    (same id, question and answer), so one evaluation also scores VSI-Bench-Debiased."""
    kept = {_question_key(row) for row in debiased}
    if not kept <= {_question_key(row) for row in rows}:
        return  # not a subset: only `--debiased` (its own evaluation) can score it
    for row in rows:
        row["in_debiased"] = _question_key(row) in kept
