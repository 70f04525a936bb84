"""Pinhole camera math: focal length <-> field of view, centred intrinsics, pixel rays.

Pixel (u, v) has its centre at (u + 0.5, v + 0.5), so a principal point of (W/2, H/2) is the
image centre; intrinsics are `[T,3,3]` in pixels.

    focal_from_fov(np.deg2rad(70.0), 128)        # focal in pixels across a 128-pixel side
    intrinsics_from_fov(70.0, (96, 128), frames=8)
    unproject(depth, intrinsics)                 # [T,H,W] z-depth -> [T,H,W,3] camera points
"""

from __future__ import annotations

import numpy as np


def focal_from_fov(fov: np.ndarray | float, size: float) -> np.ndarray:
    """Focal length in pixels that spans `size` pixels with the angle `fov` (radians)."""
    return (size / 2) / np.tan(np.asarray(fov) / 2)


def fov_from_focal(focal: np.ndarray | float, size: float) -> np.ndarray:
    """Angle (radians) that `size` pixels span at focal length `focal` (pixels)."""
    return 2 * np.arctan((size / 2) / np.asarray(focal))


def intrinsics_from_fov(fov_deg: float, image_hw: tuple[int, int], frames: int) -> np.ndarray:
    """Centred pinhole intrinsics `[T,3,3]` with horizontal FoV `fov_deg` and square pixels."""
    height, width = image_hw
    focal = focal_from_fov(np.deg2rad(fov_deg), width)
    k = np.array([[focal, 0, width / 2], [0, focal, height / 2], [0, 0, 1.0]])
    return np.repeat(k[None], frames, axis=0)


def mean_focal(fov: np.ndarray, image_hw: tuple[int, int]) -> np.ndarray:
    """(fx + fy) / 2 in pixels of an `image_hw` image, per frame, from `[T,2]` (fov_h, fov_w)."""
    fov = np.asarray(fov, dtype=np.float64)
    fy = focal_from_fov(fov[:, 0], image_hw[0])
    fx = focal_from_fov(fov[:, 1], image_hw[1])
    return (fx + fy) / 2


def pixel_rays(intrinsics: np.ndarray, image_hw: tuple[int, int]) -> np.ndarray:
    """Camera-frame rays with z = 1 through every pixel centre: `[T,H,W,3]`."""
    height, width = image_hw
    k = np.asarray(intrinsics, dtype=np.float64)
    u = np.arange(width) + 0.5
    v = np.arange(height) + 0.5
    fx, fy = k[:, 0, 0, None, None], k[:, 1, 1, None, None]
    cx, cy = k[:, 0, 2, None, None], k[:, 1, 2, None, None]
    x = (u[None, None, :] - cx) / fx
    y = (v[None, :, None] - cy) / fy
    x, y = np.broadcast_arrays(x, y)
    return np.stack([x, y, np.ones_like(x)], axis=-1)


def unproject(depth: np.ndarray, intrinsics: np.ndarray) -> np.ndarray:
    """z-depth `[T,H,W]` -> camera-frame points `[T,H,W,3]`."""
    depth = np.asarray(depth, dtype=np.float64)
    return pixel_rays(intrinsics, depth.shape[1:]) * depth[..., None]
