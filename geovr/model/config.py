"""Typed GeoVR configuration and the teacher-to-student layer mapping (GEOVR_METHOD.md)."""

from __future__ import annotations

from dataclasses import dataclass, field

OBJECTIVES = ("lm", "cam", "depth", "scale", "distill")
TEACHER_LAYERS = (4, 11, 17, 23)  # VGGT's distilled layers, of 24
TEACHER_DEPTH = 24


def map_layers(n_llm_layers: int, teacher_layers=TEACHER_LAYERS, teacher_depth: int = TEACHER_DEPTH) -> list[int]:
    """Student hidden-state indices for the teacher layers: round((i+1)/depth * L).

    hidden_states[0] is the embedding output, so index L is the last layer (28 -> 6, 14, 21, 28).
    Python's round() is banker's rounding; the paper's mapping rounds half up, so do that.
    """
    return [int((layer + 1) * n_llm_layers / teacher_depth + 0.5) for layer in teacher_layers]


@dataclass
class HeadWidths:
    camera_hidden: int = 1536
    scale_hidden: int = 512
    distill_hidden: int = 1024
    depth_channels: tuple[int, int, int, int] = (256, 512, 1024, 1024)


@dataclass
class GeoVRConfig:
    objectives: tuple[str, ...] = OBJECTIVES
    loss_weights: dict[str, float] = field(default_factory=lambda: {"cam": 2.5, "depth": 1.0, "scale": 1.0, "distill": 1.0})
    widths: HeadWidths = field(default_factory=HeadWidths)
    teacher_feature_dim: int = 1024

    def __post_init__(self) -> None:
        unknown = set(self.objectives) - set(OBJECTIVES)
        if unknown:
            raise ValueError(f"unknown objectives {sorted(unknown)}; choose from {OBJECTIVES}")

    @property
    def geometry(self) -> tuple[str, ...]:
        """The training-only objectives that are on (empty = plain SFT, no extra tokens)."""
        return tuple(o for o in self.objectives if o != "lm")
