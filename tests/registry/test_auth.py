"""A registry behind MLflow's basic-auth app (`mlflow server --app-name basic-auth`, as
deployed): anonymous requests are refused, other users may read but not move `champion`,
the registration identity registers, gates and promotes by hand."""

from __future__ import annotations

import pytest
import requests

pytest.importorskip("flask_wtf", reason="the basic-auth app needs Flask-WTF (.[test] has it)")
from mlflow.server.auth.client import AuthServiceClient  # noqa: E402

from geovr.registry.connection import connect
from geovr.registry.history import read_history

from .builders import write_metrics  # noqa: E402
from .test_cli import run_cli  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.slow]
REGISTRAR, READER = "geovr-registrar", "alice"


def _as(monkeypatch, user: str, password: str) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", user)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", password)


def _set_champion(url: str, model_name: str, version: str, auth=None) -> int:
    response = requests.post(
        f"{url}/api/2.0/mlflow/registered-models/alias",
        auth=auth,
        json={"name": model_name, "alias": "champion", "version": version},
        timeout=120,
    )
    return response.status_code


def test_only_the_registration_identity_moves_champion(
    capsys, auth_server, tiny_checkpoint, model_name, tmp_path, monkeypatch
):
    url = auth_server.url
    _as(monkeypatch, "admin", auth_server.admin_password)
    admin = AuthServiceClient(url)
    admin.create_user(REGISTRAR, "registrar-secret")
    admin.create_user(READER, "reader-secret")

    _as(monkeypatch, REGISTRAR, "registrar-secret")
    metrics = write_metrics(tmp_path / "metrics.json", 40.0, of=tiny_checkpoint)
    code, summary, err = run_cli(
        capsys,
        "register",
        "--checkpoint",
        tiny_checkpoint,
        "--metrics",
        metrics,
        "--model",
        model_name,
        "--tracking-uri",
        url,
        "--connect-timeout",
        "120",
    )
    assert code == 0, err
    assert (summary["version"], summary["decision"]) == ("1", "promote")

    assert _set_champion(url, model_name, "1") == 401  # anonymous
    assert _set_champion(url, model_name, "1", auth=(READER, "reader-secret")) == 403
    _as(monkeypatch, READER, "reader-secret")
    code, _, err = run_cli(
        capsys, "promote", "--model", model_name, "--version", "1", "--tracking-uri", url
    )
    assert code == 2 and "Permission denied" in err and len(err.strip().splitlines()) == 1

    # An operator promotes by hand with the registration identity (the pipeline's Secret).
    _as(monkeypatch, REGISTRAR, "registrar-secret")
    client = connect(url)
    assert client.search_registered_models(f"name = '{model_name}--promotion-lock'") == []
    assert _set_champion(url, model_name, "1", auth=(REGISTRAR, "registrar-secret")) == 200
    code, _, err = run_cli(
        capsys,
        "promote",
        "--model",
        model_name,
        "--version",
        "1",
        "--tracking-uri",
        url,
        "--reason",
        "operator re-confirms v1",
    )
    assert code == 0, err
    history = read_history(client, model_name, "champion")
    assert [(e.action, e.who) for e in history] == [("gate", REGISTRAR), ("manual", REGISTRAR)]
    assert history[-1].why == "operator re-confirms v1"
