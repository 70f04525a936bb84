"""The optional VGGT and DA3 adapters. Their packages are not installed here, so this checks
(1) the clear error when they are missing and (2) our glue code against small FAKES of their
documented APIs (shapes, layer/channel selection, normalisation). It says nothing about the
real models."""

import sys
import types

import numpy as np
import pytest
import torch

from geovr.errors import GeoVRError
from geovr.teachers.base import GroundTruth, build_teacher
from geovr.teachers.pose import average_point_distance, decode_pose, encode_pose

from .synth import make_clip


@pytest.mark.parametrize(("name", "module"), [("vggt", "vggt"), ("da3", "depth_anything_3")])
def test_missing_package_gives_install_hint(name, module, monkeypatch):
    monkeypatch.setitem(sys.modules, module, None)  # import fails even if it were installed
    with pytest.raises(GeoVRError, match="pip install"):
        build_teacher(name)


class FakeVGGT(torch.nn.Module):
    """Aggregator tokens [1,S,5+P,2048] (value = block index), camera/depth heads."""

    def __init__(self, clip):
        super().__init__()
        self.clip = clip

    @classmethod
    def from_pretrained(cls, weights):
        return cls(FakeVGGT.clip)

    def aggregator(self, images):
        _, s, _, h, w = images.shape
        p = (h // 14) * (w // 14)
        return [torch.full((1, s, 5 + p, 2048), float(i)) for i in range(24)], 5

    def camera_head(self, tokens):
        c = self.clip
        pose = encode_pose(c["extrinsics"], c["intrinsics"], c["depth"].shape[1:])
        return [torch.from_numpy(pose)[None]]

    def depth_head(self, tokens, images, patch_start):
        depth = torch.from_numpy(self.clip["depth"] * 0.37)[None, ..., None]  # arbitrary scale
        return depth, torch.ones(depth.shape[:-1])


def test_vggt_adapter_against_a_fake(monkeypatch):
    clip = make_clip(2, hw=(56, 56))
    FakeVGGT.clip = clip
    module = types.ModuleType("vggt.models.vggt")
    module.VGGT = FakeVGGT
    monkeypatch.setitem(sys.modules, "vggt", types.ModuleType("vggt"))
    monkeypatch.setitem(sys.modules, "vggt.models", types.ModuleType("vggt.models"))
    monkeypatch.setitem(sys.modules, "vggt.models.vggt", module)
    teacher = build_teacher("vggt", input_size=56)
    with torch.inference_mode():
        t = teacher.targets(
            clip["frames"], gt=GroundTruth(clip["depth"], clip["intrinsics"], clip["extrinsics"])
        )
    assert t.problem() is None and teacher.layers == ("4", "11", "17", "23")
    assert {k: (v.shape, float(v.max())) for k, v in t.features.items()} == {
        str(i): ((4, 2, 2, 1024), float(i)) for i in (4, 11, 17, 23)
    }
    ext, k = decode_pose(t.pose_enc, (56, 56))
    assert average_point_distance(t.depth, k, ext) == pytest.approx(1.0, rel=1e-5)
    np.testing.assert_allclose(t.depth * t.metric_scale, clip["depth"], rtol=1e-4, atol=1e-5)


def test_da3_adapter_against_a_fake(monkeypatch):
    clip = make_clip(5, hw=(56, 56))

    class FakeDA3:
        @classmethod
        def from_pretrained(cls, weights):
            return cls()

        def to(self, device):
            return self

        def eval(self):
            return self

        def inference(self, image, process_res, export_feat_layers=()):
            n = len(image)
            aux = {
                f"feat_layer_{i}": np.full((n, 4, 4, 1536), i, np.float32)
                for i in export_feat_layers
            }
            return types.SimpleNamespace(
                depth=clip["depth"][:, ::2, ::2] * 2.0, conf=np.ones((n, 28, 28), np.float32),
                extrinsics=clip["extrinsics"], intrinsics=clip["intrinsics"] / [[2], [2], [1]], aux=aux,
            )  # fmt: skip

    api = types.ModuleType("depth_anything_3.api")
    api.DepthAnything3 = FakeDA3
    monkeypatch.setitem(sys.modules, "depth_anything_3", types.ModuleType("depth_anything_3"))
    monkeypatch.setitem(sys.modules, "depth_anything_3.api", api)
    t = build_teacher("da3").targets(clip["frames"])
    assert t.problem() is None and not t.scale_valid and t.depth.shape == (4, 56, 56)
    assert {k: v.shape for k, v in t.features.items()} == {
        str(i): (4, 2, 2, 1536) for i in (18, 26, 32, 38)
    }
    _, k = decode_pose(t.pose_enc, (56, 56))
    np.testing.assert_allclose(k, clip["intrinsics"], rtol=1e-5)  # rescaled from DA3's size
