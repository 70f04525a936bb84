"""The `depth-anything` teacher: transformers' Depth Anything (DPT head on a DINOv2 backbone).

A real foundation-model architecture that runs anywhere transformers does. Weights come from
a local directory or a hub id through `from_pretrained` (tests save a tiny random-weight model
to disk and load it the same way):

    geovr distill --clips CLIPS --teacher depth-anything \\
        --weights depth-anything/Depth-Anything-V2-Small-hf --out T

What each target is (Depth Anything has no camera head, so poses are composed):
- features: DINOv2 block outputs at 4 layers (VGGT's 4/11/17/23 of 24 mapped onto the
  backbone's depth, see `geovr.teachers.base.map_layers`), patch tokens only (CLS and register
  tokens dropped), 2x2 average-pooled, float16;
- depth: the model's per-frame output (relative models predict disparity: depth = 1 /
  disparity; metric models predict metres), resized to the stored frame size. Monocular depth
  has an unknown scale per frame, so:
  - with ground truth: each frame is aligned by least squares to the GT depth in the
    normalised first-camera scene, so depth and poses share one scale; pose_enc = GT poses
    (normalised); metric_scale = LS fit of GT metric depth (pose_valid = scale_valid = True);
  - without: depth is normalised to unit average point distance (points in each frame's own
    camera, intrinsics from the clip or a `default_fov_deg` pinhole); pose_enc carries only
    the FoV (identity rotation, zero translation) and pose_valid = False so training masks the
    camera loss; metric_scale comes from a metric model's own output, else scale_valid = False;
- depth_conf: 1 where the teacher depth is valid, 0 elsewhere.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import DepthAnythingForDepthEstimation

from geovr.devices import resolve_device
from geovr.errors import GeoVRError
from geovr.geometry.camera import intrinsics_from_fov
from geovr.geometry.pose import average_point_distance, encode_pose, normalise_scene, valid_depth
from geovr.geometry.scale import ScaleFit, fit_scale, lstsq_scale
from geovr.teachers.base import (
    TEACHER_INPUT_SIZE,
    ClipRejected,
    GroundTruth,
    Targets,
    map_layers,
)
from geovr.teachers.torch_ops import (
    ensure_finite,
    frames_to_tensor,
    inference,
    model_input_hw,
    normalize_imagenet,
    pool_patch_tokens,
    resize_maps,
)

DEFAULT_WEIGHTS = "depth-anything/Depth-Anything-V2-Small-hf"
# Disparity below this fraction of the frame's maximum is "at infinity": no depth target there.
MIN_DISPARITY_FRACTION = 1e-4


class DepthAnythingTeacher:
    """Depth Anything (V1/V2, relative or metric) through transformers; see the module docstring."""

    name = "depth-anything"

    def __init__(
        self,
        weights: str = DEFAULT_WEIGHTS,
        input_size: int = TEACHER_INPUT_SIZE,
        layers: Sequence[int] | None = None,
        batch_size: int = 8,
        default_fov_deg: float = 60.0,
        device: str = "cpu",
    ):
        try:
            self.model = DepthAnythingForDepthEstimation.from_pretrained(weights).eval()
        except (OSError, ValueError) as e:
            raise GeoVRError(f"cannot load Depth Anything weights {weights!r}: {e}") from e
        backbone = self.model.config.backbone_config
        self.block_ids = (
            tuple(int(i) for i in layers) if layers else map_layers(backbone.num_hidden_layers)
        )
        if not all(1 <= i <= backbone.num_hidden_layers for i in self.block_ids):
            raise GeoVRError(f"layers {self.block_ids} outside 1..{backbone.num_hidden_layers}")
        self.layers = tuple(str(i) for i in self.block_ids)
        self.patch = backbone.patch_size
        self.prefix_tokens = 1 + getattr(backbone, "num_register_tokens", 0)  # CLS (+ registers)
        self.metric = self.model.config.depth_estimation_type == "metric"
        self.input_size, self.batch_size, self.default_fov_deg = (
            input_size,
            batch_size,
            default_fov_deg,
        )
        self.weights_id = weights_identity(weights)
        self.device = "cpu"
        self.to(device)

    @property
    def config(self) -> dict[str, Any]:
        return {
            "version": 1,
            "weights": self.weights_id,
            "input_size": self.input_size,
            "layers": list(self.layers),
            "depth_type": "metric" if self.metric else "relative",
            "default_fov_deg": self.default_fov_deg,
        }

    def to(self, device: str) -> DepthAnythingTeacher:
        device = resolve_device(device)
        self.model.to(device)
        self.device = device
        return self

    @inference
    def targets(
        self,
        frames: np.ndarray,
        intrinsics: np.ndarray | None = None,
        gt: GroundTruth | None = None,
    ) -> Targets:
        image_hw = tuple(frames.shape[1:3])
        raw, features = self._run(frames)
        depth = self._depth_from_raw(raw)
        if gt is not None:
            depth_n, pose_enc, fit = _compose_with_gt(depth, gt)
        else:
            k = (
                intrinsics
                if intrinsics is not None
                else intrinsics_from_fov(self.default_fov_deg, image_hw, len(frames))
            )
            depth_n, pose_enc, fit = self._normalise_alone(depth, k)
        return Targets(
            pose_enc=pose_enc,
            depth=depth_n.astype(np.float32),
            metric_scale=fit.scale,
            features=features,
            depth_conf=valid_depth(depth_n).astype(np.float16),
            pose_valid=gt is not None,
            scale_valid=fit.valid,
        )

    def _run(self, frames: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Raw depth `[T,H,W]` at frame size + pooled features per layer, in micro-batches."""
        in_hw = model_input_hw(frames.shape[1:3], self.input_size, 2 * self.patch)
        grid = (in_hw[0] // self.patch, in_hw[1] // self.patch)
        raws, feats = [], {name: [] for name in self.layers}
        for start in range(0, len(frames), self.batch_size):
            x = normalize_imagenet(
                frames_to_tensor(frames[start : start + self.batch_size], in_hw, self.device)
            )
            out = self.model(pixel_values=x, output_hidden_states=True)
            ensure_finite("predicted_depth", out.predicted_depth)
            raws.append(out.predicted_depth)
            for name, block in zip(self.layers, self.block_ids, strict=True):
                tokens = out.hidden_states[block][:, self.prefix_tokens :]
                ensure_finite(f"hidden_states[{block}]", tokens)
                feats[name].append(pool_patch_tokens(tokens, grid))
        raw = resize_maps(torch.cat(raws), tuple(frames.shape[1:3]))
        return raw, {name: np.concatenate(parts) for name, parts in feats.items()}

    def _depth_from_raw(self, raw: np.ndarray) -> np.ndarray:
        if self.metric:
            return np.where(raw > 0, raw, 0.0)
        floor = MIN_DISPARITY_FRACTION * raw.reshape(len(raw), -1).max(axis=1)[:, None, None]
        ok = raw > np.maximum(floor, 1e-12)
        return np.where(ok, 1.0 / np.where(ok, raw, 1.0), 0.0)

    def _normalise_alone(
        self, depth: np.ndarray, intrinsics: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, ScaleFit]:
        own_frames = np.tile(np.eye(3, 4), (len(depth), 1, 1))
        try:
            scale = average_point_distance(depth, intrinsics, own_frames)
        except ValueError as e:
            raise ClipRejected(f"teacher depth: {e}") from e
        depth_n = depth / scale
        fit = fit_scale(depth, depth_n) if self.metric else ScaleFit(0.0, 0)
        return depth_n, encode_pose(own_frames, intrinsics, depth.shape[1:]), fit


def _compose_with_gt(depth: np.ndarray, gt: GroundTruth) -> tuple[np.ndarray, np.ndarray, ScaleFit]:
    """Align each frame's teacher depth to the normalised GT scene; poses and scale from GT."""
    try:
        scene = normalise_scene(gt.depth, gt.intrinsics, gt.extrinsics)
    except ValueError as e:
        raise ClipRejected(f"ground truth: {e}") from e
    aligned = np.zeros_like(depth, dtype=np.float64)
    for f in range(len(depth)):
        both = (depth[f] > 0) & (scene.depth[f] > 0)
        fit = lstsq_scale(scene.depth[f], depth[f], both)
        if not fit.valid:
            raise ClipRejected(
                f"frame {f}: no pixel where both teacher and ground-truth depth are valid"
            )
        aligned[f] = depth[f] * fit.scale
    return aligned, scene.pose_enc, fit_scale(gt.depth, aligned)


def weights_identity(weights: str) -> str:
    """What identifies the weights in the cache key: content hash of a local directory, else the id.

    A local directory is hashed (config + weight files) so that the same weights at another
    path reuse the cache and changed weights at the same path do not.
    """
    path = Path(weights)
    if not path.is_dir():
        return weights
    digest = hashlib.sha256()
    for file in sorted(path.iterdir()):
        if file.name == "config.json" or file.suffix in {".safetensors", ".bin"}:
            digest.update(file.name.encode())
            with file.open("rb") as f:
                while block := f.read(1 << 20):
                    digest.update(block)
    return f"sha256:{digest.hexdigest()[:16]}"
