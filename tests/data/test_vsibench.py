"""VSI-Bench's layout (question table + <dataset>/<scene>.mp4) -> dataset dir -> ingest -> test
split."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from geovr.data.video import encode_video

QUESTIONS = [
    {
        "id": 0,
        "dataset": "scannet",
        "scene_name": "scene0011_00",
        "question_type": "object_counting",
        "question": "How many chair(s) are in this room?",
        "options": None,
        "ground_truth": "4",
    },
    {
        "id": 1,
        "dataset": "arkitscenes",
        "scene_name": "41069025",
        "question_type": "object_rel_direction_easy",
        "question": "Is the sofa left or right of the bed?",
        "options": ["A. left", "B. right"],
        "ground_truth": "A",
    },
    {
        "id": 2,
        "dataset": "scannet",
        "scene_name": "scene0011_00",
        "question_type": "room_size_estimation",
        "question": "What is the size of this room (in square meters)?",
        "options": None,
        "ground_truth": "21.5",
    },
]


def _geovr(*args: str, cwd) -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", "geovr", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _release(tmp_path):
    """A VSI-Bench download in the release layout: the question table and real videos."""
    root = tmp_path / "VSI-Bench"
    rng = np.random.default_rng(0)
    for q in QUESTIONS:
        (root / q["dataset"]).mkdir(parents=True, exist_ok=True)
        video = root / q["dataset"] / f"{q['scene_name']}.mp4"
        if not video.exists():
            encode_video(video, rng.integers(0, 255, (6, 32, 48, 3), dtype=np.uint8))
    pq.write_table(pa.Table.from_pylist(QUESTIONS), root / "test-00000-of-00001.parquet")
    return root


@pytest.mark.slow
def test_import_then_ingest_puts_every_question_in_the_test_split(tmp_path):
    root = _release(tmp_path)

    summary = _geovr("data", "import-vsibench", "--root", str(root), "--out", "vsi", cwd=tmp_path)
    assert (summary["clips"], summary["questions"]) == (2, 3)
    _geovr(
        "ingest", "--data", "vsi", "--out", "clips", "--frames", "4", "--no-progress", cwd=tmp_path
    )
    manifest = [
        json.loads(line)
        for line in (tmp_path / "clips" / "manifest.jsonl").read_text().splitlines()
    ]
    assert {(m["clip_id"], m["split"], m["source"]) for m in manifest} == {
        ("scene0011_00", "test", "scannet"),
        ("41069025", "test", "arkitscenes"),
    }
    qa = [json.loads(line) for line in (tmp_path / "clips" / "qa.jsonl").read_text().splitlines()]
    assert sorted(q["id"] for q in qa) == ["0", "1", "2"] and qa[0]["scene_name"]
    assert {q["benchmark"] for q in qa} == {"vsi-bench"}  # evaluation reports the table scored
    assert "in_debiased" not in qa[0]  # no debiased table in this download


@pytest.mark.slow
def test_import_debiased_is_one_flag_and_labels_every_question(tmp_path):
    root = _release(tmp_path)
    pq.write_table(pa.Table.from_pylist(QUESTIONS[1:]), root / "test_debiased.parquet")

    summary = _geovr(
        "data", "import-vsibench", "--root", str(root), "--debiased", "--out", "d", cwd=tmp_path
    )
    assert (summary["questions"], summary["benchmark"]) == (2, "vsi-bench-debiased")
    qa = [json.loads(line) for line in (tmp_path / "d" / "qa.jsonl").read_text().splitlines()]
    assert [(q["id"], q["benchmark"]) for q in qa] == [
        ("1", "vsi-bench-debiased"),
        ("2", "vsi-bench-debiased"),
    ]
    # the full import beside it marks the debiased questions, and ingest keeps the mark
    _geovr("data", "import-vsibench", "--root", str(root), "--out", "full", cwd=tmp_path)
    _geovr(
        "ingest", "--data", "full", "--out", "clips", "--frames", "4", "--no-progress", cwd=tmp_path
    )
    qa = [json.loads(line) for line in (tmp_path / "clips" / "qa.jsonl").read_text().splitlines()]
    assert sorted((q["id"], q["in_debiased"]) for q in qa) == [
        ("0", False),
        ("1", True),
        ("2", True),
    ]
