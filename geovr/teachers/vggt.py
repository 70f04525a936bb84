"""The `vggt` teacher: VGGT-1B, the paper's default teacher. UNTESTED HERE.

VGGT's official code is not on PyPI and is not installed in this project's CI, so this
adapter was written against its documented API and has never run here. Install it yourself:

    pip install "vggt @ git+https://github.com/facebookresearch/vggt"
    geovr distill --clips CLIPS --teacher vggt --weights facebook/VGGT-1B --out TARGETS

Targets (docs/method.md, "Teachers"):
- features: aggregator outputs of blocks 4/11/17/23 (0-based), patch tokens from token index
  `patch_start_idx` (1 camera + 4 register tokens come first), the first 1024 channels (the
  frame-attention half of the 2048-d frame|global concatenation), 2x2 pooled, float16;
- pose_enc: the camera head's last iteration (already absT_quaR_FoV, first-camera frame);
- depth, depth_conf: the DPT depth head, resized to the stored frame size; depth and
  translations are re-normalised to exactly unit average point distance (VGGT's outputs are
  only approximately normalised); confidence clipped to the float16 range;
- metric_scale: LS fit of ground-truth metric depth when the clip has it, else scale_valid = False.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from geovr.devices import resolve_device
from geovr.errors import GeoVRError
from geovr.geometry.pose import decode_pose, normalise_scene
from geovr.geometry.scale import ScaleFit, fit_scale
from geovr.teachers.base import (
    TEACHER_INPUT_SIZE,
    VGGT_FEATURE_DIM,
    VGGT_LAYERS,
    ClipRejected,
    GroundTruth,
    Targets,
)
from geovr.teachers.torch_ops import (
    ensure_finite,
    frames_to_tensor,
    inference,
    model_input_hw,
    pool_patch_tokens,
    resize_maps,
)

INSTALL_HINT = 'pip install "vggt @ git+https://github.com/facebookresearch/vggt"'
FP16_MAX = 65504.0


class VGGTTeacher:
    """VGGT through its official package (optional dependency); see the module docstring."""

    name = "vggt"

    def __init__(
        self,
        weights: str = "facebook/VGGT-1B",
        input_size: int = TEACHER_INPUT_SIZE,
        layers: Sequence[int] = VGGT_LAYERS,
        channels: int = VGGT_FEATURE_DIM,
        batch_size: int = 1,
        device: str = "cpu",
    ):
        # batch_size is unused: VGGT attends across all frames of a clip, one clip per forward.
        try:
            from vggt.models.vggt import VGGT
        except ImportError as e:
            raise GeoVRError(
                f"the vggt teacher needs VGGT's official code (not on PyPI): {INSTALL_HINT}"
            ) from e
        self.model = VGGT.from_pretrained(weights).eval()
        self.weights, self.input_size, self.channels = weights, input_size, channels
        self.block_ids = tuple(int(i) for i in layers)
        self.layers = tuple(str(i) for i in self.block_ids)
        self.patch = 14
        self.to(device)

    @property
    def config(self) -> dict[str, Any]:
        return {
            "version": 1,
            "weights": self.weights,
            "input_size": self.input_size,
            "layers": list(self.layers),
            "channels": self.channels,
        }

    def to(self, device: str) -> VGGTTeacher:
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
        in_hw = model_input_hw(image_hw, self.input_size, 2 * self.patch)
        images = frames_to_tensor(frames, in_hw, self.device)[None]  # [1,T,3,h,w] in [0,1]
        tokens, patch_start = self.model.aggregator(images)
        # VGGT's documented usage runs only the aggregator under bf16 autocast, the heads in fp32.
        with torch.autocast(device_type=torch.device(self.device).type, enabled=False):
            pose_enc = self.model.camera_head(tokens)[-1][0]
            depth, conf = self.model.depth_head(tokens, images, patch_start)
        for name, x in (("pose_enc", pose_enc), ("depth", depth), ("depth_conf", conf)):
            ensure_finite(name, x)
        grid = (in_hw[0] // self.patch, in_hw[1] // self.patch)
        features = {
            name: pool_patch_tokens(tokens[block][0, :, patch_start:, : self.channels], grid)
            for name, block in zip(self.layers, self.block_ids, strict=True)
        }
        # The FoV is resolution-free, so the stored frame size gives the intrinsics there.
        extrinsics, k = decode_pose(pose_enc.float().cpu().numpy(), image_hw)
        depth_full = resize_maps(depth[0, ..., 0], image_hw)
        conf_full = np.minimum(resize_maps(conf[0], image_hw), FP16_MAX)
        try:
            scene = normalise_scene(depth_full, k, extrinsics)
        except ValueError as e:
            raise ClipRejected(f"teacher depth: {e}") from e
        fit = (
            fit_scale(gt.depth, scene.depth, conf=conf_full) if gt is not None else ScaleFit(0.0, 0)
        )
        return Targets(
            pose_enc=scene.pose_enc,
            depth=scene.depth,
            metric_scale=fit.scale,
            features=features,
            depth_conf=conf_full.astype(np.float16),
            scale_valid=fit.valid,
        )
