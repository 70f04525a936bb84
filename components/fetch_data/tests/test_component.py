"""The fetch_data component run for real by kfp.local on a repository that versions its own
directory (`mydata/`, README "Bring your own data"), and the pipeline's `data_target` wiring.

    .venv/bin/pytest -q components/fetch_data
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from kfp import local

from components.fetch_data.component import fetch_data
from tests.data import s3_fixtures
from tests.data.s3_fixtures import RECIPE, dvc, git, tree_bytes, write_dummy_dataset

pytestmark = [
    pytest.mark.integration,
    # The project image is not used by the SubprocessRunner: this interpreter is.
    pytest.mark.filterwarnings("ignore:You may be attemping:RuntimeWarning"),
]

dvc_repo = s3_fixtures.dvc_repo  # the fixture, bound here so that pytest sees it
GOLDEN = Path(__file__).resolve().parents[3] / "pipelines" / "geovr_pipeline.yaml"


def test_the_pipelines_data_target_is_what_fetch_data_checks_out():
    spec, _platform = yaml.safe_load_all(GOLDEN.read_text())
    inputs = spec["root"]["dag"]["tasks"]["fetch-data"]["inputs"]["parameters"]
    assert inputs["target"] == {"componentInputParameter": "data_target"}


def _geovr_data(*args: str, cwd: Path) -> dict:
    """`geovr data ARGS` as a user runs it; its one-line JSON summary."""
    proc = subprocess.run(
        [sys.executable, "-m", "geovr", "data", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture
def own_data_repo(dvc_repo, tmp_path) -> Path:
    """dvc_repo versioning `mydata/` (videos without a generator recipe), tracked with `geovr
    data track --target mydata` into a default remote outside the repo, and committed."""
    dvc("remote", "modify", "localstore", "url", tmp_path / "store", cwd=dvc_repo)
    write_dummy_dataset(dvc_repo / "mydata", RECIPE)
    (dvc_repo / "mydata" / "dataset.json").write_text('{"schema": "geovr.dataset/1"}')
    summary = _geovr_data("track", "--target", "mydata", cwd=dvc_repo)
    assert summary["recipe"] is None and summary["pushed"] is True
    git("add", "-A", cwd=dvc_repo)
    git("commit", "-q", "-m", "my data", cwd=dvc_repo)
    return dvc_repo


def test_fetch_data_checks_out_a_directory_not_named_data(own_data_repo, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "root"))
    rev = git("rev-parse", "HEAD", cwd=own_data_repo).strip()
    task = fetch_data(
        data_repo=str(own_data_repo), data_rev=rev, dvc_remote="", jobs=2, target="mydata"
    )
    assert tree_bytes(Path(task.outputs["data"].path)) == tree_bytes(own_data_repo / "mydata")
    pointer = yaml.safe_load((own_data_repo / "mydata.dvc").read_text())
    assert task.outputs["dvc_md5"] == pointer["outs"][0]["md5"]
    assert task.outputs["git_rev"] == rev


def test_a_clone_ensures_the_tracked_directory_from_the_default_remote(own_data_repo, tmp_path):
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(own_data_repo), str(clone)], check=True, timeout=120)
    assert _geovr_data("ensure", "--target", "mydata", cwd=clone)["action"] == "pulled"
    assert tree_bytes(clone / "mydata") == tree_bytes(own_data_repo / "mydata")
