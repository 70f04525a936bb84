"""Pose encoding, quaternions, first-frame transform, scene normalisation (geometry/pose.py)."""

import numpy as np
import pytest

from geovr.geometry.pose import (
    average_point_distance,
    decode_pose,
    encode_pose,
    normalise_scene,
    quat_from_rotmat,
    relative_to_first,
    rotmat_from_quat,
)
from tests.teachers.synth import make_clip

S = np.sqrt(0.5)
RZ90 = np.array([[0.0, -1, 0], [1, 0, 0], [0, 0, 1]])  # +90 degrees about z
RX90 = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])  # +90 degrees about x


def intrinsics(fx, fy, hw, frames=1):
    k = np.array([[fx, 0, hw[1] / 2], [0, fy, hw[0] / 2], [0, 0, 1.0]])
    return np.repeat(k[None], frames, 0)


def ext(rot, t):
    return np.concatenate([np.asarray(rot, float), np.asarray(t, float)[:, None]], 1)


def test_identity_pose_and_fov_from_known_focal():
    enc = encode_pose(
        ext(np.eye(3), [0, 0, 0])[None], intrinsics(320.0, 240.0, (480, 640)), (480, 640)
    )
    # fov = 2 atan((size/2)/f): 240/240 -> 90 degrees both ways
    np.testing.assert_allclose(enc[0], [0, 0, 0, 0, 0, 0, 1, np.pi / 2, np.pi / 2], atol=1e-7)
    enc = encode_pose(
        ext(np.eye(3), [0, 0, 0])[None],
        intrinsics(100.0, 100.0, (200, 200 * np.sqrt(3))),
        (200, 346),
    )
    assert enc[0, 7] == pytest.approx(2 * np.arctan(1.0), abs=1e-6)
    assert enc[0, 8] == pytest.approx(2 * np.arctan(173 / 100), abs=1e-6)


@pytest.mark.parametrize(
    ("rot", "quat"), [(RZ90, [0, 0, S, S]), (RX90, [S, 0, 0, S]), (RZ90.T, [0, 0, -S, S])]
)
def test_ninety_degree_rotations(rot, quat):
    np.testing.assert_allclose(quat_from_rotmat(rot), quat, atol=1e-12)
    np.testing.assert_allclose(rotmat_from_quat(np.array(quat)), rot, atol=1e-12)


def test_known_translation_relative_to_first_camera():
    rel = relative_to_first(np.stack([ext(np.eye(3), [1, 0, 0]), ext(np.eye(3), [1, 2, 3])]))
    np.testing.assert_allclose(rel[0], ext(np.eye(3), [0, 0, 0]), atol=1e-12)
    np.testing.assert_allclose(rel[1], ext(np.eye(3), [0, 2, 3]), atol=1e-12)
    # first camera rotated 90 degrees about z at the world origin, second camera = world frame:
    # X_1 = X_world = R0^T X_0, so the relative rotation is R0^T and no translation
    rel = relative_to_first(np.stack([ext(RZ90, [0, 0, 0]), ext(np.eye(3), [0, 0, 5])]))
    np.testing.assert_allclose(rel[1], ext(RZ90.T, [0, 0, 5]), atol=1e-12)


def test_round_trip_random_poses():
    rng = np.random.default_rng(0)
    quats = rng.normal(size=(64, 4))
    quats /= np.linalg.norm(quats, axis=1, keepdims=True)
    quats[quats[:, 3] < 0] *= -1
    rots = rotmat_from_quat(quats)
    np.testing.assert_allclose(quat_from_rotmat(rots), quats, atol=1e-10)
    extrinsics = np.concatenate([rots, rng.normal(size=(64, 3, 1))], 2)
    k = intrinsics(50.0, 60.0, (48, 64), 64)
    ext_back, k_back = decode_pose(encode_pose(extrinsics, k, (48, 64)), (48, 64))
    np.testing.assert_allclose(ext_back, extrinsics, atol=1e-5)
    np.testing.assert_allclose(k_back, k, rtol=1e-5)


def test_half_turn_is_a_valid_rotation():
    half_turn = np.diag([1.0, -1, -1])  # 180 degrees about x: w = 0
    np.testing.assert_allclose(rotmat_from_quat(quat_from_rotmat(half_turn)), half_turn, atol=1e-12)


def test_normalised_scene_has_unit_average_point_distance_and_is_scale_free():
    clip = make_clip(3)
    scene = normalise_scene(clip["depth"], clip["intrinsics"], clip["extrinsics"])
    assert average_point_distance(
        scene.depth, clip["intrinsics"], scene.extrinsics
    ) == pytest.approx(1.0, rel=1e-6)
    np.testing.assert_allclose(scene.extrinsics[0], ext(np.eye(3), [0, 0, 0]), atol=1e-6)
    bigger = clip["extrinsics"].astype(float).copy()
    bigger[:, :, 3] *= 3.0
    scaled = normalise_scene(clip["depth"] * 3.0, clip["intrinsics"], bigger)
    assert scaled.scale == pytest.approx(3 * scene.scale, rel=1e-6)
    np.testing.assert_allclose(scaled.pose_enc, scene.pose_enc, atol=1e-5)
    np.testing.assert_allclose(scaled.depth, scene.depth, rtol=1e-5)


def test_normalisation_refuses_a_clip_without_valid_depth():
    clip = make_clip(1)
    with pytest.raises(ValueError, match="no valid depth"):
        normalise_scene(np.zeros_like(clip["depth"]), clip["intrinsics"], clip["extrinsics"])
