"""Registration against real `mlflow server`s on 127.0.0.1 (started once per session by
conftest.py): the gate both ways, explicit promotion, rollback, loading by alias in a fresh
process; and with S3 artifacts on moto, checking what landed in the bucket and that large
files went up as presigned multipart uploads.

    .venv/bin/pytest -q tests/registry/test_integration.py
"""

from __future__ import annotations

import pytest
from mlflow import MlflowClient

from geovr.registry import GatePolicy, RetryBudget, connect, promote, register_checkpoint, rollback

from .builders import write_metrics
from .fresh_process import load_in_fresh_process

pytestmark = [pytest.mark.integration, pytest.mark.slow]
RETRY = RetryBudget(total_s=20.0)


def aliases(client: MlflowClient, model_name: str) -> dict[str, str]:
    return {k: str(v) for k, v in client.get_registered_model(model_name).aliases.items()}


def test_gate_promotion_rollback_and_loading_on_a_server(
    mlflow_server, tiny_checkpoint, model_name, tmp_path
):
    policy = GatePolicy(floor=20.0, margin=0.5)

    def register(name: str, overall: float, **probes: float):
        metrics = write_metrics(tmp_path / f"{name}.json", overall, **probes, of=tiny_checkpoint)
        return register_checkpoint(
            tiny_checkpoint,
            metrics,
            model_name,
            mlflow_server,
            policy,
            kfp_run_id=f"run-{name}",
            retry=RETRY,
        )

    client = MlflowClient(mlflow_server, mlflow_server)
    assert register("v1", 40.0).decision.promote  # first version: passes the floor
    better = register("v2", 42.0, depth_absrel=0.19)
    assert better.decision.promote and aliases(client, model_name)["champion"] == "2"
    worse = register("v3", 41.0)
    assert not worse.decision.promote
    assert aliases(client, model_name) == {"champion": "2", "challenger": "3"}
    tags = client.get_model_version(model_name, "3").tags
    assert tags["gate.decision"] == "reject" and "does not beat champion 42" in tags["gate.reasons"]
    assert client.get_run(worse.run_id).data.tags["gate.decision"] == "reject"

    server = connect(mlflow_server, RETRY)
    assert promote(server, model_name, "3").previous == "2"  # explicit: the gate is bypassed
    assert rollback(server, model_name).version == "2"
    assert aliases(client, model_name)["champion"] == "2"
    assert len(client.search_model_versions(f"name = '{model_name}'")) == 3

    report = load_in_fresh_process(mlflow_server, model_name)
    assert report["version"] == "2"
    assert report["architecture"] == "Qwen3VLForConditionalGeneration"
    assert {"model.safetensors", "geovr_heads.safetensors", "meta.json"} <= set(report["files"])
    assert len(report["answers"]) == 2


def test_s3_artifact_store_gets_the_checkpoint_in_parts(
    s3_registry, tiny_checkpoint, model_name, tmp_path, monkeypatch
):
    # The client sends files of 100 kB or more as presigned multipart uploads in 64 KiB parts
    # (production: 500 MB / 100 MB), straight to the bucket; the server only signs.
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE", "100000")
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE", "65536")
    # No AWS credentials on the client: it never needs them, the server signs the parts.
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    metrics = write_metrics(tmp_path / "metrics.json", 40.0, of=tiny_checkpoint)
    result = register_checkpoint(tiny_checkpoint, metrics, model_name, s3_registry.url, retry=RETRY)
    assert result.decision.promote

    s3 = s3_registry.s3()
    listed = s3.list_objects_v2(Bucket=s3_registry.bucket, Prefix=f"{s3_registry.prefix}/")
    keys = {obj["Key"].rsplit("/", 1)[-1]: obj for obj in listed["Contents"]}
    assert {
        "MLmodel",
        "student_model.py",
        "model.safetensors",
        "geovr_heads.safetensors",
        "meta.json",
        "tokenizer.json",
    } <= set(keys)
    weights = keys["model.safetensors"]
    assert weights["Size"] == (tiny_checkpoint / "model.safetensors").stat().st_size
    parts = -(-weights["Size"] // 65536)
    assert weights["ETag"].strip('"').endswith(f"-{parts}")  # S3's mark of a multipart upload

    # The loading process has no AWS credentials: downloads go through the server.
    report = load_in_fresh_process(s3_registry.url, model_name)
    assert report["version"] == "1" and len(report["answers"]) == 2
