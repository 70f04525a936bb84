"""Procedural rooms: metric size, axis-aligned furniture boxes placed without overlap,
and a smooth camera path inside the room.

World frame: y up, floor at y=0, the room spans [0,X] x [0,Y] x [0,Z] metres. Cameras
follow OpenCV: camera-from-world [R|t], x right, y down, z forward.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from geovr.geometry.camera import intrinsics_from_fov

# category -> (min size, max size) in metres as (width x, height y, depth z), and colour.
CATEGORIES: dict[
    str, tuple[tuple[float, float, float], tuple[float, float, float], tuple[int, int, int]]
] = {
    "chair": ((0.45, 0.8, 0.45), (0.6, 1.05, 0.6), (170, 90, 40)),
    "table": ((0.8, 0.7, 0.6), (1.6, 0.8, 1.0), (120, 75, 45)),
    "sofa": ((1.6, 0.75, 0.8), (2.3, 0.95, 1.0), (60, 90, 160)),
    "bed": ((1.4, 0.5, 1.9), (1.9, 0.65, 2.2), (200, 200, 215)),
    "tv": ((0.9, 0.55, 0.12), (1.5, 0.9, 0.18), (25, 25, 30)),
    "lamp": ((0.3, 1.4, 0.3), (0.45, 1.8, 0.45), (235, 210, 90)),
    "cabinet": ((0.6, 0.9, 0.4), (1.2, 2.0, 0.6), (150, 110, 160)),
    "plant": ((0.35, 0.6, 0.35), (0.6, 1.4, 0.6), (40, 150, 60)),
    "refrigerator": ((0.6, 1.7, 0.65), (0.9, 1.9, 0.75), (220, 225, 230)),
    "bookshelf": ((0.8, 1.5, 0.3), (1.2, 2.1, 0.4), (110, 60, 30)),
}
CLEARANCE = 0.6  # m kept free around the camera path and between furniture
EYE_HEIGHT = (1.3, 1.7)


@dataclass(frozen=True)
class SceneObject:
    name: str
    category: str
    center: tuple[float, float, float]
    size: tuple[float, float, float]
    color: tuple[int, int, int]
    yaw: float = 0.0  # boxes are axis-aligned: exact ray casting and exact QA geometry

    @property
    def lo(self) -> np.ndarray:
        return np.array(self.center) - np.array(self.size) / 2

    @property
    def hi(self) -> np.ndarray:
        return np.array(self.center) + np.array(self.size) / 2


@dataclass(frozen=True)
class Scene:
    clip_id: str
    room: tuple[float, float, float]
    objects: tuple[SceneObject, ...]

    def to_json(self) -> dict:
        return {
            "clip_id": self.clip_id,
            "room": {"size": list(self.room)},
            "objects": [
                {
                    **asdict(o),
                    "center": list(o.center),
                    "size": list(o.size),
                    "color": list(o.color),
                }
                for o in self.objects
            ],
        }

    @staticmethod
    def from_json(data: dict) -> Scene:
        objects = tuple(
            SceneObject(
                o["name"],
                o["category"],
                tuple(o["center"]),
                tuple(o["size"]),
                tuple(o["color"]),
                o.get("yaw", 0.0),
            )
            for o in data["objects"]
        )
        return Scene(data["clip_id"], tuple(data["room"]["size"]), objects)


def _overlaps(lo: np.ndarray, hi: np.ndarray, placed: list[SceneObject], margin: float) -> bool:
    return any(
        np.all(lo[[0, 2]] < o.hi[[0, 2]] + margin) and np.all(hi[[0, 2]] > o.lo[[0, 2]] - margin)
        for o in placed
    )


def sample_scene(rng: np.random.Generator, clip_id: str) -> Scene:
    """A room of random size with 3-10 non-overlapping objects, clear of the central camera area."""
    room = (
        round(float(rng.uniform(4.0, 8.0)), 2),
        round(float(rng.uniform(2.6, 3.2)), 2),
        round(float(rng.uniform(4.0, 8.0)), 2),
    )
    centre = np.array([room[0] / 2, 0.0, room[2] / 2])
    n_objects = int(rng.integers(3, 11))
    n_objects = max(n_objects, int(rng.integers(3, 11)))  # skew towards fuller rooms
    categories = list(CATEGORIES)
    placed: list[SceneObject] = []
    counts: dict[str, int] = {}
    for _ in range(200):  # rejection sampling; a full room simply gets fewer objects
        if len(placed) == n_objects:
            break
        # chairs repeat (for counting questions); other categories at most twice
        category = (
            "chair" if rng.random() < 0.25 else categories[int(rng.integers(len(categories)))]
        )
        if category != "chair" and counts.get(category, 0) >= 2:
            continue
        lo_size, hi_size, color = CATEGORIES[category]
        size = np.round(rng.uniform(lo_size, hi_size), 2)
        if rng.random() < 0.5:  # rotate by 90 degrees: swap width and depth
            size = size[[2, 1, 0]]
        xz = rng.uniform(
            [size[0] / 2 + 0.05, size[2] / 2 + 0.05],
            [room[0] - size[0] / 2 - 0.05, room[2] - size[2] / 2 - 0.05],
        )
        center = np.round(np.array([xz[0], size[1] / 2, xz[1]]), 3)
        lo, hi = center - size / 2, center + size / 2
        # keep the middle of the room free: the camera path lives there
        core_lo, core_hi = (
            centre - [room[0] * 0.22, 0, room[2] * 0.22],
            centre + [room[0] * 0.22, 0, room[2] * 0.22],
        )
        if np.all(lo[[0, 2]] < core_hi[[0, 2]]) and np.all(hi[[0, 2]] > core_lo[[0, 2]]):
            continue
        if _overlaps(lo, hi, placed, margin=0.1):
            continue
        counts[category] = counts.get(category, 0) + 1
        name = f"{category}_{counts[category]}"
        shade = np.clip(np.array(color) + rng.integers(-20, 21, 3), 0, 255)
        placed.append(
            SceneObject(
                name,
                category,
                tuple(float(v) for v in center),
                tuple(float(v) for v in size),
                tuple(int(v) for v in shade),
            )
        )
    return Scene(clip_id, room, tuple(placed))


def look_at(position: np.ndarray, target: np.ndarray) -> np.ndarray:
    """OpenCV camera-from-world [R|t] for a camera at `position` looking at `target` (world y
    up)."""
    forward = target - position
    forward = forward / np.linalg.norm(forward)
    right = np.cross(forward, [0.0, 1.0, 0.0])
    right = right / np.linalg.norm(right)
    down = np.cross(forward, right)
    rotation = np.stack([right, down, forward])
    return np.concatenate([rotation, (-rotation @ position)[:, None]], axis=1)


def sample_trajectory(rng: np.random.Generator, scene: Scene, n_frames: int) -> np.ndarray:
    """A smooth arc around the room centre at eye height, looking across the room: [T,3,4]."""
    room = np.array(scene.room)
    centre = np.array([room[0] / 2, 0.0, room[2] / 2])
    radius = np.array([room[0], room[2]]) * rng.uniform(0.08, 0.16)
    start, sweep = rng.uniform(0, 2 * np.pi), rng.uniform(0.6, 1.2) * np.pi * rng.choice([-1, 1])
    height = rng.uniform(*EYE_HEIGHT)
    s = np.linspace(0.0, 1.0, n_frames)
    angles = start + sweep * s
    positions = np.stack(
        [
            centre[0] + radius[0] * np.cos(angles),
            np.full(n_frames, height),
            centre[2] + radius[1] * np.sin(angles),
        ],
        axis=1,
    )
    # look outward, ahead of the motion, slightly down: the camera sweeps the walls and furniture
    look_angles = angles + np.sign(sweep) * 0.6
    targets = np.stack(
        [
            centre[0] + room[0] * np.cos(look_angles),
            np.full(n_frames, height - 0.5),
            centre[2] + room[2] * np.sin(look_angles),
        ],
        axis=1,
    )
    return np.stack([look_at(p, t) for p, t in zip(positions, targets, strict=True)]).astype(
        np.float64
    )


def intrinsics(size: int, fov_deg: float = 70.0) -> np.ndarray:
    """The square renders' pinhole camera `[3,3]`."""
    return intrinsics_from_fov(fov_deg, (size, size), frames=1)[0]
