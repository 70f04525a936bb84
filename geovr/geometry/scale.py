"""Metric-scale target: the least-squares scalar that maps teacher depth to metric depth.

    s = <m, d> / <d, d>     over the valid pixels (docs/method.md, "Metric scale")

Valid pixels: not sky, teacher confidence >= its median over the clip's non-sky pixels (as
DA3's own metric alignment does), metric depth > 0.01, teacher depth > 1e-3, both finite. The
student predicts s; metric depth = teacher depth * s.

    fit = fit_scale(metric_depth, teacher_depth, conf=teacher_conf)
    fit.scale, fit.n_valid, fit.valid
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_METRIC_DEPTH = 0.01  # metres
MIN_TEACHER_DEPTH = 1e-3  # normalised units


@dataclass(frozen=True)
class ScaleFit:
    scale: float  # 0.0 when no pixel is valid
    n_valid: int

    @property
    def valid(self) -> bool:
        return self.n_valid > 0 and np.isfinite(self.scale) and self.scale > 0


def scale_fit_mask(
    metric: np.ndarray,
    teacher: np.ndarray,
    conf: np.ndarray | None = None,
    sky: np.ndarray | None = None,
) -> np.ndarray:
    """Boolean mask of the pixels the scale fit may use (all arrays `[T,H,W]`)."""
    metric = np.asarray(metric, dtype=np.float64)
    teacher = np.asarray(teacher, dtype=np.float64)
    mask = np.isfinite(metric) & np.isfinite(teacher)
    mask &= (np.nan_to_num(metric) > MIN_METRIC_DEPTH) & (
        np.nan_to_num(teacher) > MIN_TEACHER_DEPTH
    )
    not_sky = np.ones(mask.shape, bool) if sky is None else ~np.asarray(sky, dtype=bool)
    mask &= not_sky
    if conf is not None:
        conf = np.asarray(conf, dtype=np.float64)
        usable = np.isfinite(conf) & not_sky  # sky confidence must not move the threshold
        if usable.any():
            mask &= usable & (conf >= np.median(conf[usable]))
        else:
            mask[:] = False
    return mask


def lstsq_scale(target: np.ndarray, source: np.ndarray, mask: np.ndarray) -> ScaleFit:
    """argmin_s sum over mask of (target - s * source)^2, in float64."""
    t = np.asarray(target, dtype=np.float64)[mask]
    s = np.asarray(source, dtype=np.float64)[mask]
    denom = float(s @ s)
    if t.size == 0 or denom <= 0:
        return ScaleFit(0.0, 0)
    return ScaleFit(float(t @ s) / denom, int(t.size))


def fit_scale(
    metric: np.ndarray,
    teacher: np.ndarray,
    conf: np.ndarray | None = None,
    sky: np.ndarray | None = None,
) -> ScaleFit:
    """The metric-scale target of one clip: LS fit of `metric ~ s * teacher` on valid pixels."""
    return lstsq_scale(metric, teacher, scale_fit_mask(metric, teacher, conf, sky))
