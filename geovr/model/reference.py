"""Published student dimensions, for counting parameters without weights (meta device).

    counts = head_overhead(qwen3_vl_2b_config(), GeoVRConfig())   # paper head widths

Qwen3-VL-2B-Instruct: LLM hidden 2048, 28 layers, 16 heads (8 KV, head_dim 128), MLP 6144,
vocabulary 151936, tied embeddings; vision tower 24 blocks of width 1024 (16 heads, MLP
4096), patch 16, merge 2, deepstack from blocks 5/11/17, merged to 2048.
"""

from __future__ import annotations

import torch
from transformers import Qwen3VLConfig

from geovr.model.adapters import adapter_for
from geovr.model.config import GeoVRConfig
from geovr.model.geovr import GeoVRModel


def qwen3_vl_2b_config() -> Qwen3VLConfig:
    return Qwen3VLConfig(
        text_config={
            "vocab_size": 151936,
            "hidden_size": 2048,
            "intermediate_size": 6144,
            "num_hidden_layers": 28,
            "num_attention_heads": 16,
            "num_key_value_heads": 8,
            "head_dim": 128,
            "max_position_embeddings": 262144,
            "tie_word_embeddings": True,
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": 5000000.0,
                "mrope_section": [24, 20, 20],
                "mrope_interleaved": True,
            },
        },
        vision_config={
            "depth": 24,
            "hidden_size": 1024,
            "intermediate_size": 4096,
            "num_heads": 16,
            "patch_size": 16,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "out_hidden_size": 2048,
            "num_position_embeddings": 2304,
            "deepstack_visual_indexes": [5, 11, 17],
        },
        tie_word_embeddings=True,
    )


def head_overhead(student_config, geovr_config: GeoVRConfig | None = None) -> dict[str, float]:
    """Parameter counts of a student built on the meta device and of the GeoVR heads + tokens,
    and their ratio (no memory is allocated)."""
    adapter = adapter_for(student_config)
    with torch.device("meta"):
        student = adapter.model_class(student_config)
        geo = GeoVRModel(student, geovr_config or GeoVRConfig(), adapter)
    counts: dict[str, float] = dict(geo.parameter_counts())  # a tied embedding counts once
    counts["ratio"] = counts["new_total"] / counts["student"]
    return counts
