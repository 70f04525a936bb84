"""The four geometry heads: output shapes, losses against hand-computed values, masks, gradients."""

import math

import pytest
import torch

from geovr.model.heads.camera import CameraHead, camera_loss
from geovr.model.heads.depth import DepthHead, depth_loss, quantile
from geovr.model.heads.distill import DistillHead, distill_loss, resize_grid
from geovr.model.heads.scale import ScaleHead, scale_loss

H = 16


def test_camera_head_shape_and_fov_nonnegative():
    out = CameraHead(H, width=32)(torch.randn(2, 5, H))
    assert out.shape == (2, 5, 9) and (out[..., 7:] >= 0).all()


def test_camera_loss_by_hand():
    target = torch.zeros(1, 9)
    pred = torch.tensor([[1.0, 2.0, 300.0, 0.4, 0.0, 0.0, 0.0, 0.2, 0.6]])
    # T: clamp(1, 2, 300 -> 100) mean = 103/3; R: 0.4/4 = 0.1; FoV: 0.8/2 = 0.4, weighted 0.5
    expected = 103 / 3 + 0.1 + 0.5 * 0.4
    assert camera_loss(pred, target).item() == pytest.approx(expected)
    two = torch.cat([pred, torch.zeros(1, 9)])  # the wrong frame is masked out (pose_valid)
    assert camera_loss(two, torch.zeros(2, 9), torch.tensor([False, True])).item() == 0
    none = camera_loss(two.requires_grad_(), torch.zeros(2, 9), torch.tensor([False, False]))
    assert none.item() == 0 and none.requires_grad  # no valid frame: 0, graph intact (DDP)


def test_scale_head_and_loss_by_hand():
    s = ScaleHead(H, width=8)(torch.randn(3, H))
    assert s.shape == (3,) and (s > 0).all()
    pred, target = torch.tensor([1.0, 3.0]), torch.tensor([math.e - 1, 3.0])
    # |log1p(e - 1) - log1p(1)| = 1 - ln 2; second clip exact
    assert scale_loss(pred, target).item() == pytest.approx((1 - math.log(2)) / 2)
    assert scale_loss(pred, target, torch.tensor([False, True])).item() == 0


def test_distill_loss_by_hand_and_resize():
    target = [torch.tensor([[[[1.0, 0.0]]]])] * 2  # [1,1,1,2]
    same, orthogonal = torch.tensor([[[[2.0, 0.0]]]]), torch.tensor([[[[0.0, 5.0]]]])
    assert distill_loss([same, orthogonal], target).item() == pytest.approx(0.5)  # (0 + 1) / 2
    opposite = torch.tensor([[[[-1.0, 0.0]]]])
    assert distill_loss([opposite, same], target).item() == pytest.approx(1.0)  # (2 + 0) / 2
    grid = torch.randn(2, 3, 3, 4)
    assert resize_grid(grid, (6, 6)).shape == (2, 6, 6, 4)
    assert resize_grid(grid, (3, 3)) is grid
    # a constant student grid resized to a larger teacher grid stays constant: loss 0
    big_target = [torch.tensor([1.0, 2.0]).expand(1, 4, 6, 2)]
    assert distill_loss(
        [torch.tensor([2.0, 4.0]).expand(1, 2, 3, 2)], big_target
    ).item() == pytest.approx(0, abs=1e-6)
    head = DistillHead(H, teacher_dim=4, width=8)
    assert [o.shape for o in head([torch.randn(2, 3, 3, H) for _ in range(4)])] == [
        (2, 3, 3, 4)
    ] * 4


def test_depth_head_shape_positive():
    head = DepthHead(H, channels=(8, 8, 16, 16), features=8)
    depth = head([torch.randn(3, 2, 3, H) for _ in range(4)], size=(16, 24))
    assert depth.shape == (3, 16, 24) and (depth > 0).all()


@pytest.mark.parametrize("n", [1, 2, 7, 1001])
@pytest.mark.parametrize("q", [0.0, 0.1, 0.5, 0.98, 1.0])
def test_quantile_matches_torch(n, q):
    values = torch.rand(n)
    values[: n // 3] = 0.5  # ties
    assert quantile(values, q).item() == pytest.approx(torch.quantile(values, q).item())


def test_depth_loss_by_hand():
    target = torch.ones(1, 4, 4)
    pred = torch.ones(1, 4, 4)
    pred[0, 0, 0] = 1.5  # one pixel off by 0.5
    # L1: errors 15 x 0 and 0.5; the 98% quantile (linear) is 0.35, so the outlier is dropped -> 0
    # gradient of diff (a 0.5 spike at (0,0)), |differences| over valid pairs / valid pixels:
    #   stride 1: one x-pair and one y-pair of 0.5 over 16 pixels; stride 2: the same over 4 pixels;
    #   strides 4 and 8: a single pixel, no pair. Averaged over the 4 scales.
    expected = 0.0 + (1.0 / 16 + 1.0 / 4 + 0 + 0) / 4
    assert depth_loss(pred, target).item() == pytest.approx(expected)
    invalid = target.clone()
    invalid[0, 0, 0] = 0  # the spike is now on a pixel without target: no loss at all
    assert depth_loss(pred, invalid).item() == pytest.approx(0.0)
    assert depth_loss(pred, torch.zeros(1, 4, 4)).item() == 0  # no valid pixel


def test_depth_l1_keeps_errors_under_the_quantile():
    # 100 one-pixel frames: no neighbouring pixels, so no gradient term;
    # errors 0, 0.01, ..., 0.98, 50
    errors = torch.cat([torch.arange(99) / 100, torch.tensor([50.0])])
    target = torch.ones(100, 1, 1)
    pred = target + errors.view(100, 1, 1)
    # 98% quantile (linear): position 0.98 * 99 = 97.02 -> 0.97 + 0.02 * 0.01 = 0.9702;
    # kept 0 .. 0.97
    assert depth_loss(pred, target).item() == pytest.approx(sum(i / 100 for i in range(98)) / 98)


def test_every_head_passes_gradients_to_its_input():
    states = torch.randn(2, H, requires_grad=True)
    grids = [torch.randn(2, 4, 4, H, requires_grad=True) for _ in range(4)]
    losses = {
        "cam": camera_loss(CameraHead(H, 8)(states), torch.zeros(2, 9)),
        "scale": scale_loss(ScaleHead(H, 8)(states), torch.ones(2)),
        "depth": depth_loss(
            DepthHead(H, (8, 8, 8, 8), 8)(grids, (16, 16)), torch.rand(2, 16, 16) + 0.5
        ),
        "distill": distill_loss(DistillHead(H, 4, width=8)(grids), [torch.randn(2, 4, 4, 4)] * 4),
    }
    for name, loss in losses.items():
        inputs = [states] if name in ("cam", "scale") else grids
        for grad in torch.autograd.grad(loss, inputs):
            assert grad.abs().sum() > 0, name
