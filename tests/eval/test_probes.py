"""Probe aggregation over clips (geovr/eval/probes.py) against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from geovr.eval.probes import ClipProbe, aggregate
from geovr.geometry.pose import quat_from_rotmat


def _poses(n: int, step_deg: float) -> np.ndarray:
    """Pose encodings of a camera turning about y by step_deg per frame while moving along x."""
    out = []
    for i in range(n):
        a = np.deg2rad(step_deg * i)
        rot = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
        out.append(
            np.concatenate([[0.3 * i, 0.0, 0.1 * i], quat_from_rotmat(rot[None])[0], [1.0, 1.0]])
        )
    return np.array(out)


def _probe(depth_pred, depth_target, pose_pred, pose_target, **kw) -> ClipProbe:
    return ClipProbe(
        "c",
        depth_pred=depth_pred,
        depth_target=depth_target,
        pose_pred=pose_pred,
        pose_target=pose_target,
        **kw,
    )


def test_perfect_predictions_score_perfectly():
    depth = np.random.default_rng(0).uniform(0.5, 3.0, (3, 8, 8)).astype(np.float32)
    poses = _poses(4, 10.0)
    metrics = aggregate(
        [
            _probe(
                depth,
                depth,
                poses,
                poses,
                scale_pred=2.0,
                scale_target=2.0,
                features_pred={"4": np.ones((3, 2, 2, 5))},
                features_target={"4": np.ones((3, 2, 2, 5))},
            )
        ]
    )
    assert (
        metrics["depth_absrel"] == pytest.approx(0.0, abs=1e-6) and metrics["depth_delta1"] == 1.0
    )
    assert (
        metrics["pose_auc30"] == pytest.approx(1.0)
        and metrics["pose_rra5"] == 1.0
        and metrics["pose_rta5"] == 1.0
    )
    assert metrics["scale_rel_err"] == 0.0 and metrics["feat_cos_4"] == pytest.approx(1.0)


def test_depth_is_judged_up_to_one_scale_per_clip_and_averaged_over_clips():
    target = np.full((2, 4, 4), 2.0, np.float32)
    off = target.copy()
    off[:, :2] = 3.0  # half the pixels 50% too far: median alignment keeps scale 1 or 1.5
    poses = _poses(2, 5.0)
    scaled = aggregate([_probe(3.0 * target, target, poses, poses)])
    assert scaled["depth_absrel"] == pytest.approx(0.0, abs=1e-6)  # scale invariance
    two = aggregate([_probe(target, target, poses, poses), _probe(off, target, poses, poses)])
    one_off = aggregate([_probe(off, target, poses, poses)])
    assert two["depth_absrel"] == pytest.approx(one_off["depth_absrel"] / 2)


def test_pose_errors_pool_frame_pairs_over_clips_and_notice_frame_order():
    target = _poses(4, 20.0)
    good = _probe(None, np.zeros((4, 2, 2)), target, target)
    swapped = _probe(None, np.zeros((4, 2, 2)), target[[1, 0, 2, 3]], target)
    alone = aggregate([swapped])
    pooled = aggregate([good, swapped])
    assert alone["pose_rra5"] < 1.0  # a frame permutation is a pose error
    assert pooled["pose_rra5"] == pytest.approx((1.0 + alone["pose_rra5"]) / 2)  # 6 pairs each
    assert "depth_absrel" not in pooled  # no depth head -> absent, not zero


def test_invalid_targets_are_skipped_and_missing_heads_give_no_key():
    poses = _poses(3, 10.0)
    masked = aggregate(
        [
            _probe(
                None,
                np.zeros((3, 2, 2)),
                poses[::-1],
                poses,
                pose_valid=False,
                scale_pred=5.0,
                scale_target=1.0,
                scale_valid=False,
            )
        ]
    )
    assert masked == {}
    assert aggregate([ClipProbe("c")]) == {}


def test_ground_truth_scale_is_the_least_squares_fit_of_gt_to_teacher_depth():
    from geovr.eval.probing import ground_truth_scale

    teacher = np.array([[[1.0, 2.0], [3.0, 0.0]]])
    gt = np.array([[[2.0, 4.0], [0.0, 9.0]]])  # no gt at the third pixel, no teacher at the fourth
    # valid pixels 1 and 2: <m, d> / <d, d> = (2 + 8) / (1 + 4) = 2
    assert ground_truth_scale(gt, teacher) == pytest.approx(2.0)
    assert ground_truth_scale(np.zeros_like(gt), teacher) is None


def test_clips_with_ground_truth_are_scored_against_it_not_the_teacher():
    from geovr.eval.geometry import to_extrinsics
    from geovr.eval.probing import _against_ground_truth

    rng = np.random.default_rng(4)
    depth = rng.uniform(0.5, 3.0, (4, 8, 8))
    poses = _poses(4, 10.0)
    # the teacher is off (depth halved at one pixel row, frames' poses reversed), the head exact
    teacher_depth = depth.copy()
    teacher_depth[:, 0] *= 0.5
    probe = _probe(depth, teacher_depth, poses, poses[::-1], scale_pred=1.0, scale_target=5.0)
    teacher_scored = aggregate([probe])
    assert teacher_scored["depth_absrel"] > 0.01 and teacher_scored["pose_rra5"] < 1.0
    gt = {"depth": depth.astype(np.float32), "extrinsics": to_extrinsics(poses)}
    scored = aggregate([_against_ground_truth(probe, gt, depth)])
    assert scored["depth_absrel"] == pytest.approx(0.0, abs=1e-6)
    assert scored["pose_rra5"] == 1.0 and scored["pose_auc3"] == pytest.approx(1.0)
    assert scored["scale_rel_err"] == pytest.approx(0.0, abs=1e-6)  # gt = 1 x the teacher depth
