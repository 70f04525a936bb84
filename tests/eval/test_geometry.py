"""Geometry probe metrics: hand-computed values, the invariances the protocol promises, and
perturbations that must break them.

    .venv/bin/pytest -q tests/eval/test_geometry.py
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geovr.eval import geometry as g
from geovr.geometry.camera import intrinsics_from_fov
from geovr.geometry.pose import encode_pose, quat_from_rotmat, rotmat_from_quat


def rot_y(degrees: float) -> np.ndarray:
    a = np.radians(degrees)
    return np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])


def extrinsics(rotations, translations) -> np.ndarray:
    return np.stack(
        [
            np.concatenate([r, np.reshape(t, (3, 1))], 1)
            for r, t in zip(rotations, translations, strict=True)
        ]
    )


def random_cameras(rng: np.random.Generator, frames: int = 6) -> np.ndarray:
    quats = rng.normal(size=(frames, 4))
    return extrinsics(rotmat_from_quat(quats), rng.normal(size=(frames, 3)))


def similarity(ext: np.ndarray, rot: np.ndarray, shift: np.ndarray, scale: float) -> np.ndarray:
    """The same cameras in a world moved by X' = scale (rot X + shift).

    R' = R rot^T, t' = scale (t - R rot^T shift).
    """
    new_rot = ext[:, :, :3] @ rot.T
    new_t = scale * (ext[:, :, 3] - new_rot @ shift)
    return np.concatenate([new_rot, new_t[:, :, None]], -1)


# ---- depth ----------------------------------------------------------------------------------


def test_depth_hand_values_without_alignment():
    target = np.array([[[1.0, 2.0], [4.0, 0.0]]])  # 0: no ground truth
    pred = np.array([[[1.0, 2.5], [3.0, 9.0]]])
    m = g.depth_metrics(pred, target, align="none")
    assert m["depth_absrel"] == pytest.approx((0 + 0.25 + 0.25) / 3)
    assert m["depth_delta1"] == pytest.approx(1 / 3)  # ratios 1, 1.25 (not < 1.25), 4/3
    assert m["depth_scale"] == 1.0


def test_depth_median_and_least_squares_scales():
    target, pred = np.array([[[1.0, 2.0, 3.0]]]), np.array([[[1.0, 4.0, 10.0]]])
    m = g.depth_metrics(pred, target)  # scale median 2 / median 4 = 0.5 -> 0.5, 2, 5
    assert m["depth_scale"] == pytest.approx(0.5)
    assert m["depth_absrel"] == pytest.approx((0.5 + 0 + 2 / 3) / 3)
    assert m["depth_delta1"] == pytest.approx(1 / 3)
    assert g.depth_metrics(pred, target, align="lsq")["depth_scale"] == pytest.approx(39 / 117)


def test_perfect_depth_and_non_positive_predictions():
    target = np.random.default_rng(0).uniform(0.5, 5, size=(3, 8, 8))
    assert g.depth_metrics(target * 7.0, target) == pytest.approx(
        {"depth_absrel": 0.0, "depth_delta1": 1.0, "depth_scale": 1 / 7}
    )
    broken = target.copy()
    broken[0, 0, :4] = -1.0  # negative depth must not pass delta1
    assert g.depth_metrics(broken, target, align="none")["depth_delta1"] == pytest.approx(
        1 - 4 / 192
    )


@settings(max_examples=30, deadline=None)
@given(st.floats(1e-3, 1e3), st.sampled_from(["median", "lsq"]), st.integers(0, 2**32 - 1))
def test_depth_metrics_invariant_to_global_prediction_scale(scale, align, seed):
    rng = np.random.default_rng(seed)
    target = rng.uniform(0.5, 10, size=(2, 6, 7))
    pred = target * rng.uniform(0.6, 1.6, size=target.shape)
    plain, scaled = (
        g.depth_metrics(pred, target, align),
        g.depth_metrics(scale * pred, target, align),
    )
    assert scaled["depth_absrel"] == pytest.approx(plain["depth_absrel"], rel=1e-9)
    assert scaled["depth_delta1"] == plain["depth_delta1"]


def test_depth_noise_breaks_perfect_scores_and_mask_restricts():
    rng = np.random.default_rng(1)
    target = rng.uniform(1, 4, size=(2, 16, 16))
    noisy = g.depth_metrics(target * np.exp(rng.normal(0, 0.4, target.shape)), target)
    assert noisy["depth_absrel"] > 0.1 and noisy["depth_delta1"] < 0.9
    mask = np.zeros_like(target, bool)
    mask[0] = True
    pred = target.copy()
    pred[1] *= 3  # wrong only outside the mask
    assert g.depth_metrics(pred, target, align="none", mask=mask)["depth_absrel"] == 0.0


def test_depth_errors():
    with pytest.raises(ValueError, match="shapes differ"):
        g.depth_metrics(np.ones((1, 2, 2)), np.ones((1, 2, 3)))
    with pytest.raises(ValueError, match="no valid depth"):
        g.depth_metrics(np.ones((1, 2, 2)), np.zeros((1, 2, 2)))
    with pytest.raises(ValueError, match="unknown alignment"):
        g.depth_metrics(np.ones((1, 2, 2)), np.ones((1, 2, 2)), align="mean")


# ---- pose -----------------------------------------------------------------------------------


def test_pose_hand_values():
    target = extrinsics([np.eye(3), np.eye(3)], [[0, 0, 0], [-1, 0, 0]])
    cases = [  # (pred camera 1 rotation, translation) -> (rotation error, translation error)
        # E_0 E_1^-1 = E_1^-1: translation -R^T t, so the target's [1, 0, 0] meets
        # rot_y(10)^T [1, 0, 0], 10 degrees off (E_1 E_0^-1 would compare t itself: 0)
        (rot_y(10), [-1, 0, 0], 10.0, 10.0),
        (np.eye(3), [-1, 0, -1], 0.0, 45.0),
        (np.eye(3), [1, 0, 0], 0.0, 0.0),  # opposite direction folds to 0: min(180, 0)
        (rot_y(170), [0, 3, 0], 170.0, 90.0),
    ]
    for rot, t, rot_err, trans_err in cases:
        pred = extrinsics([np.eye(3), rot], [[0, 0, 0], t])
        r, d = g.relative_pose_errors(pred, target)
        assert (r[0], d[0]) == (
            pytest.approx(rot_err, abs=1e-9),
            pytest.approx(trans_err, abs=1e-9),
        )
    pred = extrinsics([np.eye(3), rot_y(10)], [[0, 0, 0], [-1, 0, 0]])
    assert g.pose_metrics(pred, target) == pytest.approx(
        {
            "pose_rra5": 0.0,
            "pose_rta5": 0.0,
            "pose_rra15": 1.0,
            "pose_rta15": 1.0,
            "pose_rra30": 1.0,
            "pose_rta30": 1.0,
            "pose_auc30": 2 / 3,
            "pose_auc3": 0.0,
        }
    )  # worst 10: bins 10..29 of 0..29; nothing under 3


def test_auc_hand_value_and_thresholds_are_strict():
    # worst errors 0.5 (bin 0), 10.2 (bin 10), 40 (outside): (10 * 1/3 + 20 * 2/3) / 30 = 5/9
    assert g.pose_auc(np.array([0.5, 10.2, 40.0]), np.zeros(3)) == pytest.approx(5 / 9)
    # AUC@3, bins [0,1) [1,2) [2,3]: 0.5 and 2.2 fall in, 40 not: (1/3 + 1/3 + 2/3) / 3 = 4/9
    errors = g.pose_metrics_from_errors(np.array([0.5, 2.2, 40.0]), np.zeros(3))
    assert errors["pose_auc3"] == pytest.approx(4 / 9)
    m = g.pose_metrics_from_errors(np.array([5.0, 4.99]), np.array([15.0, 30.0]))
    assert (m["pose_rra5"], m["pose_rta15"], m["pose_rta30"]) == (0.5, 0.0, 0.5)


def test_perfect_pose_from_encodings_and_extrinsics():
    ext = random_cameras(np.random.default_rng(2), 8)
    enc = encode_pose(ext, intrinsics_from_fov(60, (32, 48), 8), (32, 48))
    perfect = {key: 1.0 for key in g.pose_metrics(enc, enc)}
    assert g.pose_metrics(enc, enc) == perfect
    assert g.pose_metrics(enc, ext) == perfect  # float32 encoding vs float64 extrinsics
    homogeneous = np.concatenate([ext, np.tile([[[0, 0, 0, 1.0]]], (8, 1, 1))], 1)
    assert g.pose_metrics(homogeneous, ext) == perfect
    assert len(g.relative_pose_errors(ext, ext)[0]) == 8 * 7 // 2


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.floats(1e-2, 1e2))
def test_pose_errors_invariant_to_a_similarity_of_the_world(seed, scale):
    rng = np.random.default_rng(seed)
    target = random_cameras(rng)
    pred = extrinsics(
        rotmat_from_quat(quat_from_rotmat(target[:, :, :3]) + rng.normal(0, 0.05, (6, 4))),
        target[:, :, 3] + rng.normal(0, 0.1, (6, 3)),
    )
    moved = similarity(pred, rotmat_from_quat(rng.normal(size=4)), rng.normal(size=3) * 5, scale)
    for before, after in zip(
        g.relative_pose_errors(pred, target), g.relative_pose_errors(moved, target), strict=True
    ):
        np.testing.assert_allclose(after, before, atol=1e-6)
    assert g.pose_metrics(similarity(target, np.eye(3), np.ones(3), scale), target)[
        "pose_auc30"
    ] == pytest.approx(1.0)


def test_pose_permutation_and_noise_break_the_scores():
    rng = np.random.default_rng(3)
    target = random_cameras(rng, 8)
    shuffled = g.pose_metrics(target[rng.permutation(8)], target)
    assert shuffled["pose_rra30"] < 0.5 and shuffled["pose_auc30"] < 0.5
    noisy = extrinsics(
        rotmat_from_quat(quat_from_rotmat(target[:, :, :3]) + rng.normal(0, 0.3, (8, 4))),
        target[:, :, 3],
    )
    assert g.pose_metrics(noisy, target)["pose_rra5"] < 0.5


def test_camera_centres_and_pose_errors():
    ext = extrinsics([np.eye(3), rot_y(90)], [[-1, 0, 0], [0, 0, 2]])
    np.testing.assert_allclose(g.camera_centres(ext), [[1, 0, 0], [2, 0, 0]], atol=1e-12)
    with pytest.raises(ValueError, match=r"\[T,9\]"):
        g.to_extrinsics(np.zeros((3, 7)))
    with pytest.raises(ValueError, match=">= 2 frames"):
        g.relative_pose_errors(ext[:1], ext[:1])
    with pytest.raises(ValueError, match="no frame pairs"):
        g.pose_metrics_from_errors(np.array([]), np.array([]))


# ---- scale and features ---------------------------------------------------------------------


def test_scale_relative_error():
    assert g.scale_rel_error(3.3, 3.0) == pytest.approx(0.1)
    assert g.scale_rel_error(1.5, 3.0) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="> 0"):
        g.scale_rel_error(1.0, 0.0)


def test_feature_cosine_per_layer():
    pred = {4: np.array([[1.0, 0.0], [0.0, 2.0]]), 11: np.array([[[1.0, 1.0]]])}
    target = {4: np.array([[1.0, 1.0], [0.0, -1.0]]), 11: np.array([[[2.0, 2.0]]])}
    m = g.feature_cosine(pred, target)
    assert m == pytest.approx(
        {
            "feat_cos_4": (np.sqrt(0.5) - 1) / 2,
            "feat_cos_11": 1.0,
            "feat_cos_mean": ((np.sqrt(0.5) - 1) / 2 + 1) / 2,
        }
    )
    with pytest.raises(ValueError, match="layers differ"):
        g.feature_cosine({4: pred[4]}, target)
    with pytest.raises(ValueError, match="shapes differ"):
        g.feature_cosine({4: pred[4]}, {4: target[11]})
