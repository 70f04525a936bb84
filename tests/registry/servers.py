"""Real servers for the registry integration tests, on 127.0.0.1 with bounded start-up waits:
`mlflow server` (sqlite backend, local or S3 artifact destination) and moto's S3 server.

Each runs in its own process group (MLflow starts uvicorn and a job runner as children), so
stopping it ends the whole group and nothing else."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import requests

MLFLOW_START_S = 180.0  # a cold `mlflow server` takes ~10-40 s to answer /health on 2 cores
MOTO_START_S = 30.0
STOP_S = 30.0
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=STOP_S)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=STOP_S)


def _wait_ready(url: str, proc: subprocess.Popen, log: Path, timeout: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"{log.stem} exited ({proc.returncode}): {log.read_text()[-3000:]}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(url, timeout=2).ok:
                return time.monotonic() - start
        time.sleep(0.3)
    raise RuntimeError(f"{log.stem} not ready after {timeout:.0f} s: {log.read_text()[-3000:]}")


@contextlib.contextmanager
def running(
    cmd: list[str], ready_url: str, log: Path, timeout: float, env: dict[str, str] | None = None
) -> Iterator[float]:
    """Run `cmd` until the block ends; yields the seconds it took to answer `ready_url`."""
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            cmd,
            stdout=sink,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
        try:
            yield _wait_ready(ready_url, proc, log, timeout)
        finally:
            _stop(proc)


def mlflow_server_cmd(port: int, db: Path, artifacts: str) -> list[str]:
    """Proxied artifacts (--serve-artifacts) to `artifacts`: the configuration the cluster
    runs (manifests/base/mlflow-server.yaml) and the one that gives presigned multipart
    uploads straight to S3."""
    return [
        str(BIN / "mlflow"),
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--backend-store-uri",
        f"sqlite:///{db}",
        "--serve-artifacts",
        "--artifacts-destination",
        artifacts,
        "--workers",
        "1",
    ]


def basic_auth_env(root: Path, admin_password: str) -> dict[str, str]:
    """MLflow's basic-auth app configured as the cluster runs it (manifests/base/
    mlflow-server.yaml): users in their own database, READ for everyone by default, the
    admin from the environment."""
    config = root / "basic_auth.ini"
    config.write_text(
        "[mlflow]\ndefault_permission = READ\n"
        f"database_uri = sqlite:///{root / 'basic_auth.db'}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
    )
    return {
        "MLFLOW_AUTH_CONFIG_PATH": str(config),
        "MLFLOW_AUTH_ADMIN_USERNAME": "admin",
        "MLFLOW_AUTH_ADMIN_PASSWORD": admin_password,
        "MLFLOW_FLASK_SERVER_SECRET_KEY": f"csrf-{admin_password}",
    }


def moto_cmd(port: int) -> list[str]:
    return [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)]


def aws_test_env(home: Path) -> dict[str, str]:
    """Dummy credentials, and the host's AWS files and proxies kept away from 127.0.0.1."""
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(home / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-aws-credentials"),
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
