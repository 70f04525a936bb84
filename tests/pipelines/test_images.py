"""Images pinned by digest: a release compile (`make compile`, `geovr pipeline compile
--release`) runs every step and the TrainJob's nodes on REPO@sha256:..., refuses a tag-only
image unless told otherwise, and `geovr pipeline pin-image` pins an overlay's Deployments."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.manifests.kustomize import render

ROOT = Path(__file__).resolve().parents[2]
PINNED = "registry.example:5000/geovr@sha256:" + "ab12" * 16
TAGGED = "registry.example:5000/geovr:0.1.0"


def _env() -> dict:
    return {k: v for k, v in os.environ.items() if k != "GEOVR_IMAGE"}


def _compile(out: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "geovr", "pipeline", "compile", "--out", str(out), *args],
        capture_output=True,
        text=True,
        timeout=180,
        env=_env(),
        cwd=ROOT,
    )


def _images(package: Path) -> set[str]:
    """Every image the compiled pipeline's steps run, and the one its TrainJobs get."""
    spec = next(yaml.safe_load_all(package.read_text()))
    images = set()
    for executor in spec["deploymentSpec"]["executors"].values():
        images.add(executor["container"]["image"])
        env = {e["name"]: e["value"] for e in executor["container"].get("env", [])}
        images.update([env["GEOVR_IMAGE"]] if "GEOVR_IMAGE" in env else [])
    return images


@pytest.mark.parametrize("refused", [TAGGED, "", "registry.example/geovr@sha256:abc"])
def test_a_release_compile_refuses_an_image_not_pinned_by_digest(tmp_path, refused):
    out = tmp_path / "p.yaml"
    result = _compile(out, "--release", *(["--image", refused] if refused else []))
    assert result.returncode == 2 and not out.exists()
    assert result.stderr.count("\n") == 1 and "sha256" in result.stderr


def test_a_release_compile_runs_every_step_on_the_digest(tmp_path):
    out = tmp_path / "p.yaml"
    result = _compile(out, "--release", "--image", PINNED)
    assert result.returncode == 0, result.stderr
    assert _images(out) == {PINNED}


def test_a_tag_ships_only_when_explicitly_allowed(tmp_path):
    out = tmp_path / "p.yaml"
    result = _compile(out, "--release", "--image", TAGGED, "--allow-tag-image")
    assert result.returncode == 0, result.stderr
    assert "warning: releasing tag-only image" in result.stderr
    assert _images(out) == {TAGGED}


def _make_compile(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    machinery = [
        f"BIN={Path(sys.executable).parent}",
        "STAMP=",
        f"PIPELINE_YAML={tmp_path / 'p.yaml'}",
    ]
    return subprocess.run(
        ["make", "--no-print-directory", "compile", *machinery, *args],
        capture_output=True,
        text=True,
        timeout=180,
        env=_env(),
        cwd=ROOT,
    )


def test_make_compile_takes_the_digest_make_image_recorded(tmp_path):
    recorded = tmp_path / "image.ref"
    image = ["IMAGE=registry.example:5000/geovr", f"IMAGE_REF_FILE={recorded}"]
    refused = _make_compile(tmp_path, *image)  # nothing pushed yet
    assert refused.returncode != 0 and "is a tag" in refused.stderr
    recorded.write_text(PINNED + "\n")  # what `make image` writes after `docker push`
    result = _make_compile(tmp_path, *image)
    assert result.returncode == 0, result.stderr
    assert _images(tmp_path / "p.yaml") == {PINNED}


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_pin_image_pins_the_overlays_deployments(tmp_path, overlay):
    manifests = tmp_path / "manifests"
    shutil.copytree(ROOT / "manifests", manifests)
    kustomization = manifests / "base" / "kustomization.yaml"
    header = [line for line in kustomization.read_text().splitlines() if line.startswith("#")]
    for image in (PINNED.replace("ab12", "cd34"), PINNED):  # a second pin replaces the first
        result = subprocess.run(
            [sys.executable, "-m", "geovr", "pipeline", "pin-image"]
            + ["--kustomization", str(kustomization), "--image", image],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
        )
        assert result.returncode == 0, result.stderr
    assert [
        line for line in kustomization.read_text().splitlines() if line.startswith("#")
    ] == header
    images = {
        doc["metadata"]["name"]: container["image"]
        for doc in render(manifests / "overlays" / overlay)
        if doc["kind"] == "Deployment"
        for container in doc["spec"]["template"]["spec"]["containers"]
    }
    geovr = {name: image for name, image in images.items() if "postgres" not in image}
    assert set(geovr) == {"geovr-mlflow", "geovr-serving"} and set(geovr.values()) == {PINNED}
