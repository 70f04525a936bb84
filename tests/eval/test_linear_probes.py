"""Linear probes (issue 22, item 2): a planted linear signal is recovered on held-out groups,
noise is not, and the targets are the geometry they claim to be."""

from __future__ import annotations

import numpy as np
import pytest

from geovr.eval import linear_probes as lp


def _clips(rng, clips: int, per_clip: int, dim: int) -> tuple[np.ndarray, np.ndarray]:
    return rng.normal(size=(clips * per_clip, dim)), np.repeat(np.arange(clips), per_clip)


def test_a_planted_linear_signal_is_recovered_on_held_out_clips():
    rng = np.random.default_rng(0)
    x, groups = _clips(rng, 40, 16, 32)
    weights = rng.normal(size=(32, 3))
    y = x @ weights + 0.01 * rng.normal(size=(len(x), 3)) + 5.0
    train = groups < 30
    probe = lp.fit_ridge(x[train], y[train], groups[train])
    sums = lp.r2_sums(probe(x[~train]), y[~train], groups[~train])
    assert sums.shape == (10, 3, 4)
    assert lp.r2_from_sums(sums) > 0.99


def test_noise_gives_no_held_out_r2():
    rng = np.random.default_rng(1)
    x, groups = _clips(rng, 40, 16, 32)
    y = rng.normal(size=(len(x), 2))
    train = groups < 30
    probe = lp.fit_ridge(x[train], y[train], groups[train])
    r2 = lp.r2_from_sums(lp.r2_sums(probe(x[~train]), y[~train], groups[~train]))
    assert -0.1 < r2 < 0.05


def test_r2_is_sklearns_definition_pooled_over_outputs():
    # outputs of different means and spreads: each is centred on its own mean
    target = np.array([[0.0, 10.0], [2.0, 14.0], [4.0, 18.0]])
    predicted = target + np.array([[1.0, 0.0], [0.0, 2.0], [-1.0, 0.0]])
    sst = 8.0 + 32.0
    expected = 1 - (2.0 + 4.0) / sst
    assert lp.r2_from_sums(lp.r2_sums(predicted, target, [0, 1, 1])) == pytest.approx(expected)


def test_patch_log_depth_pools_valid_pixels_of_each_token():
    depth = np.ones((1, 4, 4))
    depth[0, :2, :2] = np.e  # top-left token: log 1
    depth[0, 0, 2] = 0.0  # one invalid pixel in the top-right token, left out
    depth[0, 2:, 2:] = np.nan
    pooled = lp.patch_log_depth(depth, (2, 2))
    assert pooled[0, 0, 0] == pytest.approx(1.0)
    assert pooled[0, 0, 1] == pytest.approx(0.0) and pooled[0, 1, 0] == pytest.approx(0.0)
    assert np.isnan(pooled[0, 1, 1])


def test_relative_motion_of_a_known_move():
    # frame 1: the camera turned 90 degrees about y and moved; t_rel = t_1 - R t_0
    turn = np.array([[0.0, 0, 1], [0, 1, 0], [-1, 0, 0]])
    ext = np.zeros((2, 3, 4))
    ext[0, :, :3], ext[0, :, 3] = np.eye(3), [0.0, 0.0, 1.0]
    ext[1, :, :3], ext[1, :, 3] = turn, [0.0, 2.0, 0.0]
    motion = lp.relative_motion(ext)
    t_rel = np.array([0.0, 2.0, 0.0]) - turn @ np.array([0.0, 0.0, 1.0])
    np.testing.assert_allclose(motion[0, :3], t_rel / np.linalg.norm(t_rel))
    assert motion[0, 3] == pytest.approx(90.0)
