"""Tiny Qwen3-VL students built from a config (random init, no download), for tests and the
embedded default; real checkpoints load with `load_student(path_or_hub_id)`.

    from geovr.model.tiny import build_tiny_student, load_student
    model = build_tiny_student(seed=0)          # ~0.36 M parameters
    model.save_pretrained("runs/tiny"); load_student("runs/tiny")
"""

from __future__ import annotations

import torch
from transformers import AutoModelForImageTextToText, Qwen3VLConfig, Qwen3VLForConditionalGeneration

# Ids of the vision special tokens in the tiny vocabulary (the real models use 151652+).
TINY_VOCAB = 512
IMAGE_TOKEN, VIDEO_TOKEN, VISION_START, VISION_END = 500, 501, 502, 503


def tiny_qwen3vl_config(hidden: int = 64, layers: int = 4) -> Qwen3VLConfig:
    """Same architecture as Qwen3-VL-2B (M-RoPE, deepstack, patch 16, merge 2, temporal
    patch 2), every width shrunk. head_dim 16 -> mrope_section sums to 8 (= head_dim / 2)."""
    return Qwen3VLConfig(
        text_config={
            "vocab_size": TINY_VOCAB, "hidden_size": hidden, "intermediate_size": 2 * hidden,
            "num_hidden_layers": layers, "num_attention_heads": 4, "num_key_value_heads": 2,
            "head_dim": 16, "max_position_embeddings": 4096,
            "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0,
                                "mrope_section": [4, 2, 2], "mrope_interleaved": True},
        },
        vision_config={
            "depth": 2, "hidden_size": 32, "intermediate_size": 64, "num_heads": 2, "patch_size": 16,
            "spatial_merge_size": 2, "temporal_patch_size": 2, "out_hidden_size": hidden,
            "num_position_embeddings": 64, "deepstack_visual_indexes": [0, 1],
        },
        image_token_id=IMAGE_TOKEN, video_token_id=VIDEO_TOKEN,
        vision_start_token_id=VISION_START, vision_end_token_id=VISION_END,
    )  # fmt: skip


def build_tiny_student(seed: int = 0, **config_kwargs) -> Qwen3VLForConditionalGeneration:
    torch.manual_seed(seed)
    return Qwen3VLForConditionalGeneration(tiny_qwen3vl_config(**config_kwargs))


def load_student(path_or_id: str, dtype: torch.dtype | None = None):
    """A real or tiny student from a local directory or a hub id, with plain transformers."""
    return AutoModelForImageTextToText.from_pretrained(path_or_id, dtype=dtype)
