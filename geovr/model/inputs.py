"""A clip's frames + one QA item (+ its teacher targets) -> student inputs, through the
family's real processor.

- Frames are resized once here (bilinear, antialiased) so that both sides are multiples of
  patch * merge (optionally capped by `max_side`), then every frame is repeated x2: one temporal
  grid (temporal patch 2) is exactly one real frame, lined up with one teacher frame. The
  processor is called with `do_resize=False, do_sample_frames=False`, so the token grid does
  not depend on the number of frames and is the same for training, probes and generation.
- Timestamps: Qwen3-VL writes `<t seconds>` before each frame from the video metadata (each
  real frame's time is given for both copies, so the text shows the real time); Qwen2.5-VL's
  `second_per_grid_ts` is set to the real interval between frames.
- Prompt: the processor's chat template with one user turn `[video, question]`; the question
  is VSI-Bench's official text (geovr/model/prompt.py: pre-prompt, question, options and
  post-prompt). Training appends
  `answer + <|im_end|>` as the only labelled tokens.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from transformers.video_utils import VideoMetadata

from geovr.model.adapters import adapter_for
from geovr.model.prompt import vsi_question_text
from geovr.model.tokens import IGNORE

TARGET_PREFIX = "target_"

DEFAULT_FPS = 2.0  # the paper samples frames at 2 fps


def prompt(processor, qa: Mapping[str, Any], with_video: bool = True) -> str:
    """The chat-template prompt (generation prompt included) for one VSI-schema QA item;
    `with_video=False`: the question alone (VSI-Bench's vision-disabled baseline)."""
    text = vsi_question_text(str(qa["question"]), qa.get("options"))
    video = [{"type": "video"}] if with_video else []
    messages = [{"role": "user", "content": [*video, {"type": "text", "text": text}]}]
    return processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


def resize_factor(processor) -> int:
    video = processor.video_processor
    return int(video.patch_size) * int(video.merge_size)


def model_frame_size(height: int, width: int, factor: int, max_side: int | None = None) -> tuple[int, int]:
    """(H', W') the student sees: sides rounded to multiples of `factor`, longest at most `max_side`."""
    scale = min(1.0, max_side / max(height, width)) if max_side else 1.0
    return tuple(max(factor, round(s * scale / factor) * factor) for s in (height, width))


def prepare_frames(frames: np.ndarray | torch.Tensor, factor: int, max_side: int | None = None) -> np.ndarray:
    """[F,H,W,3] uint8 -> [2F,H',W',3] uint8: sides rounded to multiples of `factor` (longest
    side at most `max_side`), each frame twice."""
    video = torch.as_tensor(np.asarray(frames))
    if video.ndim != 4 or video.shape[-1] != 3 or video.dtype != torch.uint8:
        raise ValueError(f"frames must be [F,H,W,3] uint8, got {tuple(video.shape)} {video.dtype}")
    height, width = video.shape[1:3]
    size = model_frame_size(height, width, factor, max_side)
    if size != (height, width):
        x = video.permute(0, 3, 1, 2).float()
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
        video = x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1)
    return video.repeat_interleave(2, dim=0).contiguous().numpy()


def _metadata(n_frames: int, timestamps: Sequence[float] | None) -> tuple[VideoMetadata, float]:
    times = [float(t) for t in timestamps] if timestamps is not None else [i / DEFAULT_FPS for i in range(n_frames)]
    if len(times) != n_frames:
        raise ValueError(f"{len(times)} timestamps for {n_frames} frames")
    interval = (times[-1] - times[0]) / (n_frames - 1) if n_frames > 1 else 1 / DEFAULT_FPS
    doubled = [t for t in times for _ in range(2)]
    return VideoMetadata(total_num_frames=2 * n_frames, fps=1.0, frames_indices=doubled), interval


def encode_video_prompt(processor, frames, texts: Sequence[str], timestamps=None, max_side: int | None = None,
                        **kwargs) -> dict[str, torch.Tensor]:
    """Processor outputs for len(texts) prompts, each over the same clip."""
    video = prepare_frames(frames, resize_factor(processor), max_side)
    metadata, interval = _metadata(len(video) // 2, timestamps)
    enc = processor(text=list(texts), videos=[video] * len(texts), video_metadata=[metadata] * len(texts),
                    do_sample_frames=False, do_resize=False, return_tensors="pt", **kwargs)
    out = dict(enc)
    if "second_per_grid_ts" in out:
        out["second_per_grid_ts"] = torch.full((len(texts),), interval, dtype=torch.float32)
    return out


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
        "target_pose_valid": torch.full((pose.shape[0],), bool(np.asarray(get("pose_valid", True)).reshape(-1)[0])),
        "target_depth": torch.as_tensor(np.asarray(get("depth")), dtype=torch.float32),
        "target_metric_scale": torch.as_tensor(np.asarray(get("metric_scale"), dtype=np.float32).reshape(1)),
        "target_scale_valid": torch.tensor([bool(np.asarray(get("scale_valid", True)).reshape(-1)[0])]),
    }
    for i, name in enumerate(names):
        out[f"{TARGET_PREFIX}feat_{i}"] = torch.as_tensor(np.asarray(features[name]))
    return out


