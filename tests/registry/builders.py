"""Tiny inputs for the registry tests, built offline in seconds: a random-init Qwen3-VL
student with its processor (tokenizer built with the `tokenizers` library), the GeoVR files
of docs/contracts.md section 4, and evaluation `metrics.json` files (section 5)."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import (
    PreTrainedTokenizerFast,
    Qwen3VLConfig,
    Qwen3VLForConditionalGeneration,
    Qwen3VLProcessor,
)
from transformers.models.qwen2_vl.image_processing_qwen2_vl import Qwen2VLImageProcessor
from transformers.models.qwen3_vl.video_processing_qwen3_vl import Qwen3VLVideoProcessor

from geovr.artifacts import checkpoint_fingerprint, make_meta, write_meta
from geovr.model.tiny import CHAT_TEMPLATE

SPECIAL = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
]
PATCH, MERGE = 16, 2


def _tokenizer() -> PreTrainedTokenizerFast:
    # One token per printable character: no download, no training, stable ids.
    vocab = {token: i for i, token in enumerate(SPECIAL + [chr(c) for c in range(32, 127)])}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<|endoftext|>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Split("", "isolated")
    tokenizer.decoder = decoders.Fuse()
    tokenizer.add_special_tokens(SPECIAL)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, eos_token="<|im_end|>", pad_token="<|endoftext|>"
    )


def _config(tokenizer: PreTrainedTokenizerFast) -> Qwen3VLConfig:
    ids = tokenizer.convert_tokens_to_ids
    return Qwen3VLConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "num_key_value_heads": 1,
            "head_dim": 16,
            "max_position_embeddings": 512,
            "rope_scaling": {
                "rope_type": "default",
                "mrope_section": [2, 3, 3],
                "mrope_interleaved": True,
            },
        },
        vision_config={
            "depth": 1,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_heads": 2,
            "out_hidden_size": 32,
            "patch_size": PATCH,
            "spatial_merge_size": MERGE,
            "temporal_patch_size": 2,
            "num_position_embeddings": 64,
            "deepstack_visual_indexes": [0],
        },
        image_token_id=ids("<|image_pad|>"),
        video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"),
        vision_end_token_id=ids("<|vision_end|>"),
    )


def build_checkpoint(out: Path, seed: int = 0, **meta_extra: Any) -> Path:
    """A complete tiny checkpoint directory at `out` (docs/contracts.md section 4)."""
    torch.manual_seed(seed)
    tokenizer = _tokenizer()
    model = Qwen3VLForConditionalGeneration(_config(tokenizer))
    processor = Qwen3VLProcessor(
        image_processor=Qwen2VLImageProcessor(patch_size=PATCH, merge_size=MERGE),
        video_processor=Qwen3VLVideoProcessor(patch_size=PATCH, merge_size=MERGE),
        tokenizer=tokenizer,
        chat_template=CHAT_TEMPLATE,  # the served prompt is the chat template's, as in training
    )
    model.save_pretrained(out)
    processor.save_pretrained(out)
    save_file({"depth.weight": torch.randn(4, 32)}, str(out / "geovr_heads.safetensors"))
    config = {"student": "tiny-qwen3-vl", "seed": seed, "objectives": ["lm", "depth"]}
    (out / "geovr_config.json").write_text(json.dumps(config))
    meta = {
        "teacher": "oracle",
        "student_base": "tiny-qwen3-vl",
        "data_version": {"dvc_md5": "0123abcd.dir", "git_rev": "feedbeef"},
    } | meta_extra
    write_meta(
        out,
        make_meta("checkpoint", "train", config, {"clips": "c" * 16, "targets": "t" * 16}, **meta),
    )
    return out


@functools.cache
def _fingerprint(checkpoint: Path) -> str:
    return checkpoint_fingerprint(checkpoint)


def write_metrics(
    path: Path, overall: float, eval_set: str | None = "evalset-a", *, of: Path, **probes: float
) -> Path:
    """A metrics.json as `geovr evaluate` writes it for the checkpoint `of`: VSI overall +
    per-task, the four probe metrics (overridable) and the checkpoint's fingerprint."""
    values = {
        "depth_absrel": 0.20,
        "depth_delta1": 0.70,
        "pose_auc30": 0.50,
        "scale_rel_err": 0.30,
    } | probes
    tree: dict[str, Any] = {
        "vsi": {
            "overall": overall,
            "per_task": {"object_counting": overall + 1.0, "route_planning": overall - 1.0},
        },
        "probes": values,
        "n_questions": 42,
        "checkpoint_sha256": _fingerprint(of),
    }
    if eval_set is not None:
        tree["eval_set"] = eval_set
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(tree))
    return path
