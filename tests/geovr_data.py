"""A real clip set + oracle targets, made by the CLI stages themselves (synth -> ingest -> distill).

from tests.geovr_data import make_geovr_data
clips, targets = make_geovr_data(tmp_path)   # 4 scenes x 4 frames at 64 px: 2 train, 1 val, 1 test
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def geovr(*args: str, cwd: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "geovr", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        timeout=300,
    )


def make_geovr_data(root: Path) -> tuple[Path, Path]:
    geovr(
        "data",
        "synth",
        "--out",
        "data",
        "--scenes",
        "4",
        "--frames",
        "4",
        "--size",
        "64",
        "--seed",
        "0",
        cwd=root,
    )
    geovr(
        "ingest",
        "--data",
        "data",
        "--out",
        "clips",
        "--frames",
        "4",
        "--max-side",
        "64",
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
    return root / "clips", root / "targets"
