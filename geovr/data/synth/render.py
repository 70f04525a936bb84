"""Exact ray casting of a box room with box furniture (numpy, vectorised over pixels).

Each pixel's ray passes through the pixel centre (u + 0.5, v + 0.5); the principal point is
the image centre. Depth is the z-coordinate in the camera frame (what depth sensors and
teachers report), so a world point X projects to pixel K (R X + t) with depth (R X + t)_z.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from geovr.data.synth.scene import Scene

# Surface ids below 0 are the room; object i has id i.
FLOOR, CEILING, WALL_X0, WALL_X1, WALL_Z0, WALL_Z1 = -1, -2, -3, -4, -5, -6
WALL_COLOURS = {
    WALL_X0: (196, 180, 160),
    WALL_X1: (170, 190, 200),
    WALL_Z0: (200, 170, 175),
    WALL_Z1: (185, 200, 170),
}
LIGHT = np.array([0.3, 0.8, 0.5]) / np.linalg.norm([0.3, 0.8, 0.5])


@dataclass(frozen=True)
class Frame:
    rgb: np.ndarray  # [H,W,3] uint8
    depth: np.ndarray  # [H,W] float32, metres (z in the camera frame)
    ids: np.ndarray  # [H,W] int16: object index, or a negative room surface id


def camera_rays(
    K: np.ndarray, extrinsic: np.ndarray, height: int, width: int
) -> tuple[np.ndarray, np.ndarray]:
    """Camera centre [3] and world ray directions [H*W,3], scaled so the camera-frame z is 1."""
    u, v = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    d_cam = np.stack(
        [(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u)], axis=-1
    ).reshape(-1, 3)
    rotation, translation = extrinsic[:, :3], extrinsic[:, 3]
    return -rotation.T @ translation, d_cam @ rotation


def _room_hits(
    origin: np.ndarray, dirs: np.ndarray, room: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = np.where(dirs > 0, room, 0.0)
        t_axes = np.where(dirs != 0, (bound - origin) / dirs, np.inf)
    axis = np.argmin(t_axes, axis=1)
    t = t_axes[np.arange(len(dirs)), axis]
    positive = dirs[np.arange(len(dirs)), axis] > 0
    surface = np.select(
        [
            (axis == 1) & ~positive,
            (axis == 1) & positive,
            (axis == 0) & ~positive,
            (axis == 0) & positive,
            (axis == 2) & ~positive,
        ],
        [FLOOR, CEILING, WALL_X0, WALL_X1, WALL_Z0],
        WALL_Z1,
    )
    return t, surface


def _box_hits(
    origin: np.ndarray, dirs: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Entry distance [P,N] (inf on a miss) and the entry axis [P,N] for N boxes (slab method)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = 1.0 / dirs[:, None, :]
        t1, t2 = (lo[None] - origin) * inv, (hi[None] - origin) * inv
    t_near, t_far = np.minimum(t1, t2), np.maximum(t1, t2)
    t_near = np.nan_to_num(t_near, nan=-np.inf)
    t_far = np.nan_to_num(t_far, nan=np.inf)
    t_enter, t_exit = t_near.max(axis=2), t_far.min(axis=2)
    hit = (t_enter <= t_exit) & (t_enter > 0)
    return np.where(hit, t_enter, np.inf), t_near.argmax(axis=2)


def _texture(points: np.ndarray, surface: np.ndarray, axis: np.ndarray, scene: Scene) -> np.ndarray:
    x, y, z = points.T
    colour = np.zeros((len(points), 3))
    floor = surface == FLOOR
    tiles = (np.floor(x[floor] / 0.5) + np.floor(z[floor] / 0.5)) % 2
    grain = 0.08 * np.sin(x[floor] * 40.0)
    colour[floor] = (
        np.where(tiles[:, None] > 0, [150, 110, 70], [110, 80, 50]) * (1 + grain)[:, None]
    )
    ceiling = surface == CEILING
    grid = (np.abs(x[ceiling] % 1.0 - 0.5) < 0.02) | (np.abs(z[ceiling] % 1.0 - 0.5) < 0.02)
    colour[ceiling] = np.where(grid[:, None], [150, 150, 150], [235, 235, 230])
    for wall, base in WALL_COLOURS.items():
        mask = surface == wall
        along = z[mask] if wall in (WALL_X0, WALL_X1) else x[mask]
        stripes = 0.85 + 0.15 * ((np.floor(along / 0.4) % 2) + 0.5 * (np.floor(y[mask] / 0.9) % 2))
        colour[mask] = np.array(base) * stripes[:, None]
    for index, obj in enumerate(scene.objects):
        mask = surface == index
        normal = np.zeros((mask.sum(), 3))
        normal[np.arange(mask.sum()), axis[mask]] = 1.0
        shade = 0.55 + 0.45 * np.abs(normal @ LIGHT)
        checker = 0.9 + 0.1 * (
            (np.floor(x[mask] / 0.15) + np.floor(y[mask] / 0.15) + np.floor(z[mask] / 0.15)) % 2
        )
        colour[mask] = np.array(obj.color) * (shade * checker)[:, None]
    return colour


def render(scene: Scene, K: np.ndarray, extrinsic: np.ndarray, height: int, width: int) -> Frame:
    origin, dirs = camera_rays(K, extrinsic, height, width)
    t, surface = _room_hits(origin, dirs, np.array(scene.room))
    axis = np.zeros(len(dirs), dtype=np.int64)
    if scene.objects:
        lo = np.stack([o.lo for o in scene.objects])
        hi = np.stack([o.hi for o in scene.objects])
        t_box, box_axis = _box_hits(origin, dirs, lo, hi)
        nearest = t_box.argmin(axis=1)
        t_near = t_box[np.arange(len(dirs)), nearest]
        closer = t_near < t
        t = np.where(closer, t_near, t)
        surface = np.where(closer, nearest, surface)
        axis = box_axis[np.arange(len(dirs)), nearest]
    points = origin + dirs * t[:, None]
    # soft distance falloff so depth is visible in the image too
    colour = _texture(points, surface, axis, scene) * (1.0 / (1.0 + 0.04 * t))[:, None]
    rgb = np.clip(np.round(colour), 0, 255).astype(np.uint8).reshape(height, width, 3)
    return Frame(
        rgb,
        t.astype(np.float32).reshape(height, width),
        surface.astype(np.int16).reshape(height, width),
    )