def make_example(processor, frames, qa: Mapping[str, Any], targets: Any = None, *, timestamps=None,
                 max_side: int | None = None, layers: Sequence[str] | None = None,
                 with_answer: bool = True) -> dict[str, torch.Tensor]:
    """One training sample (unpadded tensors): the processor's outputs for the prompt, the
    answer + `<|im_end|>` appended as the only labelled tokens, and `target_*` tensors of the
    teacher targets (`layers`: feature layer order, default the targets' own order)."""
    enc = encode_video_prompt(processor, frames, [prompt(processor, qa)], timestamps, max_side)
    ids, types = enc["input_ids"][0], enc["mm_token_type_ids"][0]
    labels = torch.full_like(ids, IGNORE)
    if with_answer and qa.get("ground_truth") is not None:
        tok = processor.tokenizer
        answer = torch.tensor(tok(str(qa["ground_truth"]) + tok.eos_token, add_special_tokens=False)["input_ids"])
        ids, labels, types = torch.cat([ids, answer]), torch.cat([labels, answer]), torch.cat([types, torch.zeros_like(answer)])
    example = {"input_ids": ids, "labels": labels, "mm_token_type_ids": types,
               "pixel_values_videos": enc["pixel_values_videos"], "video_grid_thw": enc["video_grid_thw"]}
    if "second_per_grid_ts" in enc:
        example["second_per_grid_ts"] = enc["second_per_grid_ts"]
    if targets is not None:
        example.update(targets_tensors(targets, layers))
        n_frames = int(enc["video_grid_thw"][0, 0])
        if example["target_pose_enc"].shape[0] != n_frames:
            raise ValueError(f"targets have {example['target_pose_enc'].shape[0]} frames, the clip {n_frames}")
    return example


def collate(examples: Sequence[Mapping[str, Any]], pad_token_id: int) -> dict[str, torch.Tensor]:
    """A flat dict of tensors (`model(**batch)` works): right-padded `make_example` outputs, and
    the `target_*` tensors concatenated over samples (frames: N = sum F; clips: B)."""
    seq = max(len(e["input_ids"]) for e in examples)
    batch: dict[str, Any] = {}
    for key, fill in (("input_ids", pad_token_id), ("labels", IGNORE), ("mm_token_type_ids", 0), ("attention_mask", 0)):
        rows = []
        for e in examples:
            row = e["input_ids"].new_ones(len(e["input_ids"])) if key == "attention_mask" else e[key]
            rows.append(F.pad(row, (0, seq - len(row)), value=fill))
        batch[key] = torch.stack(rows)
    batch["pixel_values_videos"] = torch.cat([e["pixel_values_videos"] for e in examples])
    batch["video_grid_thw"] = torch.cat([e["video_grid_thw"] for e in examples])
    if "second_per_grid_ts" in examples[0]:
        batch["second_per_grid_ts"] = torch.cat([e["second_per_grid_ts"] for e in examples])
    keys = [sorted(k for k in e if k.startswith(TARGET_PREFIX)) for e in examples]
    if any(k != keys[0] for k in keys):
        raise ValueError("samples of the batch have different teacher targets (some have none, or other layers)")
    for key in keys[0]:
        shapes = {tuple(e[key].shape[1:]) for e in examples}
        if len(shapes) > 1:
            raise ValueError(f"{key} sizes differ within the batch: {sorted(shapes)}")
        batch[key] = torch.cat([e[key] for e in examples])
    return batch


def to_device(batch: Mapping[str, Any], device: torch.device | str) -> dict[str, Any]:
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def generation_inputs(processor, frames, qa_items: Sequence[Mapping[str, Any]], *, timestamps=None,
                      max_side: int | None = None) -> dict[str, torch.Tensor]:
    """Left-padded prompts for several questions about one clip, ready for `generate`."""
    return encode_video_prompt(processor, frames, [prompt(processor, qa) for qa in qa_items], timestamps,
                               max_side, padding=True, padding_side="left")


@torch.inference_mode()
def generate_answers(student, processor, frames, qa_items: Sequence[Mapping[str, Any]], *, timestamps=None,
                     max_side: int | None = None, max_new_tokens: int = 16) -> list[str]:
    """Greedy answers of the plain student (no GeoVR token or head: zero overhead)."""
    adapter_for(student)  # refuses an unknown family early
    inputs = to_device(generation_inputs(processor, frames, qa_items, timestamps=timestamps, max_side=max_side),
                       student.device)
    out = student.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False,
                           pad_token_id=processor.tokenizer.pad_token_id)
    return processor.batch_decode(out[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
