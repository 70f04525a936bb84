"""Distributed scaling on this machine (issue 9, benchmark 5).

    python -m bench distributed [--quick]

The same `geovr train` on the benchmark clips with 1 and with 2 torchrun ranks (gloo), same
per-rank batch: samples/s and tokens/s from the trainer's own per-step metrics (median over
steps after the first), and their ratio. On 2 CPU cores the two ranks share the cores, so the
ratio says how much the data-parallel machinery costs, not how a GPU node scales; the same
script on a GPU node (`--nproc-per-node` = GPUs) gives the real figure.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from bench.common import add_results_option, bench_data, trainer_rates, write_result
from geovr.train.run import run_training


def measure(nproc: int, steps: int, batch_size: int, results: Path) -> dict[str, float]:
    clips, targets, _ = bench_data(cache=results)
    with tempfile.TemporaryDirectory() as tmp:
        run_training(
            str(clips),
            str(targets),
            Path(tmp) / "run",
            nproc=nproc,
            steps=steps,
            batch_size=batch_size,
            num_workers=1,
            checkpoint_every=10_000,
            splits=("train", "val", "test"),
            timeout=1200,
        )
        # the first step warms up
        return trainer_rates(Path(tmp) / "run", ("samples_per_s", "tokens_per_s"))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench distributed")
    parser.add_argument("--quick", action="store_true")
    add_results_option(parser)
    args = parser.parse_args(argv)
    steps = 4 if args.quick else 12
    one, two = measure(1, steps, 2, args.results), measure(2, steps, 2, args.results)
    result = {
        "one_rank": one,
        "two_ranks": two,
        "samples_ratio_2_over_1": two["samples_per_s"] / one["samples_per_s"],
        "tokens_ratio_2_over_1": two["tokens_per_s"] / one["tokens_per_s"],
        "cpu_cores": 2,
        "gpu": "not available here",
    }
    write_result("distributed", result, quick=args.quick, results=args.results)
    return result
