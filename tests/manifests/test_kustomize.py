"""Every kustomize overlay builds and validates against the Kubernetes 1.37 schemas."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
OVERLAYS = sorted(p.name for p in (ROOT / "manifests" / "overlays").iterdir() if p.is_dir())
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    path = shutil.which(name, path=str(BIN)) or shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed (it comes with the test extras)")
    return path


def _build(overlay: str) -> list[dict]:
    out = subprocess.run(
        [_tool("kubectl"), "kustomize", str(ROOT / "manifests" / "overlays" / overlay)],
        check=True, capture_output=True, text=True, timeout=60,
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_validates_strictly(overlay, tmp_path):
    docs = _build(overlay)
    rendered = tmp_path / f"{overlay}.yaml"
    rendered.write_text(yaml.safe_dump_all(docs))
    result = subprocess.run(
        [_tool("kubernetes-validate"), "--strict", "--quiet", str(rendered)],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_has_the_pieces_the_pipeline_needs(overlay):
    docs = _build(overlay)
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert ("Deployment", "geovr-mlflow") in kinds
    assert ("StatefulSet", "geovr-mlflow-db") in kinds
    assert ("PersistentVolumeClaim", "geovr-dvc-cache") in kinds
    role = next(d for d in docs if d["kind"] == "Role")
    trainjob_rule = next(r for r in role["rules"] if "trainjobs" in r["resources"])
    assert {"create", "get", "watch", "delete"} <= set(trainjob_rule["verbs"])
    assert any("pods/log" in r["resources"] for r in role["rules"])
    assert all(d["metadata"].get("namespace") for d in docs), "overlays must set a namespace"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_secret_values_in_manifests(overlay):
    docs = _build(overlay)
    assert not [d for d in docs if d["kind"] == "Secret"], "secrets are referenced, never shipped"
    text = yaml.safe_dump_all(docs).lower()
    for needle in ("aws_secret_access_key:", "password:"):
        assert needle not in text


def test_mlflow_server_uses_multipart_s3_artifacts():
    docs = _build("prod")
    server = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "geovr-mlflow")
    container = server["spec"]["template"]["spec"]["containers"][0]
    assert any(a.startswith("--artifacts-destination=s3://") for a in container["args"])
    assert any(a.startswith("--backend-store-uri=postgresql://") for a in container["args"])
    assert "--serve-artifacts" in container["args"]  # presigned multipart needs the proxy
