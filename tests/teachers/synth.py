"""Exact synthetic geometry for the teacher tests: a box room with one box of furniture and a
window (no depth: "no hit"), cameras inside looking around; depth by analytic ray casting,
OpenCV camera-from-world extrinsics, centred intrinsics; plus a clip-set writer that follows
docs/contracts.md section 2 (meta.json, manifest.jsonl, shards + index)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from geovr.artifacts import make_meta, write_jsonl, write_meta
from geovr.data.shards import ShardWriter

ROOM = np.array([6.0, 3.0, 5.0])
FURNITURE = (np.array([3.5, 0.0, 3.0]), np.array([4.5, 0.8, 4.0]))  # min, max corners
WINDOW = ((1.0, 2.5), (1.0, 2.0))  # x and y range of a hole in the wall z = Z


def look_at(position: np.ndarray, target: np.ndarray) -> np.ndarray:
    """OpenCV camera-from-world [R|t] (x right, y down, z forward) in a y-up world."""
    forward = (target - position) / np.linalg.norm(target - position)
    right = np.cross(forward, [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    rot = np.stack([right, down, forward])
    return np.concatenate([rot, (-rot @ position)[:, None]], axis=1)


def _slab_hits(
    origin: np.ndarray, dirs: np.ndarray, lo: np.ndarray, hi: np.ndarray, inside: bool
) -> np.ndarray:
    """Ray parameter of the first hit of an axis-aligned box (exit if inside, entry if outside)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = (lo - origin) / dirs
        t2 = (hi - origin) / dirs
    t_near = np.nanmax(np.minimum(t1, t2), axis=-1)
    t_far = np.nanmin(np.maximum(t1, t2), axis=-1)
    if inside:
        return t_far
    return np.where((t_near <= t_far) & (t_near > 0), t_near, np.inf)


def render(
    extrinsics: np.ndarray, focal: float, hw: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """z-depth [H,W] (0 through the window) and an RGB frame [H,W,3] uint8 for one camera."""
    height, width = hw
    u, v = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    rays_cam = np.stack([(u - width / 2) / focal, (v - height / 2) / focal, np.ones_like(u)], -1)
    rot, t = extrinsics[:, :3], extrinsics[:, 3]
    origin = -rot.T @ t
    dirs = rays_cam @ rot  # R^T d for each ray; with z_cam = 1 the ray parameter is the z-depth
    depth = np.minimum(
        _slab_hits(origin, dirs, np.zeros(3), ROOM, True),
        _slab_hits(origin, dirs, *FURNITURE, False),
    )
    hit = origin + dirs * depth[..., None]
    in_window = (
        (np.abs(hit[..., 2] - ROOM[2]) < 1e-6)
        & (hit[..., 0] > WINDOW[0][0])
        & (hit[..., 0] < WINDOW[0][1])
        & (hit[..., 1] > WINDOW[1][0])
        & (hit[..., 1] < WINDOW[1][1])
    )
    depth = np.where(in_window, 0.0, depth)
    checker = (np.floor(hit * 2).sum(-1) % 2)[..., None]
    rgb = np.clip(40 + 150 * checker + 20 * hit[..., [0, 1, 2]], 0, 255).astype(np.uint8)
    return depth.astype(np.float32), np.where(in_window[..., None], 255, rgb).astype(np.uint8)


def make_clip(
    seed: int, frames: int = 4, hw: tuple[int, int] = (48, 64), focal: float = 40.0
) -> dict:
    """One clip: frames, depth, intrinsics, extrinsics of a camera moving inside the room."""
    rng = np.random.default_rng(seed)
    start = rng.uniform([1.0, 1.0, 1.0], [3.0, 2.0, 2.0])
    target = rng.uniform([2.0, 0.5, 3.5], [5.0, 2.5, 4.8])
    exts, depths, rgbs = [], [], []
    for i in range(frames):
        position = start + np.array([0.2, 0.05, 0.15]) * i
        ext = look_at(position, target + np.array([0.3 * np.sin(i), 0.0, 0.0]))
        depth, rgb = render(ext, focal, hw)
        exts.append(ext)
        depths.append(depth)
        rgbs.append(rgb)
    k = np.array([[focal, 0, hw[1] / 2], [0, focal, hw[0] / 2], [0, 0, 1]], dtype=np.float32)
    return {
        "frames": np.stack(rgbs),
        "depth": np.stack(depths),
        "intrinsics": np.repeat(k[None], frames, 0),
        "extrinsics": np.stack(exts).astype(np.float32),
    }


def write_clipset(
    root: Path, clips: dict[str, dict], clips_per_shard: int = 2, no_gt: tuple[str, ...] = ()
) -> Path:
    """A clip set directory (contracts section 2) from {clip_id: make_clip(...)}."""
    writer = ShardWriter(root, clips_per_shard=clips_per_shard)
    rows = []
    for clip_id, clip in clips.items():
        has_gt = clip_id not in no_gt
        keys = ("frames", "depth", "intrinsics", "extrinsics") if has_gt else ("frames",)
        writer.add(clip_id, {k: clip[k] for k in keys}, {"clip_id": clip_id})
        t, h, w = clip["frames"].shape[:3]
        rows.append(
            {
                "clip_id": clip_id,
                "split": "train",
                "source": "synthetic",
                "sha256": hashlib.sha256(clip["frames"].tobytes()).hexdigest(),
                "fps": 2.0,
                "n_frames": 2 * t,
                "frame_indices": list(range(0, 2 * t, 2)),
                "timestamps": [i / 2.0 for i in range(t)],
                "width": w,
                "height": h,
                "src_width": w,
                "src_height": h,
                "has_gt": has_gt,
            }
        )
    index = writer.close()
    for row in rows:
        row["shard"] = index[row["clip_id"]]["shard"]
    write_jsonl(root / "manifest.jsonl", rows)
    write_jsonl(root / "quarantine.jsonl", [])
    write_meta(
        root,
        make_meta("clipset", "ingest", {"synthetic": "teacher tests"}, {"dataset": "synthetic"}),
    )
    return root
