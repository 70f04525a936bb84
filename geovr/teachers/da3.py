"""The `da3` teacher: Depth Anything 3 (any-view), the paper's alternative. UNTESTED HERE.

The `depth-anything-3` package is optional and not installed in this project's CI; this
adapter follows its documented `DepthAnything3.inference` API and has never run here.

    pip install depth-anything-3        # or from github.com/ByteDance-Seed/Depth-Anything-3
    geovr distill --clips CLIPS --teacher da3 --weights depth-anything/DA3-GIANT \
        --scale-teacher da3-metric --out TARGETS

Targets:
- features: `export_feat_layers` 18/26/32/38 (DA3-GIANT, 1536-d), 2x2 pooled, float16;
- pose_enc, depth, depth_conf: DA3's extrinsics (camera-from-world, OpenCV), intrinsics,
  depth and confidence, re-expressed in the first camera's frame at unit average point
  distance; depth/intrinsics resized from DA3's processing size to the stored frame size;
- metric_scale: LS fit of ground-truth metric depth when the clip has it, else scale_valid =
  False; `--scale-teacher da3-metric` (geovr.teachers.metric_scale) gives every clip one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from geovr.devices import resolve_device
from geovr.errors import GeoVRError
from geovr.geometry.pose import normalise_scene
from geovr.geometry.scale import ScaleFit, fit_scale
from geovr.teachers.base import TEACHER_INPUT_SIZE, ClipRejected, GroundTruth, Targets, pool_2x2
from geovr.teachers.torch_ops import inference, resize_maps

INSTALL_HINT = "pip install depth-anything-3 (https://github.com/ByteDance-Seed/Depth-Anything-3)"
DA3_GIANT_LAYERS = (18, 26, 32, 38)


def load_da3(weights: str):
    """A DepthAnything3 model in eval mode (any-view or metric weights)."""
    try:
        from depth_anything_3.api import DepthAnything3
    except ImportError as e:
        raise GeoVRError(
            f"the da3 teacher needs the depth-anything-3 package: {INSTALL_HINT}"
        ) from e
    return DepthAnything3.from_pretrained(weights).eval()


class DA3Teacher:
    """Depth Anything 3 through its package (optional dependency); see the module docstring."""

    name = "da3"

    def __init__(
        self,
        weights: str = "depth-anything/DA3-GIANT",
        layers: Sequence[int] = DA3_GIANT_LAYERS,
        input_size: int = TEACHER_INPUT_SIZE,
        batch_size: int = 1,
        device: str = "cpu",
    ):
        # batch_size is unused: DA3 is multi-view, one clip per call.
        self.weights, self.input_size = weights, input_size
        self.block_ids = tuple(int(i) for i in layers)
        self.layers = tuple(str(i) for i in self.block_ids)
        self.model = load_da3(weights)
        self.to(device)

    @property
    def config(self) -> dict[str, Any]:
        return {
            "version": 1,
            "weights": self.weights,
            "input_size": self.input_size,
            "layers": list(self.layers),
        }

    def to(self, device: str) -> DA3Teacher:
        self.device = resolve_device(device)
        self.model.to(self.device)
        return self

    @inference
    def targets(
        self,
        frames: np.ndarray,
        intrinsics: np.ndarray | None = None,
        gt: GroundTruth | None = None,
    ) -> Targets:
        image_hw = tuple(frames.shape[1:3])
        pred = self.model.inference(
            image=list(frames), process_res=self.input_size, export_feat_layers=list(self.block_ids)
        )
        depth, conf = _at_size(pred.depth, image_hw), _at_size(pred.conf, image_hw)
        k = _rescale_intrinsics(np.asarray(pred.intrinsics), np.shape(pred.depth)[1:], image_hw)
        features = {}
        for name, block in zip(self.layers, self.block_ids, strict=True):
            feat = np.asarray(pred.aux[f"feat_layer_{block}"], dtype=np.float32)
            features[name] = pool_2x2(feat.reshape(-1, *feat.shape[-3:]))
        if not (np.isfinite(depth).all() and np.isfinite(conf).all() and np.isfinite(k).all()):
            raise ClipRejected("non-finite teacher output in DA3 depth, confidence or intrinsics")
        try:
            scene = normalise_scene(depth, k, np.asarray(pred.extrinsics, dtype=np.float64)[:, :3])
        except ValueError as e:
            raise ClipRejected(f"teacher depth: {e}") from e
        fit = fit_scale(gt.depth, scene.depth, conf=conf) if gt is not None else ScaleFit(0.0, 0)
        return Targets(
            pose_enc=scene.pose_enc,
            depth=scene.depth,
            metric_scale=fit.scale,
            features=features,
            depth_conf=np.minimum(conf, 65504.0).astype(np.float16),
            scale_valid=fit.valid,
        )


def _at_size(maps: Any, image_hw: tuple[int, int]) -> np.ndarray:
    return resize_maps(torch.as_tensor(np.asarray(maps, dtype=np.float32)), image_hw)


def _rescale_intrinsics(
    k: np.ndarray, from_hw: tuple[int, int], to_hw: tuple[int, int]
) -> np.ndarray:
    k = k.astype(np.float64).copy()
    k[:, 0] *= to_hw[1] / from_hw[1]
    k[:, 1] *= to_hw[0] / from_hw[0]
    return k
