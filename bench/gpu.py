"""GeoVR on a GPU (issue 9, benchmarks 1 and 5 on the GPU path).

    python -m bench gpu [--quick] [--batch 4] [--frames 8] [--side 224] [--repeats 10]

Needs a CUDA device; the CPU benchmarks cannot time the paper's 2B student. In one run:

1. the card's bf16 matrix rate, measured on 8192^3 products: the denominator of MFU;
2. one training step (forward, backward, AdamW) with all five objectives / with `lm` alone at
   the tiny, mid and Qwen3-VL-2B dimensions (random weights; vision tower frozen), the way the
   trainer runs on a GPU: fp32 master weights, bf16 autocast. Steps of the two models are timed
   in alternation with CUDA synchronisation; also tokens/s, each model's peak memory, FLOPs
   counted with `torch.utils.flop_counter` and MFU = counted FLOPs / step time / bf16 rate;
3. the real trainer (`geovr train`: torchrun, NCCL, bf16) on the benchmark clips, DDP and FSDP2
   on the GPUs present: samples/s, tokens/s, peak memory, the checkpoint contract written;
4. the real trainer at Qwen3-VL-2B's architecture (random weights, saved in bf16 first), FSDP2,
   on the throughput benchmark's length mix (4-32 frames, here at 256 px), padded and packed
   (`--pack-tokens`): real tokens/s per GPU and peak memory of each (`--no-packing` skips it).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from bench.common import add_results_option, bench_data, interleaved, trainer_rates, write_result
from bench.flops import paper_student, random_student, sized_student, synthetic_batch
from bench.overhead import ALL
from bench.throughput import PACK_TOKENS, mixed_length_data
from geovr.model import GeoVRConfig, GeoVRModel, HeadWidths
from geovr.model.tiny import build_processor
from geovr.train.run import run_training

GIB = 2**30
TRAINER_METRICS = ("samples_per_s", "tokens_per_s", "gpu_peak_memory_gib")
# (student config, head widths, frames, side, teacher feature dim) per size
SIZES = {
    "tiny": (lambda: sized_student(128, 4), HeadWidths.tiny, 8, 128, 32),
    "mid": (lambda: sized_student(512, 8), lambda: HeadWidths.scaled(512), 8, 128, 32),
    "qwen3_vl_2b": (paper_student, HeadWidths, None, None, 2048),
}
PACKING_SIDE = 256  # px of part 4's frames: 64 tokens a frame, up to 2,048 video tokens a clip


def matmul_tflops(n: int = 8192, repeats: int = 10) -> float:
    """Measured dense bf16 rate of this card (random operands, mean of `repeats` products)."""
    a, b = (torch.randn(n, n, device="cuda", dtype=torch.bfloat16) for _ in range(2))
    for _ in range(3):
        a @ b
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(repeats):
        a @ b
    end.record()
    torch.cuda.synchronize()
    return 2 * n**3 * repeats / (start.elapsed_time(end) / 1e3) / 1e12


def _model(size: str, objectives: tuple[str, ...]) -> tuple[GeoVRModel, torch.optim.Optimizer]:
    config, widths, _, _, dim = SIZES[size]
    student, adapter = random_student(config(), "cuda")
    geo = GeoVRModel(
        student,
        GeoVRConfig(objectives=objectives, widths=widths(), teacher_feature_dim=dim),
        adapter,
    ).to("cuda")
    geo.train()
    # the trainer's optimizer: AdamW with PyTorch's default (foreach) implementation on CUDA
    return geo, torch.optim.AdamW([p for p in geo.parameters() if p.requires_grad], lr=1e-5)


def _batch(size: str, batch_size: int, frames: int, side: int) -> dict:
    """The size's synthetic batch on the GPU (the 2B row takes `frames` and `side`)."""
    _, _, size_frames, size_side, dim = SIZES[size]
    batch = synthetic_batch(batch_size, size_frames or frames, size_side or side, dim)
    return {k: v.to("cuda") for k, v in batch.items()}


def _step(geo: GeoVRModel, optimizer: torch.optim.Optimizer, batch: dict):
    def run():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            losses = geo(batch)
        losses["total"].backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        torch.cuda.synchronize()

    return run


def _counted_flops(geo: GeoVRModel, batch: dict) -> int:
    """FLOPs of forward + backward (the optimizer's elementwise work is not counted). Counted
    with eager attention, which does the same matrix products as SDPA: some torch versions'
    counter rejects SDPA with grouped-query heads."""
    implementation = geo.student.config._attn_implementation
    geo.student.set_attn_implementation("eager")
    with FlopCounterMode(display=False) as counter:
        with torch.autocast("cuda", dtype=torch.bfloat16):
            losses = geo(batch)
        losses["total"].backward()
    geo.student.set_attn_implementation(implementation)
    geo.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def step_overhead(
    size: str, batch_size: int, frames: int, side: int, repeats: int, peak_tflops: float
) -> dict:
    batch = _batch(size, batch_size, frames, side)
    steps, memory, flops = {}, {}, {}
    resident = torch.cuda.memory_allocated()
    for name, objectives in {"geovr": ALL, "sft": ("lm",)}.items():
        geo, optimizer = _model(size, objectives)
        steps[name] = _step(geo, optimizer, batch)
        steps[name]()  # allocates the optimizer state
        torch.cuda.reset_peak_memory_stats()
        steps[name]()
        # the other model stays resident: subtract what was allocated before this one
        memory[name] = (torch.cuda.max_memory_allocated() - resident) / GIB
        resident = torch.cuda.memory_allocated()
        flops[name] = _counted_flops(geo, batch)
        if name == "geovr":
            params = geo.parameter_counts()
    result = interleaved(steps, repeats)
    tokens = int(batch["attention_mask"].sum())
    seconds = result["median_s"]
    result.update(
        batch=batch_size,
        frames=batch["target_depth"].shape[0] // batch_size,
        side=batch["target_depth"].shape[-1],
        tokens_per_step=tokens,
        tokens_per_s={k: tokens / s for k, s in seconds.items()},
        peak_memory_gib=memory,
        tflops_per_step={k: v / 1e12 for k, v in flops.items()},
        flop_ratio=flops["geovr"] / flops["sft"],
        mfu={k: flops[k] / seconds[k] / 1e12 / peak_tflops for k in seconds},
        params=params,
    )
    steps.clear()
    torch.cuda.empty_cache()
    return result


