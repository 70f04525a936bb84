"""The oracle teacher on exact synthetic geometry equals the ground truth (teachers/oracle.py)."""

import numpy as np
import pytest

from geovr.geometry.pose import decode_pose
from geovr.teachers.base import ClipRejected, GroundTruth, Targets, build_teacher, teacher_hash

from .synth import make_clip


@pytest.fixture(scope="module")
def clip():
    return make_clip(7, frames=5)


@pytest.fixture(scope="module")
def targets(clip):
    gt = GroundTruth(clip["depth"], clip["intrinsics"], clip["extrinsics"])
    return build_teacher("oracle").targets(clip["frames"], clip["intrinsics"], gt)


def homogeneous(extrinsics):
    out = np.tile(np.eye(4), (len(extrinsics), 1, 1))
    out[:, :3] = extrinsics
    return out


def test_normalised_depth_times_scale_is_the_metric_depth(clip, targets):
    valid = clip["depth"] > 0
    assert targets.depth.dtype == np.float32 and targets.depth.shape == clip["depth"].shape
    np.testing.assert_allclose(
        targets.depth * targets.metric_scale, clip["depth"], rtol=1e-5, atol=1e-6
    )
    assert (targets.depth[~valid] == 0).all() and (~valid).any()
    np.testing.assert_array_equal(targets.depth_conf, valid.astype(np.float16))
    assert targets.scale_valid and targets.pose_valid


def test_decoded_pose_is_the_relative_ground_truth(clip, targets):
    world_from_first = np.linalg.inv(homogeneous(clip["extrinsics"].astype(np.float64))[0])
    expected = (homogeneous(clip["extrinsics"].astype(np.float64)) @ world_from_first)[:, :3]
    expected[:, :, 3] /= targets.metric_scale
    extrinsics, intrinsics = decode_pose(targets.pose_enc, clip["depth"].shape[1:])
    np.testing.assert_allclose(extrinsics, expected, atol=2e-6)
    np.testing.assert_allclose(intrinsics, clip["intrinsics"], rtol=1e-5)


def test_features_are_four_deterministic_fp16_layers(clip, targets):
    assert list(targets.features) == ["4", "11", "17", "23"]
    for feat in targets.features.values():
        assert feat.dtype == np.float16 and feat.shape == (5, 2, 2, 32)
        assert np.isfinite(feat).all()
    again = build_teacher("oracle").targets(
        clip["frames"], gt=GroundTruth(clip["depth"], clip["intrinsics"], clip["extrinsics"])
    )
    for name in targets.features:
        np.testing.assert_array_equal(again.features[name], targets.features[name])
    assert not np.array_equal(targets.features["4"], targets.features["23"])  # scales differ


def test_record_round_trip(targets):
    back = Targets.from_record(targets.to_record())
    assert back.metric_scale == pytest.approx(targets.metric_scale, rel=1e-7)
    assert list(back.features) == list(targets.features)
    np.testing.assert_array_equal(back.depth, targets.depth)


def test_hash_follows_the_config():
    assert teacher_hash(build_teacher("oracle")) == teacher_hash(
        build_teacher("oracle", batch_size=3)
    )
    assert teacher_hash(build_teacher("oracle")) != teacher_hash(build_teacher("oracle", n_freq=2))


def test_clip_without_ground_truth_is_rejected(clip):
    with pytest.raises(ClipRejected, match="ground-truth"):
        build_teacher("oracle").targets(clip["frames"])
