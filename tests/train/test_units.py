"""Fast in-process tests of the training machinery: .venv/bin/pytest -q tests/train/test_units.py"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from geovr.config.train import TrainConfig
from geovr.errors import GeoVRError
from geovr.train.data_order import DataOrder
from geovr.train.geovr_task import GeoVRTask
from geovr.train.interfaces import TrainTask, resolve_task
from geovr.train.loop import _skip_if_not_finite, build_optimizer, lr_lambda
from geovr.train.outputs import latest_checkpoint, list_checkpoints
from geovr.train.run import student_options
from geovr.train.tracking import Tracker, read_buffer, replay_metrics


def test_config_roundtrip_and_validation():
    cfg = TrainConfig(steps=10, parallelism="fsdp2")
    d = cfg.to_dict()
    assert d["lr_model"] == 2e-5 and d["lr_heads"] == 1e-4 and d["warmup_ratio"] == 0.03
    assert TrainConfig.from_dict(d) == cfg
    json.dumps(d)
    with pytest.raises(ValueError):
        TrainConfig(parallelism="zero3")
    with pytest.raises(ValueError):
        TrainConfig.from_dict({"nope": 1})


def test_resolve_task():
    task = resolve_task("tests.train.tiny_task:TinyTask")
    assert isinstance(task, TrainTask)
    model = task.build_model(TrainConfig())
    groups = task.param_groups(model)
    assert set(groups) == {"heads", "model"}
    batch = task.collate([task.dataset()[i] for i in range(4)])
    assert "total" in model(**batch)
    with pytest.raises(ValueError):
        resolve_task("no_colon")


def test_data_order_partition_and_resume():
    order = DataOrder(10, seed=3)
    stream = order.indices(0, 30)
    assert sorted(stream[:10]) == list(range(10)) and sorted(stream[10:20]) == list(range(10))
    assert stream[:10] != stream[10:20]
    # two ranks with batch 2 together take what one rank with batch 4 takes
    assert order.indices(4, 2) + order.indices(6, 2) == order.indices(4, 4)
    # a fresh order resumed mid-epoch continues the same stream
    assert DataOrder(10, seed=3).indices(7, 8) == stream[7:15]


def test_lr_schedule():
    f = lr_lambda(warmup_steps=3, total_steps=13)
    assert [f(s) for s in range(3)] == pytest.approx([1 / 3, 2 / 3, 1.0])
    assert f(8) == pytest.approx(0.5)
    assert f(13) == pytest.approx(0.0)


class _TwoGroups:
    def param_groups(self, model):
        return {"heads": list(model[1].parameters()), "model": list(model[0].parameters())}


def test_a_step_with_a_non_finite_value_changes_no_weight_and_no_optimizer_state():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    optimizer, _ = build_optimizer(_TwoGroups(), model, TrainConfig(steps=4))

    def step(scale: float) -> None:
        (model(torch.ones(2, 3)).sum() * scale).backward()
        values = torch.stack([p.grad.norm() for p in model.parameters()])
        _skip_if_not_finite(optimizer, values)  # on the device: no host read of the values
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step(1.0)
    weights = [p.detach().clone() for p in model.parameters()]
    state = [{k: v.clone() for k, v in optimizer.state[p].items()} for p in model.parameters()]
    step(float("nan"))
    for p, want, before in zip(model.parameters(), weights, state, strict=True):
        assert torch.equal(p, want) and torch.isfinite(p).all()
        assert all(torch.equal(optimizer.state[p][k], v) for k, v in before.items())
    step(1.0)  # and a finite step after it trains again
    assert any(
        not torch.equal(p, want) for p, want in zip(model.parameters(), weights, strict=True)
    )


def test_list_checkpoints_ignores_tmp(tmp_path):
    for name in ("step-2", "step-10", "step-12.tmp", "other"):
        (tmp_path / name).mkdir()
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step-2", "step-10"]
    assert latest_checkpoint(tmp_path / "missing") is None


@pytest.mark.slow
def test_tracker_offline_buffers_and_replays(tmp_path, capsys):
    tracker = Tracker(tmp_path, "http://127.0.0.1:9", "exp", {"steps": 3}, enabled=True)
    assert not tracker.online
    assert "WARNING" in capsys.readouterr().err
    for step in (1, 2, 3):
        tracker.log_metrics({"loss/total": 1.0 / step}, step)
    tracker.close()
    records = read_buffer(tmp_path)
    assert [r["step"] for r in records if r["type"] == "metrics"] == [1, 2, 3]

    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    run_id = replay_metrics(tmp_path, uri)
    client = MlflowClient(tracking_uri=uri)
    history = client.get_metric_history(run_id, "loss/total")
    assert [(m.step, m.value) for m in history] == [(1, 1.0), (2, 0.5), (3, pytest.approx(1 / 3))]
    assert client.get_run(run_id).data.params["steps"] == "3"


def test_tracker_disabled_off_rank0(tmp_path):
    tracker = Tracker(tmp_path, None, "exp", {}, enabled=False)
    tracker.log_metrics({"a": 1.0}, 1)
    assert not (tmp_path / "metrics_buffer.jsonl").exists()


def test_tracker_online_logs_to_mlflow(tmp_path):
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracker = Tracker(tmp_path, uri, "exp", {"steps": 2}, enabled=True)
    assert tracker.online
    tracker.log_metrics({"loss/total": 2.0, "lr/heads": 1e-4}, 1)
    tracker.log_metrics({"loss/total": 1.0, "lr/heads": 1e-4}, 2)
    tracker.close()
    assert not (tmp_path / "metrics_buffer.jsonl").exists()
    run = MlflowClient(tracking_uri=uri).get_run(tracker.run_id)
    assert run.data.metrics["loss/total"] == 1.0 and run.data.params["steps"] == "2"
    assert run.info.status == "FINISHED"


def test_launcher_and_merge_start_without_torch():
    """The train and distill-merge steps' own processes only launch torchrun / join files:
    importing torch or transformers there would cost every pipeline run seconds per step."""
    code = (
        "import sys, geovr.train.run, geovr.teachers.merge, geovr.model.config\n"
        "heavy = sorted({'torch', 'transformers', 'mlflow'} & set(sys.modules))\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_tiny_student_spec_names_family_and_size(tmp_path):
    default = student_options("tiny", tmp_path, seed=3)
    assert default == {
        "student": str(tmp_path / "base_student"),
        "head_widths": "tiny",
        "tiny_family": "qwen3_vl",
        "tiny_seed": 3,
    }
    sized = student_options("tiny:qwen2_5_vl:256x6", tmp_path, seed=0)
    assert (sized["tiny_family"], sized["tiny_hidden"], sized["tiny_layers"]) == (
        "qwen2_5_vl",
        256,
        6,
    )
    assert student_options("Qwen/Qwen3-VL-2B-Instruct", tmp_path, 0) == {
        "student": "Qwen/Qwen3-VL-2B-Instruct",
        "head_widths": "paper",
    }
    for bad in ("tiny:qwen3_vl:256", "tiny:qwen3_vl:100x2", "tiny:qwen3_vl:axb"):
        with pytest.raises(GeoVRError, match="HIDDENxLAYERS"):
            student_options(bad, tmp_path, 0)


def test_task_builds_the_tiny_student_once_at_the_asked_size(tmp_path):
    options = student_options("tiny:qwen3_vl:64x2", tmp_path, seed=0)
    task = GeoVRTask(clips=str(tmp_path), objectives=("lm",), **options)
    config = json.loads((tmp_path / "base_student" / "config.json").read_text())["text_config"]
    assert (config["hidden_size"], config["num_hidden_layers"]) == (64, 2)
    weights = (tmp_path / "base_student" / "model.safetensors").stat().st_mtime_ns
    GeoVRTask(**task.config.to_dict())  # a second rank or a resume: the files are kept
    assert (tmp_path / "base_student" / "model.safetensors").stat().st_mtime_ns == weights