def profile(size: str, batch_size: int, frames: int, side: int) -> str:
    """Where a GeoVR step's time goes: torch.profiler's table of the most expensive ops."""
    step = _step(*_model(size, ALL), _batch(size, batch_size, frames, side))
    for _ in range(2):
        step()
    activities = [torch.profiler.ProfilerActivity.CPU, torch.profiler.ProfilerActivity.CUDA]
    with torch.profiler.profile(activities=activities) as prof:
        for _ in range(3):
            step()
    table = prof.key_averages().table
    return "\n".join(
        table(sort_by=key, row_limit=30) for key in ("cuda_time_total", "cpu_time_total")
    )


def paper_student_dir(results: Path) -> Path:
    """Qwen3-VL-2B's architecture with random weights, saved once in bf16 with the offline
    processor: a plain model directory for `geovr train --student`."""
    out = results / "qwen3_vl_2b_random_bf16"
    if not (out / "config.json").is_file():
        student, _ = random_student(paper_student(), "cpu")
        student.to(torch.bfloat16).save_pretrained(out)
        build_processor("qwen3_vl").save_pretrained(out)
    return out


def trainer(
    parallelism: str,
    steps: int,
    batch_size: int,
    results: Path,
    data: tuple[Path, Path] | None = None,
    **options,
) -> dict:
    """The real `geovr train` on every GPU of this machine: the tiny student on the benchmark
    clips unless `data` (clips, targets) and `options` (run_training's) say otherwise."""
    clips, targets = data or bench_data(cache=results)[:2]
    nproc = torch.cuda.device_count()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        summary = run_training(
            str(clips),
            str(targets),
            out,
            nproc=nproc,
            steps=steps,
            batch_size=batch_size,
            parallelism=parallelism,
            num_workers=2,
            checkpoint_every=steps,
            splits=("train", "val", "test"),
            timeout=900,
            **options,
        )
        written = sorted(p.name for p in Path(summary["checkpoint"]).iterdir())
        rates = trainer_rates(out, TRAINER_METRICS, warmup=2)
        return {
            "gpus": nproc,
            "steps": summary["steps"],
            "checkpoint_files": written,
            "final_losses": summary["final_losses"],
            **rates,
            "tokens_per_s_per_gpu": rates["tokens_per_s"] / nproc,  # the loop's: all ranks'
        }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench gpu")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--frames", type=int, default=8, help="frames per clip (2B row)")
    parser.add_argument("--side", type=int, default=224, help="frame side in pixels (2B row)")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--sizes", nargs="+", choices=list(SIZES), default=list(SIZES))
    parser.add_argument("--profile", choices=list(SIZES), help="print where one size's step goes")
    parser.add_argument("--no-trainer", action="store_true", help="skip part 3")
    parser.add_argument("--no-packing", action="store_true", help="skip part 4")
    parser.add_argument("--quick", action="store_true", help="tiny student, few steps")
    add_results_option(parser)
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        raise SystemExit("python -m bench gpu needs a CUDA device")
    if args.profile:
        print(profile(args.profile, args.batch, args.frames, args.side))
        return {}
    sizes = ["tiny"] if args.quick else args.sizes
    repeats = 3 if args.quick else args.repeats
    peak = matmul_tflops()
    result: dict = {
        "device": torch.cuda.get_device_name(),
        "torch": torch.__version__,
        "bf16_matmul_tflops": peak,
    }
    for size in sizes:
        result[f"train_{size}"] = step_overhead(
            size, args.batch, args.frames, args.side, repeats, peak
        )
        write_result("gpu", result, quick=args.quick, results=args.results)
    for parallelism in () if args.no_trainer else ("ddp", "fsdp2"):
        steps = 6 if args.quick else 30
        result[f"trainer_{parallelism}"] = trainer(parallelism, steps, args.batch, args.results)
        write_result("gpu", result, quick=args.quick, results=args.results)
    if not (args.quick or args.no_packing):
        mix = mixed_length_data(args.results / "throughput-data-256", 16, PACKING_SIDE)
        student = str(paper_student_dir(args.results))
        for side, pack_tokens in (("padded", 0), ("packed", PACK_TOKENS)):
            result[f"trainer_2b_{side}"] = trainer(
                "fsdp2", 20, 2, args.results, mix, student=student, pack_tokens=pack_tokens
            )
            write_result("gpu", result, quick=args.quick, results=args.results)
    return result
