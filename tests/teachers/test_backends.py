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
from geovr.geometry.pose import average_point_distance, decode_pose
from geovr.teachers.base import GroundTruth, build_teacher

from .fake_packages.depth_anything_3.api import DepthAnything3
from .fakes import install_da3, install_vggt
from .synth import make_clip


@pytest.mark.parametrize(("name", "module"), [("vggt", "vggt"), ("da3", "depth_anything_3")])
def test_missing_package_gives_install_hint(name, module, monkeypatch):
    monkeypatch.setitem(sys.modules, module, None)  # import fails even if it were installed
    with pytest.raises(GeoVRError, match="pip install"):
        build_teacher(name)


def test_vggt_adapter_against_a_fake(monkeypatch):
    clip = make_clip(2, hw=(56, 56))
    install_vggt(monkeypatch, [clip])
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

    class FakeDA3(DepthAnything3):
        def inference(self, image, process_res, export_feat_layers=()):
            n = len(image)
            aux = {
                f"feat_layer_{i}": np.full((n, 4, 4, 1536), i, np.float32)
                for i in export_feat_layers
            }
            return types.SimpleNamespace(
                depth=clip["depth"][:, ::2, ::2] * 2.0,
                conf=np.ones((n, 28, 28), np.float32),
                extrinsics=clip["extrinsics"],
                intrinsics=clip["intrinsics"] / [[2], [2], [1]],
                aux=aux,
            )

    install_da3(monkeypatch, FakeDA3)
    t = build_teacher("da3").targets(clip["frames"])
    assert t.problem() is None and not t.scale_valid and t.depth.shape == (4, 56, 56)
    assert {k: v.shape for k, v in t.features.items()} == {
        str(i): (4, 2, 2, 1536) for i in (18, 26, 32, 38)
    }
    _, k = decode_pose(t.pose_enc, (56, 56))
    np.testing.assert_allclose(k, clip["intrinsics"], rtol=1e-5)  # rescaled from DA3's size
