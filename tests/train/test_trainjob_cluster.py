"""The TrainJob as a cluster deployed with manifests/ gets it: placement and resources by node
kind, the step's S3/MinIO endpoints, KFP's `minio://` pipeline root (and `s3://` at a custom
endpoint), and a clear error on a Trainer too old for runtimePatches (against
tests/train/k8s_standin.py)."""

from __future__ import annotations

import json

import fsspec
import pytest
from kfp import dsl

from components.train.component import train
from geovr.errors import GeoVRError
from geovr.train.cluster import GPU_NODE_LABEL, ClusterSettings
from geovr.train.trainjob import MIN_TRAINER_VERSION, TrainJobFailed, build_trainjob
from tests.data import s3_fixtures

from .k8s_standin import KubeStandIn, condition
from .test_trainjob import NS, _launcher, _spec

moto_server, moto_s3 = s3_fixtures.moto_server, s3_fixtures.moto_s3
ENDPOINTS = {
    "AWS_ENDPOINT_URL": "http://minio-service.kubeflow:9000",
    "MLFLOW_S3_ENDPOINT_URL": "http://minio-service.kubeflow:9000",
    "MLFLOW_TRACKING_URI": "http://geovr-mlflow:5000",
}
STEP_ENV = {
    "GEOVR_IMAGE": "registry/geovr:1",
    "GEOVR_NAMESPACE": NS,
    "GEOVR_TRAIN_PVC": "geovr-train",
    "GEOVR_S3_SECRET": "geovr-s3-credentials",
    "GEOVR_MLFLOW_SECRET": "geovr-mlflow-credentials",
}


def node_pod(manifest: dict) -> dict:
    patch = manifest["spec"]["runtimePatches"][0]["trainingRuntimeSpec"]
    return patch["template"]["spec"]["replicatedJobs"][0]["template"]["spec"]["template"]["spec"]


def manifest_for(procs: int, gpus: int) -> dict:
    settings = ClusterSettings.from_env({**STEP_ENV, **ENDPOINTS})
    return build_trainjob(settings.spec("geovr-train-1", ["torchrun"], 2, procs, gpus, None, {}))


def test_gpu_nodes_are_selected_tolerated_and_get_the_endpoints():
    manifest = manifest_for(procs=8, gpus=8)
    pod, trainer = node_pod(manifest), manifest["spec"]["trainer"]
    assert pod["nodeSelector"] == dict([GPU_NODE_LABEL])
    assert pod["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]
    assert trainer["resourcesPerNode"]["limits"] == {"nvidia.com/gpu": 8}
    plain = {e["name"]: e["value"] for e in trainer["env"] if "value" in e}
    assert plain == ENDPOINTS
    # the nodes log to the basic-auth MLflow server and read S3 with the step's Secrets
    by_reference = {
        e["name"]: e["valueFrom"]["secretKeyRef"]["name"]
        for e in trainer["env"]
        if "valueFrom" in e
    }
    assert by_reference == {
        "AWS_ACCESS_KEY_ID": "geovr-s3-credentials",
        "AWS_SECRET_ACCESS_KEY": "geovr-s3-credentials",
        "MLFLOW_TRACKING_USERNAME": "geovr-mlflow-credentials",
        "MLFLOW_TRACKING_PASSWORD": "geovr-mlflow-credentials",
    }


def test_cpu_trainjob_requests_no_gpu_and_runs_its_cpu_ranks():
    manifest = manifest_for(procs=2, gpus=0)
    assert "nvidia.com/gpu" not in json.dumps(manifest)
    assert "nodeSelector" not in node_pod(manifest)
    assert manifest["spec"]["trainer"]["numProcPerNode"] == 2


def test_an_older_trainer_crd_is_a_clear_error():
    with KubeStandIn([[condition("Complete")]], crd_lacks=("runtimePatches",)) as api:
        spec = _spec(volumes=[{"name": "w", "persistentVolumeClaim": {"claimName": "geovr-train"}}])
        with pytest.raises(
            GeoVRError, match=rf"older than {MIN_TRAINER_VERSION}.*spec.runtimePatches"
        ):
            _launcher(api, []).submit(spec)
        assert api.jobs == {}


@pytest.mark.integration
@pytest.mark.parametrize("scheme", ["minio", "s3"])  # KFP's MinIO root; S3 at a custom endpoint
def test_train_step_on_a_minio_pipeline_root_launches_on_s3_urls(
    scheme, geovr_data, moto_s3, tmp_path, monkeypatch
):
    clips, targets = geovr_data
    fs = fsspec.filesystem("s3", **moto_s3.storage_options())
    root = f"{moto_s3.bucket}/v2/artifacts/geovr/run-1"
    fs.put(str(clips), f"{root}/ingest/clips", recursive=True)
    fs.put(str(targets), f"{root}/distill-merge/targets", recursive=True)
    failed = [[condition("Failed", "PodFailed", "stop here")]]
    with KubeStandIn(failed) as api:
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(
            "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
            f"clusters: [{{name: k, cluster: {{server: '{api.url}'}}}}]\n"
            "contexts: [{name: c, context: {cluster: k, user: u}}]\nusers: [{name: u, user: {}}]\n"
        )
        for key, value in {
            **STEP_ENV,
            "GEOVR_TRAIN_MOUNT": str(tmp_path),
            "KUBECONFIG": str(kubeconfig),
            "AWS_ENDPOINT_URL": moto_s3.endpoint_url,
        }.items():
            monkeypatch.setenv(key, value)
        with pytest.raises(TrainJobFailed, match="stop here"):
            train.python_func(
                clips=dsl.Dataset(name="clips", uri=f"{scheme}://{root}/ingest/clips", metadata={}),
                targets=dsl.Dataset(
                    name="targets", uri=f"{scheme}://{root}/distill-merge/targets", metadata={}
                ),
                checkpoint=dsl.Model(
                    name="checkpoint", uri=str(tmp_path / "checkpoint"), metadata={}
                ),
                steps=1,
                num_nodes=2,
                gpus_per_node=0,
                cpu_ranks=2,
                work_dir=str(tmp_path / "work"),
                tracking_uri="http://geovr-mlflow:5000",
            )
        manifest = next(iter(api.jobs.values()))
    trainer = manifest["spec"]["trainer"]
    task = json.loads((tmp_path / "work" / "task.json").read_text())
    assert f"s3://{root}/ingest/clips" in json.dumps(task)
    assert "nvidia.com/gpu" not in json.dumps(manifest) and trainer["numProcPerNode"] == 2
    assert {"name": "AWS_ENDPOINT_URL", "value": moto_s3.endpoint_url} in trainer["env"]
