"""Scheduled retraining: two runs of the pipeline with the same parameters (data_rev = the
branch, as a recurring run passes it) under kfp.local with its task cache on, the way KFP
caches on a cluster. A data commit between them must reach the second model."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipelines.local_run import local_params
from tests.data import s3_fixtures
from tests.data.s3_fixtures import dvc, git

dvc_repo = s3_fixtures.dvc_repo  # the fixture, bound here so that pytest sees it
GOLDEN = Path(__file__).resolve().parents[2] / "pipelines" / "geovr_pipeline.yaml"
QUICK = {"steps": 2, "max_questions": 8, "distill_tasks": 1}


def commit_synthetic_data(repo: Path, seed: int) -> str:
    """A new synthetic data set (4 scenes), tracked, pushed and committed; returns its md5."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "geovr",
            "data",
            "synth",
            "--out",
            "data",
            "--scenes",
            "4",
            "--frames",
            "8",
            "--size",
            "64",
            "--seed",
            str(seed),
        ],
        cwd=repo,
        check=True,
        capture_output=True,
        timeout=300,
    )
    dvc("add", "data", cwd=repo)
    dvc("push", "-q", cwd=repo)
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", f"data seed {seed}", cwd=repo)
    return yaml.safe_load((repo / "data.dvc").read_text())["outs"][0]["md5"]


def run_cached(repo: Path, branch: str, root: Path) -> dict:
    from kfp import local

    from pipelines import local_oneof
    from pipelines.geovr_pipeline import geovr_pipeline

    local_oneof.enable()
    local.init(
        runner=local.SubprocessRunner(use_venv=False),
        pipeline_root=str(root),
        raise_on_error=True,
        enable_caching=True,
    )
    result = geovr_pipeline(**local_params(repo, branch, QUICK))
    return json.loads((Path(result.outputs["checkpoint"].path) / "meta.json").read_text())


def test_compiled_pipeline_never_serves_fetch_data_from_cache():
    spec, _platform = yaml.safe_load_all(GOLDEN.read_text())
    fetch = spec["root"]["dag"]["tasks"]["fetch-data"]
    assert not fetch.get("cachingOptions", {}).get("enableCache")


@pytest.mark.integration
@pytest.mark.slow
def test_second_run_on_a_new_data_commit_trains_on_the_new_data(dvc_repo, tmp_path):
    branch = git("rev-parse", "--abbrev-ref", "HEAD", cwd=dvc_repo).strip()
    old_md5 = commit_synthetic_data(dvc_repo, seed=0)
    first = run_cached(dvc_repo, branch, tmp_path / "kfp")
    new_md5 = commit_synthetic_data(dvc_repo, seed=1)
    second = run_cached(dvc_repo, branch, tmp_path / "kfp")
    assert old_md5 != new_md5
    assert first["data_version"]["dvc_md5"] == old_md5
    assert second["data_version"]["dvc_md5"] == new_md5
