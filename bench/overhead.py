"""Training and inference overhead of GeoVR (issue 9, benchmarks 1 and 2).

    python -m bench overhead [--quick]

1. Training step (forward + backward + AdamW) with all five objectives / with `lm` only, same
   student, batch and frames, at the tiny config and a mid config (hidden 512, 8 layers).
   Goal <= 1.10. A per-part profile (student forward, heads + losses, backward, optimizer)
   says where the extra time goes.
2. Greedy generation latency of a checkpoint saved from a GeoVR model vs the same architecture
   saved without GeoVR, both loaded with plain transformers. Goal 1.00 within noise.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from bench.common import RESULTS, add_results_option, bench_data, interleaved, timed, write_result
from geovr.model import (
    GeoVRConfig,
    GeoVRModel,
    HeadWidths,
    build_tiny_student,
    collate,
    save_student,
)
from geovr.model.adapters import adapter_by_family
from geovr.model.config import teacher_feature_dim
from geovr.model.dataset import ClipQADataset
from geovr.model.inputs import generation_inputs

CONFIGS = {"tiny": {}, "mid": {"hidden": 512, "layers": 8}}
# head widths per run: the tiny preset, the paper's widths scaled to the student (hidden/2048),
# and the paper's absolute widths (sized for a 2B student: larger than a 20M one)
WIDTHS = {
    "tiny": lambda hidden: HeadWidths.tiny(),
    "scaled": HeadWidths.scaled,
    "paper": lambda hidden: HeadWidths(),
}
ALL = ("lm", "cam", "depth", "scale", "distill")


def _model(objectives, size: str, dim: int, heads: str = "tiny"):
    torch.manual_seed(0)
    student, processor = build_tiny_student("qwen3_vl", **CONFIGS[size])
    widths = WIDTHS[heads](CONFIGS[size].get("hidden", 128))
    geo = GeoVRModel(
        student, GeoVRConfig(objectives=objectives, widths=widths, teacher_feature_dim=dim)
    ).train()
    return (
        geo,
        processor,
        torch.optim.AdamW([p for p in geo.parameters() if p.requires_grad], lr=1e-5),
    )


def _step(geo, optimizer, batch):
    def run():
        losses = geo(batch)
        losses["total"].backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return run


def _profile(geo, sft, optimizer, batch, repeats: int) -> dict[str, float]:
    """Median seconds of the parts of one GeoVR step next to the SFT forward: the student
    forward with the geometry tokens and hidden states, the whole forward (the difference is
    heads + losses), backward, optimizer."""
    parts: dict[str, list[float]] = {
        k: [] for k in ("sft_forward", "student_forward", "forward", "backward", "optimizer")
    }
    for _ in range(repeats):
        with torch.no_grad():
            parts["sft_forward"].append(timed(lambda: sft(batch)))
            parts["student_forward"].append(
                timed(lambda: geo.run_student(batch, geo.layout(batch), True))
            )
        start = time.perf_counter()
        losses = geo(batch)
        parts["forward"].append(time.perf_counter() - start)
        parts["backward"].append(timed(losses["total"].backward))
        parts["optimizer"].append(
            timed(lambda: (optimizer.step(), optimizer.zero_grad(set_to_none=True)))
        )
    medians = {k: statistics.median(v) for k, v in parts.items()}
    medians["heads_and_losses"] = medians["forward"] - medians["student_forward"]
    return medians


def train_overhead(
    size: str, batch_size: int, repeats: int, heads: str = "tiny", results: Path = RESULTS
) -> dict:
    clips, targets, _ = bench_data(cache=results)
    dim = teacher_feature_dim(targets)
    geo, processor, opt = _model(ALL, size, dim, heads)
    sft, _, sft_opt = _model(("lm",), size, dim)
    data = ClipQADataset(str(clips), processor, str(targets), splits=("train", "val", "test"))
    batch = collate([data[i] for i in range(batch_size)], processor.tokenizer.pad_token_id)
    result = interleaved(
        {"geovr": _step(geo, opt, batch), "sft": _step(sft, sft_opt, batch)}, repeats
    )
    result["profile_s"] = _profile(geo, sft, opt, batch, max(3, repeats // 2))
    result["params"] = geo.parameter_counts()
    return result


def inference_overhead(repeats: int, new_tokens: int = 16, results: Path = RESULTS) -> dict:
    """Same weights both sides: one directory written by save_student from a GeoVR model (heads
    on), one by the student's own save_pretrained; both loaded with plain transformers and made
    to generate exactly `new_tokens` tokens."""
    clips, targets, _ = bench_data(cache=results)
    with tempfile.TemporaryDirectory() as tmp:
        geo, processor, _ = _model(ALL, "tiny", teacher_feature_dim(targets))
        save_student(geo, Path(tmp) / "geovr", processor)
        geo.student.save_pretrained(Path(tmp) / "plain")
        cls = adapter_by_family("qwen3_vl").model_class
        a, b = (cls.from_pretrained(Path(tmp) / name).eval() for name in ("geovr", "plain"))
        data = ClipQADataset(str(clips), processor, splits=("train", "val", "test"))
        item = data.items[0]
        inputs = generation_inputs(
            processor,
            data.frames(item.clip["clip_id"]),
            [item.qa],
            timestamps=item.clip.get("timestamps"),
        )

        def gen(model):
            return lambda: model.generate(
                **inputs,
                max_new_tokens=new_tokens,
                min_new_tokens=new_tokens,
                do_sample=False,
                pad_token_id=processor.tokenizer.pad_token_id,
            )

        with torch.inference_mode():
            return interleaved({"geovr_checkpoint": gen(a), "plain_checkpoint": gen(b)}, repeats)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench overhead")
    parser.add_argument(
        "--quick", action="store_true", help="tiny config only, few repeats (smoke test)"
    )
    add_results_option(parser)
    args = parser.parse_args(argv)
    repeats = 3 if args.quick else 9
    result = {"train_tiny": train_overhead("tiny", 2, repeats, results=args.results)}
    if not args.quick:
        result["train_mid_scaled_heads"] = train_overhead("mid", 2, 5, "scaled", args.results)
        result["train_mid_paper_heads"] = train_overhead("mid", 2, 5, "paper", args.results)
    result["inference"] = inference_overhead(repeats, results=args.results)
    write_result("overhead", result, quick=args.quick, results=args.results)
    return result
