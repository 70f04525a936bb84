"""Every kustomize overlay builds and validates against the Kubernetes 1.37 schemas."""

import subprocess

import pytest
import yaml

from tests.manifests.kustomize import OVERLAYS, build, tool


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_validates_strictly(overlay, tmp_path):
    docs = build(overlay)
    rendered = tmp_path / f"{overlay}.yaml"
    rendered.write_text(yaml.safe_dump_all(docs))
    result = subprocess.run(
        [tool("kubernetes-validate"), "--strict", "--quiet", str(rendered)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_has_the_pieces_the_pipeline_needs(overlay):
    docs = build(overlay)
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert ("Deployment", "geovr-mlflow") in kinds
    assert ("StatefulSet", "geovr-mlflow-db") in kinds
    assert ("PersistentVolumeClaim", "geovr-train") in kinds
    assert ("Role", "geovr-trainjob-launcher") in kinds  # its rules: test_pod_security
    assert all(d["metadata"].get("namespace") for d in docs), "overlays must set a namespace"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_secret_values_in_manifests(overlay):
    docs = build(overlay)
    assert not [d for d in docs if d["kind"] == "Secret"], "secrets are referenced, never shipped"
    text = yaml.safe_dump_all(docs).lower()
    for needle in ("aws_secret_access_key:", "password:"):
        assert needle not in text


def test_mlflow_server_uses_multipart_s3_artifacts():
    docs = build("prod")
    server = next(
        d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "geovr-mlflow"
    )
    container = server["spec"]["template"]["spec"]["containers"][0]
    assert any(a.startswith("--artifacts-destination=s3://") for a in container["args"])
    assert any(a.startswith("--backend-store-uri=postgresql://") for a in container["args"])
    assert "--serve-artifacts" in container["args"]  # presigned multipart needs the proxy
