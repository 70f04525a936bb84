"""Build a kustomize overlay of manifests/ with the kubectl of the test extras."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
OVERLAYS = sorted(p.name for p in (ROOT / "manifests" / "overlays").iterdir() if p.is_dir())
BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    path = shutil.which(name, path=str(BIN)) or shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed (it comes with the test extras)")
    return path


def build(overlay: str) -> list[dict]:
    return render(ROOT / "manifests" / "overlays" / overlay)


def render(kustomization_dir: Path) -> list[dict]:
    """The documents `kubectl kustomize` renders from a directory with a kustomization.yaml."""
    out = subprocess.run(
        [tool("kubectl"), "kustomize", str(kustomization_dir)],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]
