"""The pipeline: the committed compiled YAML is current, its DAG and defaults are right,
and the real kfp.local run works from a fresh clone."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "pipelines" / "geovr_pipeline.yaml"


def _compile(out: Path) -> list[dict]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("GEOVR_IMAGE", "GEOVR_DISTILL_GPUS", "GEOVR_TRAIN_GPUS")
    }
    subprocess.run(
        [sys.executable, "-m", "geovr", "pipeline", "compile", "--out", str(out)],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=ROOT,
    )
    return list(yaml.safe_load_all(out.read_text()))


@pytest.mark.slow
def test_golden_compiled_pipeline_is_current(tmp_path):
    fresh = _compile(tmp_path / "p.yaml")
    assert fresh == list(yaml.safe_load_all(GOLDEN.read_text())), (
        "pipelines/geovr_pipeline.yaml is stale: run `geovr pipeline compile` and commit it"
    )


def test_dag_order_and_parameter_defaults():
    from kfp import components

    spec, _platform = yaml.safe_load_all(GOLDEN.read_text())
    components.load_component_from_file(str(GOLDEN))  # kfp can load it back
    tasks = spec["root"]["dag"]["tasks"]
    deps = {name: set(task.get("dependentTasks", [])) for name, task in tasks.items()}
    assert deps["ingest"] == {"fetch-data"}
    assert deps["plan-shard-ranges"] == {"ingest"}
    loop = next(name for name in tasks if name.startswith("for-loop"))
    assert {"ingest", "plan-shard-ranges"} <= deps[loop]
    assert loop in deps["distill-merge"]
    training = next(name for name in tasks if name.startswith("condition-branches"))
    assert deps[training] == {"fetch-data", "ingest", "distill-merge", "plan-launcher"}
    assert deps["evaluate"] == {training, "ingest", "distill-merge"}
    assert deps["register"] == {training, "evaluate"}
    train_resources = spec["deploymentSpec"]["executors"]["exec-train"]["container"]["resources"]
    assert train_resources["accelerator"]["resourceCount"] == "4"  # = gpus_per_node's default
    params = spec["root"]["inputDefinitions"]["parameters"]
    defaults = {name: p.get("defaultValue") for name, p in params.items()}
    assert defaults == {  # the paper preset's (tests/config checks the source)
        "data_repo": None,
        "data_rev": "main",
        "data_target": "data",
        "dvc_remote": "s3",
        "dvc_jobs": 8,
        "frames": 16,
        "sampling": "fps",
        "sampling_fps": 2.0,
        "min_frames": 4,
        "max_frames": 32,
        "max_side": 504,
        "min_valid_fraction": 0.5,
        "teacher": "vggt",
        "teacher_weights": "",
        "teacher_options": "",
        "scale_teacher": "da3-metric",
        "scale_teacher_weights": "",
        "distill_tasks": 4,
        "student": "Qwen/Qwen3-VL-2B-Instruct",
        "objectives": "lm,cam,depth,scale,distill",
        "loss_weights": "cam=2.5,depth=1.0,scale=1.0,distill=1.0",
        "steps": 2000,
        "batch_size": 2,
        "grad_accum": 4,
        "pack_tokens": 16384,
        "lr_model": 2e-5,
        "lr_heads": 1e-4,
        "parallelism": "fsdp2",
        "num_nodes": 1,
        "gpus_per_node": 4,
        "cpu_ranks": 2,
        "launcher": "auto",
        "train_work_dir": "",
        "eval_splits": "val,test",
        "max_questions": 0,
        "tracking_uri": "",
        "model_name": "geovr-student",
        "promotion_policy": "",
    }
    assert all(p.get("description") for p in params.values()), (
        "every UI parameter needs a description"
    )


@pytest.mark.integration
@pytest.mark.slow
def test_local_run_from_a_fresh_clone(tmp_path):
    """`geovr pipeline run` in a clean clone: no data, no DVC cache, an empty default remote,
    so the data is regenerated, verified against data.dvc, pushed and fed through kfp.local."""
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True, timeout=120)
    # the console script runs this checkout's code; only the data side starts from scratch
    geovr = str(Path(sys.executable).parent / "geovr")
    # HOME in tmp: the run pushes the data to the default remote, ~/.cache/geovr/dvcstore
    env = {**os.environ, "HOME": str(tmp_path / "home")}
    result = subprocess.run(
        [geovr, "pipeline", "run"], cwd=clone, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["data_version"]["action"] == "regenerated"
    assert summary["data_version"]["pushed"] is True  # a second clone's `dvc pull` gets it
    expected_md5 = yaml.safe_load((clone / "data.dvc").read_text())["outs"][0]["md5"]
    assert summary["data_version"]["dvc_md5"] == expected_md5
    checkpoint, evaluation = Path(summary["checkpoint"]), Path(summary["evaluation"])
    assert (
        json.loads((checkpoint / "meta.json").read_text())["data_version"]["dvc_md5"]
        == expected_md5
    )
    metrics = json.loads((evaluation / "metrics.json").read_text())
    assert (
        metrics["vsi"]["overall"] == summary["vsi_overall"]
        and (evaluation / "report.html").is_file()
    )
    registered = summary["registered"]
    assert registered["version"] == "1" and registered["decision"] in ("promote", "reject")
    assert "mlflow ui --backend-store-uri sqlite:///" in summary["mlflow_ui"]

    from mlflow import MlflowClient

    version = MlflowClient(registered["tracking_uri"]).get_model_version(registered["model"], "1")
    assert version.tags["data.dvc_md5"] == expected_md5


def test_teacher_pair_and_frame_sampling_are_pipeline_parameters():
    """The paper's setting is reachable from the UI: teacher + scale teacher (+ options) reach
    every distill task, the frame-sampling rule reaches ingest."""
    spec, _platform = yaml.safe_load_all(GOLDEN.read_text())
    tasks = spec["root"]["dag"]["tasks"]
    loop = next(name for name in tasks if name.startswith("for-loop"))
    distill = spec["components"][f"comp-{loop}"]["dag"]["tasks"]["distill"]["inputs"]["parameters"]
    ingest = tasks["ingest"]["inputs"]["parameters"]

    def source(param):
        return param["componentInputParameter"].removeprefix("pipelinechannel--")

    assert {
        k: source(distill[k])
        for k in ("teacher", "scale_teacher", "scale_weights", "teacher_options")
    } == {
        "teacher": "teacher",
        "scale_teacher": "scale_teacher",
        "scale_weights": "scale_teacher_weights",
        "teacher_options": "teacher_options",
    }
    assert {k: source(ingest[k]) for k in ("sampling", "fps", "min_frames", "max_frames")} == {
        "sampling": "sampling",
        "fps": "sampling_fps",
        "min_frames": "min_frames",
        "max_frames": "max_frames",
    }
