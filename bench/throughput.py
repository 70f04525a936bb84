"""Training throughput on batches with the length spread of real video (issue 24).

    python -m bench throughput [--quick] [--results DIR]

The mix: synthetic rooms filmed for 2, 4, ..., 16 s (8 fps videos), ingested with the paper's
rule (`--sampling fps --fps 2 --min-frames 4 --max-frames 32`), so clips have 4, 8, ..., 32
frames, at one resolution (128 px: 16 tokens a frame after the 2x2 merge; the teacher targets
of one batch must share a size), with each clip's VSI questions and answers. The same GeoVR
training step (all five objectives, tiny student, AdamW) runs side by side, step after step
in alternation, on two streams of the same samples:

- padded: the trainer's random order (DataOrder), each batch padded to its longest sequence;
- grouped_N: the length-grouped order with `length_group_steps` N (24 steps here); the
  run is a whole number of groups, so every side trains on exactly the same samples;
- packed: the padded side's batches, each packed into one sequence (`pack_tokens`), attention
  kept inside each clip (geovr.model.packed_attention).

Reported per side: the fraction of padded tokens in the sequences the student runs (geometry
tokens included), real (unpadded) tokens/s over the run, the median step time; and each
side's real tokens/s over the padded side's.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
from pathlib import Path

import torch

from bench.common import add_results_option, timed, write_result
from geovr.data.ingest import IngestConfig, ingest
from geovr.data.synth.generate import synthesize
from geovr.model import GeoVRConfig, GeoVRModel, HeadWidths, build_tiny_student, collate
from geovr.model.config import teacher_feature_dim
from geovr.model.dataset import ClipQADataset
from geovr.teachers.distill import run_distill
from geovr.train.data_order import DataOrder, LengthGroupedOrder

SECONDS = (2, 4, 6, 8, 10, 12, 14, 16)  # clip durations; 2 fps gives 4..32 frames
VIDEO_FPS = 8
FPS_RULE = IngestConfig(sampling="fps", fps=2, min_frames=4, max_frames=32, workers=2)
ALL = ("lm", "cam", "depth", "scale", "distill")
PACK_TOKENS = 1 << 20  # more than any batch here holds: one sequence per batch


def mixed_length_data(root: Path, scenes: int, size: int, seconds=SECONDS) -> tuple[Path, Path]:
    """(clips, targets) of the mix, built by the real stages once under `root`."""
    data, clips, targets = root / "data", root / "clips", root / "targets"
    if not (targets / "meta.json").exists():
        root.mkdir(parents=True, exist_ok=True)
        frames = [s * VIDEO_FPS for s in seconds]
        synthesize(data, scenes=scenes, frames=frames, size=size, seed=0, fps=VIDEO_FPS)
        ingest(data, clips, dataclasses.replace(FPS_RULE, max_side=size), progress=False)
        run_distill(str(clips), "oracle", str(targets), progress=False)
    return clips, targets


def _trainer(dim: int, pack_tokens: int = 0):
    """The training step of a fresh tiny GeoVR model (the same seed on every side), and the
    model (its layout says how the student sees a batch)."""
    torch.manual_seed(0)
    student, _ = build_tiny_student("qwen3_vl")
    config = GeoVRConfig(objectives=ALL, widths=HeadWidths.tiny(), teacher_feature_dim=dim)
    model = GeoVRModel(student, config, pack_tokens=pack_tokens).train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)

    def step(batch: dict[str, torch.Tensor]) -> None:
        model(batch)["total"].backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step, model


def _batches(order: DataOrder, data: ClipQADataset, batch: int, steps: int, pad_id: int):
    return [
        collate([data[i] for i in order.indices(s * batch, batch)], pad_id) for s in range(steps)
    ]


def _side(seconds: list[float], batches: list, model: GeoVRModel) -> dict[str, float]:
    layouts = [model.layout(b) for b in batches]
    real = sum(sum(layout.lengths) for layout in layouts)
    slots = sum(layout.input_ids.numel() for layout in layouts)
    return {
        "padded_token_fraction": 1 - real / slots,
        "real_tokens_per_s": real / sum(seconds),
        "step_s_median": statistics.median(seconds),
        "real_tokens": real,
    }


def measure(
    clips: Path, targets: Path, batch: int, steps: int, group_steps: tuple[int, ...]
) -> dict:
    """The padded side, one grouped side per `group_steps` (each dividing `steps`, so every
    side trains on the same samples) and the packed side, step after step in alternation."""
    # one thread: on this shared 2-core machine two threads per process under load made the
    # same step 10-30x slower and its time meaningless (spinning OpenMP threads)
    torch.set_num_threads(1)
    dim = teacher_feature_dim(targets)
    processor = build_tiny_student("qwen3_vl")[1]
    data = ClipQADataset(str(clips), processor, str(targets), splits=("train", "val", "test"))
    orders = {"padded": DataOrder(len(data), seed=0)}
    lengths = data.token_lengths()
    for n in group_steps:
        orders[f"grouped_{n}"] = LengthGroupedOrder(lengths, 0, n * batch, batch)
    pad_id = processor.tokenizer.pad_token_id
    # collated up front: decoding is the loader workers' job, this times the training step
    batches = {k: _batches(o, data, batch, steps, pad_id) for k, o in orders.items()}
    batches["packed"] = batches["padded"]
    trainers = {name: _trainer(dim) for name in orders}
    trainers["packed"] = _trainer(dim, PACK_TOKENS)
    for name, (step, _) in trainers.items():
        step(batches[name][0])  # warm-up, left out of the timing
    seconds: dict[str, list[float]] = {name: [] for name in trainers}
    for s in range(steps):
        for name, (step, _) in trainers.items():
            seconds[name].append(timed(lambda: step(batches[name][s])))  # noqa: B023
    sides = {name: _side(seconds[name], batches[name], trainers[name][1]) for name in trainers}
    padded_rate = sides["padded"]["real_tokens_per_s"]
    return {
        **sides,
        "tokens_per_s_ratio_over_padded": {
            name: side["real_tokens_per_s"] / padded_rate for name, side in sides.items()
        },
        "items": len(data),
        "frames_per_clip": sorted({len(i.clip["frame_indices"]) for i in data.items}),
        "batch": batch,
        "steps_per_side": steps,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench throughput")
    parser.add_argument("--quick", action="store_true")
    add_results_option(parser)
    args = parser.parse_args(argv)
    seconds, size = ((2, 8), 32) if args.quick else (SECONDS, 128)
    root = args.results / ("throughput-data-quick" if args.quick else "throughput-data")
    clips, targets = mixed_length_data(root, 4 if args.quick else 16, size, seconds)
    if args.quick:
        result = measure(clips, targets, batch=2, steps=2, group_steps=(1, 2))
    else:
        result = measure(clips, targets, batch=8, steps=24, group_steps=(24,))
    result["mix"] = {
        "clip_seconds": list(seconds),
        "video_fps": VIDEO_FPS,
        "frame_px": size,
        "rule": "2 fps, 4-32 frames",
    }
    write_result("throughput", result, quick=args.quick, results=args.results)
    return result
