"""Fixtures: synthetic clip sets and a tiny random-weight Depth Anything saved to disk."""

from __future__ import annotations

import pytest

from .synth import make_clip, write_clipset


@pytest.fixture
def clipset(tmp_path):
    """5 clips in 3 shards (2 per shard); clip c4 has no ground truth."""
    clips = {f"c{i}": make_clip(i) for i in range(5)}
    return write_clipset(tmp_path / "clips", clips, clips_per_shard=2, no_gt=("c4",))


@pytest.fixture(scope="session")
def tiny_depth_anything(tmp_path_factory):
    """A real DepthAnythingForDepthEstimation (DINOv2 backbone, DPT head) with random weights.

    The last conv's bias is set to 1 so the random model's disparity is positive everywhere
    (a real checkpoint's is; a random ReLU head would give zeros = no depth).
    """
    import torch
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config

    backbone = Dinov2Config(
        image_size=56,
        patch_size=14,
        hidden_size=32,
        num_hidden_layers=4,
        num_attention_heads=2,
        intermediate_size=64,
        out_features=["stage1", "stage2", "stage3", "stage4"],
        reshape_hidden_states=False,
    )
    config = DepthAnythingConfig(
        backbone_config=backbone,
        reassemble_hidden_size=32,
        neck_hidden_sizes=[8, 16, 32, 32],
        fusion_hidden_size=16,
        head_hidden_size=8,
    )
    torch.manual_seed(0)
    model = DepthAnythingForDepthEstimation(config).eval()
    with torch.no_grad():
        model.head.conv3.bias.fill_(1.0)
    path = tmp_path_factory.mktemp("weights") / "tiny-depth-anything"
    model.save_pretrained(path)
    return path
