"""Run the benchmarks: `python -m bench` (all, what `make bench` runs) or `python -m bench NAME
[NAME ...] [OPTIONS]` with NAME one of overhead, flops, data_path, distributed, pipeline,
ablation, throughput, letters, evidence (hours: it runs only when named), presence (its data
sets take about 20 minutes to make: it runs only when named), gpu (needs a CUDA device, so it
runs only when named); OPTIONS go to each named benchmark (e.g. `python -m bench ablation
--steps 1000`). Results are printed as JSON lines and written to runs/bench/NAME.json
(`--results DIR`: to DIR, with the benchmark data cached there); bench/README.md records them."""

from __future__ import annotations

import importlib
import sys

NAMES = (
    "overhead",
    "flops",
    "data_path",
    "distributed",
    "pipeline",
    "ablation",
    "throughput",
    "letters",
    "evidence",
    "presence",
    "gpu",
)
# `evidence` takes hours, `presence` makes two 160-scene sets and `gpu` needs a CUDA device:
# they run when named
ON_ANY_MACHINE = NAMES[:-3]


def split_args(argv: list[str]) -> tuple[list[str], list[str]]:
    """(benchmark names, options): the leading words are names, the rest goes to each one."""
    names = []
    for arg in argv:
        if arg.startswith("-"):
            break
        names.append(arg)
    unknown = sorted(set(names) - set(NAMES))
    if unknown:
        sys.exit(f"unknown benchmark(s) {unknown}; choose from {', '.join(NAMES)}")
    return names or list(ON_ANY_MACHINE), argv[len(names) :]


def main(argv: list[str]) -> None:
    names, flags = split_args(argv)
    for name in names:
        importlib.import_module(f"bench.{name}").main(flags)


if __name__ == "__main__":
    main(sys.argv[1:])
