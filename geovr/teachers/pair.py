"""A geometry teacher paired with a metric-scale teacher: the paper's VGGT + DA3-METRIC-LARGE.

The geometry teacher gives pose, depth (up to scale), confidence and features; the scale
teacher gives metric depth, and the clip's metric-scale target is the least-squares fit of
that metric depth to the geometry teacher's depth (geovr.geometry.scale: non-sky pixels,
confidence >= its non-sky median). Used for every clip, with or without ground truth, so
that the targets do not depend on which clips happen to have it.

    geovr distill --clips C --teacher vggt --scale-teacher da3-metric --out T
    teacher = TeacherPair(build_teacher("vggt"), build_scale_teacher("da3-metric"))

Torch-free: the scale teacher's own module imports what its model needs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from geovr.data.sampling import resize_depth
from geovr.geometry.scale import fit_scale
from geovr.teachers.base import ClipRejected, GroundTruth, Targets, Teacher


def pair_name(teacher: str, scale_teacher: str | None) -> str:
    """The name targets record for `teacher` paired with `scale_teacher` ("vggt+da3-metric"),
    the teacher's own name without one."""
    return f"{teacher}+{scale_teacher}" if scale_teacher else teacher


@dataclass(frozen=True)
class MetricDepth:
    """A scale teacher's output for one clip, at its own processing size h x w."""

    depth: np.ndarray  # [T,h,w] metres
    sky: np.ndarray | None = None  # [T,h,w] bool, True = sky (excluded from the fit)


class ScaleTeacher(Protocol):
    name: str

    @property
    def config(self) -> dict[str, Any]:
        """Everything that changes its metric depth, JSON-able (part of the cache key)."""
        ...

    def to(self, device: str) -> ScaleTeacher: ...

    def metric_depth(self, frames: np.ndarray, fov: np.ndarray) -> MetricDepth:
        """frames `[T,H,W,3] uint8`, the geometry teacher's FoV `[T,2]` (fov_h, fov_w radians)."""
        ...


class TeacherPair:
    """A Teacher whose metric scale comes from `scale`, everything else from `geometry`."""

    def __init__(self, geometry: Teacher, scale: ScaleTeacher):
        self.geometry, self.scale = geometry, scale
        self.name = pair_name(geometry.name, scale.name)
        self.layers = geometry.layers

    @property
    def config(self) -> dict[str, Any]:
        return {
            "geometry": {"name": self.geometry.name, "config": self.geometry.config},
            "scale": {"name": self.scale.name, "config": self.scale.config},
        }

    @property
    def device(self) -> str:
        return getattr(self.geometry, "device", "cpu")

    def to(self, device: str) -> TeacherPair:
        self.geometry.to(device)
        self.scale.to(device)
        return self

    def targets(
        self,
        frames: np.ndarray,
        intrinsics: np.ndarray | None = None,
        gt: GroundTruth | None = None,
    ) -> Targets:
        """The geometry teacher's targets with the metric scale fitted to the scale teacher's."""
        targets = self.geometry.targets(frames, intrinsics, gt)
        metric = self.scale.metric_depth(frames, fov=targets.pose_enc[:, 7:9])
        if not np.isfinite(metric.depth).all():
            # checked before the fit, whose validity mask would hide it
            raise ClipRejected(f"non-finite metric depth from scale teacher {self.scale.name}")
        size = (targets.depth.shape[2], targets.depth.shape[1])
        # Nearest neighbour: averaging would blend depths across edges and sky borders.
        sky = None if metric.sky is None else resize_depth(metric.sky, size)
        fit = fit_scale(resize_depth(metric.depth, size), targets.depth, targets.depth_conf, sky)
        return dataclasses.replace(targets, metric_scale=fit.scale, scale_valid=fit.valid)
