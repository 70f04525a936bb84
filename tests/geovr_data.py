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


def make_clips(root: Path, video_frames: int = 4, max_side: int = 64) -> Path:
    """A clip set in `root`/clips: 4 synthetic scenes of `video_frames` frames at 64 px, each
    sampled to 4 frames of at most `max_side` px."""
    geovr(
        "data",
        "synth",
        "--out",
        "data",
        "--scenes",
        "4",
        "--frames",
        str(video_frames),
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
        str(max_side),
        "--no-progress",
        cwd=root,
    )
    return root / "clips"


def make_geovr_data(root: Path) -> tuple[Path, Path]:
    clips = make_clips(root)
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
    return clips, root / "targets"
