"""Real multi-process runs under torchrun (gloo on CPU).

.venv/bin/pytest -q tests/train -m integration
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time

import psutil
import pytest
import torch

from geovr.train.launch import launch, torchrun_command
from geovr.train.tracking import read_buffer, replay_metrics

pytestmark = pytest.mark.integration

TASK = "tests.train.tiny_task:TinyTask"
STEPS = 6


def _args(out, *extra: str) -> list[str]:
    return [
        "--task",
        TASK,
        "--out",
        str(out),
        "--steps",
        str(STEPS),
        "--grad-accum",
        "2",
        "--lr-model",
        "1e-2",
        "--lr-heads",
        "3e-2",
        "--warmup-ratio",
        "0.2",
        "--checkpoint-every",
        "2",
        "--keep-last",
        "2",
        *extra,
    ]


@pytest.fixture(scope="module")
def one_rank(tmp_path_factory):
    """1 rank, batch 8: the reference trajectory."""
    out = tmp_path_factory.mktemp("one_rank")
    return launch(1, _args(out, "--batch-size", "8"), timeout=120), out


@pytest.mark.parametrize("parallelism", ["ddp", "fsdp2"])
def test_two_ranks_match_one_rank_with_double_batch(tmp_path, one_rank, parallelism):
    summary = launch(
        2, _args(tmp_path, "--batch-size", "4", "--parallelism", parallelism), timeout=120
    )
    reference, ref_out = one_rank
    assert summary["world_size"] == 2 and summary["final_step"] == STEPS
    for got, want in zip(summary["losses"], reference["losses"], strict=True):
        assert set(got) == {"total", "mse", "l1"}
        for key in got:
            assert got[key] == pytest.approx(want[key], abs=1e-5)
    assert summary["losses"][-1]["total"] < summary["losses"][0]["total"]
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["step-4", "step-6"]
    final = torch.load(tmp_path / "final.pt")
    for key, value in torch.load(ref_out / "final.pt").items():
        torch.testing.assert_close(final[key], value, atol=1e-5, rtol=0)


def _wait_for(path, proc, timeout=60.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, "run ended before its first checkpoint"
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


@pytest.mark.slow
@pytest.mark.parametrize("parallelism", ["ddp", "fsdp2"])
def test_kill_and_resume_is_bit_exact(tmp_path, parallelism):
    steps = [
        "--steps",
        "12",
        "--checkpoint-every",
        "3",
        "--batch-size",
        "4",
        "--parallelism",
        parallelism,
    ]
    straight = tmp_path / "straight"
    launch(2, _args(straight, *steps), timeout=120)

    resumed = tmp_path / "resumed"
    env = {**os.environ, "TINY_TASK_SLEEP": "0.3"}
    proc = subprocess.Popen(
        torchrun_command(2, _args(resumed, *steps)),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(resumed / "checkpoints" / "step-3", proc)
    finally:
        # like a node crash: SIGKILL the torchrun agent and every worker
        # (they run in their own sessions)
        agent = psutil.Process(proc.pid)
        for victim in [agent, *agent.children(recursive=True)]:
            with contextlib.suppress(psutil.NoSuchProcess):
                victim.send_signal(signal.SIGKILL)
        proc.wait()
    assert not (resumed / "final.pt").exists()

    summary = launch(2, _args(resumed, *steps), timeout=120)
    assert 3 <= summary["start_step"] < 12 and summary["final_step"] == 12
    want, got = torch.load(straight / "final.pt"), torch.load(resumed / "final.pt")
    assert want.keys() == got.keys()
    for key in want:
        assert torch.equal(want[key], got[key]), key


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_mlflow_buffers_every_step_and_replays(tmp_path):
    uri = f"http://127.0.0.1:{_closed_port()}"
    proc = subprocess.run(
        torchrun_command(2, _args(tmp_path, "--batch-size", "4", "--tracking-uri", uri)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "WARNING: MLflow unavailable" in proc.stderr
    assert (tmp_path / "final.pt").exists()

    records = read_buffer(tmp_path)
    assert records[0]["type"] == "params" and records[0]["params"]["tracking_uri"] == uri
    metrics = [r for r in records if r["type"] == "metrics"]
    assert [r["step"] for r in metrics] == list(range(1, STEPS + 1))
    for r in metrics:
        assert {
            "loss/total",
            "loss/mse",
            "loss/l1",
            "lr/heads",
            "lr/model",
            "samples_per_s",
        } <= set(r["metrics"])

    from mlflow.tracking import MlflowClient

    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    run_id = replay_metrics(tmp_path, store)
    history = MlflowClient(tracking_uri=store).get_metric_history(run_id, "loss/total")
    assert [m.step for m in history] == list(range(1, STEPS + 1))
    assert [m.value for m in history] == [r["metrics"]["loss/total"] for r in metrics]
