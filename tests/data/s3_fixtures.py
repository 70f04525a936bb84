"""Fixtures for the data-versioning tests: a real moto S3 server, throwaway git+DVC repos and
small deterministic dummy datasets. Import the fixtures into a test module:

    import s3_fixtures
    dvc_repo, moto_s3 = s3_fixtures.dvc_repo, s3_fixtures.moto_s3   # pytest finds them by name

`moto_server` (session) runs `moto_server -H 127.0.0.1 -p <free port>` from this venv;
`moto_s3` (per test) points the AWS environment at it with dummy keys and makes a fresh bucket.
"""

from __future__ import annotations

import contextlib
import json
import random
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

START_TIMEOUT = 30.0  # s for moto to answer
RECIPE = {"scenes": 2, "frames": 4, "size": 32, "seed": 7}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_ready(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"moto_server exited ({proc.returncode}): {log.read_text()[-2000:]}")
        with contextlib.suppress(OSError):
            urllib.request.urlopen(f"{url}/moto-api/", timeout=1).close()
            return
        time.sleep(0.2)
    raise RuntimeError(f"moto_server not ready after {START_TIMEOUT} s: {log.read_text()[-2000:]}")


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory) -> str:
    """Endpoint URL of a moto S3 server on 127.0.0.1, stopped at the end of the session."""
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    url = f"http://127.0.0.1:{(port := free_port())}"
    binary = Path(sys.executable).with_name("moto_server")
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [binary, "-H", "127.0.0.1", "-p", str(port)], stdout=sink, stderr=subprocess.STDOUT
        )
        try:
            _wait_ready(url, proc, log)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


@dataclass
class MotoS3:
    endpoint_url: str
    bucket: str
    key: str = "testing"
    secret: str = "testing"

    def storage_options(self) -> dict[str, Any]:
        """fsspec/s3fs options (what ShardReader takes)."""
        return {
            "key": self.key,
            "secret": self.secret,
            "client_kwargs": {"endpoint_url": self.endpoint_url},
        }


@pytest.fixture
def moto_s3(moto_server, monkeypatch, tmp_path) -> MotoS3:
    """Dummy AWS credentials in the environment (inherited by DVC subprocesses) and a new bucket."""
    import boto3

    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    # Keep the host's AWS files and any proxy out of the way of a 127.0.0.1 server.
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    bucket = f"geovr-test-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=moto_server).create_bucket(Bucket=bucket)
    return MotoS3(moto_server, bucket)


def run(cmd: list[Any], cwd: Path, timeout: float = 120) -> str:
    """Run a command in a test repo; fail the test with its output if it fails."""
    proc = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, f"{cmd} failed: {proc.stdout}\n{proc.stderr}"
    return proc.stdout


def dvc(*args: Any, cwd: Path, timeout: float = 120) -> str:
    return run([sys.executable, "-m", "dvc", *args], cwd, timeout)


def git(*args: Any, cwd: Path) -> str:
    return run(["git", *args], cwd)


@pytest.fixture
def dvc_repo(tmp_path, monkeypatch) -> Path:
    """A throwaway git + DVC repo with a local default remote `.dvcstore` (like the project)."""
    monkeypatch.setenv("DVC_NO_ANALYTICS", "1")
    repo = tmp_path / "repo"
    repo.mkdir()
    git("init", "-q", cwd=repo)
    git("config", "user.email", "test@geovr.invalid", cwd=repo)
    git("config", "user.name", "geovr tests", cwd=repo)
    dvc("init", "-q", cwd=repo)
    dvc("config", "core.analytics", "false", cwd=repo)
    dvc("remote", "add", "-d", "localstore", ".dvcstore", cwd=repo)
    (repo / ".gitignore").write_text("/.dvcstore\n")
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "init", cwd=repo)
    return repo


PROJECT_DVC_FILES = (".dvc/config", ".dvcignore", "data.dvc", ".gitignore")


def project_dvc_repo(repo: Path) -> Path:
    """A git repository at `repo` holding the project's DVC files as they are in this checkout
    (its remotes, its data pointer), committed: what a data repository starts from."""
    project = Path(__file__).resolve().parents[2]
    for name in PROJECT_DVC_FILES:
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(project / name, repo / name)
    git("init", "-q", cwd=repo)
    git("config", "user.email", "test@geovr.invalid", cwd=repo)
    git("config", "user.name", "geovr tests", cwd=repo)
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "the project's DVC files", cwd=repo)
    return repo


def write_dummy_dataset(out: Path, params: dict[str, Any]) -> None:
    """A small dataset in the contract layout whose bytes depend only on `params` (a stand-in
    for `geovr data synth`; usable as `ensure_data`'s `regenerate`)."""
    out.mkdir(parents=True)
    (out / "videos").mkdir()
    (out / "dataset.json").write_text(
        json.dumps(
            {"schema": "geovr.dataset/1", "name": "dummy", "generator": params}, sort_keys=True
        )
    )
    clips = []
    for i in range(params["scenes"]):
        clip_id = f"scene_{i:04d}"
        rng = random.Random(f"{params['seed']}:{clip_id}:{params['frames']}:{params['size']}")
        (out / "videos" / f"{clip_id}.mp4").write_bytes(rng.randbytes(params.get("kib", 2) * 1024))
        clips.append(
            json.dumps({"clip_id": clip_id, "video": f"videos/{clip_id}.mp4", "split": "train"})
        )
    (out / "clips.jsonl").write_text("\n".join(clips) + "\n")


def tree_bytes(root: Path) -> dict[str, bytes]:
    """{relative path: bytes} of every file under root (for byte-for-byte comparisons)."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }
