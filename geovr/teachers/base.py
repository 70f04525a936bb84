"""The teacher protocol, the per-clip `Targets`, and the registry of teachers by name.

A teacher turns one clip's frames (and ground truth, when the clip set has it) into the
targets of docs/method.md. Backends register a factory under a name; the factory is
imported only when that teacher is built, so optional packages stay optional.

    teacher = build_teacher("oracle")                     # or "depth-anything", "vggt", "da3"
    targets = teacher.targets(frames, intrinsics, gt=GroundTruth(depth, intrinsics, extrinsics))
    teacher_hash(teacher)                                 # part of the cache key
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from geovr.artifacts import config_hash
from geovr.errors import GeoVRError

# The teacher layers GeoVR distils: VGGT's 0-based blocks 4, 11, 17 and 23 of its 24
# (docs/method.md, "Layer mapping"); other depths take the same relative positions.
VGGT_LAYERS = (4, 11, 17, 23)
VGGT_DEPTH = 24
VGGT_FEATURE_DIM = 1024  # channels of VGGT's distilled features: the student's default target width
# Longest side of the frames a model teacher sees: 504 px = 36 patches of 14 (VGGT's size).
TEACHER_INPUT_SIZE = 504
FEATURE_PREFIX = "feat_"


class ClipRejected(Exception):
    """This clip cannot get targets (bad input or non-finite teacher output): quarantine it."""


@dataclass(frozen=True)
class GroundTruth:
    depth: np.ndarray  # [T,H,W] float32 metres (z-depth), 0 = invalid
    intrinsics: np.ndarray  # [T,3,3] pixels, at the stored frame size
    extrinsics: np.ndarray  # [T,3,4] OpenCV camera-from-world


@dataclass
class Targets:
    """One clip's teacher targets (shapes: T frames, H x W stored frame size)."""

    pose_enc: np.ndarray  # [T,9] float32, first-camera frame, normalised scale
    depth: np.ndarray  # [T,H,W] float32, normalised scale; 0 = no target at that pixel
    metric_scale: float  # metric depth = depth * metric_scale
    features: dict[str, np.ndarray] = field(default_factory=dict)  # layer -> [T,h,w,C] float16
    depth_conf: np.ndarray | None = None  # [T,H,W] float16
    pose_valid: bool = True  # False: the teacher has no pose for this clip; mask the camera loss
    scale_valid: bool = True  # False: no metric source; mask the scale loss

    @property
    def frames(self) -> int:
        return int(self.pose_enc.shape[0])

    def problem(self) -> str | None:
        """Why these targets must not be stored (wrong shapes, NaN/inf), or None."""
        t = self.frames
        if self.pose_enc.shape != (t, 9):
            return f"pose_enc has shape {self.pose_enc.shape}, expected ({t}, 9)"
        if self.depth.ndim != 3 or self.depth.shape[0] != t:
            return f"depth has shape {self.depth.shape}, expected ({t}, H, W)"
        if self.depth_conf is not None and self.depth_conf.shape != self.depth.shape:
            return f"depth_conf has shape {self.depth_conf.shape}, expected {self.depth.shape}"
        for name, feat in self.features.items():
            if feat.ndim != 4 or feat.shape[0] != t:
                return f"features[{name}] has shape {feat.shape}, expected ({t}, h, w, C)"
        for name, array in self.to_record().items():
            bad = int(np.size(array) - np.isfinite(array).sum())
            if bad:
                return f"non-finite teacher output: {bad} of {np.size(array)} values in {name}"
        return None

    def to_record(self) -> dict[str, np.ndarray]:
        """The arrays of one target record (docs/contracts.md section 3)."""
        record = {
            "pose_enc": np.asarray(self.pose_enc, np.float32),
            "depth": np.asarray(self.depth, np.float32),
            "metric_scale": np.asarray(self.metric_scale, np.float32),
            "pose_valid": np.asarray(self.pose_valid, np.uint8),
            "scale_valid": np.asarray(self.scale_valid, np.uint8),
        }
        if self.depth_conf is not None:
            record["depth_conf"] = np.asarray(self.depth_conf, np.float16)
        for name, feat in self.features.items():
            record[FEATURE_PREFIX + name] = np.asarray(feat, np.float16)
        return record

    @classmethod
    def from_record(cls, arrays: Mapping[str, np.ndarray]) -> Targets:
        features = {
            k.removeprefix(FEATURE_PREFIX): v
            for k, v in arrays.items()
            if k.startswith(FEATURE_PREFIX)
        }
        return cls(
            pose_enc=arrays["pose_enc"],
            depth=arrays["depth"],
            # .item(): scalars may come back as shape [1]
            # (ShardWriter's ascontiguousarray promotes 0-d)
            metric_scale=float(arrays["metric_scale"].item()),
            features=dict(sorted(features.items(), key=lambda kv: _layer_order(kv[0]))),
            depth_conf=arrays.get("depth_conf"),
            pose_valid=bool(arrays["pose_valid"].item()),
            scale_valid=bool(arrays["scale_valid"].item()),
        )


