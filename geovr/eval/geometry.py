"""Geometry probe metrics (docs/protocol.md, "Geometry probes"): depth, camera pose, metric
scale and feature distillation, all on numpy arrays of one sequence (clip).

    from geovr.eval import geometry as g
    g.depth_metrics(pred_depth, gt_depth)      # {"depth_absrel", "depth_delta1", "depth_scale"}
    g.pose_metrics(pred_pose, gt_pose)         # {"pose_rra5", ..., "pose_auc30", "pose_auc3"}
    g.scale_rel_error(pred_scale, gt_scale)    # |s^ - s| / s
    g.feature_cosine(pred_feats, gt_feats)     # {"feat_cos_<layer>", "feat_cos_mean"}

Poses are pose encodings `[T,9]` (t xyz, quaternion xyzw, fov_h, fov_w; geovr/geometry/pose.py)
or OpenCV camera-from-world extrinsics `[T,3,4]` / `[T,4,4]`. To pool pose errors over many
clips (as VGGT/CO3D do), concatenate relative_pose_errors() outputs and call
pose_metrics_from_errors(). Key names match the probes of metrics.json (geovr/registry/gate.py).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from geovr.geometry.pose import quat_from_rotmat, rotmat_from_quat
from geovr.geometry.scale import lstsq_scale

DELTA1 = 1.25
POSE_THRESHOLDS_DEG = (5, 15, 30)
AUC_MAX_DEG = 30
AUC_MAX_DEGS = (30, 3)  # VGGT reports both: AUC@30 and the strict AUC@3


def _valid_pixels(pred: np.ndarray, target: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """Pixels with a usable ground truth (finite, > 0) and a finite prediction."""
    valid = np.isfinite(target) & (target > 0) & np.isfinite(pred)
    return valid if mask is None else valid & np.asarray(mask, dtype=bool)


def align_scale(pred: np.ndarray, target: np.ndarray, method: str = "median") -> float:
    """One scale s for the whole sequence so that s * pred matches target.

    median: median(target) / median(pred), robust to outliers (the protocol's default);
    lsq: <pred, target> / <pred, pred>, the least-squares scale; none: 1.
    """
    if method == "none":
        return 1.0
    # A degenerate prediction (median <= 0, all zeros) keeps scale 1 and scores what it is.
    if method == "median":
        denominator = np.median(pred)
        return float(np.median(target) / denominator) if denominator > 0 else 1.0
    if method == "lsq":
        fit = lstsq_scale(target, pred, np.ones(np.shape(pred), dtype=bool))
        return fit.scale if fit.n_valid else 1.0
    raise ValueError(f"unknown alignment {method!r}: use median, lsq or none")


def depth_metrics(
    pred: np.ndarray, target: np.ndarray, align: str = "median", mask: np.ndarray | None = None
) -> dict[str, float]:
    """AbsRel and delta1 of a predicted depth sequence `[T,H,W]` against the target.

    The prediction is first scaled by one factor for the whole sequence (align_scale), so
    up-to-scale predictions are judged on their shape. Valid pixels: target > 0 and finite,
    prediction finite, and `mask` where given.
    """
    pred, target = np.asarray(pred, np.float64), np.asarray(target, np.float64)
    if pred.shape != target.shape:
        raise ValueError(f"depth shapes differ: {pred.shape} vs {target.shape}")
    valid = _valid_pixels(pred, target, mask)
    if not valid.any():
        raise ValueError("no valid depth pixel")
    p, t = pred[valid], target[valid]
    scale = align_scale(p, t, align)
    p = p * scale
    # A non-positive prediction must fail delta1 (its ratio would be negative, so < 1.25):
    # NaN there, and NaN < 1.25 is False.
    positive = np.where(p > 0, p, np.nan)
    ratio = np.maximum(positive / t, t / positive)
    return {
        "depth_absrel": float(np.mean(np.abs(p - t) / t)),
        "depth_delta1": float(np.mean(ratio < DELTA1)),
        "depth_scale": scale,
    }


def to_extrinsics(poses: np.ndarray) -> np.ndarray:
    """Pose encodings `[T,9]` or extrinsics `[T,3,4]`/`[T,4,4]` -> camera-from-world `[T,3,4]`."""
    poses = np.asarray(poses, dtype=np.float64)
    if poses.ndim == 2 and poses.shape[1] == 9:
        return np.concatenate([rotmat_from_quat(poses[:, 3:7]), poses[:, :3, None]], axis=-1)
    if poses.ndim == 3 and poses.shape[1:] in ((3, 4), (4, 4)):
        return poses[:, :3, :]
    raise ValueError(
        f"poses must be [T,9] encodings or [T,3,4]/[T,4,4] extrinsics, got {poses.shape}"
    )


def camera_centres(poses: np.ndarray) -> np.ndarray:
    """Camera centres `[T,3]` in the world frame: C = -R^T t."""
    ext = to_extrinsics(poses)
    return -np.einsum("tji,tj->ti", ext[:, :, :3], ext[:, :, 3])


def _pairs_relative(ext: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """E_i E_j^-1 for every pair i<j, the VGGT evaluation's convention: R = R_i R_j^T,
    t = t_i - R t_j (the rotation error is the same either way, the translation's is not)."""
    i, j = np.triu_indices(len(ext), k=1)
    rot = ext[i, :, :3] @ np.swapaxes(ext[j, :, :3], -1, -2)
    t = ext[i, :, 3] - np.einsum("pab,pb->pa", rot, ext[j, :, 3])
    return rot, t


def _rotation_angle_deg(rot_a: np.ndarray, rot_b: np.ndarray) -> np.ndarray:
    """Angle of R_a^T R_b, via its quaternion: 2 atan2(|xyz|, |w|) is accurate at 0 and 180."""
    q = quat_from_rotmat(np.swapaxes(rot_a, -1, -2) @ rot_b)
    return np.degrees(2 * np.arctan2(np.linalg.norm(q[:, :3], axis=-1), np.abs(q[:, 3])))


def _direction_angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle between translation directions folded to [0, 90]: min(e, 180 - e).

    A (numerically) zero translation has no direction; such pairs get 90, the worst value.
    """
    norm_a, norm_b = np.linalg.norm(a, axis=-1), np.linalg.norm(b, axis=-1)
    angle = np.degrees(np.arctan2(np.linalg.norm(np.cross(a, b), axis=-1), np.sum(a * b, axis=-1)))
    angle = np.minimum(angle, 180.0 - angle)
    # "Zero" relative to the sequence's own translations: the check is scale free.
    undefined = (norm_a <= 1e-9 * norm_a.max(initial=0)) | (norm_b <= 1e-9 * norm_b.max(initial=0))
    return np.where(undefined, 90.0, angle)


def relative_pose_errors(pred: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rotation error, translation direction error) in degrees for every frame pair i<j.

    Relative poses make the errors invariant to the world frame; directions make the
    translation error invariant to the (unknown) scale.
    """
    pred_ext, target_ext = to_extrinsics(pred), to_extrinsics(target)
    if len(pred_ext) != len(target_ext) or len(pred_ext) < 2:
        raise ValueError(f"need >= 2 frames in both, got {len(pred_ext)} and {len(target_ext)}")
    pred_rot, pred_t = _pairs_relative(pred_ext)
    target_rot, target_t = _pairs_relative(target_ext)
    return _rotation_angle_deg(pred_rot, target_rot), _direction_angle_deg(pred_t, target_t)


def pose_auc(rot_err: np.ndarray, trans_err: np.ndarray, max_deg: int = AUC_MAX_DEG) -> float:
    """AUC@max_deg: mean of the cumulative histogram of max(rot, trans).

    The histogram has 1-degree bins 0..max_deg.
    """
    worst = np.maximum(rot_err, trans_err)
    histogram, _ = np.histogram(worst, bins=np.arange(max_deg + 1))
    return float(np.mean(np.cumsum(histogram) / len(worst)))


def pose_metrics_from_errors(rot_err: np.ndarray, trans_err: np.ndarray) -> dict[str, float]:
    """RRA@t, RTA@t (fraction of pairs with error < t) for t in 5/15/30, AUC@30 and AUC@3."""
    rot_err, trans_err = np.asarray(rot_err), np.asarray(trans_err)
    if rot_err.size == 0:
        raise ValueError("no frame pairs")
    metrics = {}
    for t in POSE_THRESHOLDS_DEG:
        metrics[f"pose_rra{t}"] = float(np.mean(rot_err < t))
        metrics[f"pose_rta{t}"] = float(np.mean(trans_err < t))
    for max_deg in AUC_MAX_DEGS:
        metrics[f"pose_auc{max_deg}"] = pose_auc(rot_err, trans_err, max_deg)
    return metrics


def pose_metrics(pred: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """Pose metrics of one sequence: pose_metrics_from_errors(*relative_pose_errors(...))."""
    return pose_metrics_from_errors(*relative_pose_errors(pred, target))


def scale_rel_error(pred: float, target: float) -> float:
    """Relative error of the metric scale: |s^ - s| / s."""
    if not target > 0:
        raise ValueError(f"target scale must be > 0, got {target}")
    return abs(float(pred) - float(target)) / float(target)


def feature_cosine(
    pred: Mapping[str, np.ndarray], target: Mapping[str, np.ndarray]
) -> dict[str, float]:
    """Mean cosine similarity over tokens `[..., C]`, per layer, and their mean over layers."""
    if set(pred) != set(target):
        raise ValueError(f"layers differ: {sorted(pred)} vs {sorted(target)}")
    if not pred:
        raise ValueError("no feature layers")
    metrics = {}
    for layer in pred:
        a, b = np.asarray(pred[layer], np.float64), np.asarray(target[layer], np.float64)
        if a.shape != b.shape:
            raise ValueError(f"layer {layer}: shapes differ: {a.shape} vs {b.shape}")
        norms = np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1)
        cosine = np.sum(a * b, axis=-1) / np.maximum(norms, 1e-12)
        metrics[f"feat_cos_{layer}"] = float(np.mean(cosine))
    metrics["feat_cos_mean"] = float(np.mean(list(metrics.values())))
    return metrics
