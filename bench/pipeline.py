"""`make run` wall time split by stage, and the orchestration share (issue 9, benchmark 4).

    python -m bench pipeline

Runs `geovr pipeline run` (kfp.local) into runs/bench/pipeline-runs and reads kfp.local's
task start/finish log lines. Work = the seconds each stage's library call reports in its
JSON summary (fetch, ingest, distill, train, evaluate, register); orchestration = the rest of
the pipeline's wall time (process start-up and imports per task, artifact copies, KFP
bookkeeping). The data preparation before the pipeline starts (`dvc commit` + `push` of the
embedded data) is reported apart. Goal: orchestration <= 15%.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from datetime import datetime

from bench.common import RESULTS, ROOT, write_result

EVENT = re.compile(
    r"^(\d\d:\d\d:\d\d\.\d+) - INFO - (?:Executing task '([^']+)'|Task '([^']+)' finished)"
)


def _seconds(stamp: str) -> float:
    t = datetime.strptime(stamp, "%H:%M:%S.%f")
    return t.hour * 3600 + t.minute * 60 + t.second + t.microsecond / 1e6


def stage_walls(log: str) -> dict[str, float]:
    """Wall seconds per task name (parallel tasks of one name: first start to last finish)."""
    starts: dict[str, float] = {}
    ends: dict[str, float] = {}
    for line in log.splitlines():
        if m := EVENT.match(line):
            stamp, started, finished = m.groups()
            if started:
                starts.setdefault(started, _seconds(stamp))
            else:
                ends[finished] = _seconds(stamp)
    return {name: round(ends[name] - starts[name], 2) for name in starts if name in ends}


def task_count(log: str) -> int:
    return sum(1 for line in log.splitlines() if (m := EVENT.match(line)) and m.group(2))


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


def main(argv: list[str] | None = None) -> dict:
    argparse.ArgumentParser(prog="python -m bench pipeline").parse_args(argv)
    start = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "geovr",
            "pipeline",
            "run",
            "--runs-dir",
            str(RESULTS / "pipeline-runs"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-3000:])
    log = proc.stdout + proc.stderr
    (RESULTS / "pipeline.log").write_text(log)
    stages = stage_walls(log)
    work = library_seconds(log)
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    pipeline_wall = wall - summary["seconds"]["data"]
    tasks = task_count(log)
    result = {
        "wall_s": round(wall, 1),
        "data_prep_s": summary["seconds"]["data"],
        "pipeline_wall_s": round(pipeline_wall, 1),
        "stage_wall_s": stages,
        "library_work_s": round(work, 1),
        "tasks": tasks,
        "orchestration_per_task_s": round((pipeline_wall - work) / tasks, 2),
        "import_floor_s": round(import_floor(), 2),
        "orchestration_share": round(1 - work / pipeline_wall, 3),
        "goal": "<= 0.15",
    }
    write_result("pipeline", result)
    return result
