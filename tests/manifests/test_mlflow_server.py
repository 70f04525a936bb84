"""The rendered MLflow Deployment, run here: its own command line and environment, with a local
sqlite store and artifact directory in place of PostgreSQL and the bucket, answers the API
addressed by the Service's names (what the pipeline's pods use) and its readiness probe."""

from urllib.parse import urlparse

import pytest
import requests

from tests.manifests.kustomize import OVERLAYS, build
from tests.manifests.podenv import command_line, container_env, find
from tests.registry.servers import BIN, MLFLOW_START_S, aws_test_env, free_port, running

# values no manifest could contain by chance (tests/manifests/test_pod_security looks for them)
SECRETS = {
    "geovr-mlflow-db": {"username": "user-from-secret", "password": "password-from-secret"},
    "geovr-s3-credentials": {"AWS_ACCESS_KEY_ID": "key-id-from-secret",
                             "AWS_SECRET_ACCESS_KEY": "key-from-secret"},
}
# the flags this machine replaces: where the server listens and where it stores
LOCAL_FLAGS = ("--host", "--port", "--backend-store-uri", "--artifacts-destination", "--workers")


def mlflow_container(docs: list[dict]) -> dict:
    return find(docs, "Deployment", "geovr-mlflow")["spec"]["template"]["spec"]["containers"][0]


def local_command(argv: list[str], port: int, tmp_path) -> list[str]:
    kept = [a for a in argv[1:] if a.split("=", 1)[0] not in LOCAL_FLAGS]
    assert len(kept) == len(argv) - 5, f"the Deployment's flags changed: {argv}"
    return [str(BIN / argv[0]), *kept, "--host=127.0.0.1", f"--port={port}", "--workers=1",
            f"--backend-store-uri=sqlite:///{tmp_path / 'mlflow.db'}",
            f"--artifacts-destination={tmp_path / 'artifacts'}"]


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
    port = free_port()
    cmd = local_command(command_line(container, env), port, tmp_path)
    url = f"http://127.0.0.1:{port}"
    with running(cmd, f"{url}/health", tmp_path / "mlflow.log", MLFLOW_START_S,
                 env={**env, **aws_test_env(tmp_path)}):
        probe = container["readinessProbe"]["httpGet"]
        assert not probe["path"].startswith("/health"), "/health answers even when the API refuses"
        headers = {h["name"]: h["value"] for h in probe.get("httpHeaders", [])}
        ready = requests.get(f"{url}{probe['path']}", headers=headers, timeout=30)
        assert ready.status_code == 200, ready.text
        for number, host in enumerate(service_hosts(docs, namespace)):
            created = requests.post(f"{url}/api/2.0/mlflow/experiments/create", headers={"Host": host},
                                    json={"name": f"from-{number}"}, timeout=30)
            assert created.status_code == 200, f"{host}: {created.status_code} {created.text}"
        foreign = requests.get(f"{url}{probe['path']}", headers={"Host": "geovr-mlflow.example.com"},
                               timeout=30)
        assert foreign.status_code == 403, "host validation must stay on (DNS rebinding)"
