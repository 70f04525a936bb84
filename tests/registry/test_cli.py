"""`geovr register` / `geovr promote` through the real CLI entry point: one-line JSON summary
last on stdout, exit 2 with a one-line reason on user errors."""

from __future__ import annotations

import json

import pytest

from geovr.cli import main

from .builders import write_metrics
from .servers import free_port


def run_cli(capsys, *argv: str) -> tuple[int, dict | None, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    lines = out.strip().splitlines()
    summary = json.loads(lines[-1]) if code == 0 else None
    return code, summary, err


@pytest.mark.slow
def test_register_then_promote_and_rollback(
    capsys, tiny_checkpoint, sqlite_uri, model_name, tmp_path, monkeypatch
):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", sqlite_uri)
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"floor": 35.0, "margin": 0.5}))
    first = write_metrics(tmp_path / "m1.json", 40.0, of=tiny_checkpoint)
    code, summary, err = run_cli(
        capsys,
        "register",
        "--checkpoint",
        tiny_checkpoint,
        "--metrics",
        first,
        "--model",
        model_name,
        "--policy",
        policy,
        "--kfp-run-id",
        "run-7",
    )
    assert code == 0, err
    assert (summary["version"], summary["decision"], summary["champion"]) == ("1", "promote", "1")
    assert "gate: ok: vsi.overall 40 reaches floor 35" in err

    worse = write_metrics(tmp_path / "m2.json", 39.0, of=tiny_checkpoint)
    code, summary, _ = run_cli(
        capsys,
        "register",
        "--checkpoint",
        tiny_checkpoint,
        "--metrics",
        worse,
        "--model",
        model_name,
        "--tracking-uri",
        sqlite_uri,
    )
    assert (summary["version"], summary["decision"], summary["champion"]) == ("2", "reject", "1")

    code, summary, _ = run_cli(
        capsys,
        "promote",
        "--model",
        model_name,
        "--version",
        "2",
        "--copy-to",
        f"{model_name}-staging",
    )
    assert code == 0
    assert summary == {
        "model": model_name,
        "alias": "champion",
        "version": "2",
        "previous": "1",
        "copied_to": f"{model_name}-staging",
        "copied_version": "1",
    }

    code, summary, _ = run_cli(capsys, "promote", "--model", model_name, "--rollback")
    assert (code, summary["version"], summary["previous"]) == (0, "1", "2")


@pytest.mark.slow
def test_user_errors_exit_2_with_one_line_reason(capsys, tiny_checkpoint, tmp_path):
    unreachable = f"http://127.0.0.1:{free_port()}"
    metrics = write_metrics(tmp_path / "m.json", 40.0, of=tiny_checkpoint)
    code, _, err = run_cli(
        capsys,
        "register",
        "--checkpoint",
        tiny_checkpoint,
        "--metrics",
        metrics,
        "--tracking-uri",
        unreachable,
        "--connect-timeout",
        "0.5",
    )
    assert code == 2 and unreachable in err and len(err.strip().splitlines()) == 1

    code, _, err = run_cli(capsys, "promote", "--model", "m", "--tracking-uri", unreachable)
    assert code == 2 and "exactly one of --version V and --rollback" in err

    code, _, err = run_cli(
        capsys,
        "register",
        "--checkpoint",
        tiny_checkpoint,
        "--metrics",
        metrics,
        "--policy",
        '{"margin": -1}',
    )
    assert code == 2 and "must not be negative" in err
