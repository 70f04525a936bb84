"""Typed GeoVR configuration: objectives, loss weights, head widths and the teacher layers the
student distils (docs/method.md; the layer mapping itself is geovr.teachers.base.map_layers)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from geovr.artifacts import read_meta
from geovr.errors import ArtifactError
from geovr.teachers.base import VGGT_DEPTH, VGGT_FEATURE_DIM, VGGT_LAYERS

OBJECTIVES = ("lm", "cam", "depth", "scale", "distill")
GEOMETRY_OBJECTIVES = ("cam", "depth", "scale", "distill")
DEFAULT_LOSS_WEIGHTS = {"cam": 2.5, "depth": 1.0, "scale": 1.0, "distill": 1.0}


def parse_objectives(text: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """ "lm,cam,depth" (the CLI's --objectives) -> ("lm", "cam", "depth").

    Validated, and in canonical order.
    """
    items = [s.strip() for s in text.split(",")] if isinstance(text, str) else list(text)
    items = [s for s in items if s]
    unknown = sorted(set(items) - set(OBJECTIVES))
    if unknown:
        raise ValueError(f"unknown objectives {unknown}; choose from {', '.join(OBJECTIVES)}")
    if not items:
        raise ValueError("no objective given; `lm` alone is the SFT baseline")
    return tuple(o for o in OBJECTIVES if o in items)


@dataclass
class HeadWidths:
    """Head sizes; the defaults are the paper's, tiny students use smaller ones."""

    camera_hidden: int = 1536
    scale_hidden: int = 512
    distill_hidden: int = 1024
    depth_channels: tuple[int, int, int, int] = (256, 512, 1024, 1024)
    depth_features: int = 256

    @classmethod
    def scaled(cls, hidden_size: int, reference_hidden: int = 2048) -> HeadWidths:
        """The paper's widths (set for Qwen3-VL-2B, hidden 2048) scaled with the student's width,
        so heads keep the same share of the compute on smaller or larger students."""
        f = hidden_size / reference_hidden
        paper = cls()

        def width(x: int) -> int:
            return max(16, int(round(x * f / 16)) * 16)

        return cls(
            camera_hidden=width(paper.camera_hidden),
            scale_hidden=width(paper.scale_hidden),
            distill_hidden=width(paper.distill_hidden),
            depth_channels=tuple(width(c) for c in paper.depth_channels),
            depth_features=width(paper.depth_features),
        )

    @classmethod
    def tiny(cls) -> HeadWidths:
        return cls(
            camera_hidden=64,
            scale_hidden=32,
            distill_hidden=64,
            depth_channels=(16, 16, 32, 32),
            depth_features=16,
        )


@dataclass
class GeoVRConfig:
    """What the GeoVR wrapper adds to a student, and how its losses are weighted.

    objectives: any of OBJECTIVES; ("lm",) is the SFT baseline (no token, no head).
    loss_weights: weight of each geometry term (total = lm + sum weight * term).
    teacher_feature_dim: channels of the teacher's features (VGGT 1024, DA3-GIANT 1536,
    the oracle teacher 8 + 6 n_freq).
    freeze_vision: the vision tower is frozen (its merger stays trainable unless freeze_merger).
    """

    objectives: tuple[str, ...] = OBJECTIVES
    loss_weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_LOSS_WEIGHTS))
    widths: HeadWidths = field(default_factory=HeadWidths)
    teacher_feature_dim: int = VGGT_FEATURE_DIM
    teacher_layers: tuple[int, ...] = VGGT_LAYERS
    teacher_depth: int = VGGT_DEPTH
    freeze_vision: bool = True
    freeze_merger: bool = False
    token_init_std: float = 0.02

    def __post_init__(self) -> None:
        self.objectives = parse_objectives(self.objectives)
        self.teacher_layers = tuple(int(x) for x in self.teacher_layers)
        if isinstance(self.widths, dict):
            self.widths = HeadWidths(**self.widths)
        self.widths.depth_channels = tuple(self.widths.depth_channels)
        weights = {**DEFAULT_LOSS_WEIGHTS, **{k: float(v) for k, v in self.loss_weights.items()}}
        unknown = sorted(set(weights) - set(GEOMETRY_OBJECTIVES))
        if unknown:
            raise ValueError(
                f"loss weights for unknown objectives {unknown}; "
                f"geometry objectives: {GEOMETRY_OBJECTIVES}"
            )
        self.loss_weights = weights
        if len(self.teacher_layers) != 4:
            raise ValueError(f"GeoVR distils 4 teacher layers, got {self.teacher_layers}")

    @property
    def geometry(self) -> tuple[str, ...]:
        """The training-only objectives that are on (empty = plain SFT, no extra tokens)."""
        return tuple(o for o in self.objectives if o != "lm")

    def on(self, objective: str) -> bool:
        return objective in self.objectives

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["objectives"] = list(self.objectives)
        out["teacher_layers"] = list(self.teacher_layers)
        out["widths"]["depth_channels"] = list(self.widths.depth_channels)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GeoVRConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown GeoVR config keys {unknown}")
        return cls(**data)


def teacher_feature_dim(targets: str, **storage_options: Any) -> int:
    """Channels of the teacher features in a targets directory (GeoVRConfig.teacher_feature_dim)."""
    shapes = read_meta(targets, "targets", **storage_options).get("feature_shapes") or {}
    dims = {int(shape[-1]) for shape in shapes.values()}
    if len(dims) != 1:
        raise ArtifactError(
            f"{targets}: feature channels per layer {sorted(dims)}; expected one value"
        )
    return dims.pop()
