"""Fixtures for the registry tests: a tiny checkpoint, a local sqlite MLflow store, and
session-wide real servers (one `mlflow server` with local artifacts; moto S3 + one `mlflow
server` with S3 artifacts; one with MLflow's basic-auth app), each started once (when a test
first asks for it) and stopped at the end of the session.

    .venv/bin/pytest -q tests/registry                      # everything
    .venv/bin/pytest -q tests/registry -m "not integration" # no servers
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

from .builders import build_checkpoint
from .servers import (
    MLFLOW_START_S,
    MOTO_START_S,
    aws_test_env,
    basic_auth_env,
    free_port,
    mlflow_server_cmd,
    moto_cmd,
    running,
)

STARTUP_TIMES: dict[str, float] = {}


def pytest_terminal_summary(terminalreporter) -> None:
    for name, seconds in STARTUP_TIMES.items():
        terminalreporter.write_line(f"registry tests: {name} answered after {seconds:.1f} s")


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A complete tiny checkpoint (docs/contracts.md section 4); read-only for the tests."""
    return build_checkpoint(tmp_path_factory.mktemp("checkpoint") / "checkpoint")


@pytest.fixture(scope="session")
def sqlite_uri(tmp_path_factory) -> str:
    """One local sqlite tracking/registry store for the session (tests use distinct models)."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


@pytest.fixture
def model_name() -> str:
    return f"geovr-student-{uuid.uuid4().hex[:8]}"


@pytest.fixture(autouse=True)
def _isolated_mlflow_env(monkeypatch, tmp_path) -> None:
    # The host's settings must not redirect the tests; MLflow's default ./mlruns goes to tmp.
    # A registration process never imports geovr.tracking, whose import sets MLflow's HTTP
    # client to fail fast (5 s, no retry) in os.environ: a test that imported it earlier in
    # this process must not leave those settings to the registry's tests.
    for name in (
        "MLFLOW_TRACKING_URI",
        "MLFLOW_REGISTRY_URI",
        "KFP_RUN_ID",
        "MLFLOW_EXPERIMENT_NAME",
        "GEOVR_REGISTRY_RETRY_S",
        "MLFLOW_HTTP_REQUEST_TIMEOUT",
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory) -> str:
    """URL of an `mlflow server` (sqlite backend, artifacts proxied to a tmp directory)."""
    root = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    cmd = mlflow_server_cmd(port, root / "mlflow.db", str(root / "artifacts"))
    url = f"http://127.0.0.1:{port}"
    with running(cmd, f"{url}/health", root / "mlflow-server.log", MLFLOW_START_S) as seconds:
        STARTUP_TIMES["mlflow server (local artifacts)"] = seconds
        yield url


@dataclass(frozen=True)
class S3Registry:
    """An MLflow server whose artifacts go to `s3://bucket/prefix` on a moto endpoint."""

    url: str
    endpoint: str
    bucket: str
    prefix: str

    def s3(self):
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        )


@pytest.fixture(scope="session")
def s3_registry(tmp_path_factory) -> S3Registry:
    """moto S3 + an `mlflow server --artifacts-destination s3://...` in front of it."""
    root = tmp_path_factory.mktemp("mlflow-s3")
    env = aws_test_env(root)
    moto_port, port = free_port(), free_port()
    endpoint = f"http://127.0.0.1:{moto_port}"
    # moto's 5 MiB minimum part size lowered so that a tiny checkpoint uploads in parts.
    with running(
        moto_cmd(moto_port),
        f"{endpoint}/moto-api/",
        root / "moto.log",
        MOTO_START_S,
        {**env, "S3_UPLOAD_PART_MIN_SIZE": "1024"},
    ):
        registry = S3Registry(f"http://127.0.0.1:{port}", endpoint, "geovr-models", "mlflow")
        registry.s3().create_bucket(Bucket=registry.bucket)
        cmd = mlflow_server_cmd(port, root / "mlflow.db", f"s3://{registry.bucket}/mlflow")
        server_env = {**env, "MLFLOW_S3_ENDPOINT_URL": endpoint}
        with running(
            cmd, f"{registry.url}/health", root / "mlflow-server.log", MLFLOW_START_S, server_env
        ) as seconds:
            STARTUP_TIMES["mlflow server (S3 artifacts on moto)"] = seconds
            yield registry


@dataclass(frozen=True)
class AuthServer:
    """An `mlflow server --app-name basic-auth` and its admin's password."""

    url: str
    admin_password: str


@pytest.fixture(scope="session")
def auth_server(tmp_path_factory) -> AuthServer:
    root = tmp_path_factory.mktemp("mlflow-auth")
    port = free_port()
    server = AuthServer(f"http://127.0.0.1:{port}", uuid.uuid4().hex)
    cmd = mlflow_server_cmd(port, root / "mlflow.db", str(root / "artifacts"))
    with running(
        [*cmd, "--app-name", "basic-auth"],
        f"{server.url}/health",
        root / "mlflow-server.log",
        MLFLOW_START_S,
        basic_auth_env(root, server.admin_password),
    ) as seconds:
        STARTUP_TIMES["mlflow server (basic-auth)"] = seconds
        yield server
