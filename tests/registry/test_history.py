"""Rollback along the append-only promotion history, on a real `mlflow server`: one step
per call, never forward again to a version that was rolled back, explicit promotion by
version still possible; every entry says who, when, from, to and why."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from geovr.registry import GatePolicy, RetryBudget, connect, register_checkpoint
from geovr.registry.history import read_history

from .builders import write_metrics
from .test_cli import run_cli

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _champion(client, model_name):
    return str(client.get_registered_model(model_name).aliases["champion"])


def test_rollback_walks_the_history_one_step_at_a_time(
    capsys, mlflow_server, tiny_checkpoint, model_name, tmp_path
):
    for overall in (40.0, 42.0, 44.0, 41.0):  # v1, v2, v3 promoted; v4 rejected
        metrics = write_metrics(tmp_path / f"m{overall}.json", overall, of=tiny_checkpoint)
        register_checkpoint(
            tiny_checkpoint,
            metrics,
            model_name,
            mlflow_server,
            GatePolicy(margin=0.5),
            retry=RetryBudget(total_s=120),
        )
    client = connect(mlflow_server)
    assert _champion(client, model_name) == "3"

    def rollback(*extra):
        return run_cli(
            capsys,
            "promote",
            "--model",
            model_name,
            "--rollback",
            "--tracking-uri",
            mlflow_server,
            *extra,
        )

    code, summary, _ = rollback("--reason", "v3 answers badly in production")
    assert (code, summary["version"], summary["previous"]) == (0, "2", "3")
    code, summary, _ = rollback()  # one more step back, not forward to v3 again
    assert (code, summary["version"], summary["previous"]) == (0, "1", "2")
    code, _, err = rollback()
    assert code == 2 and "no previous holder" in err and _champion(client, model_name) == "1"

    # Asked by version, a rolled-back version comes back; a rollback then returns to v1.
    code, _, _ = run_cli(
        capsys, "promote", "--model", model_name, "--version", "3", "--tracking-uri", mlflow_server
    )
    assert code == 0 and _champion(client, model_name) == "3"
    code, summary, _ = rollback()
    assert (code, summary["version"]) == (0, "1")

    history = read_history(client, model_name, "champion")
    assert [(e.action, e.version, e.from_version, e.to_version) for e in history] == [
        ("gate", "1", None, "1"),
        ("gate", "2", "1", "2"),
        ("gate", "3", "2", "3"),
        ("reject", "4", "3", "3"),
        ("rollback", "2", "3", "2"),
        ("rollback", "1", "2", "1"),
        ("manual", "3", "1", "3"),
        ("rollback", "1", "3", "1"),
    ]
    assert [e.seq for e in history] == list(range(1, 9))
    assert history[4].why == "v3 answers badly in production (from v3)"
    assert "beats champion 42" in history[2].why and "does not beat" in history[3].why
    assert all(e.who for e in history)
    assert all(dt.datetime.fromisoformat(e.when).tzinfo is not None for e in history)


def test_an_explicit_promotion_of_a_leaky_version_needs_allow_leaky_and_is_recorded(
    capsys, mlflow_server, tiny_checkpoint, model_name, tmp_path
):
    clean = write_metrics(tmp_path / "clean.json", 40.0, of=tiny_checkpoint)
    leaky = write_metrics(tmp_path / "leaky.json", 60.0, of=tiny_checkpoint)
    tree = json.loads(leaky.read_text())
    leaky.write_text(json.dumps({**tree, "leakage": {"overlapping_clips": 3}}))
    for metrics in (clean, leaky):  # v1 champion; v2 refused by the gate (leakage)
        register_checkpoint(tiny_checkpoint, metrics, model_name, mlflow_server)
    client = connect(mlflow_server)
    assert _champion(client, model_name) == "1"

    def promote_v2(*extra):
        return run_cli(
            capsys,
            *("promote", "--model", model_name, "--version", "2"),
            *("--tracking-uri", mlflow_server, *extra),
        )

    code, _, err = promote_v2()
    assert (
        code == 2 and "evaluated on 3 clip(s) it was trained on" in err and "--allow-leaky" in err
    )
    assert _champion(client, model_name) == "1"
    assert len(read_history(client, model_name, "champion")) == 2  # v1 gate, v2 reject

    code, summary, _ = promote_v2("--allow-leaky", "--reason", "demo build")
    assert (code, summary["version"], summary["previous"]) == (0, "2", "1")
    override = client.get_model_version(model_name, "2").tags["promotion.leaky_override"]
    assert "demo build" in override and "3 training clip(s)" in override
    last = read_history(client, model_name, "champion")[-1]
    assert (last.action, last.version) == ("manual", "2") and "--allow-leaky" in last.why
    assert "promotion.leaky_override" not in client.get_model_version(model_name, "1").tags
