"""The real Depth Anything architecture (random weights, from disk) end to end.

Covers geovr/teachers/hf_depth.py.
"""

import shutil

import numpy as np
import pytest
import torch
from transformers import DepthAnythingForDepthEstimation

from geovr.errors import GeoVRError
from geovr.teachers.base import GroundTruth, build_teacher, teacher_hash
from geovr.teachers.distill import distill
from geovr.teachers.oracle import OracleTeacher
from geovr.teachers.store import TargetStore
from geovr.teachers.torch_ops import frames_to_tensor, normalize_imagenet

from .synth import make_clip


@pytest.fixture(scope="module")
def teacher(tiny_depth_anything):
    return build_teacher(
        "depth-anything", weights=str(tiny_depth_anything), input_size=112, batch_size=3
    )


@pytest.fixture(scope="module")
def clip():
    return make_clip(11, frames=4, hw=(48, 64))


def gt_of(clip):
    return GroundTruth(clip["depth"], clip["intrinsics"], clip["extrinsics"])


def test_layers_map_vggt_4_11_17_23_onto_the_backbone_depth(teacher):
    # the tiny backbone has 4 blocks (the formula itself: tests/model/test_config.py)
    assert teacher.layers == ("1", "2", "3", "4")


def test_targets_with_ground_truth(teacher, clip):
    with torch.inference_mode():
        t = teacher.targets(clip["frames"], clip["intrinsics"], gt_of(clip))
    assert t.problem() is None
    assert (
        t.pose_enc.shape == (4, 9) and t.depth.shape == (4, 48, 64) and t.depth.dtype == np.float32
    )
    # 48x64 at longest side 112 -> 84x112 (multiples of 28) -> 6x8 patches -> 3x4 after 2x2 pooling
    assert {k: (v.shape, v.dtype) for k, v in t.features.items()} == {
        name: ((4, 3, 4, 32), np.float16) for name in ("1", "2", "3", "4")
    }
    oracle = OracleTeacher().targets(clip["frames"], gt=gt_of(clip))
    np.testing.assert_allclose(t.pose_enc, oracle.pose_enc, atol=1e-6)  # poses composed from GT
    assert t.pose_valid and t.scale_valid and t.metric_scale > 0


def test_features_are_the_backbone_patch_tokens_pooled(teacher, clip, tiny_depth_anything):
    with torch.inference_mode():
        t = teacher.targets(clip["frames"], clip["intrinsics"], gt_of(clip))
        model = DepthAnythingForDepthEstimation.from_pretrained(tiny_depth_anything).eval()
        x = normalize_imagenet(frames_to_tensor(clip["frames"], (84, 112), "cpu"))
        hidden = model(pixel_values=x, output_hidden_states=True).hidden_states
    for block in (1, 2, 3, 4):
        grid = hidden[block][:, 1:].reshape(4, 6, 8, 32)  # drop CLS, row-major patch grid
        pooled = grid.reshape(4, 3, 2, 4, 2, 32).mean(dim=(2, 4)).numpy()
        np.testing.assert_allclose(
            t.features[str(block)].astype(np.float32), pooled, rtol=2e-3, atol=2e-3
        )


def test_without_ground_truth_pose_and_scale_are_masked(teacher, clip):
    with torch.inference_mode():
        t = teacher.targets(clip["frames"], clip["intrinsics"])
    assert not t.pose_valid and not t.scale_valid
    np.testing.assert_allclose(t.pose_enc[:, :7], np.tile([0, 0, 0, 0, 0, 0, 1], (4, 1)))
    assert t.problem() is None


def test_the_model_runs_in_inference_mode_on_the_resolved_device(tiny_depth_anything, clip):
    teacher = build_teacher(
        "depth-anything", weights=str(tiny_depth_anything), input_size=56, device="auto"
    )
    assert teacher.device == "cpu"  # no GPU here
    modes = []
    teacher.model.register_forward_hook(lambda *_: modes.append(torch.is_inference_mode_enabled()))
    teacher.targets(clip["frames"], clip["intrinsics"], gt_of(clip))
    assert modes and all(modes)


def test_distill_cache_round_trip(teacher, clipset, tmp_path):
    summary = distill(
        str(clipset), teacher, str(tmp_path / "targets"), clips_per_shard=2, progress=False
    )
    assert (summary["computed"], summary["quarantined"]) == (5, 0)
    assert summary["feature_cache_ratio"] == 0.125  # fp16 (1/2) x 2x2 pooling (1/4)
    store = TargetStore(str(tmp_path / "targets"))
    assert store.layers == teacher.layers and store.meta["feature_shapes"]["1"] == [3, 4, 32]
    clip = make_clip(4)  # c4 has no GT in the clip set
    with torch.inference_mode():
        direct = teacher.targets(clip["frames"])
    cached = store.get("c4")
    assert not cached.pose_valid
    np.testing.assert_array_equal(cached.depth, direct.depth)
    for name, feat in direct.features.items():
        np.testing.assert_array_equal(cached.features[name], feat)
    again = distill(str(clipset), teacher, str(tmp_path / "targets"), progress=False)
    assert (again["computed"], again["reused"]) == (0, 5)


def test_weights_identity_is_content_not_path(teacher, tiny_depth_anything, tmp_path):
    copy = shutil.copytree(tiny_depth_anything, tmp_path / "elsewhere")
    other = build_teacher("depth-anything", weights=str(copy), input_size=112)
    assert teacher_hash(other) == teacher_hash(teacher)


def test_missing_weights_give_a_clear_error(tmp_path):
    with pytest.raises(GeoVRError, match="cannot load Depth Anything weights"):
        build_teacher("depth-anything", weights=str(tmp_path / "nowhere"))
