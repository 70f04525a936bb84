"""What the gate refuses to trust, against a real `mlflow server`: metrics that are out of
range, not finite, not a number, missing, measured on another checkpoint or on another eval
set than `--eval-set` says; checkpoints whose weights, index or config do not load; a stored
copy that differs from the checkpoint. Each is one line of error and no registered model."""

from __future__ import annotations

import json
import math
import shutil

import mlflow
import pytest
from mlflow import MlflowClient

from geovr.errors import ArtifactError
from geovr.registry import RetryBudget, connect
from geovr.registry.inputs import read_checkpoint
from geovr.registry.register import log_checkpoint_model
from geovr.registry.verify import verify_uploaded

from .builders import build_checkpoint, write_metrics
from .test_cli import run_cli

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _edit(path, **changes):
    tree = json.loads(path.read_text())
    for key, value in changes.items():
        section, _, name = key.partition("__")
        if value is None:
            tree[section].pop(name)
        else:
            tree[section][name] = value
    path.write_text(json.dumps(tree))  # NaN and Infinity as Python's json writes them
    return path


def _register(capsys, server, checkpoint, metrics, model_name, *extra):
    return run_cli(
        capsys,
        "register",
        "--checkpoint",
        checkpoint,
        "--metrics",
        metrics,
        "--model",
        model_name,
        "--tracking-uri",
        server,
        "--connect-timeout",
        "120",
        *extra,
    )


def _assert_refused(code, err, server, model_name, words):
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert words in err, err
    client = MlflowClient(server, server)
    assert client.search_registered_models(f"name = '{model_name}'") == []


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"vsi__overall": 1000.0}, "vsi.overall = 1000 is outside the VSI-Bench range [0, 100]"),
        ({"vsi__overall": -1.0}, "outside the VSI-Bench range"),
        ({"vsi__overall": math.nan}, "vsi.overall is nan, not a finite number"),
        ({"probes__depth_delta1": math.inf}, "probes.depth_delta1 is inf"),
        ({"vsi__overall": "41.0"}, "primary metric vsi.overall is '41.0' (str), not a number"),
        ({"vsi__overall": None}, "has no primary metric vsi.overall"),
    ],
)
def test_metrics_the_gate_cannot_trust_are_refused(
    capsys, mlflow_server, tiny_checkpoint, model_name, tmp_path, changes, words
):
    metrics = _edit(write_metrics(tmp_path / "metrics.json", 40.0, of=tiny_checkpoint), **changes)
    code, _, err = _register(capsys, mlflow_server, tiny_checkpoint, metrics, model_name)
    _assert_refused(code, err, mlflow_server, model_name, words)


def test_metrics_of_another_checkpoint_or_eval_set_are_refused(
    capsys, mlflow_server, tiny_checkpoint, model_name, tmp_path
):
    other = build_checkpoint(tmp_path / "other", seed=1)
    capsys.readouterr()  # saving it printed progress
    theirs = write_metrics(tmp_path / "theirs.json", 40.0, of=other)
    code, _, err = _register(capsys, mlflow_server, tiny_checkpoint, theirs, model_name)
    _assert_refused(code, err, mlflow_server, model_name, "evaluate this checkpoint")

    ours = write_metrics(tmp_path / "ours.json", 40.0, of=tiny_checkpoint)
    code, _, err = _register(
        capsys, mlflow_server, tiny_checkpoint, ours, model_name, "--eval-set", "evalset-b"
    )
    _assert_refused(
        code, err, mlflow_server, model_name, "--eval-set evalset-b contradicts metrics file"
    )

    unnamed = ours.with_name("unnamed.json")
    unnamed.write_text(
        json.dumps(
            {k: v for k, v in json.loads(ours.read_text()).items() if k != "checkpoint_sha256"}
        )
    )
    code, _, err = _register(capsys, mlflow_server, tiny_checkpoint, unnamed, model_name)
    _assert_refused(code, err, mlflow_server, model_name, "does not name the checkpoint")


def _broken_copy(source, tmp_path, name):
    broken = tmp_path / name
    shutil.copytree(source, broken)
    return broken


def test_checkpoints_that_do_not_load_are_refused(
    capsys, mlflow_server, tiny_checkpoint, model_name, tmp_path
):
    truncated = _broken_copy(tiny_checkpoint, tmp_path, "truncated")
    weights = truncated / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])

    misindexed = _broken_copy(tiny_checkpoint, tmp_path, "misindexed")
    index = {
        "metadata": {},
        "weight_map": {"lm_head.weight": "model.safetensors", "not.a.tensor": "model.safetensors"},
    }
    (misindexed / "model.safetensors.index.json").write_text(json.dumps(index))

    bad_config = _broken_copy(tiny_checkpoint, tmp_path, "bad-config")
    (bad_config / "config.json").write_text('{"model_type": "no-such-model"}')

    for checkpoint, words in [
        (truncated, "model.safetensors does not open"),
        (misindexed, "does not match model.safetensors.index.json"),
        (bad_config, "config or processor does not load"),
    ]:
        # metrics of this very checkpoint: only the checkpoint itself is wrong
        metrics = write_metrics(tmp_path / f"{checkpoint.name}.json", 40.0, of=checkpoint)
        code, _, err = _register(capsys, mlflow_server, checkpoint, metrics, model_name)
        _assert_refused(code, err, mlflow_server, model_name, words)


def test_a_stored_copy_that_differs_is_refused(mlflow_server, tiny_checkpoint, tmp_path):
    """verify_uploaded compares what the server stores with the checkpoint it was given."""
    other = read_checkpoint(build_checkpoint(tmp_path / "other", seed=2))
    connect(mlflow_server, RetryBudget(total_s=120))
    with mlflow.start_run():
        stored = log_checkpoint_model(other)  # as registration logs it
    verify_uploaded(stored, other)  # the same checkpoint: fine
    with pytest.raises(ArtifactError, match="the uploaded copy of .* differs from it"):
        verify_uploaded(stored, read_checkpoint(tiny_checkpoint))
