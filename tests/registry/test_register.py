"""Registration, the gate, promotion, rollback and copies against a local sqlite MLflow store
(no server); the server runs are in test_integration.py."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time

import mlflow
import pytest
from mlflow import MlflowClient

from geovr.errors import ArtifactError, GeoVRError
from geovr.registry import (
    GatePolicy,
    RegistryError,
    RegistryUnavailable,
    RetryBudget,
    connect,
    load_champion,
    promote,
    register_checkpoint,
    rollback,
)

from .builders import write_metrics
from .fresh_process import load_in_fresh_process
from .servers import free_port


# Clients name the registry too: MLflow's registry URI is global and earlier tests moved it.
def aliases(client: MlflowClient, model_name: str) -> dict[str, str]:
    return {k: str(v) for k, v in client.get_registered_model(model_name).aliases.items()}


@pytest.mark.slow
def test_first_version_is_tagged_aliased_and_logged(
    tiny_checkpoint, sqlite_uri, model_name, tmp_path, monkeypatch
):
    monkeypatch.setenv("KFP_RUN_ID", "kfp-run-123")
    metrics = write_metrics(tmp_path / "metrics.json", 40.0, of=tiny_checkpoint)
    result = register_checkpoint(
        tiny_checkpoint, metrics, model_name, sqlite_uri, GatePolicy(floor=30.0)
    )
    assert (result.version, result.decision.label) == ("1", "promote")
    client = MlflowClient(sqlite_uri, sqlite_uri)
    assert aliases(client, model_name) == {"challenger": "1", "champion": "1"}
    tags = client.get_model_version(model_name, "1").tags
    assert {
        k: tags[k]
        for k in (
            "data.dvc_md5",
            "data.git_rev",
            "teacher",
            "student_base",
            "kfp_run_id",
            "eval.set",
            "gate.decision",
        )
    } == {
        "data.dvc_md5": "0123abcd.dir",
        "data.git_rev": "feedbeef",
        "teacher": "oracle",
        "student_base": "tiny-qwen3-vl",
        "kfp_run_id": "kfp-run-123",
        "eval.set": "evalset-a",
        "gate.decision": "promote",
    }
    assert len(tags["config_hash"]) == 16
    assert float(tags["metric.vsi.overall"]) == 40.0
    assert float(tags["metric.probes.depth_absrel"]) == 0.2
    assert "floor 30" in tags["gate.reasons"] and tags["champion.promoted_by"] == "gate"
    run = client.get_run(result.run_id)
    assert run.data.tags["gate.decision"] == "promote"
    assert json.loads(run.data.params["gate.policy"])["floor"] == 30.0
    assert run.data.metrics["vsi.per_task.object_counting"] == 41.0


@pytest.mark.slow
def test_registering_does_not_import_torch(tiny_checkpoint, sqlite_uri, model_name, tmp_path):
    """MLflow runs the pyfunc's code when it logs the model: torch and transformers must load
    only with the model, or every register task pays their import (seconds)."""
    metrics = write_metrics(tmp_path / "metrics.json", 40.0, of=tiny_checkpoint)
    code = (
        "import sys\n"
        "from geovr.registry import register_checkpoint\n"
        "result = register_checkpoint(*sys.argv[1:5])\n"
        "assert result.version, result\n"
        "heavy = sorted({'torch', 'transformers'} & set(sys.modules))\n"
        "assert not heavy, heavy\n"
    )
    args = [str(tiny_checkpoint), str(metrics), model_name, sqlite_uri]
    subprocess.run([sys.executable, "-c", code, *args], check=True, timeout=300, cwd=tmp_path)


@pytest.mark.slow
def test_below_floor_stays_challenger(tiny_checkpoint, sqlite_uri, model_name, tmp_path):
    metrics = write_metrics(tmp_path / "metrics.json", 10.0, of=tiny_checkpoint)
    result = register_checkpoint(
        tiny_checkpoint, metrics, model_name, sqlite_uri, GatePolicy(floor=30.0)
    )
    assert result.decision.label == "reject"
    assert aliases(MlflowClient(sqlite_uri, sqlite_uri), model_name) == {"challenger": "1"}


@pytest.mark.slow  # registers several checkpoints
def test_gate_over_successive_versions(tiny_checkpoint, sqlite_uri, model_name, tmp_path):
    def register(overall: float, **kw) -> str:
        file = write_metrics(tmp_path / f"m{overall}.json", overall, **kw, of=tiny_checkpoint)
        return register_checkpoint(
            tiny_checkpoint, file, model_name, sqlite_uri, GatePolicy(margin=0.5)
        ).decision.label

    client = MlflowClient(sqlite_uri, sqlite_uri)
    assert register(40.0) == "promote"
    assert register(42.0) == "promote"  # v2 beats v1 by 2 > 0.5
    assert register(42.3) == "reject"  # within the margin
    assert register(45.0, depth_delta1=0.5) == "reject"  # delta1 regresses beyond tolerance
    assert register(99.0, eval_set="evalset-b") == "reject"  # other eval set: not compared
    assert aliases(client, model_name) == {"challenger": "5", "champion": "2"}
    assert client.get_model_version(model_name, "2").tags["champion.previous"] == "1"
    reasons = client.get_model_version(model_name, "5").tags["gate.reasons"]
    assert "evaluation sets differ" in reasons


@pytest.mark.slow
def test_explicit_promotion_rollback_and_copy(tiny_checkpoint, sqlite_uri, model_name, tmp_path):
    for i, overall in enumerate([40.0, 38.0]):
        metrics = write_metrics(tmp_path / f"m{i}.json", overall, of=tiny_checkpoint)
        register_checkpoint(tiny_checkpoint, metrics, model_name, sqlite_uri)
    client = connect(sqlite_uri)
    assert aliases(client, model_name)["champion"] == "1"

    moved = promote(client, model_name, "2")
    assert (moved.version, moved.previous) == ("2", "1")
    tags = client.get_model_version(model_name, "2").tags
    assert tags["champion.previous"] == "1" and tags["champion.promoted_by"] == "manual"

    back = rollback(client, model_name)
    assert (back.version, back.previous) == ("1", "2")
    assert aliases(client, model_name)["champion"] == "1"

    prod = f"{model_name}-prod"
    copied = promote(client, model_name, "1", copy_to=prod)
    assert (copied.copied_to, copied.copied_version) == (prod, "1")
    assert aliases(client, prod) == {"champion": "1"}
    copy_tags = client.get_model_version(prod, "1").tags
    assert copy_tags["copied_from"] == f"{model_name}/1" and copy_tags["teacher"] == "oracle"
    # Versions are never deleted, whatever moved.
    assert len(client.search_model_versions(f"name = '{model_name}'")) == 2


@pytest.mark.slow
def test_promotion_errors_are_clear(tiny_checkpoint, sqlite_uri, model_name, tmp_path):
    metrics = write_metrics(tmp_path / "m.json", 40.0, of=tiny_checkpoint)
    register_checkpoint(tiny_checkpoint, metrics, model_name, sqlite_uri)
    client = connect(sqlite_uri)
    with pytest.raises(RegistryError, match="version 7"):
        promote(client, model_name, "7")
    with pytest.raises(GeoVRError, match="no previous holder"):
        rollback(client, model_name)
    with pytest.raises(GeoVRError, match="no 'champion' alias"):
        rollback(client, f"{model_name}-none")


def test_bad_inputs_fail_before_any_upload(tiny_checkpoint, tmp_path):
    unreachable = f"http://127.0.0.1:{free_port()}"  # never contacted: inputs are read first
    broken = tmp_path / "broken"
    shutil.copytree(tiny_checkpoint, broken)
    (broken / "geovr_heads.safetensors").unlink()
    metrics = write_metrics(tmp_path / "metrics.json", 40.0, of=tiny_checkpoint)
    with pytest.raises(ArtifactError, match="missing geovr_heads.safetensors"):
        register_checkpoint(broken, metrics, tracking_uri=unreachable)
    (broken / "meta.json").write_text(json.dumps({"schema": "geovr.checkpoint/99"}))
    with pytest.raises(ArtifactError, match="geovr.checkpoint/99"):
        register_checkpoint(broken, metrics, tracking_uri=unreachable)
    (tmp_path / "bad.json").write_text("{oops")
    with pytest.raises(ArtifactError, match="not valid JSON"):
        register_checkpoint(tiny_checkpoint, tmp_path / "bad.json", tracking_uri=unreachable)


def test_unreachable_server_is_named_after_bounded_retries():
    uri = f"http://127.0.0.1:{free_port()}"
    start = time.monotonic()
    with pytest.raises(RegistryUnavailable) as error:
        connect(uri, RetryBudget(total_s=1.0, first_wait_s=0.05, max_wait_s=0.2))
    elapsed = time.monotonic() - start
    assert uri in str(error.value) and "attempts" in str(error.value)
    assert int(str(error.value).split(" after ")[1].split()[0]) > 1  # it did retry
    assert 0.9 < elapsed < 5.0


@pytest.mark.slow
def test_champion_downloads_and_loads_in_process(tiny_checkpoint, sqlite_uri, model_name, tmp_path):
    metrics = write_metrics(tmp_path / "m.json", 40.0, of=tiny_checkpoint)
    register_checkpoint(tiny_checkpoint, metrics, model_name, sqlite_uri)
    loaded = load_champion(model_name, sqlite_uri, dst=tmp_path / "champion")
    assert loaded.version == "1"
    for name in ("config.json", "model.safetensors", "geovr_heads.safetensors", "meta.json"):
        assert (loaded.checkpoint_dir / name).read_bytes() == (tiny_checkpoint / name).read_bytes()
    pyfunc = mlflow.pyfunc.load_model(f"models:/{model_name}@champion")
    answers = pyfunc.predict([{"question": "How many chairs?", "max_new_tokens": 2}])
    assert len(answers) == 1 and isinstance(answers[0], str)


@pytest.mark.slow
def test_champion_loads_in_a_fresh_process(tiny_checkpoint, sqlite_uri, model_name, tmp_path):
    metrics = write_metrics(tmp_path / "m.json", 40.0, of=tiny_checkpoint)
    register_checkpoint(tiny_checkpoint, metrics, model_name, sqlite_uri)
    report = load_in_fresh_process(sqlite_uri, model_name)
    assert report["version"] == "1"
    assert report["architecture"] == "Qwen3VLForConditionalGeneration"
    assert "geovr_heads.safetensors" in report["files"]
    assert len(report["answers"]) == 2
