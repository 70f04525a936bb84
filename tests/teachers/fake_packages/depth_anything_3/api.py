"""A stand-in for the depth-anything-3 package (`depth_anything_3.api.DepthAnything3`), on
disk so that a stage's subprocess can import it (put `tests/teachers/fake_packages` on its
PYTHONPATH). `inference` follows the upstream API: a Prediction-like object with depth and
sky [N,h,w] at the processing size; this one sees a flat world (raw depth 300 everywhere, no
sky). The in-process fakes (tests/teachers/fakes.py) override `inference`."""

from __future__ import annotations

import types

import numpy as np


class DepthAnything3:
    @classmethod
    def from_pretrained(cls, weights):
        return cls()

    def to(self, device):
        return self

    def eval(self):
        return self

    def inference(self, image, process_res, export_feat_layers=()):
        n, (h, w) = len(image), np.asarray(image[0]).shape[:2]
        return types.SimpleNamespace(depth=np.full((n, h, w), 300.0), sky=np.zeros((n, h, w)))
