"""The evidence benchmark (issue 22): its paired bootstrap on cases checkable by hand, and a
quick run (real training, real evaluation) that writes a complete result under tmp."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from bench import evidence, evidence_probes
from geovr.data.synth.base_qa import BASE_MIX_TYPES
from geovr.eval import linear_probes
from geovr.model.prompt import vsi_question_text


def test_bootstrap_of_two_questions_spans_their_deltas():
    # resampling (0, 1) gives means 0, 0.5, 1 with chances 1/4, 1/2, 1/4: the 2.5% and
    # 97.5% points are 0 and 1, and the point estimate is the mean 0.5
    deltas = np.array([[0.0, 1.0]])
    result = evidence.paired_bootstrap(deltas, ["object_counting"] * 2, overall=False)
    assert result == {"delta": 0.5, "ci95": [0.0, 1.0], "excludes_zero": False}


def test_bootstrap_of_a_constant_delta_is_that_delta_and_excludes_zero():
    deltas = np.full((3, 4), 2.5)
    result = evidence.paired_bootstrap(deltas, ["object_size_estimation"] * 4, overall=False)
    assert result == {"delta": 2.5, "ci95": [2.5, 2.5], "excludes_zero": True}


def test_bootstrap_weighs_tasks_as_vsi_does_not_questions():
    # a task of 1 question (+6), one of 3 questions (0) and object_rel_direction, which VSI's
    # overall always counts (0 for both when absent): (6 + 0 + 0) / 3 = 2, not the question
    # mean 1.5; rel-direction levels count a third of their task each (a missing one 0)
    types = ["object_counting", *["room_size_estimation"] * 3]
    assert evidence.paired_bootstrap(np.array([[6.0, 0, 0, 0]]), types)["delta"] == 2.0
    levels = ["object_rel_direction_easy", "object_rel_direction_hard"]
    deltas = np.array([[3.0, 3.0]])
    assert evidence.paired_bootstrap(deltas, levels, overall=False)["delta"] == 2.0


def test_probe_bootstrap_pairs_clips_and_seeds():
    # GeoVR predicts every held-out clip exactly (R^2 1), SFT predicts the mean (R^2 0): every
    # resample of seeds and clips gives 1, so the interval is [1, 1]
    rng = np.random.default_rng(0)
    target = rng.normal(size=(40, 1))
    clips = np.repeat(np.arange(8), 5)
    exact = linear_probes.r2_sums(target, target, clips)
    mean = linear_probes.r2_sums(np.full_like(target, target.mean()), target, clips)
    result = evidence_probes.paired_r2_bootstrap([mean, mean], [exact, exact], replicates=50)
    assert result["delta"] == pytest.approx(1.0)
    assert result["ci95"] == pytest.approx([1.0, 1.0], abs=0.25) and result["excludes_zero"]
    same = evidence_probes.paired_r2_bootstrap([exact] * 3, [exact] * 3, replicates=50)
    assert same == {"delta": 0.0, "ci95": [0.0, 0.0], "excludes_zero": False}


def write_answers(path, answers: list[tuple[str, str, list[str] | None]]) -> None:
    """Prediction rows as geovr evaluate keeps them: (question type, answer, options)."""
    rows = [
        {"question_type": qtype, "prediction": answer, "prompt": vsi_question_text("Q?", options)}
        for qtype, answer, options in answers
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


TWO, FOUR = ["A. left", "B. right"], ["A. x", "B. y", "C. z", "D. w"]


@pytest.mark.parametrize(
    ("choice_answers", "met"),
    [
        ([("A", TWO), ("B", TWO), ("C", FOUR), ("D", FOUR)], True),  # spread, all offered
        ([("1", TWO), ("1", TWO), ("1", FOUR), ("1", FOUR)], False),  # the old base: not letters
        ([("A", TWO), ("A", TWO), ("A", FOUR), ("B", FOUR)], False),  # one letter is most
        ([("A", TWO), ("C", TWO), ("B", FOUR), ("D", FOUR)], False),  # C is not an option of 2
    ],
)
def test_answer_formats_need_numbers_and_offered_letters_spread_over_options(
    tmp_path, choice_answers, met
):
    numbers = [("object_counting", "3", None), ("room_size_estimation", "21.4", None)]
    choices = [("object_rel_direction_easy", answer, options) for answer, options in choice_answers]
    write_answers(tmp_path / "base.jsonl", numbers + choices)
    found = evidence.answer_formats(tmp_path / "base.jsonl")
    assert found["numeric_parse_rate"] == 1.0 and found["met"] is met
    assert found["numeric_format_rate"] == 1.0
    write_answers(tmp_path / "words.jsonl", [("object_counting", "three", None), *choices])
    assert evidence.answer_formats(tmp_path / "words.jsonl")["met"] is False


def test_numeric_format_rate_counts_the_tasks_digits_and_decimals(tmp_path):
    # the old base's "1" for every number parses, but a distance or an area has one decimal
    answers = [
        ("object_counting", "1", None),
        ("object_size_estimation", "1", None),
        ("object_abs_distance", "1", None),
        ("room_size_estimation", "1", None),
        ("object_abs_distance", "2.3", None),
        ("room_size_estimation", "21.40", None),
    ]
    write_answers(tmp_path / "base.jsonl", answers)
    found = evidence.answer_formats(tmp_path / "base.jsonl")
    assert found["numeric_parse_rate"] == 1.0 and found["numeric_format_rate"] == 0.5


@pytest.mark.slow
@pytest.mark.integration
def test_evidence_quick_writes_every_run_and_interval(tmp_path):
    result = evidence.main(["--quick", "--results", str(tmp_path)])
    written = json.loads((tmp_path / "evidence-quick.json").read_text())
    assert written["geovr_minus_sft"] == result["geovr_minus_sft"]
    kept = sorted(p.name for p in (tmp_path / "evidence-quick-predictions").iterdir())
    assert kept == [f"{v}-seed{s}.jsonl" for v in ("base", "geovr", "sft") for s in (0, 1)]
    assert {name: len(v) for name, v in result["vsi_overall"].items()} == {
        "base": 2,
        "sft": 2,
        "geovr": 2,
    }
    paired = result["geovr_minus_sft"]
    assert paired["per_task"] and set(paired["per_task"]) <= set(
        result["runs"]["sft"][0]["per_task"]
    )
    for interval in [paired["overall"], *paired["per_task"].values()]:
        low, high = interval["ci95"]
        assert math.isfinite(interval["delta"]) and math.isfinite(low) and low <= high
    for formats in result["base_formats"] + result["base_own_mix_formats"]:
        assert 0 <= formats["numeric_parse_rate"] <= 1 and isinstance(formats["met"], bool)
    for formats in result["base_own_mix_formats"]:  # the base's own forms, held-out scenes
        assert set(formats["exact_per_type"]) <= set(BASE_MIX_TYPES)
        assert all(0 <= v <= 1 for v in formats["exact_per_type"].values())
    assert result["runs"]["base"][0]["probes"] == {}  # the base has no GeoVR head
    assert "depth_absrel" in result["runs"]["geovr"][0]["probes"]
    found = result["representations"]
    assert 0 in found["layers"] and found["supervised"] and 0 not in found["supervised"]
    for variant in ("base", "sft", "geovr"):
        for layer in found["layers"]:
            for target in ("depth", "motion_direction", "motion_angle"):
                r2 = found["r2"][variant][str(layer)][target]
                assert len(r2["seeds"]) == 2 and all(math.isfinite(v) for v in r2["seeds"])
    for per_target in found["geovr_minus_sft"].values():
        for interval in per_target.values():
            low, high = interval["ci95"]
            assert math.isfinite(interval["delta"]) and low <= high
    kept = sorted(p.name for p in (tmp_path / "evidence-quick-runs" / "geovr-seed1").iterdir())
    assert kept == ["representations.json", "score", "scores.json", "train"]
