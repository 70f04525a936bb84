"""The champion's serving Deployment: in every overlay, valid `mlflow models serve` flags, the
registry's model name and champion alias, and probes on the port its Service targets.
(Strict schema validation of the whole overlay is test_kustomize.py's.)"""

import subprocess
import sys
from pathlib import Path

import pytest

from geovr.registry import CHAMPION, DEFAULT_MODEL
from tests.manifests.kustomize import OVERLAYS, build

MLFLOW = str(Path(sys.executable).parent / "mlflow")


def _serving(overlay: str) -> tuple[dict, dict]:
    docs = build(overlay)
    named = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    return named[("Deployment", "geovr-serving")], named[("Service", "geovr-serving")]


@pytest.fixture(scope="module")
def serve_flags() -> str:
    return subprocess.run(
        [MLFLOW, "models", "serve", "--help"],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.slow
def test_serving_deployment_serves_the_champion(overlay, serve_flags):
    deployment, service = _serving(overlay)
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["mlflow"] and container["args"][:2] == ["models", "serve"]
    flags = dict(a.removeprefix("--").split("=", 1) for a in container["args"][2:])
    assert flags["model-uri"] == f"models:/{DEFAULT_MODEL}@{CHAMPION}"
    assert flags["env-manager"] == "local"  # the image already holds the pinned packages
    for flag in flags:
        assert f"--{flag}" in serve_flags, f"mlflow models serve has no --{flag}"
    port = int(flags["port"])
    assert service["spec"]["ports"][0]["targetPort"] == port
    assert container["readinessProbe"]["httpGet"] == {"path": "/ping", "port": port}
    sources = {s.get("configMapRef", {}).get("name") for s in container["envFrom"]}
    assert "geovr-config" in sources  # MLFLOW_TRACKING_URI: where the alias is resolved
    secrets = {s["secretRef"]["name"] for s in container["envFrom"] if "secretRef" in s}
    assert "geovr-mlflow-credentials" in secrets  # the server requires a login to read the model
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
