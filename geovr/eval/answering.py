"""Answer VSI-Bench questions the way the official protocol asks: the prompt of
geovr/model/prompt.py, greedy decoding, a uniform frame budget, or no video at all (the
vision-disabled baseline); every answer row records the exact prompt text and the frames used.

    rows = answer_questions(student, processor, reader, groups, AnswerSettings(frames=32))
    rows[0]["prompt"], rows[0]["frame_indices"], rows[0]["prediction"]
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from geovr.data.shards import ShardReader
from geovr.errors import GeoVRError
from geovr.model.clip_inputs import encode_video_prompt, prompt
from geovr.model.inputs import to_device

QUESTIONS_PER_CALL = 8  # questions about one clip answered in one batched generate
FRAME_BUDGETS = (16, 32, 64, 128)  # the uniform budgets of the published VSI-Bench tables
VISION_MODES = ("video", "blank", "none")


@dataclass(frozen=True)
class AnswerSettings:
    """How questions are put to the student.

    frames: a uniform budget over the clip's stored frames (None: all of them); vision:
    "video", "blank" (black frames of the same size: a diagnostic) or "none" (the question
    alone, VSI-Bench's vision-disabled baseline)."""

    max_new_tokens: int = 16
    max_side: int | None = None
    frames: int | None = None
    vision: str = "video"
    progress: bool = False


def budget_positions(n_stored: int, budget: int | None) -> np.ndarray:
    """Positions of `budget` frames spread uniformly over `n_stored` (first and last included,
    truncated to integers as the usual lmms-eval loaders do); all frames without a budget."""
    if budget is None:
        return np.arange(n_stored)
    if budget > n_stored:
        raise GeoVRError(
            f"--frames {budget} exceeds the {n_stored} frames stored per clip: "
            f"ingest with --frames {budget} or more"
        )
    return np.linspace(0, n_stored - 1, budget, dtype=int)


def _clip_frames(
    clip: Mapping[str, Any], reader: ShardReader, settings: AnswerSettings
) -> tuple[np.ndarray, list[float] | None, list[int]]:
    """(frames, their timestamps, their source-video indices) under the frame budget."""
    frames = reader.get(clip["clip_id"])[0]["frames"]
    positions = budget_positions(len(frames), settings.frames)
    source = clip.get("frame_indices") or list(range(len(frames)))
    times = clip.get("timestamps")
    frames = frames[positions]
    if settings.vision == "blank":
        frames = np.zeros_like(frames)
    return (
        frames,
        [times[p] for p in positions] if times is not None else None,
        [int(source[p]) for p in positions],
    )


@torch.inference_mode()
def _generate(student, processor, texts: list[str], frames, times, settings: AnswerSettings):
    if settings.vision == "none":
        inputs = dict(processor(text=texts, return_tensors="pt", padding=True, padding_side="left"))
    else:
        inputs = encode_video_prompt(
            processor, frames, texts, times, settings.max_side, padding=True, padding_side="left"
        )
    inputs = to_device(inputs, student.device)
    out = student.generate(
        **inputs,
        max_new_tokens=settings.max_new_tokens,
        do_sample=False,
        pad_token_id=processor.tokenizer.pad_token_id,
    )
    return processor.batch_decode(out[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)


def answer_questions(
    student,
    processor,
    reader: ShardReader,
    groups: Sequence[tuple[dict, list[dict]]],
    settings: AnswerSettings,
) -> list[dict[str, Any]]:
    """Prediction rows (`id, clip_id, question_type, question, prediction, ground_truth,
    prompt, frame_indices, vision`); `prediction` is the decoded text as generated, which the
    official extraction then reads (a leading space would count against it)."""
    if settings.vision not in VISION_MODES:
        raise GeoVRError(f"vision {settings.vision!r}: choose {', '.join(VISION_MODES)}")
    rows = []
    total = sum(len(q) for _, q in groups)
    bar = tqdm(total=total, desc="questions", file=sys.stderr, disable=not settings.progress)
    for clip, questions in groups:
        frames, times, indices = _clip_frames(clip, reader, settings)
        for start in range(0, len(questions), QUESTIONS_PER_CALL):
            chunk = questions[start : start + QUESTIONS_PER_CALL]
            texts = [prompt(processor, qa, with_video=settings.vision != "none") for qa in chunk]
            answers = _generate(student, processor, texts, frames, times, settings)
            rows += [
                {
                    "id": qa["id"],
                    "clip_id": clip["clip_id"],
                    "question_type": qa["question_type"],
                    "question": qa["question"],
                    "prediction": text,
                    "ground_truth": qa["ground_truth"],
                    "prompt": sent,
                    "frame_indices": indices if settings.vision != "none" else [],
                    "vision": settings.vision,
                }
                for qa, sent, text in zip(chunk, texts, answers, strict=True)
            ]
            bar.update(len(chunk))
    bar.close()
    return rows
