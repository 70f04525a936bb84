"""Training-step FLOPs of GeoVR / SFT, counted, up to the paper's 2B student (issue 9, benchmark 1).

    python -m bench flops [--quick] [--frames 8] [--side 224]

The time ratio of benchmark 1 can only be measured on students that train on 2 CPU cores;
what it would be on the paper's Qwen3-VL-2B depends on how the heads' work compares with the
student's. This counts the floating-point operations of one forward + backward (frozen
vision tower, as in training) with `torch.utils.flop_counter` on the same batch: all five
objectives vs `lm` alone. The tiny and mid rows sit next to their measured time ratios
(bench/README.md), which says how far FLOPs predict time on this machine; the 2B row is a
projection from counted work, not a timing. The 2B student is built with random weights
(about 17 GB of RAM with its gradients); `--quick` counts the tiny student only.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from bench.common import write_result
from bench.overhead import ALL
from geovr.model import GeoVRConfig, GeoVRModel, HeadWidths, collate
from geovr.model.adapters import adapter_for
from geovr.model.inputs import make_example
from geovr.model.reference import qwen3_vl_2b_config
from geovr.model.tiny import build_processor, tiny_config
from geovr.teachers.base import VGGT_LAYERS

QA = {
    "id": "q",
    "question": "How many chair(s) are in this room?",
    "options": None,
    "ground_truth": "2",
}
TEACHER_PATCH = 14  # VGGT / DINOv2 patch: the teacher's feature grid is side / 14
TEACHER_LAYERS = tuple(str(layer) for layer in VGGT_LAYERS)  # VGGT's names them by block


def _targets(frames: int, side: int, dim: int, rng: np.random.Generator) -> dict:
    grid = side // TEACHER_PATCH
    return {
        "pose_enc": rng.normal(size=(frames, 9)).astype(np.float32),
        "depth": rng.uniform(0.5, 5.0, (frames, side, side)).astype(np.float32),
        "metric_scale": 2.5,
        "features": {
            k: rng.normal(size=(frames, grid, grid, dim)).astype(np.float16) for k in TEACHER_LAYERS
        },
        "pose_valid": True,
        "scale_valid": True,
    }


def random_student(student_config, device: str = "cpu"):
    """The architecture with cheap random weights (values change neither the count nor the
    time of a step)."""
    adapter = adapter_for(student_config)
    with torch.device("meta"):
        student = adapter.model_class(student_config)
    student.to_empty(device=device)
    student.tie_weights()  # to_empty gives each use of a tied matrix its own copy
    generator = torch.Generator(device).manual_seed(0)
    with torch.no_grad():
        for tensor in [*student.parameters(), *student.buffers()]:
            if tensor.is_floating_point():
                tensor.normal_(0.0, 0.02, generator=generator)
    return student, adapter


def synthetic_batch(batch_size: int, frames: int, side: int, teacher_dim: int) -> dict:
    """A collated batch of random videos with random teacher targets of the right shapes."""
    processor = build_processor("qwen3_vl")
    rng = np.random.default_rng(0)
    examples = []
    for _ in range(batch_size):
        video = rng.integers(0, 256, (frames, side, side, 3), dtype=np.uint8)
        examples.append(
            make_example(processor, video, QA, _targets(frames, side, teacher_dim, rng))
        )
    return collate(examples, processor.tokenizer.pad_token_id)


def count(student_config, widths: HeadWidths, frames: int, side: int, teacher_dim: int) -> dict:
    """FLOPs of one training step's forward + backward, GeoVR vs SFT, and their ratio."""
    batch = synthetic_batch(1, frames, side, teacher_dim)
    student, adapter = random_student(student_config)
    flops = {}
    for name, objectives in {"geovr": ALL, "sft": ("lm",)}.items():
        config = GeoVRConfig(objectives=objectives, widths=widths, teacher_feature_dim=teacher_dim)
        geo = GeoVRModel(student, config, adapter).train()
        with FlopCounterMode(display=False) as counter:
            geo(batch)["total"].backward()
        flops[name] = counter.get_total_flops()
        student.zero_grad(set_to_none=True)
        del geo
    return {
        "tflops": {k: round(v / 1e12, 4) for k, v in flops.items()},
        "ratio": flops["geovr"] / flops["sft"],
        "tokens": int(batch["input_ids"].shape[1]),
        "frames": frames,
        "side": side,
    }


def sized_student(hidden: int, layers: int):
    return tiny_config(
        "qwen3_vl", build_processor("qwen3_vl").tokenizer, hidden=hidden, layers=layers
    )


def paper_student():
    """Qwen3-VL-2B's dimensions with the offline tokenizer's special-token ids."""
    config = qwen3_vl_2b_config()
    ids = sized_student(128, 4)
    for key in ("image_token_id", "video_token_id", "vision_start_token_id", "vision_end_token_id"):
        setattr(config, key, getattr(ids, key))
    return config


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench flops")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument(
        "--side", type=int, default=224, help="frame side in pixels (multiple of 32)"
    )
    parser.add_argument("--quick", action="store_true", help="the tiny student only")
    args = parser.parse_args(argv)
    # the benchmark-1 rows at their own size (8 frames of 128 px), then the paper's student
    result = {"tiny": count(sized_student(128, 4), HeadWidths.tiny(), 8, 128, 32)}
    if not args.quick:
        result["mid_scaled_heads"] = count(
            sized_student(512, 8), HeadWidths.scaled(512), 8, 128, 32
        )
        result["qwen3_vl_2b_paper_heads"] = count(
            paper_student(), HeadWidths(), args.frames, args.side, 2048
        )
    write_result("flops", result, quick=args.quick)
    return result
