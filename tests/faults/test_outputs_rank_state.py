"""Issue 18 part A, no pickle: a training checkpoint's rank state is data only, so a file
planted in a checkpoint on the shared training volume cannot run code when training resumes."""

from __future__ import annotations

import pickle
import re
import shutil
from pathlib import Path

import pytest

from .faults import run_geovr

GEOVR = Path(__file__).resolve().parents[2] / "geovr"


class Payload:
    """Unpickling this creates a file: what arbitrary code from a planted pickle could do."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")


def test_no_pickle_load_in_geovr():
    unsafe = re.compile(r"weights_only\s*=\s*False|pickle\.loads?\(")
    found = [str(p) for p in GEOVR.rglob("*.py") if unsafe.search(p.read_text())]
    assert found == []


@pytest.mark.slow  # two real torchrun trainings
def test_resume_never_unpickles_a_file_planted_in_the_checkpoint(stage_data, tmp_path):
    clips, targets = stage_data
    train = [
        "train",
        "--clips",
        str(clips),
        "--targets",
        str(targets),
        "--objectives",
        "lm",
        "--checkpoint-every",
        "1",
        "--num-workers",
        "0",
        "--out",
        "run",
    ]
    first = run_geovr(*train, "--steps", "3", cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    run = tmp_path / "run"
    # a crash between the step-2 checkpoint and the end: only step-2 survives
    shutil.rmtree(run / "checkpoints" / "step-3")
    shutil.rmtree(run / "checkpoint")
    (run / "summary.json").unlink()
    step = run / "checkpoints" / "step-2"
    assert sorted(p.name for p in step.glob("rank-*")) == ["rank-0.safetensors"]
    marker = tmp_path / "code-ran"
    (step / "rank-0.pt").write_bytes(pickle.dumps(Payload(marker)))  # what an old reader loaded
    resumed = run_geovr(*train, "--steps", "3", "--resume", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert '"resumed_from": 2' in resumed.stdout and not marker.exists()
