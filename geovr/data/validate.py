"""Input checks of ingest: is a file a usable video, is a ground-truth file consistent with
its video, is a scene file readable. Each failed check raises `Rejected` with the reason
that goes to quarantine.jsonl.

    info = check_video(path, "videos/a.mp4", VideoLimits(), frames=16)  # or Rejected
    gt = load_ground_truth(gt_path, "gt/a.safetensors", info, indices)  # sampled, or Rejected
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors import SafetensorError, safe_open

from geovr.config.ingest import VideoLimits
from geovr.data.video import VideoError, VideoInfo, probe_video

GT_SHAPES = {"depth": ("T", "H", "W"), "intrinsics": ("T", 3, 3), "extrinsics": ("T", 3, 4)}
ROTATION_TOL = 1e-3  # |R R^T - I| max; float32 poses written by real tools are ~1e-6 off
DEPTH_CHUNK = 32  # frames of depth checked at a time: bounds memory on long, large clips

# File signatures read before FFmpeg, so that the common wrong inputs get a precise reason
# instead of FFmpeg's generic "Invalid data found when processing input".
_IMAGE_MAGIC = {
    b"\x89PNG\r\n\x1a\n": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"BM": "a BMP image",
}
_MP4_BOXES = (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip")


class Rejected(Exception):
    """A clip input that cannot be used; `input` is the file at fault, the message the reason."""

    def __init__(self, input: str, reason: str):
        super().__init__(reason)
        self.input = input


@dataclass(frozen=True)
class GroundTruth:
    depth: np.ndarray  # [F,H,W] float32 at the sampled frames, source resolution
    intrinsics: np.ndarray  # [F,3,3] float32
    extrinsics: np.ndarray  # [F,3,4] float32


def _sniff(path: Path) -> str | None:
    """What the file obviously is when that is not a video: a reason, or None."""
    with path.open("rb") as f:
        head = f.read(512)
    if not head:
        return "empty file (0 bytes)"
    for magic, what in _IMAGE_MAGIC.items():
        if head.startswith(magic):
            return f"is {what}, not a video"
    if b"\0" not in head:
        try:
            head.decode("utf-8")
            return "is a text file, not a video"
        except UnicodeDecodeError:
            pass
    return None


def check_video(path: Path, rel: str, limits: VideoLimits, frames: int) -> VideoInfo:
    """Open the video and check it can give `frames` samples within the limits;
    Rejected(rel, reason) otherwise."""
    if reason := _sniff(path):
        raise Rejected(rel, reason)
    try:
        info = probe_video(path)
    except VideoError as e:
        if e.__cause__ is None:  # a check of probe_video itself, e.g. "no video stream"
            raise Rejected(rel, video_error_reason(e, path, rel)) from e
        with path.open("rb") as f:
            what = (
                "truncated or corrupt mp4"
                if f.read(8)[4:8] in _MP4_BOXES
                else "not a readable video"
            )
        detail = getattr(e.__cause__, "strerror", None) or type(e.__cause__).__name__
        raise Rejected(rel, f"{what} (FFmpeg: {detail})") from e
    if reason := video_problem(info, limits, frames):
        raise Rejected(rel, reason)
    return info


def video_error_reason(error: VideoError, path: Path, rel: str) -> str:
    """A VideoError's message with the local path replaced by the dataset-relative name:
    quarantine.jsonl must not depend on where the dataset was mounted."""
    return str(error).removeprefix(f"{path}: ").replace(str(path), rel)


def video_problem(info: VideoInfo, limits: VideoLimits, frames: int) -> str | None:
    """The first limit the video breaks, as a reason; None if it is usable.

    Every clip must have at least `frames` frames (no repeats, no padding): all records
    then have the same frame count, and training batches need no masks.
    """
    if info.n_frames < 2:
        return f"only {info.n_frames} frame(s): a still image, not a video"
    if info.n_frames < frames:
        return f"{info.n_frames} frames, fewer than the {frames} to sample (--frames)"
    if not limits.min_fps <= info.fps <= limits.max_fps:
        return f"frame rate {info.fps:g} fps outside [{limits.min_fps:g}, {limits.max_fps:g}]"
    sides = (info.width, info.height)
    if min(sides) < limits.min_side or max(sides) > limits.max_side:
        return (
            f"resolution {info.width}x{info.height} outside the limits "
            f"({limits.min_side}..{limits.max_side} px per side)"
        )
    if info.duration_s > limits.max_duration_s:
        return f"duration {info.duration_s:.0f} s longer than {limits.max_duration_s:g} s"
    return None


def _check_shapes(shapes: dict[str, list[int]], n_frames: int, height: int, width: int) -> None:
    """Raises ValueError naming the first tensor that is missing or of the wrong shape."""
    sizes = {"T": n_frames, "H": height, "W": width}
    for name, dims in GT_SHAPES.items():
        if name not in shapes:
            raise ValueError(f"has no {name!r} tensor")
        want = [sizes.get(d, d) for d in dims]
        got = shapes[name]
        if len(got) == len(want) and got[0] != want[0]:
            raise ValueError(f"{name} has {got[0]} frames, the video has {n_frames}")
        if got != want:
            raise ValueError(f"{name} has shape {got}, expected {want} (T,H,W of the video)")


def _read_depth(f, indices: list[int], n_frames: int) -> np.ndarray:
    """Check every frame of depth (finite, >= 0) in chunks; return the sampled frames."""
    tensor = f.get_slice("depth")
    wanted = {i: k for k, i in enumerate(indices)}
    kept: list[np.ndarray | None] = [None] * len(indices)
    for start in range(0, n_frames, DEPTH_CHUNK):
        chunk = np.asarray(tensor[start : min(start + DEPTH_CHUNK, n_frames)], dtype=np.float32)
        for problem, bad in (("NaN/inf", ~np.isfinite(chunk)), ("negative", chunk < 0)):
            frames = np.flatnonzero(bad.reshape(len(chunk), -1).any(axis=1))
            if frames.size:
                raise ValueError(
                    f"depth has {problem} values (first at frame {start + int(frames[0])})"
                )
        for offset, frame in enumerate(chunk):
            if start + offset in wanted:
                kept[wanted[start + offset]] = frame
    return np.stack(kept)


def _check_cameras(intrinsics: np.ndarray, extrinsics: np.ndarray) -> None:
    for name, value in (("intrinsics", intrinsics), ("extrinsics", extrinsics)):
        if not np.isfinite(value).all():
            raise ValueError(f"{name} has NaN/inf values")
    if (intrinsics[:, 0, 0] <= 0).any() or (intrinsics[:, 1, 1] <= 0).any():
        raise ValueError("intrinsics have a non-positive focal length")
    rot = extrinsics[:, :, :3].astype(np.float64)
    error = np.abs(rot @ rot.transpose(0, 2, 1) - np.eye(3)).max(axis=(1, 2))
    bad = np.flatnonzero((error > ROTATION_TOL) | (np.linalg.det(rot) <= 0))
    if bad.size:
        raise ValueError(
            f"extrinsics rotation is not orthonormal with det +1 at frame {int(bad[0])}"
        )


def load_ground_truth(path: Path, rel: str, info: VideoInfo, indices: list[int]) -> GroundTruth:
    """Validate gt/<id>.safetensors against its video and return it at the sampled frames.

    Every frame is checked (a NaN anywhere means a broken export), only the sampled ones kept.
    """
    try:
        with safe_open(str(path), framework="numpy") as f:
            shapes = {name: list(f.get_slice(name).get_shape()) for name in f.keys()}  # noqa: SIM118
            _check_shapes(shapes, info.n_frames, info.height, info.width)
            intrinsics = np.asarray(f.get_tensor("intrinsics"), dtype=np.float32)
            extrinsics = np.asarray(f.get_tensor("extrinsics"), dtype=np.float32)
            _check_cameras(intrinsics, extrinsics)
            depth = _read_depth(f, indices, info.n_frames)
    except (SafetensorError, OSError) as e:
        raise Rejected(rel, f"ground truth is not a readable safetensors file ({e})") from e
    except (ValueError, TypeError) as e:
        raise Rejected(rel, f"ground truth {e}") from e
    return GroundTruth(depth, intrinsics[indices], extrinsics[indices])


def check_scene(path: Path, rel: str, clip_id: str) -> None:
    """scenes/<id>.json must be a JSON object about this clip (contracts section 1)."""
    try:
        scene = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise Rejected(rel, f"scene is not valid JSON ({e})") from e
    if not isinstance(scene, dict):
        raise Rejected(rel, "scene must be a JSON object")
    if scene.get("clip_id", clip_id) != clip_id:
        raise Rejected(rel, f"scene is for clip {scene['clip_id']!r}, not {clip_id!r}")
