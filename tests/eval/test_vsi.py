"""The official VSI-Bench scorer: extraction, float64 MRA and aggregation on boundary,
whitespace, case and unparsable answers, each expected value worked out by hand; and the
benchmark reader.

    .venv/bin/pytest -q tests/eval/test_vsi.py
"""

from __future__ import annotations

import csv
import itertools
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from geovr.data.vsi_tasks import QUESTION_TYPES, TASKS
from geovr.data.vsibench import read_vsibench
from geovr.errors import GeoVRError
from geovr.eval.vsi import choice_accuracy, extract_answer, relative_accuracy, score_predictions


@pytest.mark.parametrize(
    ("answer", "word"),
    [
        ("3", "3"),
        ("3.", "3"),
        ("B. sofa", "B"),
        ("B..", "B"),  # rstrip takes every trailing dot
        ("1.5 meters.", "1.5"),
        (" 3", ""),  # split(" ") -> ["", "3"]: a leading space leaves nothing
        ("3\nThere are three", "3\nThere"),  # a newline does not split, the space does
        ("3\n", "3"),  # ... but the final strip() removes it at the end
        ("3.\n", "3."),  # rstrip(".") sees "\n" last, strip() then leaves the dot
        ("B\tsofa", "B\tsofa"),
        ("", ""),
        (4.5, "4.5"),
    ],
)
def test_extract_answer_splits_on_one_space_only(answer, word):
    assert extract_answer(answer) == word


@pytest.mark.parametrize(
    ("pred", "gt", "mra"),
    [
        ("2", "2", 1.0),
        # 1 - t in float64: .5, .45 (.4499..96), .4, .35, .3 (.3000..04), .25, .2 (.1999..96),
        # .15, .1 (.1000..09), .05 (.0500..44).
        ("4", "5", 0.6),  # 0.2 > 0.1999..96: fails t=.80; passes .50-.75 = 6 of 10
        ("1.2", "1", 0.7),  # 1.2 - 1 = 0.1999..96 <= 0.1999..96: passes .50-.80 = 7
        ("3.6", "3", 0.6),  # 0.6 / 3 = 0.2000..04: like "4" for 5
        ("1.5", "1.0", 0.1),  # 0.5 <= 0.5 only
        ("0.5", "1", 0.1),  # the same from below
        ("1.05", "1", 1.0),  # 1.05 - 1 = 0.0500..44 = 1 - 0.95: all 10 pass
        ("1.35", "1", 0.3),  # 0.3500..1 > 0.35: passes .50, .55, .60 only
        ("4.2", "3", 0.2),  # 1.2 / 3 = 0.4000..1 > 0.4: passes .50, .55
        ("1.1 meters", "1", 0.9),  # 0.1000..09 <= 0.1000..09: fails only t=.95
        ("3.\n", "3", 1.0),  # extracts "3.", float("3.") = 3
        ("2", "1", 0.0),  # error 1.0 > 0.5
        (3, 3.0, 1.0),
    ],
)
def test_relative_accuracy_float64_hand_values(pred, gt, mra):
    assert relative_accuracy(pred, gt) == mra


@pytest.mark.parametrize(
    "pred",
    [
        " 3",  # extracts ""
        "3\nThere are three",  # float() refuses the newline inside
        "abc",
        "",
        "three",
        "1,5",
        "nan",  # float("nan") parses, and compares False everywhere
        "inf",
        "-inf",
        "1e999999",  # float() gives inf, no overflow error
    ],
)
def test_unparsable_or_non_finite_answers_score_zero(pred):
    assert relative_accuracy(pred, "3") == 0.0


@pytest.mark.parametrize("gt", ["0", "-1", "abc", None, "nan", "inf"])
def test_bad_numeric_ground_truth_is_an_error(gt):
    with pytest.raises(GeoVRError, match="ground truth"):
        relative_accuracy("1", gt)


@given(st.floats(0.01, 1000), st.floats(0, 3), st.floats(0, 3), st.sampled_from([1, -1]))
def test_mra_in_unit_interval_and_monotonic_in_error(gt, e1, e2, sign):
    small, large = sorted((e1, e2))
    near, far = (
        relative_accuracy(gt * (1 + sign * small), gt),
        relative_accuracy(gt * (1 + sign * large), gt),
    )
    assert 0.0 <= far <= near <= 1.0
    assert near * 10 == pytest.approx(round(near * 10))


