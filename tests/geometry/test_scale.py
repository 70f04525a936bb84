"""Least-squares metric scale with the validity rules of docs/method.md (geometry/scale.py)."""

import numpy as np
import pytest

from geovr.geometry.scale import fit_scale, scale_fit_mask


@pytest.fixture
def depths():
    rng = np.random.default_rng(0)
    metric = rng.uniform(0.5, 5.0, size=(3, 16, 16))
    return metric, metric / 2.5


def test_known_scale_is_recovered(depths):
    metric, teacher = depths
    fit = fit_scale(metric, teacher)
    assert fit.scale == pytest.approx(2.5, rel=1e-12)
    assert fit.n_valid == metric.size and fit.valid


def test_invalid_pixels_are_excluded(depths):
    metric, teacher = depths
    metric, teacher = metric.copy(), teacher.copy()
    metric[0, :2] = 0.005  # metric <= 0.01 (e.g. no hit)
    teacher[0, 2:4] = 1e-4  # teacher depth <= 1e-3
    teacher[1, :1] = np.nan  # non-finite
    sky = np.zeros(metric.shape, bool)
    sky[2, :3] = True
    metric[2, :3] = 1000.0  # garbage under the sky mask
    fit = fit_scale(metric, teacher, sky=sky)
    assert fit.scale == pytest.approx(2.5, rel=1e-12)
    assert fit.n_valid == metric.size - 16 * (2 + 2 + 1 + 3)


def test_confidence_below_median_is_excluded(depths):
    metric, teacher = depths
    conf = np.ones(metric.shape)
    conf[:, :8] = 0.1  # half the pixels: low confidence, and wrong
    metric = np.where(conf < 1, metric * 7, metric)
    assert scale_fit_mask(metric, teacher, conf).sum() == metric.size // 2
    assert fit_scale(metric, teacher, conf=conf).scale == pytest.approx(2.5, rel=1e-12)


def test_no_valid_pixel_gives_an_invalid_fit(depths):
    metric, teacher = depths
    fit = fit_scale(np.zeros_like(metric), teacher)
    assert (fit.scale, fit.n_valid, fit.valid) == (0.0, 0, False)


def test_confidence_median_is_taken_over_non_sky_pixels(depths):
    metric, teacher = depths
    sky = np.zeros(metric.shape, bool)
    sky[:, :6] = True  # 6 of 16 columns: sky, with the lowest confidence
    conf = np.full(metric.shape, 2.0)
    conf[:, :6], conf[:, 6:11] = 0.5, 1.0  # 5 non-sky columns below the non-sky median...
    metric = np.where(conf == 1.0, metric * 7, metric)  # ...and wrong
    # Over all pixels the median would be 1.0 and let the wrong columns in.
    assert scale_fit_mask(metric, teacher, conf, sky).sum() == 3 * 16 * 5
    assert fit_scale(metric, teacher, conf=conf, sky=sky).scale == pytest.approx(2.5, rel=1e-12)
