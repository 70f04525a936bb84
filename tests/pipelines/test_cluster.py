"""The compiled pipeline's Kubernetes settings agree with what manifests/ deploys: every name a
pod refers to (ConfigMap keys, Secret, PVC) exists in every overlay, GPU tasks land on GPU
nodes, and the train step's environment is what the TrainJob launcher reads."""

from pathlib import Path

import pytest
import yaml

from geovr.train.cluster import ClusterSettings
from pipelines import cluster
from tests.manifests.kustomize import OVERLAYS, build

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "pipelines" / "geovr_pipeline.yaml"
GPU_TASKS = {"exec-distill", "exec-train"}


def _compiled() -> tuple[dict, dict]:
    spec, platform = yaml.safe_load_all(GOLDEN.read_text())
    return spec["deploymentSpec"]["executors"], platform["platforms"]["kubernetes"][
        "deploymentSpec"
    ]["executors"]


ENV_REFS = {
    "configMapAsEnv": ("configMapName", "configMapKey"),
    "secretAsEnv": ("secretName", "secretKey"),
}


def _env_keys(settings: dict, kind: str, optional: bool) -> dict[str, set[str]]:
    """{ConfigMap or Secret name: keys read from it} of one executor's references."""
    name_key, item_key = ENV_REFS[kind]
    refs: dict[str, set[str]] = {}
    for ref in settings.get(kind, []):
        if ref["optional"] == optional:
            refs.setdefault(ref[name_key], set()).update(e[item_key] for e in ref["keyToEnv"])
    return refs


def test_every_task_gets_tracking_config_and_s3_keys_by_reference():
    containers, k8s = _compiled()
    assert set(k8s) == set(containers), "a task without cluster settings"
    for name, settings in k8s.items():
        assert _env_keys(settings, "configMapAsEnv", False) == {
            cluster.CONFIG_MAP: set(cluster.CONFIG_KEYS)
        }, name
        assert _env_keys(settings, "secretAsEnv", False) == {
            cluster.S3_SECRET: set(cluster.S3_KEYS),
            cluster.MLFLOW_SECRET: set(cluster.MLFLOW_KEYS),
        }, name
        env = containers[name]["container"].get("env", [])
        secret_names = {cluster.S3_SECRET, cluster.MLFLOW_SECRET}  # names of Secrets, not values
        assert not any("SECRET" in e["name"] and e["value"] not in secret_names for e in env), (
            "a literal secret"
        )


def test_gpu_tasks_select_gpu_nodes_and_tolerate_their_taint():
    containers, k8s = _compiled()
    for name, settings in k8s.items():
        on_gpu = name in GPU_TASKS
        assert ("accelerator" in containers[name]["container"].get("resources", {})) == on_gpu, name
        assert (
            settings.get("nodeSelector", {}).get("labels") == dict([cluster.GPU_NODE_LABEL])
        ) == on_gpu, name
        assert bool(settings.get("tolerations")) == on_gpu, name


def test_every_step_requests_cpu_and_memory_and_only_retry_safe_steps_retry():
    spec = next(yaml.safe_load_all(GOLDEN.read_text()))
    for name, executor in spec["deploymentSpec"]["executors"].items():
        wanted = cluster.STEP_RESOURCES[name.removeprefix("exec-")]
        resources = executor["container"]["resources"]
        assert (resources["resourceCpuRequest"], resources["resourceMemoryRequest"]) == (
            wanted.cpu,
            wanted.memory,
        )
    dags = [spec["root"]["dag"], *(c["dag"] for c in spec["components"].values() if "dag" in c)]
    retries = {
        name: task.get("retryPolicy", {}).get("maxRetryCount", 0)
        for dag in dags
        for name, task in dag["tasks"].items()
        if not name.startswith("for-loop")
    }
    assert retries == {name: wanted.retries for name, wanted in cluster.STEP_RESOURCES.items()}
    assert retries["register"] == 0  # a second try could register a second model version


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_names_the_pods_refer_to_exist_in_the_overlay(overlay):
    docs = build(overlay)
    config = next(
        d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == cluster.CONFIG_MAP
    )
    assert set(cluster.CONFIG_KEYS) <= set(config["data"]), "a required ConfigMap key is missing"
    assert all(config["data"].get(k) != "" for k in cluster.OPTIONAL_CONFIG_KEYS), (
        "set a value or leave the key out"
    )
    pvcs = {d["metadata"]["name"] for d in docs if d["kind"] == "PersistentVolumeClaim"}
    assert cluster.TRAIN_PVC in pvcs
    server = next(
        d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "geovr-mlflow"
    )
    secrets = {
        ref["secretRef"]["name"]
        for ref in server["spec"]["template"]["spec"]["containers"][0]["envFrom"]
        if "secretRef" in ref
    }
    assert cluster.S3_SECRET in secrets, (
        "the pipeline and the MLflow server must use the same S3 credentials"
    )


def test_train_step_environment_is_what_the_trainjob_launcher_reads():
    containers, k8s = _compiled()
    mounts = k8s["exec-train"]["pvcMount"]
    assert [(m["constant"], m["mountPath"]) for m in mounts] == [
        (cluster.TRAIN_PVC, cluster.TRAIN_MOUNT)
    ]
    assert all("pvcMount" not in s for name, s in k8s.items() if name != "exec-train")
    env = {e["name"]: e["value"] for e in containers["exec-train"]["container"]["env"]}
    settings = ClusterSettings.from_env({**env, "GEOVR_NAMESPACE": "kubeflow-user-geovr"})
    assert (settings.pvc, settings.mount_path, settings.s3_secret, settings.mlflow_secret) == (
        cluster.TRAIN_PVC,
        cluster.TRAIN_MOUNT,
        cluster.S3_SECRET,
        cluster.MLFLOW_SECRET,
    )
    assert settings.image == containers["exec-train"]["container"]["image"]
