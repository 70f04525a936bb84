"""Small fakes of VGGT's and Depth Anything 3's documented APIs (their packages are not
installed here), put in sys.modules in place of the real modules. They say nothing about the
real models: they check our glue code (names, shapes, layers, resolutions, conversions).

- VGGT (`vggt.models.vggt.VGGT`): `aggregator(images [1,S,3,H,W])` -> (24 token tensors
  [1,S,5+P,2048], patch_start_idx 5); `camera_head(tokens)` -> list of pose encodings [1,S,9];
  `depth_head(tokens, images, patch_start_idx)` -> (depth [1,S,H,W,1], conf [1,S,H,W]).
- DA3 (`depth_anything_3.api.DepthAnything3`): `inference(image=[...], process_res=...)` ->
  a Prediction with depth/conf/sky [N,h,w] at the processing size (sky None for any-view models).
"""

from __future__ import annotations

import sys
import types

import numpy as np
import torch

from geovr.geometry.pose import encode_pose

from .fake_packages.depth_anything_3.api import DepthAnything3


class FakeVGGT(torch.nn.Module):
    """Tokens hold their block index; pose and depth (x 0.37, an arbitrary scale) come from the
    clip of `FakeVGGT.clips` whose frames were fed; its optional "conf" is the confidence."""

    clips: list[dict] = []

    def __init__(self):
        super().__init__()
        self.clip: dict = {}

    @classmethod
    def from_pretrained(cls, weights):
        return cls()

    def aggregator(self, images):
        _, s, _, h, w = images.shape
        fed = (images[0] * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
        self.clip = next(c for c in self.clips if np.array_equal(c["frames"], fed))
        p = (h // 14) * (w // 14)
        return [torch.full((1, s, 5 + p, 2048), float(i)) for i in range(24)], 5

    def camera_head(self, tokens):
        c = self.clip
        return [
            torch.from_numpy(encode_pose(c["extrinsics"], c["intrinsics"], c["depth"].shape[1:]))[
                None
            ]
        ]

    def depth_head(self, tokens, images, patch_start):
        depth = torch.from_numpy(self.clip["depth"] * 0.37)[None, ..., None]
        conf = self.clip.get("conf", np.ones(self.clip["depth"].shape, np.float32))
        return depth, torch.from_numpy(conf)[None]


class FakeDA3Metric(DepthAnything3):
    """DA3-METRIC: the metric depth and sky map of the clip in `FakeDA3Metric.outputs` keyed by
    its frames' bytes (raw = metres * 300 / focal, at the processing size)."""

    outputs: dict[bytes, types.SimpleNamespace] = {}

    def inference(self, image, process_res, export_feat_layers=()):
        return self.outputs[np.stack(image).tobytes()]


def install_vggt(monkeypatch, clips: list[dict]) -> None:
    FakeVGGT.clips = clips
    module = types.ModuleType("vggt.models.vggt")
    module.VGGT = FakeVGGT
    monkeypatch.setitem(sys.modules, "vggt", types.ModuleType("vggt"))
    monkeypatch.setitem(sys.modules, "vggt.models", types.ModuleType("vggt.models"))
    monkeypatch.setitem(sys.modules, "vggt.models.vggt", module)


def install_da3(monkeypatch, model_class) -> None:
    api = types.ModuleType("depth_anything_3.api")
    api.DepthAnything3 = model_class
    monkeypatch.setitem(sys.modules, "depth_anything_3", types.ModuleType("depth_anything_3"))
    monkeypatch.setitem(sys.modules, "depth_anything_3.api", api)
