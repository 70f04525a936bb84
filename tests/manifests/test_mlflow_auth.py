"""The deployed MLflow server requires authentication: MLflow's basic-auth app, configured
and bootstrapped only from Secret references (tests/registry/test_auth.py runs the same
configuration against a real server)."""

import pytest

from tests.manifests.kustomize import OVERLAYS, build

AUTH_SECRET = "geovr-mlflow-auth"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_mlflow_server_runs_basic_auth_from_a_secret(overlay):
    docs = build(overlay)
    server = next(
        d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "geovr-mlflow"
    )
    pod = server["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert "--app-name=basic-auth" in container["args"]
    env = {e["name"]: e for e in container["env"]}
    for name in (
        "MLFLOW_AUTH_ADMIN_USERNAME",
        "MLFLOW_AUTH_ADMIN_PASSWORD",
        "MLFLOW_FLASK_SERVER_SECRET_KEY",
    ):
        assert env[name]["valueFrom"]["secretKeyRef"]["name"] == AUTH_SECRET, name
    config_dir = env["MLFLOW_AUTH_CONFIG_PATH"]["value"].rsplit("/", 1)[0]
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == config_dir)
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    assert volume["secret"]["secretName"] == AUTH_SECRET
