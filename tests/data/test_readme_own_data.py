"""The README's "Bring your own data" section as printed: its command lines, in order, in a data
repository made of the project's DVC files, on a real `mydata/` with good and corrupt clips,
against a moto S3 server; then its clone line in a second clone on another machine (another
HOME, so the bytes can only come from S3), and the pipeline's fetch-data checkout from the
repository on a third: both read only what git carries. The only substitutions are the README's
own placeholders: the bucket and the endpoint.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
import s3_fixtures
from clip_builders import add_corrupt_inputs, make_dataset
from s3_fixtures import git, project_dvc_repo, tree_bytes

from geovr.data.download import checkout_revision

ROOT = Path(__file__).resolve().parents[2]
BUCKET_PLACEHOLDER = "s3://BUCKET/PREFIX"
ENDPOINT_PLACEHOLDER = "https://minio.example:9000"
GOOD_CLIPS = 10  # beside add_corrupt_inputs' 9 rejected clips: above the 0.5 valid fraction

pytestmark = [pytest.mark.integration, pytest.mark.slow]
moto_server, moto_s3 = s3_fixtures.moto_server, s3_fixtures.moto_s3


def own_data_command_blocks() -> list[list[str]]:
    """The section's indented command blocks (the `mydata/` layout sketch is not one), each a
    list of command lines without their comments."""
    readme = (ROOT / "README.md").read_text()
    section = re.search(r"^## Bring your own data\n(.*?)^## ", readme, re.S | re.M).group(1)
    blocks = re.findall(r"(?:^ {4}\S.*\n)+", section, re.M)
    return [
        [shlex.join(shlex.split(line, comments=True)) for line in block.splitlines()]
        for block in blocks
        if re.match(r" {4}(geovr|dvc|git) ", block)
    ]


def _executable(name: str) -> list[str]:
    """The command as a user's shell finds it, from this interpreter's environment."""
    if name == "dvc":
        return [sys.executable, "-m", "dvc"]
    if name == "geovr":
        return [str(Path(sys.executable).with_name("geovr"))]
    return [shutil.which(name) or name]


def run_line(line: str, cwd: Path, home: Path) -> str:
    argv = shlex.split(line)
    env = {**os.environ, "HOME": str(home), "DVC_NO_ANALYTICS": "1"}
    proc = subprocess.run(
        [*_executable(argv[0]), *argv[1:]],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, f"{line}: {proc.stderr[-2000:]}"
    return proc.stdout


def test_own_data_section_runs_as_printed_and_a_clone_gets_the_bytes_from_s3(
    moto_s3, tmp_path, monkeypatch
):
    in_repo, in_clone = own_data_command_blocks()
    assert [line.split()[:3] for line in in_repo[:2]] == [
        ["geovr", "ingest", "--data"],
        ["geovr", "data", "track"],
    ]
    remote_lines = [line for line in in_repo if line.startswith("dvc remote modify s3")]
    assert any(BUCKET_PLACEHOLDER in line for line in remote_lines), remote_lines
    assert any(ENDPOINT_PLACEHOLDER in line for line in remote_lines), remote_lines

    def ours(line: str) -> str:
        return line.replace(BUCKET_PLACEHOLDER, f"s3://{moto_s3.bucket}/dvc").replace(
            ENDPOINT_PLACEHOLDER, moto_s3.endpoint_url
        )

    repo = project_dvc_repo(tmp_path / "data-repo")
    expected_reasons = add_corrupt_inputs(make_dataset(repo / "mydata", GOOD_CLIPS, 16), 16)
    home = tmp_path / "home"
    outputs = [run_line(ours(line), repo, home) for line in in_repo]

    summary = json.loads(outputs[0].strip().splitlines()[-1])
    assert (summary["clips_in"], summary["valid"], summary["quarantined"]) == (19, GOOD_CLIPS, 9)
    assert (summary["qa_kept"], summary["qa_dropped"]) == (GOOD_CLIPS, 1)
    quarantine = repo / "runs" / "clips" / "quarantine.jsonl"
    found = {row["input"]: row["reason"] for row in map(json.loads, quarantine.open())}
    for where, fragment in expected_reasons.items():
        assert fragment in found.pop(where), where
    assert found == {}
    assert git("status", "--porcelain", "--untracked-files=no", cwd=repo) == ""
    assert "mydata.dvc" in git("show", "--name-only", "--format=", "HEAD", cwd=repo).split()
    stored = boto3.client("s3", endpoint_url=moto_s3.endpoint_url).list_objects_v2(
        Bucket=moto_s3.bucket, Prefix="dvc/"
    )
    assert stored["KeyCount"] > 0, "dvc push -r s3 stored nothing in the bucket"

    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(repo), str(clone)], check=True, timeout=120)
    other_machine = tmp_path / "other-home"
    ensured = [run_line(ours(line), clone, other_machine) for line in in_clone]
    assert json.loads(ensured[-1].strip().splitlines()[-1])["action"] == "pulled"
    assert tree_bytes(clone / "mydata") == tree_bytes(repo / "mydata")

    # the pipeline's first step, from the repository as a cluster sees it (git's files only)
    monkeypatch.setenv("HOME", str(tmp_path / "cluster-home"))
    fetched = checkout_revision(
        str(repo),
        git("rev-parse", "HEAD", cwd=repo).strip(),
        tmp_path / "fetched",
        target="mydata",
        remote="s3",
    )
    assert tree_bytes(tmp_path / "fetched") == tree_bytes(repo / "mydata"), fetched
