"""`geovr train` on the tiny student, real 2-rank torchrun (gloo).

.venv/bin/pytest -q tests/train/test_geovr_train.py
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
import torch
from mlflow import MlflowClient
from safetensors.torch import load_file

from geovr.errors import GeoVRError
from geovr.registry.inputs import read_checkpoint
from geovr.train.run import run_training
from tests.registry.servers import MLFLOW_START_S, free_port, mlflow_server_cmd, running

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# per-frame / per-clip means, and lm as one mean over the step's answer tokens on every rank;
# depth (L1 under the batch's 98% error quantile, as VGGT) depends on the split by definition
DECOMPOSABLE = "lm,cam,scale,distill"
COMMON = dict(steps=3, checkpoint_every=2, lr_model=1e-3, lr_heads=1e-3, num_workers=1, timeout=300)


def _train(data, out, nproc, **kwargs):
    clips, targets = data
    return run_training(str(clips), str(targets), out, nproc=nproc, **{**COMMON, **kwargs})


def _weights(checkpoint) -> dict[str, torch.Tensor]:
    return {
        **load_file(checkpoint / "model.safetensors"),
        **load_file(checkpoint / "geovr_heads.safetensors"),
    }


@pytest.mark.parametrize("parallelism", ["ddp", "fsdp2"])
def test_two_ranks_train_all_objectives_and_write_the_checkpoint_contract(
    geovr_data, tmp_path, parallelism
):
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    summary = _train(
        geovr_data,
        tmp_path,
        2,
        batch_size=1,
        parallelism=parallelism,
        gradient_checkpointing="on",
        data_version={"dvc_md5": "abc.dir", "git_rev": "deadbeef"},
        tracking_uri=tracking,
        preset="embedded",
    )
    assert summary["world_size"] == 2 and summary["steps"] == 3
    params = MlflowClient(tracking_uri=tracking).get_run(summary["mlflow_run_id"]).data.params
    assert (params["preset"], params["batch_size"]) == ("embedded", "1")  # the resolved config
    meta = json.loads((tmp_path / "checkpoint" / "meta.json").read_text())
    assert meta["run_config"]["preset"] == "embedded"
    assert meta["run_config"]["train"]["parallelism"] == parallelism
    # the targets' teacher and its count of clips whose scale loss is masked, as run params
    assert (params["teacher.name"], params["teacher.clips_without_scale"]) == ("oracle", "0")
    assert set(summary["final_losses"]) == {"lm", "cam", "depth", "scale", "distill", "total"}
    assert all(torch.isfinite(torch.tensor(v)) for v in summary["final_losses"].values())
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["step-2", "step-3"]
    info = read_checkpoint(tmp_path / "checkpoint")  # what registration demands (contracts.md s. 4)
    assert (info.dvc_md5, info.git_rev, json.loads(info.teacher)["name"]) == (
        "abc.dir",
        "deadbeef",
        "oracle",
    )
    trained, base = (
        _weights(tmp_path / "checkpoint"),
        load_file(tmp_path / "base_student" / "model.safetensors"),
    )
    vision = [k for k in base if ".visual.blocks." in k]
    assert vision and all(torch.equal(trained[k], base[k]) for k in vision), (
        "the frozen vision tower moved"
    )
    assert any(not torch.equal(trained[k], base[k]) for k in base if "language_model.layers" in k)


def test_two_ranks_and_accumulation_match_one_rank_with_double_batch(geovr_data, tmp_path):
    """DDP's rank split and gradient accumulation, end to end: the same losses and weights as
    one rank with the whole batch. The order is length-grouped, built by the workers from the
    real dataset's token lengths (4 clips, questions of different lengths)."""
    grouped = dict(objectives=DECOMPOSABLE, splits=("train", "val", "test"), length_group_steps=2)
    _train(geovr_data, tmp_path / "one", 1, batch_size=2, **grouped)
    _train(geovr_data, tmp_path / "two", 2, batch_size=1, **grouped)
    _train(geovr_data, tmp_path / "accum", 1, batch_size=1, grad_accum=2, **grouped)
    _train(geovr_data, tmp_path / "plain", 1, batch_size=2, **{**grouped, "length_group_steps": 0})
    one, plain = (
        json.loads((tmp_path / name / "summary.json").read_text()) for name in ("one", "plain")
    )
    assert one["config"]["length_group_steps"] == 2
    assert one["losses"] != plain["losses"]  # the grouped order is another order
    base = load_file(tmp_path / "one" / "base_student" / "model.safetensors")
    trained = _weights(tmp_path / "one" / "checkpoint")
    assert any(not torch.equal(trained[k], base[k]) for k in base)  # the runs did train
    for split in ("two", "accum"):
        got = json.loads((tmp_path / split / "summary.json").read_text())["losses"]
        for step_got, step_want in zip(got, one["losses"], strict=True):
            for key in step_want:
                assert step_got[key] == pytest.approx(step_want[key], abs=1e-5), (split, key)
        a, b = _weights(tmp_path / "one" / "checkpoint"), _weights(tmp_path / split / "checkpoint")
        for key in a:
            torch.testing.assert_close(
                a[key], b[key], atol=1e-4, rtol=0
            )  # Adam amplifies fp32 reduction order


