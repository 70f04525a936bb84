"""Camera pose encoding (docs/method.md, "Pose encoding") and scene normalisation.

Conventions (the same as VGGT's):
- extrinsics are OpenCV camera-from-world `[R|t]` (x right, y down, z forward), `[T,3,4]`;
- the scene is re-expressed in the first camera's frame (frame 0 gets `[I|0]`) and scaled so
  that the average distance of the valid 3D points (first-camera frame) to the origin is 1;
- pose_enc `[T,9]` = `[t (3), quaternion x y z w (4), fov_h, fov_w]`,
  fov_h = 2 atan((H/2)/fy), fov_w = 2 atan((W/2)/fx), principal point at the image centre;
- quaternions are unit and canonical (w >= 0): q and -q are the same rotation, and one sign
  keeps the L1 pose loss well defined;
- pixel (u, v) has its centre at (u + 0.5, v + 0.5), so cx = W/2 is the image centre
  (geovr/geometry/camera.py).

    scene = normalise_scene(gt_depth, gt_intrinsics, gt_extrinsics)
    scene.pose_enc, scene.depth, scene.scale      # targets
    # metric depth = scene.depth * scene.scale
    extrinsics, intrinsics = decode_pose(scene.pose_enc, image_hw=(H, W))
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from geovr.geometry.camera import focal_from_fov, fov_from_focal, unproject

_EPS = 1e-12


def quat_from_rotmat(rot: np.ndarray) -> np.ndarray:
    """Rotation matrices `[...,3,3]` -> unit quaternions `[...,4]` (x, y, z, w), w >= 0."""
    m = np.asarray(rot, dtype=np.float64)
    m00, m01, m02 = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
    m10, m11, m12 = m[..., 1, 0], m[..., 1, 1], m[..., 1, 2]
    m20, m21, m22 = m[..., 2, 0], m[..., 2, 1], m[..., 2, 2]
    # 4 q_i^2 for i = x, y, z, w; dividing by the largest component is the stable branch.
    four_sq = np.stack(
        [1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22, 1 + m00 + m11 + m22], -1
    )
    big = 0.5 * np.sqrt(np.clip(four_sq, _EPS, None))  # [..., 4] = |q_i| candidates
    d = 4 * big
    wx, wy, wz = m21 - m12, m02 - m20, m10 - m01  # 4 w x, 4 w y, 4 w z
    xy, xz, yz = m01 + m10, m02 + m20, m12 + m21  # 4 x y, 4 x z, 4 y z
    candidates = np.stack(
        [
            np.stack([big[..., 0], xy / d[..., 0], xz / d[..., 0], wx / d[..., 0]], -1),
            np.stack([xy / d[..., 1], big[..., 1], yz / d[..., 1], wy / d[..., 1]], -1),
            np.stack([xz / d[..., 2], yz / d[..., 2], big[..., 2], wz / d[..., 2]], -1),
            np.stack([wx / d[..., 3], wy / d[..., 3], wz / d[..., 3], big[..., 3]], -1),
        ],
        -2,
    )
    best = np.argmax(four_sq, axis=-1)[..., None, None]
    quat = np.take_along_axis(candidates, best, axis=-2)[..., 0, :]
    quat = np.where(quat[..., 3:4] < 0, -quat, quat)
    return quat / np.linalg.norm(quat, axis=-1, keepdims=True)


def rotmat_from_quat(quat: np.ndarray) -> np.ndarray:
    """Quaternions `[...,4]` (x, y, z, w; normalised here) -> rotation matrices `[...,3,3]`."""
    q = np.asarray(quat, dtype=np.float64)
    q = q / np.clip(np.linalg.norm(q, axis=-1, keepdims=True), _EPS, None)
    x, y, z, w = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    rows = [
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ]
    return np.stack([np.stack(row, -1) for row in rows], -2)


def relative_to_first(extrinsics: np.ndarray) -> np.ndarray:
    """Camera-from-world `[T,3,4]` -> camera-from-first-camera `[T,3,4]` (frame 0 = [I|0]).

    With X_world = R0^T (X_0 - t0): X_i = R_i R0^T X_0 + (t_i - R_i R0^T t0).
    """
    ext = np.asarray(extrinsics, dtype=np.float64)
    rot0, t0 = ext[0, :, :3], ext[0, :, 3]
    rot = ext[:, :, :3] @ rot0.T
    t = ext[:, :, 3] - rot @ t0
    return np.concatenate([rot, t[:, :, None]], axis=-1)


def to_first_frame(points_cam: np.ndarray, rel_extrinsics: np.ndarray) -> np.ndarray:
    """Camera-frame points `[T,H,W,3]` -> first-camera frame: X_0 = R^T (X_i - t)."""
    rot = rel_extrinsics[:, None, None, :, :3]
    t = rel_extrinsics[:, None, None, :, 3]
    return np.einsum("...ji,...j->...i", rot, points_cam - t)


def valid_depth(depth: np.ndarray) -> np.ndarray:
    """Pixels with a usable depth: finite and > 0 (0 marks "no hit" in the ground truth)."""
    depth = np.asarray(depth)
    return np.isfinite(depth) & (depth > 0)


def average_point_distance(
    depth: np.ndarray, intrinsics: np.ndarray, rel_extrinsics: np.ndarray
) -> float:
    """Mean distance to the first camera of the valid points of all frames (VGGT's scale)."""
    mask = valid_depth(depth)
    if not mask.any():
        raise ValueError("no valid depth pixel: the scene scale is undefined")
    points = to_first_frame(unproject(np.where(mask, depth, 0.0), intrinsics), rel_extrinsics)
    return float(np.linalg.norm(points[mask], axis=-1).mean())


def encode_pose(
    extrinsics: np.ndarray, intrinsics: np.ndarray, image_hw: tuple[int, int]
) -> np.ndarray:
    """`[T,3,4]` camera-from-world + `[T,3,3]` -> pose_enc `[T,9]` float32."""
    ext = np.asarray(extrinsics, dtype=np.float64)
    k = np.asarray(intrinsics, dtype=np.float64)
    height, width = image_hw
    fov_h = fov_from_focal(k[:, 1, 1], height)
    fov_w = fov_from_focal(k[:, 0, 0], width)
    quat = quat_from_rotmat(ext[:, :, :3])
    return np.concatenate([ext[:, :, 3], quat, fov_h[:, None], fov_w[:, None]], -1).astype(
        np.float32
    )


def decode_pose(pose_enc: np.ndarray, image_hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """pose_enc `[T,9]` -> (extrinsics `[T,3,4]`, intrinsics `[T,3,3]`), float64."""
    enc = np.asarray(pose_enc, dtype=np.float64)
    height, width = image_hw
    rot = rotmat_from_quat(enc[:, 3:7])
    extrinsics = np.concatenate([rot, enc[:, :3, None]], axis=-1)
    intrinsics = np.zeros((len(enc), 3, 3))
    intrinsics[:, 0, 0] = focal_from_fov(enc[:, 8], width)
    intrinsics[:, 1, 1] = focal_from_fov(enc[:, 7], height)
    intrinsics[:, 0, 2], intrinsics[:, 1, 2], intrinsics[:, 2, 2] = width / 2, height / 2, 1.0
    return extrinsics, intrinsics


@dataclass(frozen=True)
class NormalisedScene:
    """A clip in the first camera's frame at unit average point distance."""

    extrinsics: np.ndarray  # [T,3,4] camera-from-first-camera, normalised translation
    depth: np.ndarray  # [T,H,W] float32, normalised scale; 0 where the input was invalid
    pose_enc: np.ndarray  # [T,9] float32
    scale: float  # metres per normalised unit: metric depth = depth * scale


def normalise_scene(
    depth: np.ndarray, intrinsics: np.ndarray, extrinsics: np.ndarray
) -> NormalisedScene:
    """Relative poses + depth at unit average point distance.

    Raises ValueError if no depth is valid.
    """
    rel = relative_to_first(extrinsics)
    scale = average_point_distance(depth, intrinsics, rel)
    rel[:, :, 3] /= scale
    norm_depth = np.where(valid_depth(depth), np.asarray(depth, np.float64) / scale, 0.0)
    pose_enc = encode_pose(rel, intrinsics, norm_depth.shape[1:])
    return NormalisedScene(rel, norm_depth.astype(np.float32), pose_enc, scale)
