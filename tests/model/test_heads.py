"""The four geometry heads: shapes, losses against hand-computed values, gradients."""

import math

import pytest
import torch

from geovr.model.config import GeoVRConfig, map_layers
from geovr.model.heads.camera import CameraHead, camera_loss
from geovr.model.heads.depth import DepthHead, depth_loss
from geovr.model.heads.distill import DistillHead, distill_loss, resize_grid
from geovr.model.heads.scale import ScaleHead, scale_loss

H = 16


def test_layer_mapping():
    assert map_layers(28) == [6, 14, 21, 28]
    assert map_layers(24) == [5, 12, 18, 24]
    assert map_layers(4) == [1, 2, 3, 4]
    assert map_layers(36) == [8, 18, 27, 36]  # 7.5 rounds half up, not to even


def test_config_rejects_unknown_objectives():
    assert GeoVRConfig(objectives=("lm",)).geometry == ()
    with pytest.raises(ValueError, match="unknown objectives"):
        GeoVRConfig(objectives=("lm", "normals"))


def test_camera_head_shape_and_fov_nonnegative():
    out = CameraHead(H, width=32)(torch.randn(2, 5, H))
    assert out.shape == (2, 5, 9) and (out[..., 7:] >= 0).all()


def test_camera_loss_by_hand():
    target = torch.zeros(1, 9)
    pred = torch.tensor([[1.0, 2.0, 300.0, 0.4, 0.0, 0.0, 0.0, 0.2, 0.6]])
    # T: clamp(1,2,300 -> 100) mean = 103/3; R: 0.4/4 = 0.1; FoV: 0.8/2 = 0.4 -> 0.5 * 0.4
    expected = 103 / 3 + 0.1 + 0.5 * 0.4
    assert camera_loss(pred, target).item() == pytest.approx(expected)
    two = torch.cat([pred, torch.zeros(1, 9)])  # the wrong frame is masked out (pose_valid)
    assert camera_loss(two, torch.zeros(2, 9), torch.tensor([False, True])).item() == 0


def test_scale_head_and_loss_by_hand():
    s = ScaleHead(H, width=8)(torch.randn(3, H))
    assert s.shape == (3,) and (s > 0).all()
    pred, target = torch.tensor([1.0, 3.0]), torch.tensor([math.e - 1, 3.0])
    assert scale_loss(pred, target).item() == pytest.approx(abs(1 - math.log(2)) / 2)


def test_distill_loss_by_hand_and_resize():
    target = [torch.tensor([[[[1.0, 0.0]]]])] * 2  # [1,1,1,2]
    same, orthogonal = torch.tensor([[[[2.0, 0.0]]]]), torch.tensor([[[[0.0, 5.0]]]])
    assert distill_loss([same, orthogonal], target).item() == pytest.approx(0.5)  # (0 + 1) / 2
    grid = torch.randn(2, 3, 3, 4)
    assert resize_grid(grid, (6, 6)).shape == (2, 6, 6, 4)
    assert resize_grid(grid, (3, 3)) is grid
    head = DistillHead(H, teacher_dim=4, width=8)
    outs = head([torch.randn(2, 3, 3, H) for _ in range(4)])
    assert [o.shape for o in outs] == [(2, 3, 3, 4)] * 4


def test_depth_head_shape_positive():
    head = DepthHead(H, channels=(8, 8, 16, 16))
    depth = head([torch.randn(3, 4, 4, H) for _ in range(4)], size=(32, 32))
    assert depth.shape == (3, 32, 32) and (depth > 0).all()


def test_depth_loss_by_hand():
    target = torch.ones(1, 4, 4)
    pred = torch.ones(1, 4, 4)
    pred[0, 0, 0] = 1.5  # one pixel off by 0.5
    # quantile 0.98 of 15 zeros and one 0.5 lies below 0.5: the outlier is dropped from L1
    # gradient at stride 1: diff has one 0.5 spike -> 2 differences of 0.5 over 24 pairs
    stride1 = (0.5 + 0.5) / 24
    # stride 2/4/8 keep pixel (0,0): 2x2 grid -> 2 of 4 pairs; 1x1 grid -> no pairs
    expected = 0.0 + stride1 + (0.5 + 0.5) / 4
    assert depth_loss(pred, target).item() == pytest.approx(expected)
    invalid = target.clone()
    invalid[0, 0, 0] = 0  # the spike is now on an invalid pixel: no loss at all
    assert depth_loss(pred, invalid).item() == pytest.approx(0.0)


def test_every_head_passes_gradients_to_its_input():
    states = torch.randn(2, H, requires_grad=True)
    grids = [torch.randn(2, 4, 4, H, requires_grad=True) for _ in range(4)]
    losses = {
        "cam": camera_loss(CameraHead(H, 8)(states), torch.zeros(2, 9)),
        "scale": scale_loss(ScaleHead(H, 8)(states), torch.ones(2)),
        "depth": depth_loss(DepthHead(H, (8, 8, 8, 8))(grids, (16, 16)), torch.rand(2, 16, 16) + 0.5),
        "distill": distill_loss(DistillHead(H, 4, width=8)(grids), [torch.randn(2, 4, 4, 4)] * 4),
    }
    for name, loss in losses.items():
        inputs = states if name in ("cam", "scale") else grids[0]
        (grad,) = torch.autograd.grad(loss, inputs)
        assert grad.abs().sum() > 0, name
