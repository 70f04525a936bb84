"""The `oracle` teacher: exact targets from ground-truth geometry (no model, CPU, deterministic).

- pose_enc and depth: the ground-truth poses and depth in the first camera's frame at unit
  average point distance (geovr.geometry.pose.normalise_scene);
- metric_scale: the least-squares fit of GT metric depth to that normalised depth, which is
  the normalisation factor itself (so depth * metric_scale == GT depth);
- depth_conf: 1 where the GT depth is valid, 0 elsewhere;
- features: ANALYTIC multi-scale geometric descriptors of the point map, NOT learned
  features. Per patch cell (patch_size px, an even grid) and for 4 context scales
  (window 1, 3, 5, 7 cells; named like VGGT's layers "4", "11", "17", "23"): the mean 3D
  point (first-camera frame, normalised), mean surface normal, mean depth, valid fraction and
  Fourier features sin/cos(pi 2^(j-k) X) of the mean point (coarser scale, lower
  frequencies); then 2x2 average-pooled like every teacher's features. C = 8 + 6 n_freq.

    teacher = OracleTeacher()
    targets = teacher.targets(frames, gt=GroundTruth(depth, intrinsics, extrinsics))
"""

from __future__ import annotations

from typing import Any

import numpy as np

from geovr.geometry.camera import unproject
from geovr.geometry.pose import normalise_scene, to_first_frame, valid_depth
from geovr.geometry.scale import fit_scale
from geovr.teachers.base import ClipRejected, GroundTruth, Targets, pool_2x2

ORACLE_LAYERS = ("4", "11", "17", "23")


class OracleTeacher:
    """Exact geometry from the clip set's ground truth; features are analytic descriptors."""

    name = "oracle"
    layers = ORACLE_LAYERS

    def __init__(
        self, patch_size: int = 14, n_freq: int = 4, batch_size: int = 1, device: str = "cpu"
    ):
        # batch_size and device are accepted for a uniform CLI; there is no model to batch.
        self.patch_size = patch_size
        self.n_freq = n_freq

    @property
    def config(self) -> dict[str, Any]:
        return {
            "version": 1,
            "patch_size": self.patch_size,
            "n_freq": self.n_freq,
            "layers": list(self.layers),
        }

    def to(self, device: str) -> OracleTeacher:
        return self

    def targets(
        self,
        frames: np.ndarray,
        intrinsics: np.ndarray | None = None,
        gt: GroundTruth | None = None,
    ) -> Targets:
        if gt is None:
            raise ClipRejected(
                "the oracle teacher needs ground-truth depth and poses; this clip has none"
            )
        try:
            scene = normalise_scene(gt.depth, gt.intrinsics, gt.extrinsics)
        except ValueError as e:
            raise ClipRejected(str(e)) from e
        valid = valid_depth(gt.depth)
        fit = fit_scale(gt.depth, scene.depth)
        points_cam = unproject(scene.depth, gt.intrinsics)
        features = geometric_features(
            points_cam, scene.extrinsics, valid, self.patch_size, self.n_freq
        )
        return Targets(
            pose_enc=scene.pose_enc,
            depth=scene.depth,
            metric_scale=fit.scale,
            features=dict(zip(self.layers, features, strict=True)),
            depth_conf=valid.astype(np.float16),
            scale_valid=fit.valid,
        )


def geometric_features(
    points_cam: np.ndarray,
    rel_extrinsics: np.ndarray,
    valid: np.ndarray,
    patch_size: int,
    n_freq: int,
) -> list[np.ndarray]:
    """4 descriptor maps `[T,gh/2,gw/2,8+6 n_freq]` float16 (see the module docstring)."""
    t, height, width, _ = points_cam.shape
    grid = (_even_cells(height, patch_size), _even_cells(width, patch_size))
    rot_t = np.swapaxes(rel_extrinsics[:, None, None, :, :3], -1, -2)
    normals = (rot_t @ _normals(points_cam, valid)[..., None])[..., 0]
    points = to_first_frame(points_cam, rel_extrinsics)
    v = valid[..., None].astype(np.float64)
    # Sums per cell, so that wider context windows are exact weighted means of pixels.
    sums = _cell_sums(
        np.concatenate([points * v, normals * v, points_cam[..., 2:] * v, v, np.ones_like(v)], -1),
        grid,
    )
    return [pool_2x2(_descriptor(_box_sum(sums, k), k, n_freq)) for k in range(4)]


def _descriptor(sums: np.ndarray, level: int, n_freq: int) -> np.ndarray:
    count, pixels = sums[..., 7:8], sums[..., 8:9]
    mean = np.divide(sums[..., :7], count, out=np.zeros_like(sums[..., :7]), where=count > 0)
    point, normal, depth = mean[..., :3], mean[..., 3:6], mean[..., 6:7]
    norm = np.linalg.norm(normal, axis=-1, keepdims=True)
    normal = np.divide(normal, norm, out=np.zeros_like(normal), where=norm > 0)
    freqs = np.pi * 2.0 ** (np.arange(n_freq) - level)
    phase = (point[..., None, :] * freqs[:, None]).reshape(*point.shape[:-1], 3 * n_freq)
    fourier = np.where(count > 0, np.concatenate([np.sin(phase), np.cos(phase)], -1), 0.0)
    return np.concatenate([point, normal, depth, count / pixels, fourier], -1)


def _even_cells(size: int, patch_size: int) -> int:
    """Number of patch cells along one side, rounded to an even number >= 2 (for 2x2 pooling)."""
    return max(2, 2 * round(size / (2 * patch_size)))


def _cell_sums(x: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """Sum `[T,H,W,C]` over the pixels of each of grid[0] x grid[1] cells -> `[T,gh,gw,C]`."""
    rows = np.linspace(0, x.shape[1], grid[0] + 1).astype(int)[:-1]
    cols = np.linspace(0, x.shape[2], grid[1] + 1).astype(int)[:-1]
    return np.add.reduceat(np.add.reduceat(x, rows, axis=1), cols, axis=2)


def _box_sum(x: np.ndarray, radius: int) -> np.ndarray:
    """Sum over a (2r+1)^2 window of cells, zero outside the grid."""
    if radius == 0:
        return x
    padded = np.pad(x, ((0, 0), (radius, radius), (radius, radius), (0, 0)))
    h, w = x.shape[1:3]
    span = range(2 * radius + 1)
    return sum(padded[:, i : i + h, j : j + w] for i in span for j in span)


def _normals(points: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Unit surface normals of a camera-frame point map `[T,H,W,3]`.

    0 where a neighbour is invalid.
    """
    d_v = np.gradient(points, axis=1)
    d_u = np.gradient(points, axis=2)
    normal = np.cross(d_v, d_u)  # faces the camera for a fronto-parallel plane (x right, y down)
    norm = np.linalg.norm(normal, axis=-1, keepdims=True)
    ok = _erode(valid)[..., None] & (norm > 0)
    return np.where(ok, normal / np.where(norm > 0, norm, 1.0), 0.0)


def _erode(mask: np.ndarray) -> np.ndarray:
    """A pixel survives only if it and its 4 neighbours are valid (finite differences need them)."""
    padded = np.pad(mask, ((0, 0), (1, 1), (1, 1)))
    return (
        mask
        & padded[:, :-2, 1:-1]
        & padded[:, 2:, 1:-1]
        & padded[:, 1:-1, :-2]
        & padded[:, 1:-1, 2:]
    )
