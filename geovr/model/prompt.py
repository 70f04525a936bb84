"""The VSI-Bench question prompt of the official lmms-eval task: the one text every GeoVR
question goes through (training, evaluation, and the served model once it reuses it).

    vsi_question_text("How many chairs?", None)
    # 'These are frames of a video.\nHow many chairs?\n'
    # 'Please answer the question using a single word or phrase.'

Pure strings, no import beyond the standard library: the MLflow pyfunc, which must not import
geovr, can carry this file as code.
"""

from __future__ import annotations

from collections.abc import Sequence

PRE_PROMPT = "These are frames of a video."
NUMERIC_POST_PROMPT = "Please answer the question using a single word or phrase."
MC_POST_PROMPT = "Answer with the option's letter from the given choices directly."


def vsi_question_text(question: str, options: Sequence[str] | None = None) -> str:
    """Numeric: pre, question, post on three lines; multiple choice: pre, question,
    "Options:" and one option a line, then the letter instruction."""
    if options:
        return "\n".join([PRE_PROMPT, question, "Options:\n" + "\n".join(options), MC_POST_PROMPT])
    return PRE_PROMPT + "\n" + question + "\n" + NUMERIC_POST_PROMPT
