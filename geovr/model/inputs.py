"""A clip's frames + one QA item (+ its teacher targets) -> training and generation tensors.

The frames and prompt go through geovr/model/clip_inputs.py, the preprocessing shared with the
served model (frames resized to multiples of patch * merge and fed twice, one temporal grid
per real frame at its recorded time; VSI-Bench's official question text in the chat
template). Training appends `answer + <|im_end|>` as the only labelled tokens.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from geovr.model.adapters import adapter_for
from geovr.model.clip_inputs import encode_video_prompt, prompt
from geovr.model.tokens import IGNORE

TARGET_PREFIX = "target_"


def targets_tensors(targets: Any, layers: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
    """geovr.teachers.base.Targets (or a mapping with the same fields) -> `target_*` tensors of
    one clip: pose_enc [F,9], pose_valid [F], depth [F,h,w], metric_scale [1], scale_valid [1],
    feat_0..feat_3 [F,hf,wf,C] (fp16, in layer order: `layers`, else the mapping's order)."""
    get = targets.get if isinstance(targets, Mapping) else lambda k, d=None: getattr(targets, k, d)
    features = get("features") or {}
    names = list(layers) if layers is not None else list(features)
    pose = torch.as_tensor(np.asarray(get("pose_enc")), dtype=torch.float32)
    out = {
        "target_pose_enc": pose,
        "target_pose_valid": torch.full(
            (pose.shape[0],), bool(np.asarray(get("pose_valid", True)).reshape(-1)[0])
        ),
        "target_depth": torch.as_tensor(np.asarray(get("depth")), dtype=torch.float32),
        "target_metric_scale": torch.as_tensor(
            np.asarray(get("metric_scale"), dtype=np.float32).reshape(1)
        ),
        "target_scale_valid": torch.tensor(
            [bool(np.asarray(get("scale_valid", True)).reshape(-1)[0])]
        ),
    }
    for i, name in enumerate(names):
        out[f"{TARGET_PREFIX}feat_{i}"] = torch.as_tensor(np.asarray(features[name]))
    return out


def make_example(
    processor,
    frames,
    qa: Mapping[str, Any],
    targets: Any = None,
    *,
    timestamps=None,
    max_side: int | None = None,
    layers: Sequence[str] | None = None,
    with_answer: bool = True,
) -> dict[str, torch.Tensor]:
    """One training sample (unpadded tensors): the processor's outputs for the prompt, the
    answer + `<|im_end|>` appended as the only labelled tokens, and `target_*` tensors of the
    teacher targets (`layers`: feature layer order, default the targets' own order)."""
    enc = encode_video_prompt(processor, frames, [prompt(processor, qa)], timestamps, max_side)
    ids, types = enc["input_ids"][0], enc["mm_token_type_ids"][0]
    labels = torch.full_like(ids, IGNORE)
    if with_answer and qa.get("ground_truth") is not None:
        tok = processor.tokenizer
        answer = torch.tensor(
            tok(str(qa["ground_truth"]) + tok.eos_token, add_special_tokens=False)["input_ids"]
        )
        ids, labels, types = (
            torch.cat([ids, answer]),
            torch.cat([labels, answer]),
            torch.cat([types, torch.zeros_like(answer)]),
        )
    example = {
        "input_ids": ids,
        "labels": labels,
        "mm_token_type_ids": types,
        "pixel_values_videos": enc["pixel_values_videos"],
        "video_grid_thw": enc["video_grid_thw"],
    }
    if "second_per_grid_ts" in enc:
        example["second_per_grid_ts"] = enc["second_per_grid_ts"]
    if targets is not None:
        example.update(targets_tensors(targets, layers))
        n_frames = int(enc["video_grid_thw"][0, 0])
        if example["target_pose_enc"].shape[0] != n_frames:
            raise ValueError(
                f"targets have {example['target_pose_enc'].shape[0]} frames, the clip {n_frames}"
            )
    return example


def collate(examples: Sequence[Mapping[str, Any]], pad_token_id: int) -> dict[str, torch.Tensor]:
    """A flat dict of tensors (`model(**batch)` works): right-padded `make_example` outputs, and
    the `target_*` tensors concatenated over samples (frames: N = sum F; clips: B)."""
    seq = max(len(e["input_ids"]) for e in examples)
    batch: dict[str, Any] = {}
    for key, fill in (
        ("input_ids", pad_token_id),
        ("labels", IGNORE),
        ("mm_token_type_ids", 0),
        ("attention_mask", 0),
    ):
        rows = []
        for e in examples:
            row = (
                e["input_ids"].new_ones(len(e["input_ids"])) if key == "attention_mask" else e[key]
            )
            rows.append(F.pad(row, (0, seq - len(row)), value=fill))
        batch[key] = torch.stack(rows)
    batch["pixel_values_videos"] = torch.cat([e["pixel_values_videos"] for e in examples])
    batch["video_grid_thw"] = torch.cat([e["video_grid_thw"] for e in examples])
    if "second_per_grid_ts" in examples[0]:
        batch["second_per_grid_ts"] = torch.cat([e["second_per_grid_ts"] for e in examples])
    keys = [sorted(k for k in e if k.startswith(TARGET_PREFIX)) for e in examples]
    if any(k != keys[0] for k in keys):
        raise ValueError(
            "samples of the batch have different teacher targets (some have none, or other layers)"
        )
    for key in keys[0]:
        shapes = {tuple(e[key].shape[1:]) for e in examples}
        if len(shapes) > 1:
            raise ValueError(f"{key} sizes differ within the batch: {sorted(shapes)}")
        batch[key] = torch.cat([e[key] for e in examples])
    return batch


def to_device(batch: Mapping[str, Any], device: torch.device | str) -> dict[str, Any]:
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def generation_inputs(
    processor,
    frames,
    qa_items: Sequence[Mapping[str, Any]],
    *,
    timestamps=None,
    max_side: int | None = None,
) -> dict[str, torch.Tensor]:
    """Left-padded prompts for several questions about one clip, ready for `generate`."""
    return encode_video_prompt(
        processor,
        frames,
        [prompt(processor, qa) for qa in qa_items],
        timestamps,
        max_side,
        padding=True,
        padding_side="left",
    )


@torch.inference_mode()
def generate_answers(
    student,
    processor,
    frames,
    qa_items: Sequence[Mapping[str, Any]],
    *,
    timestamps=None,
    max_side: int | None = None,
    max_new_tokens: int = 16,
) -> list[str]:
    """Greedy answers of the plain student (no GeoVR token or head: zero overhead)."""
    adapter_for(student)  # refuses an unknown family early
    inputs = to_device(
        generation_inputs(processor, frames, qa_items, timestamps=timestamps, max_side=max_side),
        student.device,
    )
    out = student.generate(
        **inputs,
        max_new_tokens=max_new_tokens,
        do_sample=False,
        pad_token_id=processor.tokenizer.pad_token_id,
    )
    return processor.batch_decode(out[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
