"""The `da3-metric` scale teacher: DA3-METRIC-LARGE, the paper's metric-scale source. UNTESTED HERE
against the real model (the depth-anything-3 package is optional and not installed in CI).

    geovr distill --clips C --teacher vggt --scale-teacher da3-metric --out T

DA3-METRIC predicts a canonical depth per frame; metres = raw * focal / 300 with focal =
(fx + fy) / 2 in pixels of the image the model saw (its processing size). The focal comes
from the geometry teacher's FoV, the clip's only camera on real video. Its sky map marks the
pixels the scale fit leaves out (sky >= 0.3, DA3's own threshold).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from geovr.devices import resolve_device
from geovr.geometry.camera import mean_focal
from geovr.teachers.base import TEACHER_INPUT_SIZE
from geovr.teachers.da3 import load_da3
from geovr.teachers.pair import MetricDepth
from geovr.teachers.torch_ops import inference

METRIC_FOCAL_REFERENCE = 300.0  # DA3-METRIC: metres = raw * focal_px / 300
SKY_THRESHOLD = 0.3  # DA3: sky probability >= 0.3 is sky


class DA3MetricScale:
    """DA3-METRIC through the depth-anything-3 package (optional dependency)."""

    name = "da3-metric"

    def __init__(
        self,
        weights: str = "depth-anything/DA3METRIC-LARGE",
        input_size: int = TEACHER_INPUT_SIZE,
        device: str = "cpu",
    ):
        self.weights, self.input_size = weights, input_size
        self.model = load_da3(weights)
        self.to(device)

    @property
    def config(self) -> dict[str, Any]:
        return {"version": 1, "weights": self.weights, "input_size": self.input_size}

    def to(self, device: str) -> DA3MetricScale:
        self.device = resolve_device(device)
        self.model.to(self.device)
        return self

    @inference
    def metric_depth(self, frames: np.ndarray, fov: np.ndarray) -> MetricDepth:
        pred = self.model.inference(image=list(frames), process_res=self.input_size)
        raw = np.asarray(pred.depth, dtype=np.float64)
        focal = mean_focal(fov, raw.shape[1:3])
        sky = None if pred.sky is None else np.asarray(pred.sky) >= SKY_THRESHOLD
        return MetricDepth(raw * focal[:, None, None] / METRIC_FOCAL_REFERENCE, sky)