@pytest.mark.parametrize(
    ("pred", "gt", "hit"),
    [
        ("B", "B", 1.0),
        ("B.", "B", 1.0),
        ("B. sofa", "B", 1.0),
        ("b", "B", 1.0),  # case-insensitive
        ("B", "b", 1.0),
        ("B\n", "B", 1.0),  # trailing newline stripped
        ("B\nThe table", "B", 0.0),  # extracts "B\nThe table"
        (" B", "B", 0.0),  # extracts ""
        ("B", "B.", 0.0),  # the ground truth is compared as given
        ("(B)", "B", 0.0),
        ("Answer: B", "B", 0.0),
        ("C", "B", 0.0),
        ("", "B", 0.0),
    ],
)
def test_choice_accuracy(pred, gt, hit):
    assert choice_accuracy(pred, gt) == hit


_ids = itertools.count()


def _row(question_type, prediction, ground_truth):
    return {
        "id": next(_ids),
        "question_type": question_type,
        "prediction": prediction,
        "ground_truth": ground_truth,
    }


def test_score_predictions_hand_computed():
    rows = [
        _row("object_counting", "3", "3"),  # 1.0
        _row("object_counting", "1.5", "1"),  # 0.1   -> 55.0
        _row("route_planning", "B. sofa", "B"),
        _row("route_planning", "c", "C"),
        _row("route_planning", "(A)", "A"),  # 2/3   -> 66.67
        _row("object_rel_direction_easy", "A", "A"),  # 100
        _row("object_rel_direction_medium", "A", "B"),  # 0
        _row("object_rel_direction_hard", "D", "D"),
        _row("object_rel_direction_hard", "D.", "D"),  # 100 -> levels mean 66.67 (pooled: 75)
    ]
    scores = score_predictions(rows)
    assert list(scores["per_task"]) == ["object_counting", "object_rel_direction", "route_planning"]
    assert scores["per_task"]["object_counting"] == pytest.approx(55.0)
    assert scores["per_task"]["route_planning"] == pytest.approx(200 / 3)
    assert scores["per_task"]["object_rel_direction"] == pytest.approx(200 / 3)
    assert scores["overall"] == pytest.approx((55.0 + 200 / 3 + 200 / 3) / 3)
    assert scores["rel_direction_levels"] == {
        "object_rel_direction_easy": 100.0,
        "object_rel_direction_medium": 0.0,
        "object_rel_direction_hard": 100.0,
    }
    assert scores["counts"] == {
        "object_counting": 2,
        "object_rel_direction_easy": 1,
        "object_rel_direction_medium": 1,
        "object_rel_direction_hard": 2,
        "route_planning": 3,
        "total": 9,
    }


def test_a_missing_rel_direction_level_counts_zero():
    rows = [_row("object_rel_direction_easy", "A", "A"), _row("object_counting", "2", "2")]
    scores = score_predictions(rows)
    # rel_direction = (100 + 0 + 0) / 3; overall = (100 + 33.33) / 2
    assert scores["per_task"]["object_rel_direction"] == pytest.approx(100 / 3)
    assert scores["overall"] == pytest.approx((100 + 100 / 3) / 2)
    assert scores["rel_direction_levels"] == {"object_rel_direction_easy": 100.0}


def test_the_overall_always_includes_rel_direction():
    # no rel_direction question at all: it still counts, as 0, so a perfect counting
    # score gives an overall of (100 + 0) / 2
    scores = score_predictions([_row("object_counting", "2", "2")])
    assert scores["per_task"] == {"object_counting": 100.0, "object_rel_direction": 0.0}
    assert scores["overall"] == 50.0


def test_all_tasks_give_eight_scores_and_their_unweighted_mean():
    rows = [
        _row(t, "2" if t in TASKS[:4] else "A", "2" if t in TASKS[:4] else "A")
        for t in QUESTION_TYPES
    ]
    rows.append(_row("object_counting", "9", "2"))  # counting: 50 with 2 rows, others 100
    scores = score_predictions(rows)
    assert list(scores["per_task"]) == list(TASKS)
    assert scores["overall"] == (0.5 + 7 * 1.0) / 8 * 100


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ({"question_type": "object_counting", "ground_truth": "0"}, "row 7: numeric ground truth"),
        (
            {"question_type": "route_planning", "ground_truth": None},
            "row 7: multiple-choice ground",
        ),
        ({"question_type": "route_planning", "ground_truth": " "}, "row 7: multiple-choice ground"),
    ],
)
def test_bad_ground_truth_names_the_row(row, reason):
    with pytest.raises(GeoVRError, match=reason):
        score_predictions([{"id": 7, "prediction": "1", **row}])


def test_unknown_question_type_and_empty_input_are_errors():
    with pytest.raises(GeoVRError, match="unknown question_type 'object_colour'"):
        score_predictions([_row("object_colour", "A", "A")])
    with pytest.raises(GeoVRError, match="no predictions"):
        score_predictions([])


