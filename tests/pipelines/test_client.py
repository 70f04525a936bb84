"""upload / submit / schedule through kfp.Client against a local stand-in of the KFP API."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from geovr.errors import GeoVRError
from pipelines.client import validate_cron
from tests.pipelines.kfp_standin import KfpStandIn

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "pipelines" / "geovr_pipeline.yaml"


NS = "kubeflow-user-geovr"


def _geovr(*args: str, host: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "geovr", "pipeline", *args, "--host", host, "--namespace", NS],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_upload_twice_makes_versions_then_submit_and_schedule():
    with KfpStandIn() as api:
        first = _geovr("upload", "--package", str(GOLDEN), host=api.url)
        second = _geovr("upload", "--package", str(GOLDEN), "--version", "v2", host=api.url)
        assert first["created"] and not second["created"]
        assert len(api.pipelines) == 1 and len(api.versions[first["pipeline_id"]]) == 2
        uploaded = next(yaml.safe_load_all(api.packages[second["version_id"]]))
        assert uploaded["pipelineInfo"]["name"] == "geovr"

        run = _geovr("submit", "--param", "data_repo=r", "--param", "steps=5", host=api.url)
        assert run["version_id"] == second["version_id"]  # the newest version
        body = api.runs[0]
        assert body["runtime_config"]["parameters"] == {"data_repo": "r", "steps": 5}
        assert api.experiments[body["experiment_id"]]["namespace"] == NS

        recurring = _geovr(
            "schedule", "--cron", "0 0 3 * * 1", "--param", "data_repo=r", host=api.url
        )
        job = api.recurring_runs[0]
        assert recurring["recurring_run_id"] == job["recurring_run_id"]
        assert job["trigger"]["cron_schedule"]["cron"] == "0 0 3 * * 1"
        assert job["max_concurrency"] == 1 and job["no_catchup"] is True
        assert job["pipeline_version_reference"]["pipeline_version_id"] == second["version_id"]


def _refused(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "geovr", "pipeline", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    return result.stderr


def test_submit_before_upload_is_a_clear_error():
    with KfpStandIn() as api:
        err = _refused("submit", "--host", api.url, "--namespace", NS, "--param", "data_repo=r")
    assert "geovr pipeline upload" in err


@pytest.mark.slow
def test_runs_need_a_namespace_and_a_data_repo():
    with KfpStandIn() as api:
        assert "--namespace" in _refused("submit", "--host", api.url, "--param", "data_repo=r")
        assert "data_repo" in _refused(
            "schedule", "--host", api.url, "--namespace", NS, "--cron", "0 0 3 * * 1"
        )
        assert api.runs == [] and api.recurring_runs == []


def test_cron_needs_six_fields():
    assert validate_cron("0 0 3 * * 1") == "0 0 3 * * 1"
    with pytest.raises(GeoVRError, match="6"):
        validate_cron("0 3 * * 1")


@pytest.mark.slow
def test_make_upload_and_schedule_use_the_configured_image(tmp_path):
    """The README's cluster targets: `make upload` compiles against IMAGE:IMAGE_TAG (a tag-only
    image, so ALLOW_TAG_IMAGE; the digest path is tests/pipelines/test_images.py's) and uploads;
    a digest recorded for another repository does not replace the IMAGE given."""
    recorded = tmp_path / "image.ref"
    recorded.write_text("ghcr.io/elsewhere/geovr@sha256:" + "0" * 64 + "\n")
    with KfpStandIn() as api:
        common = [
            f"KFP_HOST={api.url}",
            f"PIPELINE_YAML={tmp_path / 'p.yaml'}",
            f"BIN={Path(sys.executable).parent}",
            "STAMP=",
            f"IMAGE_REF_FILE={recorded}",
            "ALLOW_TAG_IMAGE=1",
        ]
        subprocess.run(
            [
                "make",
                "--no-print-directory",
                "upload",
                "IMAGE=registry.example/geovr",
                "IMAGE_TAG=t1",
                *common,
            ],
            cwd=ROOT,
            check=True,
            capture_output=True,
            timeout=180,
        )
        subprocess.run(
            ["make", "--no-print-directory", "schedule", "DATA_REPO=r", "PARAMS=steps=7", *common],
            cwd=ROOT,
            check=True,
            capture_output=True,
            timeout=120,
        )
        ((version_id, package),) = api.packages.items()
        images = {
            spec["container"]["image"]
            for spec in next(yaml.safe_load_all(package))["deploymentSpec"]["executors"].values()
        }
        assert images == {"registry.example/geovr:t1"}
        job = api.recurring_runs[0]
        assert job["runtime_config"]["parameters"] == {"data_repo": "r", "steps": 7}
        assert job["pipeline_version_reference"]["pipeline_version_id"] == version_id
