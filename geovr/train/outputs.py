"""The files of a training run's output directory, torch-free (the launcher process reads them):

    <out>/task.json            the task's options
    <out>/base_student/        the tiny default student, built once by rank 0
    <out>/checkpoints/step-N/  resumable DCP checkpoints (geovr.train.checkpoint)
    <out>/checkpoint/          the final checkpoint contract (plain HF student + heads)
    <out>/summary.json         written by rank 0 at the end

The launcher, the worker and the KFP component all name these paths through this module.
"""

from __future__ import annotations

import re
from pathlib import Path

CHECKPOINT_DIR = "checkpoint"
CHECKPOINTS_DIR = "checkpoints"
SUMMARY_NAME = "summary.json"
BASE_STUDENT_DIR = "base_student"

_STEP_DIR = re.compile(r"^step-(\d+)$")


def list_checkpoints(ckpt_root: Path) -> list[Path]:
    """Complete checkpoints, oldest first (an interrupted `step-N.tmp` is not one)."""
    if not ckpt_root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in ckpt_root.iterdir() if (m := _STEP_DIR.match(p.name))]
    return [p for _, p in sorted(found)]


def latest_checkpoint(ckpt_root: Path) -> Path | None:
    """The newest complete checkpoint, or None."""
    found = list_checkpoints(ckpt_root)
    return found[-1] if found else None