QUESTIONS = [
    {
        "id": 0,
        "dataset": "scannet",
        "scene_name": "scene0011_00",
        "question_type": "object_counting",
        "question": "How many chairs?",
        "options": None,
        "ground_truth": "4",
    },
    {
        "id": 1,
        "dataset": "arkitscenes",
        "scene_name": "41069025",
        "question_type": "route_planning",
        "question": "Which way?",
        "options": ["A. left", "B. right"],
        "ground_truth": "B",
    },
]


def _videos(root):
    for q in QUESTIONS:
        (root / q["dataset"]).mkdir(parents=True, exist_ok=True)
        (root / q["dataset"] / f"{q['scene_name']}.mp4").write_bytes(b"\0")


def _check_rows(rows, root):
    assert [r["id"] for r in rows] == ["0", "1"]
    assert rows[0]["options"] is None and rows[1]["options"] == ["A. left", "B. right"]
    assert rows[1]["video"] == str(root / "arkitscenes" / "41069025.mp4")
    assert rows[0]["ground_truth"] == "4" and rows[1]["question_type"] == "route_planning"


def test_read_vsibench_parquet(tmp_path):
    pq.write_table(pa.Table.from_pylist(QUESTIONS), tmp_path / "test-00000-of-00001.parquet")
    _videos(tmp_path)
    _check_rows(read_vsibench(tmp_path), tmp_path)


def test_read_vsibench_jsonl_and_csv(tmp_path):
    _videos(tmp_path)
    (tmp_path / "questions.jsonl").write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS))
    _check_rows(read_vsibench(tmp_path), tmp_path)
    table = tmp_path / "other" / "q.csv"
    table.parent.mkdir()
    with table.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(QUESTIONS[0]))
        writer.writeheader()
        # In CSV the options list is a JSON string, and empty for numeric questions.
        writer.writerows(
            {**q, "options": json.dumps(q["options"]) if q["options"] else ""} for q in QUESTIONS
        )
    _check_rows(read_vsibench(tmp_path, table=table), tmp_path)


def test_read_vsibench_errors(tmp_path):
    with pytest.raises(GeoVRError, match="exactly one question table"):
        read_vsibench(tmp_path)
    (tmp_path / "q.jsonl").write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS))
    with pytest.raises(GeoVRError, match="2 videos missing"):
        read_vsibench(tmp_path)
    assert len(read_vsibench(tmp_path, check_videos=False)) == 2
    bad = dict(QUESTIONS[0], question_type="object_colour")
    (tmp_path / "q.jsonl").write_text(json.dumps(bad) + "\n")
    with pytest.raises(GeoVRError, match="unknown question_type"):
        read_vsibench(tmp_path, check_videos=False)
    (tmp_path / "q.jsonl").write_text(json.dumps({"id": 3, "question": "?"}) + "\n")
    with pytest.raises(GeoVRError, match="lacks columns"):
        read_vsibench(tmp_path, check_videos=False)


def test_the_release_layout_reads_the_full_table_or_with_one_flag_the_debiased_one(tmp_path):
    # The release ships the full table twice (parquet and jsonl) and test_debiased.parquet.
    _videos(tmp_path)
    pq.write_table(pa.Table.from_pylist(QUESTIONS), tmp_path / "test-00000-of-00001.parquet")
    (tmp_path / "test.jsonl").write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS))
    pq.write_table(pa.Table.from_pylist(QUESTIONS[1:]), tmp_path / "test_debiased.parquet")
    full = read_vsibench(tmp_path)
    _check_rows(full, tmp_path)
    assert {r["benchmark"] for r in full} == {"vsi-bench"}
    assert [r["in_debiased"] for r in full] == [False, True]  # one evaluation scores both
    debiased = read_vsibench(tmp_path, debiased=True)
    assert [(r["id"], r["benchmark"]) for r in debiased] == [("1", "vsi-bench-debiased")]
    (tmp_path / "test_debiased.parquet").unlink()
    with pytest.raises(GeoVRError, match="no test_debiased.parquet"):
        read_vsibench(tmp_path, debiased=True)


def test_a_debiased_table_that_is_not_a_subset_marks_nothing(tmp_path):
    _videos(tmp_path)
    pq.write_table(pa.Table.from_pylist(QUESTIONS), tmp_path / "test-00000-of-00001.parquet")
    changed = [{**QUESTIONS[1], "ground_truth": "A"}]  # same id, another answer
    pq.write_table(pa.Table.from_pylist(changed), tmp_path / "test_debiased.parquet")
    assert all("in_debiased" not in r for r in read_vsibench(tmp_path))
