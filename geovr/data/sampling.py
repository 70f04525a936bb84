"""Frame sampling and resizing for ingest: which frames, at what size, and the ground truth
brought to the same frames and size.

    idx = sample_indices(n_frames=300, count=16)   # first and last frame included
    fps_frame_count(n_frames=300, video_fps=30, fps=2, min_frames=4, max_frames=32)  # 20 (10 s)
    w, h = target_size(1920, 1080, max_side=504)     # (504, 282): aspect kept, even sides
    frames = resize_frames(frames, (w, h)); depth = resize_depth(depth, (w, h))
    k = scale_intrinsics(k, src=(1920, 1080), dst=(w, h))
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image


def sample_indices(n_frames: int, count: int) -> list[int]:
    """`count` distinct indices spread uniformly over [0, n_frames - 1], both ends included.

    Integer round-half-up of i * (n-1) / (count-1): exact (no float drift between machines)
    and strictly increasing whenever n_frames >= count. Ends are kept because the widest
    baseline carries the most geometry.
    """
    if count < 2 or n_frames < count:
        raise ValueError(f"need 2 <= count <= n_frames, got count={count}, n_frames={n_frames}")
    span, steps = n_frames - 1, count - 1
    return [(2 * i * span + steps) // (2 * steps) for i in range(count)]


def fps_frame_count(
    n_frames: int, video_fps: float, fps: float, min_frames: int, max_frames: int
) -> int:
    """The paper's frame count: `fps` frames per second of the clip (round half up), clamped to
    [min_frames, max_frames] and to the frames the clip has. They are then spread like
    `sample_indices` (both ends kept), so the interval is about 1 / fps, wider when the clip
    hit `max_frames` and narrower when it hit `min_frames`."""
    wanted = math.floor(n_frames / video_fps * fps + 0.5)
    return min(max(wanted, min_frames), max_frames, n_frames)


def target_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """(w, h) with the longest side at most `max_side`, aspect kept, both even (4:2:0 and
    patch grids want even sizes). Rounds down, so it never upscales (an odd side loses 1 px)."""
    scale = min(1.0, max_side / max(width, height))

    def even(side: int) -> int:
        # The epsilon keeps 504/1920 * 1920 = 503.99999... from flooring to 502.
        return max(2, 2 * int(side * scale / 2 + 1e-6))

    return even(width), even(height)


def resize_frames(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """RGB `[N,H,W,3] uint8` to `[N,h,w,3]`; PIL bilinear, which widens its kernel when
    shrinking (antialiased) and is integer-exact, so the bytes do not depend on the CPU."""
    w, h = size
    if frames.shape[1:3] == (h, w):
        return frames
    out = [np.asarray(Image.fromarray(f).resize((w, h), Image.Resampling.BILINEAR)) for f in frames]
    return np.stack(out)


def _nearest_rows(src: int, dst: int) -> np.ndarray:
    """Source pixel whose centre is nearest each destination pixel centre."""
    return np.minimum((np.arange(dst) * 2 + 1) * src // (2 * dst), src - 1)


def resize_depth(depth: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Depth `[N,H,W]` to `[N,h,w]` by nearest neighbour: averaging would invent depths at
    object edges and mix the 0 ("no hit") marker into valid pixels."""
    w, h = size
    if depth.shape[1:] == (h, w):
        return depth
    rows, cols = _nearest_rows(depth.shape[1], h), _nearest_rows(depth.shape[2], w)
    return np.ascontiguousarray(depth[:, rows][:, :, cols])


def scale_intrinsics(k: np.ndarray, src: tuple[int, int], dst: tuple[int, int]) -> np.ndarray:
    """Pixel intrinsics `[N,3,3]` of a (W, H) image rescaled to (w, h): row 0 scales with the
    width, row 1 with the height (continuous pixel coordinates scale linearly)."""
    sx, sy = dst[0] / src[0], dst[1] / src[1]
    out = k.astype(np.float32, copy=True)
    out[:, 0, :] *= sx
    out[:, 1, :] *= sy
    return out
