"""The rendered MLflow Deployment, run here: its own command line and environment, with a local
sqlite store and artifact directory in place of PostgreSQL and the bucket (and a local
basic_auth.ini in place of the mounted Secret file), answers the API addressed by the
Service's names (what the pipeline's pods use) to a logged-in client, and its own readiness
probe command succeeds."""

import subprocess
import sys
from urllib.parse import urlparse

import pytest
import requests

from tests.manifests.kustomize import OVERLAYS, build
from tests.manifests.podenv import command_line, container_env, find
from tests.registry.servers import (
    BIN,
    MLFLOW_START_S,
    aws_test_env,
    basic_auth_env,
    free_port,
    running,
)

# values no manifest could contain by chance (tests/manifests/test_pod_security looks for them)
SECRETS = {
    "geovr-mlflow-db": {"username": "user-from-secret", "password": "password-from-secret"},
    "geovr-s3-credentials": {
        "AWS_ACCESS_KEY_ID": "key-id-from-secret",
        "AWS_SECRET_ACCESS_KEY": "key-from-secret",
    },
    "geovr-mlflow-auth": {
        "admin-username": "admin",
        "admin-password": "admin-password-from-secret",
        "flask-secret-key": "csrf-key-from-secret",
    },
    "geovr-mlflow-credentials": {
        "MLFLOW_TRACKING_USERNAME": "registrar-from-secret",
        "MLFLOW_TRACKING_PASSWORD": "registrar-password-from-secret",
    },
}
# the flags this machine replaces: where the server listens and where it stores
LOCAL_FLAGS = ("--host", "--port", "--backend-store-uri", "--artifacts-destination", "--workers")


def mlflow_container(docs: list[dict]) -> dict:
    return find(docs, "Deployment", "geovr-mlflow")["spec"]["template"]["spec"]["containers"][0]


def local_command(argv: list[str], port: int, tmp_path) -> list[str]:
    kept = [a for a in argv[1:] if a.split("=", 1)[0] not in LOCAL_FLAGS]
    assert len(kept) == len(argv) - 5, f"the Deployment's flags changed: {argv}"
    return [
        str(BIN / argv[0]),
        *kept,
        "--host=127.0.0.1",
        f"--port={port}",
        "--workers=1",
        f"--backend-store-uri=sqlite:///{tmp_path / 'mlflow.db'}",
        f"--artifacts-destination={tmp_path / 'artifacts'}",
    ]


def service_hosts(docs: list[dict], namespace: str) -> list[str]:
    """The Host headers in-cluster clients send: the ConfigMap's tracking URI and the FQDN."""
    tracking = urlparse(find(docs, "ConfigMap", "geovr-config")["data"]["MLFLOW_TRACKING_URI"])
    return [tracking.netloc, f"{tracking.hostname}.{namespace}.svc.cluster.local:{tracking.port}"]


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_rendered_server_answers_the_service_host_names(overlay, tmp_path):
    docs = build(overlay)
    namespace = find(docs, "Deployment", "geovr-mlflow")["metadata"]["namespace"]
    container = mlflow_container(docs)
    env = container_env(container, docs, namespace, SECRETS)
    # the Secret's basic_auth.ini, written here (its users database in tmp_path)
    env["MLFLOW_AUTH_CONFIG_PATH"] = basic_auth_env(tmp_path, "unused")["MLFLOW_AUTH_CONFIG_PATH"]
    port = free_port()
    cmd = local_command(command_line(container, env), port, tmp_path)
    url = f"http://127.0.0.1:{port}"
    admin = ("admin", SECRETS["geovr-mlflow-auth"]["admin-password"])
    with running(
        cmd,
        f"{url}/health",
        tmp_path / "mlflow.log",
        MLFLOW_START_S,
        env={**env, **aws_test_env(tmp_path)},
    ):
        probe = container["readinessProbe"]["exec"]["command"]
        assert "/health" not in " ".join(probe), "/health answers even when the API refuses"
        local_probe = [
            sys.executable if probe[0] == "python" else probe[0],
            *probe[1:-1],
            probe[-1].replace("127.0.0.1:5000", f"127.0.0.1:{port}"),
        ]
        search = f"{url}/api/2.0/mlflow/experiments/search?max_results=1"
        requests.get(search, timeout=60)  # the first API call loads the auth app (slow here)
        ready = subprocess.run(local_probe, env=env, capture_output=True, text=True, timeout=60)
        assert ready.returncode == 0, ready.stderr
        for number, host in enumerate(service_hosts(docs, namespace)):
            anonymous = requests.get(search, headers={"Host": host}, timeout=30)
            assert anonymous.status_code == 401, f"{host}: {anonymous.status_code}"
            created = requests.post(
                f"{url}/api/2.0/mlflow/experiments/create",
                headers={"Host": host},
                json={"name": f"from-{number}"},
                auth=admin,
                timeout=30,
            )
            assert created.status_code == 200, f"{host}: {created.status_code} {created.text}"
        foreign = requests.get(
            search, headers={"Host": "geovr-mlflow.example.com"}, auth=admin, timeout=30
        )
        assert foreign.status_code == 403, "host validation must stay on (DNS rebinding)"
