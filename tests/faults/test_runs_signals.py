"""Stopping `geovr train`: SIGTERM is forwarded and waited for (exit 143), a killed launcher
or torchrun agent leaves no worker alive and no checkpoint is written after it, and a loss
that becomes NaN/inf stops the run (exit 4) without saving NaN weights.

Real `geovr train` subprocesses under real torchrun, on the clip set and targets of the real
stages; processes are found with psutil.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.faults.inputs_support import geovr, geovr_data  # noqa: F401

pytestmark = pytest.mark.slow


def _start(geovr_data, out: Path) -> subprocess.Popen:  # noqa: F811
    clips, targets = geovr_data
    args = [
        "train",
        "--clips",
        clips,
        "--targets",
        targets,
        "--out",
        out,
        "--steps",
        "500",
        "--checkpoint-every",
        "1",
        "--num-workers",
        "0",
        "--batch-size",
        "1",
    ]
    return subprocess.Popen(
        [sys.executable, "-m", "geovr", *map(str, args)],
        cwd=out.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _training(proc: subprocess.Popen, out: Path) -> list[psutil.Process]:
    """Wait for the first checkpoint; return the agent and the workers under `proc`."""
    while not (out / "checkpoints" / "step-1").is_dir():
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        time.sleep(0.2)
    return psutil.Process(proc.pid).children(recursive=True)


def _assert_all_gone(processes: list[psutil.Process]) -> None:
    _, alive = psutil.wait_procs(processes, timeout=60)
    assert not alive, f"survivors: {[p.cmdline()[:4] for p in alive]}"


def _assert_nothing_written_after(out: Path) -> None:
    """Any worker left would write its next checkpoint within a step (about a second)."""
    listing = sorted(p.name for p in (out / "checkpoints").iterdir())
    time.sleep(5)
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == listing
    assert not (out / "checkpoint").exists()


def test_sigterm_stops_the_workers_and_exits_143(geovr_data, tmp_path):  # noqa: F811
    out = tmp_path / "run"
    proc = _start(geovr_data, out)
    family = _training(proc, out)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, stderr[-3000:]
    assert "Traceback" not in stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("geovr: error: stopped by SIGTERM") and "--resume" in last, last
    _assert_all_gone(family)
    _assert_nothing_written_after(out)


@pytest.mark.parametrize("victim", ["launcher", "agent"])
def test_a_killed_launcher_leaves_no_worker_behind(geovr_data, tmp_path, victim):  # noqa: F811
    out = tmp_path / "run"
    proc = _start(geovr_data, out)
    family = _training(proc, out)
    target = proc.pid if victim == "launcher" else family[0].pid  # the agent is the first child
    psutil.Process(target).send_signal(signal.SIGKILL)
    proc.communicate(timeout=120)
    _assert_all_gone(family)
    _assert_nothing_written_after(out)


@pytest.mark.parametrize("log_every", [1, 4])
def test_a_loss_that_becomes_nan_stops_with_exit_4_and_saves_nothing(
    geovr_data,  # noqa: F811
    tmp_path,
    log_every,
):
    """The values are read at log steps only; the first non-finite step is still the one named."""
    clips, targets = geovr_data
    out = tmp_path / "run"
    # finite, valid learning rates so large that the weights overflow after one step
    proc = geovr(
        "train",
        "--clips",
        clips,
        "--targets",
        targets,
        "--out",
        out,
        "--steps",
        "4",
        "--num-workers",
        "0",
        "--lr-model",
        "1e30",
        "--lr-heads",
        "1e30",
        "--log-every",
        str(log_every),
        cwd=tmp_path,
    )
    assert proc.returncode == 4, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert "step 2: cam=nan" in proc.stderr
    assert (
        proc.stderr.strip().splitlines()[-1].startswith("geovr: error: training stopped: the loss")
    )
    assert not (out / "checkpoint").exists() and not (out / "checkpoints").exists()