def test_resume_after_losing_the_last_checkpoint_is_bit_exact_in_the_same_mlflow_run(
    geovr_data, tmp_path
):
    straight, crashed = tmp_path / "straight", tmp_path / "crashed"
    _train(geovr_data, straight, 2, batch_size=1)
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    cmd = mlflow_server_cmd(port, tmp_path / "mlflow.db", str(tmp_path / "artifacts"))
    with running(cmd, f"{uri}/health", tmp_path / "mlflow.log", MLFLOW_START_S):
        first = _train(geovr_data, crashed, 2, batch_size=1, tracking_uri=uri, log_every=1)
        # a crash between the step-2 checkpoint and the end: only step-2 survives
        for lost in (crashed / "checkpoints" / "step-3", crashed / "checkpoint"):
            shutil.rmtree(lost)
        (crashed / "summary.json").unlink()
        with pytest.raises(GeoVRError, match="--resume"):
            _train(geovr_data, crashed, 2, batch_size=1, tracking_uri=uri)
        summary = _train(
            geovr_data, crashed, 2, batch_size=1, resume=True, tracking_uri=uri, log_every=1
        )
        client = MlflowClient(uri)
        run = client.get_run(summary["mlflow_run_id"])
        history = client.get_metric_history(run.info.run_id, "loss/total")
        experiment_runs = client.search_runs([run.info.experiment_id])
    assert summary["resumed_from"] == 2 and summary["steps"] == 3
    assert summary["mlflow_run_id"] == first["mlflow_run_id"]
    assert [r.info.run_id for r in experiment_runs] == [run.info.run_id]  # no second run
    assert run.data.tags["resumed_from_step"] == "2" and run.info.status == "FINISHED"
    # step 3 twice: the crashed process logged it before its checkpoint was lost
    assert sorted(m.step for m in history) == [1, 2, 3, 3]
    want, got = _weights(straight / "checkpoint"), _weights(crashed / "checkpoint")
    assert want.keys() == got.keys()
    for key in want:
        assert torch.equal(want[key], got[key]), key


def test_train_vision_moves_the_vision_tower_that_stays_frozen_by_default(geovr_data, tmp_path):
    """--train-vision (a student built from random weights has no trained vision to keep),
    through the command line: the tower's weights move and the run's task says so."""
    clips, _ = geovr_data
    out = tmp_path / "run"
    command = [sys.executable, "-m", "geovr", "train", "--clips", str(clips), "--out", str(out)]
    command += ["--objectives", "lm", "--steps", "2", "--batch-size", "1", "--lr-model", "1e-3"]
    command += ["--nproc", "1", "--num-workers", "0", "--train-vision"]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((out / "task.json").read_text())["freeze_vision"] is False
    trained = load_file(out / "checkpoint" / "model.safetensors")
    base = load_file(out / "base_student" / "model.safetensors")
    vision = [k for k in base if ".visual.blocks." in k]
    assert vision and any(not torch.equal(trained[k], base[k]) for k in vision)


def test_cli_refuses_geometry_objectives_without_targets(geovr_data, tmp_path):
    clips, _ = geovr_data
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "geovr",
            "train",
            "--clips",
            str(clips),
            "--out",
            str(tmp_path),
            "--steps",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "need teacher targets" in proc.stderr and "--targets" in proc.stderr


def test_an_unknown_tiny_family_is_refused_before_the_workers_start(geovr_data, tmp_path):
    with pytest.raises(GeoVRError, match="tiny families are"):
        _train(geovr_data, tmp_path, 1, student="tiny:no_such_family", objectives="lm")
    assert not tmp_path.joinpath("task.json").exists()


def test_packed_training_matches_padded_and_splits_over_ranks(geovr_data, tmp_path):
    """Packing each micro-batch into one sequence: the same step losses as padded rows, the
    same as two ranks packing half the batch each."""
    common = dict(objectives=DECOMPOSABLE, splits=("train", "val", "test"))
    _train(geovr_data, tmp_path / "padded", 1, batch_size=4, **common)
    _train(geovr_data, tmp_path / "packed", 1, batch_size=4, pack_tokens=100_000, **common)
    _train(geovr_data, tmp_path / "two", 2, batch_size=2, pack_tokens=100_000, **common)
    padded, packed, two = (
        json.loads((tmp_path / name / "summary.json").read_text())
        for name in ("padded", "packed", "two")
    )
    assert packed["config"]["pack_tokens"] == 100_000
    for got in (packed, two):
        for step_got, step_want in zip(got["losses"], padded["losses"], strict=True):
            for key in step_want:
                assert step_got[key] == pytest.approx(step_want[key], abs=1e-5), key


# one rank on two threads is where a resumed run drifted: the geometry tokens' gradient was a
# scatter-add whose order changed from run to run (GeoVRModel._geometry_embeddings)
@pytest.mark.parametrize(("nproc", "batch_size"), [(1, 4), (2, 2)])
def test_packed_resume_after_losing_the_last_checkpoint_is_bit_exact(
    geovr_data, tmp_path, monkeypatch, nproc, batch_size
):
    """Each rank packs its micro-batch into one sequence; resumed from step 2 after the step-3
    checkpoint is lost, the run ends with the weights of the run that never stopped."""
    monkeypatch.setenv("OMP_NUM_THREADS", "2")  # else torchrun gives 2 ranks one thread each
    common = dict(splits=("train", "val", "test"), batch_size=batch_size, pack_tokens=100_000)
    straight, crashed = tmp_path / "straight", tmp_path / "crashed"
    _train(geovr_data, straight, nproc, **common)
    _train(geovr_data, crashed, nproc, **common)
    for lost in (crashed / "checkpoints" / "step-3", crashed / "checkpoint"):
        shutil.rmtree(lost)
    (crashed / "summary.json").unlink()
    summary = _train(geovr_data, crashed, nproc, resume=True, **common)
    assert summary["resumed_from"] == 2 and summary["steps"] == 3
    want, got = _weights(straight / "checkpoint"), _weights(crashed / "checkpoint")
    assert want.keys() == got.keys()
    assert [key for key in want if not torch.equal(want[key], got[key])] == []
