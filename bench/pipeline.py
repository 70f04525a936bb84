"""`make run` wall time split by stage, and the orchestration share (issue 9, benchmark 4).

    python -m bench pipeline [--repeats 1]

Side by side in one run: `geovr pipeline run` (kfp.local: one process per task, as on a
cluster) into runs/bench/pipeline-runs, then the same component functions with the same
parameters and wiring called one after another in one Python process (bench/in_process.py).
Both use the same prepared data version and MLflow store. Two shares are reported:

- vs in-process: 1 - in-process wall / pipeline wall. What the orchestration adds over
  running the identical stage code without it: a process, an executor and the imports per
  task, KFP's bookkeeping. The one import of torch etc. that any runner pays is work here.
- vs library seconds: 1 - (sum of the `seconds` each stage's library call reports) / pipeline
  wall. Stricter: every stage's imports count as orchestration, except the training workers'
  (inside the train stage's timed torchrun).

The data preparation before the pipeline starts (`dvc commit` + `push` of the embedded data)
is reported apart. Goal: orchestration <= 15%.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from bench.common import ROOT, add_results_option, write_result
from pipelines.local_run import local_params, prepare_data

# Not anchored to line starts: parallel tasks' log lines can run into each other.
EVENT = re.compile(
    r"(\d\d:\d\d:\d\d\.\d+) - INFO - (?:Executing task '([^']+)'|Task '([^']+)' finished)"
)


def _seconds(stamp: str) -> float:
    t = datetime.strptime(stamp, "%H:%M:%S.%f")
    return t.hour * 3600 + t.minute * 60 + t.second + t.microsecond / 1e6


def stage_walls(log: str) -> dict[str, float]:
    """Wall seconds per task name (parallel tasks of one name: first start to last finish)."""
    starts: dict[str, float] = {}
    ends: dict[str, float] = {}
    for m in EVENT.finditer(log):
        stamp, started, finished = m.groups()
        if started:
            starts.setdefault(started, _seconds(stamp))
        else:
            ends[finished] = _seconds(stamp)
    return {name: round(ends[name] - starts[name], 2) for name in starts if name in ends}


def task_count(log: str) -> int:
    return sum(1 for m in EVENT.finditer(log) if m.group(2))


def import_floor() -> float:
    """Seconds a fresh Python needs to import what every component body imports."""
    code = "import torch, transformers, mlflow, kfp, geovr.train.run, geovr.eval.evaluate"
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)
    return time.perf_counter() - start


def library_seconds(log: str) -> float:
    """Sum of `seconds` in the stages' JSON summaries printed by the components."""
    total = 0.0
    for line in log.splitlines():
        line = line.strip()
        if line.startswith("{") and '"seconds"' in line:
            try:
                value = json.loads(line).get("seconds")
            except json.JSONDecodeError:
                continue
            total += value if isinstance(value, int | float) else 0.0
    return total


def in_process_wall(params: dict, results: Path) -> float:
    """Wall seconds of bench/in_process.py (fresh interpreter, all stages) with `params`."""
    out = results / "in-process"
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "bench.in_process", json.dumps(params), str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if proc.returncode != 0:
        raise SystemExit(f"the in-process baseline failed:\n{proc.stderr[-3000:]}")
    return time.perf_counter() - start


def pipeline_run(results: Path) -> tuple[float, float, str]:
    """(pipeline wall s without the data preparation, data preparation s, kfp.local's log)."""
    start = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "geovr",
            "pipeline",
            "run",
            "--runs-dir",
            str(results / "pipeline-runs"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-3000:])
    data_seconds = json.loads(proc.stdout.strip().splitlines()[-1])["seconds"]["data"]
    return wall - data_seconds, data_seconds, proc.stdout + proc.stderr


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench pipeline")
    parser.add_argument("--repeats", type=int, default=1, help="rounds of pipeline + in-process")
    add_results_option(parser)
    args = parser.parse_args(argv)
    # what `geovr pipeline run` passes the pipeline, given to the in-process baseline too
    params = local_params(ROOT, prepare_data(ROOT)["git_rev"])
    floor = import_floor()  # also warms the file cache for both runs
    pipeline_walls, in_process_walls = [], []
    for _ in range(args.repeats):
        pipeline_wall, data_seconds, log = pipeline_run(args.results)
        pipeline_walls.append(pipeline_wall)
        in_process_walls.append(in_process_wall(params, args.results))
    (args.results / "pipeline.log").write_text(log)
    shares = [1 - b / a for a, b in zip(pipeline_walls, in_process_walls, strict=True)]
    pipeline_wall, in_process = (
        statistics.median(pipeline_walls),
        statistics.median(in_process_walls),
    )
    work, tasks = library_seconds(log), task_count(log)
    result = {
        "repeats": args.repeats,
        "data_prep_s": data_seconds,
        "pipeline_wall_s": round(pipeline_wall, 1),
        "in_process_wall_s": round(in_process, 1),
        "stage_wall_s": stage_walls(log),
        "library_work_s": round(work, 1),
        "tasks": tasks,
        "orchestration_per_task_s": round((pipeline_wall - in_process) / tasks, 2),
        "import_floor_s": round(floor, 2),
        "orchestration_share": round(statistics.median(shares), 3),
        "orchestration_share_min": round(min(shares), 3),
        "orchestration_share_max": round(max(shares), 3),
        "orchestration_share_rounds": [round(share, 3) for share in shares],  # in run order
        "orchestration_share_vs_library_seconds": round(1 - work / pipeline_walls[-1], 3),
        "goal": "<= 0.15",
    }
    write_result("pipeline", result, results=args.results)
    return result
