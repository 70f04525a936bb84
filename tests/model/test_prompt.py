"""The official VSI-Bench prompt text, character for character, and its use in the chat prompt
that evaluation sends."""

from __future__ import annotations

from geovr.model.clip_inputs import prompt
from geovr.model.prompt import vsi_question_text


def test_numeric_prompt_is_pre_question_post_on_three_lines():
    assert vsi_question_text("How many chairs are in this room?") == (
        "These are frames of a video.\n"
        "How many chairs are in this room?\n"
        "Please answer the question using a single word or phrase."
    )


def test_multiple_choice_prompt_lists_the_options_then_the_letter_instruction():
    text = vsi_question_text("Which is closer to the tv?", ["A. sofa", "B. bed"])
    assert text == (
        "These are frames of a video.\n"
        "Which is closer to the tv?\n"
        "Options:\n"
        "A. sofa\n"
        "B. bed\n"
        "Answer with the option's letter from the given choices directly."
    )


def test_empty_options_are_a_numeric_question():
    # The release stores null (parquet) for numeric tasks; an empty list means the same.
    assert vsi_question_text("How big?", []) == vsi_question_text("How big?", None)


def test_the_chat_prompt_carries_the_text_with_or_without_the_video(kit):
    processor = kit.processor("qwen3_vl")
    qa = {"question": "How many chairs?", "options": None}
    with_video = prompt(processor, qa)
    blind = prompt(processor, qa, with_video=False)
    assert vsi_question_text("How many chairs?") in with_video and "<|video_pad|>" in with_video
    assert vsi_question_text("How many chairs?") in blind and "<|video_pad|>" not in blind
