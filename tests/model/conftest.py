"""Shared builders for the model tests: tiny students of both families, clips, QA, targets."""

from __future__ import annotations

import functools
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from geovr.model.config import GeoVRConfig, HeadWidths
from geovr.model.inputs import collate, make_example
from geovr.model.tiny import build_processor, build_tiny_student

FAMILIES = ("qwen3_vl", "qwen2_5_vl")
FACTOR = {"qwen3_vl": 32, "qwen2_5_vl": 28}  # patch * merge
N_FRAMES, TEACHER_DIM, DEPTH_SIZE, TEACHER_GRID = 3, 8, (16, 24), (3, 4)
QA = (
    {
        "id": "q0",
        "question": "How many chair(s) are in this room?",
        "options": None,
        "ground_truth": "2",
    },
    {
        "id": "q1",
        "question": "Which of these objects (sofa, bed) is the closest to the tv?",
        "options": ["A. sofa", "B. bed"],
        "ground_truth": "B",
    },
)


@functools.cache
def processor(family: str):
    return build_processor(family)


def student(family: str, seed: int = 0):
    model, _ = build_tiny_student(family, seed=seed)
    return model


def frames(family: str, seed: int = 0, n: int = N_FRAMES) -> np.ndarray:
    """[n, 2 tokens * factor, 3 tokens * factor, 3]: a 2x3 token grid per frame."""
    f = FACTOR[family]
    return np.random.default_rng(seed).integers(0, 256, (n, 2 * f, 3 * f, 3), dtype=np.uint8)


def targets(seed: int = 1, n: int = N_FRAMES, dim: int = TEACHER_DIM) -> dict:
    rng = np.random.default_rng(seed)
    ys, xs = np.meshgrid(
        np.linspace(0, 1, DEPTH_SIZE[0]), np.linspace(0, 1, DEPTH_SIZE[1]), indexing="ij"
    )
    tilt = rng.uniform(0.5, 2.0, (n, 1, 1))
    depth = (1.0 + tilt * ys + 0.3 * np.sin(3 * xs + tilt)).astype(
        np.float32
    )  # smooth, like a room
    depth[:, 0, :4] = 0  # a few pixels without target
    return {
        "pose_enc": rng.normal(size=(n, 9)).astype(np.float32),
        "depth": depth,
        "metric_scale": 2.5,
        "features": {
            k: rng.normal(size=(n, *TEACHER_GRID, dim)).astype(np.float16)
            for k in ("4", "11", "17", "23")
        },
        "pose_valid": True,
        "scale_valid": True,
    }


def config(*objectives: str, **kwargs) -> GeoVRConfig:
    return GeoVRConfig(
        objectives=objectives or ("lm", "cam", "depth", "scale", "distill"),
        widths=HeadWidths.tiny(),
        teacher_feature_dim=TEACHER_DIM,
        **kwargs,
    )


def batch(family: str, n_clips: int = 2, with_targets: bool = True) -> dict:
    proc = processor(family)
    examples = [
        make_example(
            proc, frames(family, seed=i), QA[i % len(QA)], targets(seed=i) if with_targets else None
        )
        for i in range(n_clips)
    ]
    return collate(examples, proc.tokenizer.pad_token_id)


@pytest.fixture
def kit():
    torch.manual_seed(0)
    return SimpleNamespace(
        FAMILIES=FAMILIES,
        N_FRAMES=N_FRAMES,
        TEACHER_DIM=TEACHER_DIM,
        DEPTH_SIZE=DEPTH_SIZE,
        TEACHER_GRID=TEACHER_GRID,
        QA=QA,
        processor=processor,
        student=student,
        frames=frames,
        targets=targets,
        config=config,
        batch=batch,
    )
