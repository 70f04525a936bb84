"""The answer-by-letter diagnostic (issue 22): each task's samples are answerable as defined,
and a quick run trains and scores every task on the real tiny student."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench import letters
from geovr.model.tiny import build_tiny_student


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


@pytest.fixture(scope="module")
def processor(tmp_path_factory):
    return build_tiny_student("qwen3_vl", out_dir=tmp_path_factory.mktemp("student"))[1]


@pytest.mark.parametrize("task", letters.TASKS)
def test_an_oracle_of_the_next_token_scores_every_sample_right(task, processor):
    # logits that put all mass on the next input token (the answer, teacher-forced) must be
    # read as the right candidate at every sample: checks the position and the token ids
    words = list(letters.COLOURS) if task == "name" else list(letters.LETTERS)
    candidates = letters.candidate_ids(processor.tokenizer, words)
    inputs, right = letters.batch_of(task, processor, np.random.default_rng(0), 16)
    ids = inputs["input_ids"]
    oracle = torch.nn.functional.one_hot(ids.roll(-1, dims=1), len(processor.tokenizer)).float()
    assert torch.equal(letters.chosen_candidates(oracle, inputs["labels"], candidates), right)
    shifted = torch.nn.functional.one_hot(ids, len(processor.tokenizer)).float()  # one late
    assert not torch.equal(letters.chosen_candidates(shifted, inputs["labels"], candidates), right)


def test_candidates_must_start_with_distinct_tokens(processor):
    with pytest.raises(ValueError, match="distinct"):
        letters.candidate_ids(processor.tokenizer, ["red", "red"])


@pytest.mark.slow
def test_letters_quick_trains_and_scores_every_task(tmp_path):
    result = letters.main(["--quick", "--results", str(tmp_path)])
    assert set(result["tasks"]) == set(letters.TASKS)
    for found in result["tasks"].values():
        assert sorted(found["scored"]) == [0, 2, 4] and found["chance"] == 0.25
        for point in found["scored"].values():
            assert 0 <= point["accuracy"] <= 1 and 0.25 <= point["top_share"] <= 1
        assert found["scored"][4]["train_loss"] > 0
    assert (tmp_path / "letters-quick.json").is_file()