def _layer_order(name: str) -> tuple[int, str]:
    return (int(name), "") if name.isdigit() else (1 << 30, name)


@runtime_checkable
class Teacher(Protocol):
    """What the distill stage needs from a teacher backend. One that runs a model resolves the
    device "auto" and runs `targets` in inference mode itself (`geovr.teachers.torch_ops`):
    the stage never imports torch for a model-free teacher."""

    name: str
    layers: tuple[str, ...]  # feature layer names, in order

    @property
    def config(self) -> dict[str, Any]:
        """Everything that changes the targets (weights identity, sizes, layers), JSON-able."""
        ...

    def to(self, device: str) -> Teacher:
        """Place the teacher on `device` ("auto": a GPU when one is visible)."""
        ...

    def targets(
        self,
        frames: np.ndarray,
        intrinsics: np.ndarray | None = None,
        gt: GroundTruth | None = None,
    ) -> Targets:
        """frames `[T,H,W,3] uint8` -> Targets; raises ClipRejected for a clip it cannot handle."""
        ...


def teacher_hash(teacher: Teacher) -> str:
    """Short hash of the teacher's name + config: part of every target's cache key."""
    return config_hash({"teacher": teacher.name, "config": teacher.config})


def map_layers(
    n_layers: int, teacher_layers: Sequence[int] = VGGT_LAYERS, teacher_depth: int = VGGT_DEPTH
) -> tuple[int, ...]:
    """The 0-based `teacher_layers` of a `teacher_depth`-block model at the same relative depth
    in a model of `n_layers` blocks: round((i + 1) / teacher_depth * n_layers), at least 1.

    The result indexes transformers' `hidden_states`, whose entry 0 is the embedding output,
    so index n_layers is the last block: for 24 blocks that is VGGT's 4, 11, 17, 23 + 1, for a
    28-layer student 6, 14, 21, 28. Half rounds up (Python's round() would round to even).
    Used for a depth teacher's feature layers and for the student layers that predict them.
    """
    return tuple(
        max(1, int((layer + 1) * n_layers / teacher_depth + 0.5)) for layer in teacher_layers
    )


def pool_2x2(grid: np.ndarray) -> np.ndarray:
    """`[T,h,w,C]` -> `[T,h//2,w//2,C]` float16 by 2x2 averaging.

    An odd last row or column is dropped.
    """
    t, h, w, c = grid.shape
    cropped = np.asarray(grid[:, : h // 2 * 2, : w // 2 * 2], dtype=np.float32)
    return cropped.reshape(t, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4)).astype(np.float16)


# name -> factory, or "module:attribute" imported on first use (optional backends stay optional)
_REGISTRY: dict[str, Callable[..., Teacher] | str] = {
    "oracle": "geovr.teachers.oracle:OracleTeacher",
    "depth-anything": "geovr.teachers.hf_depth:DepthAnythingTeacher",
    "vggt": "geovr.teachers.vggt:VGGTTeacher",
    "da3": "geovr.teachers.da3:DA3Teacher",
}


# Metric-scale sources (`--scale-teacher`): give the metric scale of a geometry teacher's depth.
_SCALE_REGISTRY: dict[str, Callable[..., Any] | str] = {
    "da3-metric": "geovr.teachers.metric_scale:DA3MetricScale",
}


def register_teacher(name: str, factory: Callable[..., Teacher] | str) -> None:
    """Add a backend: `factory(**options)` returns a Teacher."""
    _REGISTRY[name] = factory


def teacher_names() -> list[str]:
    return sorted(_REGISTRY)


def scale_teacher_names() -> list[str]:
    return sorted(_SCALE_REGISTRY)


def build_teacher(name: str, **options: Any) -> Teacher:
    """Construct a registered teacher; options go to its constructor (weights, batch_size, ...)."""
    return _build(_REGISTRY, "teacher", name, options)


def build_scale_teacher(name: str, **options: Any) -> Any:
    """Construct a registered metric-scale source (geovr.teachers.pair.ScaleTeacher)."""
    return _build(_SCALE_REGISTRY, "scale teacher", name, options)


def _build(registry: dict, kind: str, name: str, options: dict[str, Any]) -> Any:
    try:
        factory = registry[name]
    except KeyError:
        raise GeoVRError(f"unknown {kind} {name!r}; known: {', '.join(sorted(registry))}") from None
    if isinstance(factory, str):
        module, attribute = factory.split(":")
        factory = getattr(importlib.import_module(module), attribute)
    try:
        inspect.signature(factory).bind(**options)  # a user error, unlike a TypeError inside
    except TypeError as e:
        raise GeoVRError(f"{kind} {name!r}: bad options {sorted(options)}: {e}") from e
    return factory(**options)
