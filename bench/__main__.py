"""Run the benchmarks: `python -m bench` (all, what `make bench` runs) or `python -m bench NAME
[--quick]` with NAME one of overhead, flops, data_path, distributed, pipeline, ablation. Results are
printed as JSON lines and written to runs/bench/NAME.json; bench/README.md records them."""

from __future__ import annotations

import importlib
import sys

NAMES = ("overhead", "flops", "data_path", "distributed", "pipeline", "ablation")


def main(argv: list[str]) -> None:
    names = [a for a in argv if not a.startswith("-")] or list(NAMES)
    flags = [a for a in argv if a.startswith("-")]
    unknown = sorted(set(names) - set(NAMES))
    if unknown:
        sys.exit(f"unknown benchmark(s) {unknown}; choose from {', '.join(NAMES)}")
    for name in names:
        importlib.import_module(f"bench.{name}").main(flags)


if __name__ == "__main__":
    main(sys.argv[1:])
