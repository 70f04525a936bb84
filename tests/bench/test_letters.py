"""The answer-by-letter diagnostic (issue 22): each task's samples are answerable as defined,
and a quick run trains and scores every task on the real tiny student."""

from __future__ import annotations

import numpy as np
import pytest

from bench import letters


@pytest.mark.parametrize("task", letters.TASKS)
def test_each_sample_answer_follows_its_task(task):
    rng = np.random.default_rng(0)
    for _ in range(50):
        frames, qa, right = letters.task_sample(task, rng)
        colours = {tuple(p) for p in frames.reshape(-1, 3)} - {(128, 128, 128)}
        if task == "text_letter":  # grey frames: the question names the colour
            assert not colours
            named = qa["question"].rsplit(" ", 1)[1].rstrip("?")
        else:  # one square colour, shown in the first frame at least
            (shown,) = colours
            named = next(n for n, c in letters.COLOURS.items() if c == shown)
        if task == "name":
            assert qa["ground_truth"] == named and list(letters.COLOURS)[right] == named
        else:
            assert qa["options"][right] == f"{qa['ground_truth']}. {named}"
            assert qa["ground_truth"] == letters.LETTERS[right]


@pytest.mark.slow
@pytest.mark.integration
def test_letters_quick_trains_and_scores_every_task(tmp_path):
    result = letters.main(["--quick", "--results", str(tmp_path)])
    assert set(result["tasks"]) == set(letters.TASKS)
    for found in result["tasks"].values():
        assert sorted(found["accuracy"]) == [0, 2, 4] and found["chance"] == 0.25
        assert all(0 <= a <= 1 for a in found["accuracy"].values())
    assert (tmp_path / "letters-quick.json").is_file()
