"""Concurrent registrations against a real `mlflow server`: several `geovr register`
processes started at once, over several rounds. Whatever the interleaving, the best version
ends as champion, and every promotion was decided against the champion it replaced (the gate
compared with the holder of the alias at the move, never a stale one)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys

import pytest
from mlflow import MlflowClient

from geovr.registry.history import read_history

from .builders import write_metrics

pytestmark = [pytest.mark.integration, pytest.mark.slow]
PROCESSES = 6
ROUNDS = 3


def _start(server, checkpoint, metrics, model_name):
    cmd = [
        sys.executable,
        "-m",
        "geovr",
        "register",
        "--checkpoint",
        str(checkpoint),
        "--metrics",
        str(metrics),
        "--model",
        model_name,
        "--tracking-uri",
        server,
        "--connect-timeout",
        "300",
        "--policy",
        json.dumps({"floor": 0.0, "margin": 0.0}),
    ]
    return subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3"},
    )


def _run_round(server, checkpoint, tmp_path, model_name, scores):
    files = [
        write_metrics(tmp_path / f"{model_name}-{i}.json", score, of=checkpoint)
        for i, score in enumerate(scores)
    ]
    procs = [_start(server, checkpoint, file, model_name) for file in files]
    results = [proc.communicate(timeout=1200) for proc in procs]
    for proc, (_, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err[-3000:]
    return [json.loads(out.strip().splitlines()[-1]) for out, _ in results]


def _score(client, model_name, version):
    return float(client.get_model_version(model_name, version).tags["metric.vsi.overall"])


@pytest.mark.parametrize("round_number", range(ROUNDS))
def test_concurrent_registrations_end_with_the_best_champion(
    mlflow_server, tiny_checkpoint, tmp_path, round_number
):
    model_name = f"geovr-race-{round_number}-{random.randrange(1 << 30):x}"
    scores = random.Random(round_number).sample([60.0, 68.0, 70.0, 72.0, 74.0, 75.0], PROCESSES)
    _run_round(mlflow_server, tiny_checkpoint, tmp_path, model_name, scores)

    client = MlflowClient(mlflow_server, mlflow_server)
    champion = str(client.get_registered_model(model_name).aliases["champion"])
    assert _score(client, model_name, champion) == max(scores)
    for version in client.search_model_versions(f"name = '{model_name}'"):
        tags = version.tags
        if tags["gate.decision"] == "promote":  # decided against the holder it replaced
            assert tags["gate.champion"] == tags["champion.previous"], tags
    history = read_history(client, model_name, "champion")
    assert len(history) == PROCESSES  # one entry per registration, none lost
    holder = None
    for entry in history:  # each entry starts from where the previous one left the alias
        assert entry.from_version == holder, history
        holder = entry.to_version
    assert holder == champion
