"""The project image: hadolint passes, it runs as non-root and bakes in no credentials."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "docker" / "Dockerfile"


def test_hadolint_passes():
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint"
    )
    assert hadolint, "hadolint is not installed (it comes with the test extras)"
    result = subprocess.run(
        [hadolint, "--config", str(ROOT / ".hadolint.yaml"), str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_image_is_non_root_and_pinned():
    text = DOCKERFILE.read_text()
    users = re.findall(r"^USER\s+(\S+)", text, flags=re.M)
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    assert re.search(r"^FROM python:\$\{PYTHON_VERSION\}", text, flags=re.M)
    assert re.search(r"^ARG PYTHON_VERSION=\d+\.\d+\.\d+", text, flags=re.M)
    assert "TORCH_VERSION=2.14.1" in text


def test_no_credentials_in_image():
    text = DOCKERFILE.read_text()
    for name in ("AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "MLFLOW_TRACKING_PASSWORD"):
        assert name not in text
