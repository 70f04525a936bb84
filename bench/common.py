"""Shared pieces of the benchmarks: the benchmark data set, interleaved A/B timing, results.

    clips, targets, data = bench_data(scenes=6, frames=8, size=128)     # built once, cached
    ratio = interleaved({"geovr": step_a, "sft": step_b}, repeats=7)    # medians + ratio spread
    write_result("overhead", {...})                                     # runs/bench/overhead.json

Timings alternate A, B, A, B, ... so drift of a noisy machine hits both sides alike; the
reported ratio is the median of per-round ratios, with its min and max.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "runs" / "bench"


def geovr(*args: str, cwd: Path) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "geovr", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    return proc.stdout.strip().splitlines()[-1]


def bench_data(
    scenes: int = 6,
    frames: int = 8,
    size: int = 128,
    seed: int = 0,
    cache: Path = RESULTS,
) -> tuple[Path, Path, Path]:
    """(clips, targets, raw data dir) of a synthetic set, made by the real CLI stages once (in
    `cache`)."""
    root = cache / f"data-{scenes}x{frames}x{size}-s{seed}"
    if not (root / "targets" / "meta.json").exists():
        root.mkdir(parents=True, exist_ok=True)
        geovr(
            "data",
            "synth",
            "--out",
            "data",
            "--scenes",
            str(scenes),
            "--frames",
            str(frames),
            "--size",
            str(size),
            "--seed",
            str(seed),
            cwd=root,
        )
        geovr(
            "ingest",
            "--data",
            "data",
            "--out",
            "clips",
            "--frames",
            str(frames),
            "--max-side",
            str(size),
            "--no-progress",
            cwd=root,
        )
        geovr(
            "distill",
            "--clips",
            "clips",
            "--teacher",
            "oracle",
            "--out",
            "targets",
            "--no-progress",
            cwd=root,
        )
    return root / "clips", root / "targets", root / "data"


def trainer_rates(out: Path, keys: tuple[str, ...], warmup: int = 1) -> dict[str, float]:
    """Medians of the trainer's own per-step metrics (its MLflow buffer), warm-up steps left out."""
    from geovr.train.tracking import read_buffer

    steps = [r["metrics"] for r in read_buffer(out) if r["type"] == "metrics"][warmup:]
    return {k: statistics.median(s[k] for s in steps) for k in keys}


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleaved(
    cases: dict[str, Callable[[], Any]], repeats: int, warmup: int = 1
) -> dict[str, Any]:
    """Median seconds of each case, timed in alternation, and the ratio first / second."""
    for fn in cases.values():
        for _ in range(warmup):
            fn()
    seconds: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeats):
        for name, fn in cases.items():
            seconds[name].append(timed(fn))
    a, b = list(cases)[:2]
    ratios = [x / y for x, y in zip(seconds[a], seconds[b], strict=True)]
    return {
        "median_s": {k: statistics.median(v) for k, v in seconds.items()},
        "ratio": statistics.median(ratios),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
        "ratio_of": f"{a}/{b}",
        "repeats": repeats,
    }


def add_results_option(parser: argparse.ArgumentParser) -> None:
    """--results DIR: where the JSON result and the cached benchmark data go (tests: a tmp dir)."""
    parser.add_argument(
        "--results", type=Path, default=RESULTS, help="results and data cache (runs/bench)"
    )


def result_stem(name: str, quick: bool = False) -> str:
    """NAME, or NAME-quick for smoke runs, which must not replace a result."""
    return f"{name}-quick" if quick else name


def write_result(
    name: str, result: dict[str, Any], quick: bool = False, results: Path = RESULTS
) -> Path:
    """runs/bench/NAME.json (NAME-quick.json for smoke runs); `results`: another folder."""
    results.mkdir(parents=True, exist_ok=True)
    path = results / f"{result_stem(name, quick)}.json"
    path.write_text(json.dumps(result, indent=2, sort_keys=True, default=str) + "\n")
    print(json.dumps({"benchmark": name, **result}, sort_keys=True, default=str))
    return path
