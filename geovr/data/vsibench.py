"""The public VSI-Bench release: its question table read as qa.jsonl rows, and the release as a
GeoVR dataset directory, so `geovr ingest` + `geovr evaluate --splits test` score the real
benchmark with the same code as the synthetic one.

    qa = read_vsibench("/data/VSI-Bench")                      # qa.jsonl rows + "video"

    geovr data import-vsibench --root /data/VSI-Bench --out /data/vsibench-geovr
    geovr data import-vsibench --root /data/VSI-Bench --debiased --out /data/vsibench-debiased
    geovr ingest --data /data/vsibench-geovr --out runs/vsi-clips --frames 32
    geovr evaluate --checkpoint runs/train/checkpoint --clips runs/vsi-clips --splits test \
        --out runs/vsi-eval

`out` must be absent, empty or an earlier import (geovr.stage_output). Videos are
hard-linked into `out/videos/` (copied across file systems): ingest only reads files inside
its data directory. Every clip is in split `test`; questions keep their ids.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from geovr.artifacts import atomic_dir, write_jsonl
from geovr.data.vsi_tasks import QUESTION_TYPES
from geovr.errors import GeoVRError
from geovr.stage_output import mark_output, writes_output

QUESTION_COLUMNS = (
    "id",
    "dataset",
    "scene_name",
    "question_type",
    "question",
    "options",
    "ground_truth",
)


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


STAGE = "data import-vsibench"

QA_KEYS = (
    "id",
    "scene_name",
    "question_type",
    "question",
    "options",
    "ground_truth",
    "benchmark",
    "in_debiased",
)


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


@writes_output(STAGE, inputs=("root", "table"), marker=False)
def import_vsibench(
    root: str | Path, out: str | Path, table: str | Path | None = None, debiased: bool = False
) -> dict[str, Any]:
    """Write `out` (videos/, clips.jsonl, qa.jsonl) from a VSI-Bench download (`debiased`: its
    VSI-Bench-Debiased table); returns counts."""
    rows = read_vsibench(root, table=table, debiased=debiased)
    videos = {r["scene_name"]: (Path(r["video"]), r["dataset"]) for r in rows}
    with atomic_dir(out) as staging:
        (staging / "videos").mkdir()
        clips = []
        for scene, (video, dataset) in sorted(videos.items()):
            _link_or_copy(video, staging / "videos" / f"{scene}.mp4")
            clips.append(
                {
                    "clip_id": scene,
                    "video": f"videos/{scene}.mp4",
                    "split": "test",
                    "source": dataset,
                }
            )
        write_jsonl(staging / "clips.jsonl", clips)
        write_jsonl(staging / "qa.jsonl", [{k: r[k] for k in QA_KEYS if k in r} for r in rows])
        mark_output(staging, STAGE)  # a dataset has no meta.json to name the stage
    return {
        "out": str(out),
        "clips": len(clips),
        "questions": len(rows),
        "benchmark": rows[0]["benchmark"],
    }
