"""The compiled pipeline's Kubernetes settings agree with what manifests/ deploys: every name a
pod refers to (ConfigMap keys, Secret, PVC) exists in every overlay, GPU tasks land on GPU
nodes, and the train step's environment is what the TrainJob launcher reads."""

from pathlib import Path

import pytest
import yaml

from geovr.train.cluster import ClusterSettings
from pipelines import cluster, geovr_pipeline
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


def _train_branches(spec: dict) -> dict[str, str]:
    """{"local" | "trainjob": the train task of that branch}, from the compiled conditions."""
    branches = next(
        c["dag"]["tasks"] for name, c in spec["components"].items() if "condition-branches" in name
    )
    local = "inputs.parameter_values['pipelinechannel--plan-launcher-Output'] == 'local'"
    branch_of = {local: "local", f"!({local})": "trainjob"}
    tasks = {}
    for condition in branches.values():
        (task,) = spec["components"][condition["componentRef"]["name"]]["dag"]["tasks"]
        tasks[branch_of[condition["triggerPolicy"]["condition"]]] = task
    return tasks


def _step(spec: dict, task: str) -> str:
    """The STEP_RESOURCES entry of a compiled task (the TrainJob launcher's is its own)."""
    if task == _train_branches(spec)["trainjob"]:
        return cluster.TRAINJOB_LAUNCHER_STEP
    return task


def test_every_step_requests_cpu_and_memory_and_only_retry_safe_steps_retry():
    spec = next(yaml.safe_load_all(GOLDEN.read_text()))
    for name, executor in spec["deploymentSpec"]["executors"].items():
        wanted = cluster.STEP_RESOURCES[_step(spec, name.removeprefix("exec-"))]
        resources = executor["container"]["resources"]
        assert (resources["resourceCpuRequest"], resources["resourceMemoryRequest"]) == (
            wanted.cpu,
            wanted.memory,
        )
    dags = [spec["root"]["dag"], *(c["dag"] for c in spec["components"].values() if "dag" in c)]
    retries = {
        _step(spec, name): task.get("retryPolicy", {}).get("maxRetryCount", 0)
        for dag in dags
        for name, task in dag["tasks"].items()
        if not name.startswith(("for-loop", "condition"))
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


@pytest.mark.parametrize("branch", ["local", "trainjob"])
def test_train_step_environment_is_what_the_trainjob_launcher_reads(branch):
    containers, k8s = _compiled()
    spec = next(yaml.safe_load_all(GOLDEN.read_text()))
    train_executors = {f"exec-{task}" for task in _train_branches(spec).values()}
    executor = f"exec-{_train_branches(spec)[branch]}"
    mounts = k8s[executor]["pvcMount"]
    assert [(m["constant"], m["mountPath"]) for m in mounts] == [
        (cluster.TRAIN_PVC, cluster.TRAIN_MOUNT)
    ]
    assert all("pvcMount" not in s for name, s in k8s.items() if name not in train_executors)
    env = {e["name"]: e["value"] for e in containers[executor]["container"]["env"]}
    settings = ClusterSettings.from_env({**env, "GEOVR_NAMESPACE": "kubeflow-user-geovr"})
    assert (settings.pvc, settings.mount_path, settings.s3_secret, settings.mlflow_secret) == (
        cluster.TRAIN_PVC,
        cluster.TRAIN_MOUNT,
        cluster.S3_SECRET,
        cluster.MLFLOW_SECRET,
    )
    assert settings.image == containers[executor]["container"]["image"]


def test_a_trainjob_launcher_pod_requests_no_gpu_and_a_local_training_pod_its_gpus():
    """The plan decides the branch; only the torchrun-in-pod branch asks for GPUs and GPU
    nodes; each branch runs train with the launcher the plan chose; evaluate and register take
    the checkpoint of whichever branch ran (dsl.OneOf)."""
    containers, k8s = _compiled()
    spec = next(yaml.safe_load_all(GOLDEN.read_text()))
    branches = _train_branches(spec)
    assert set(branches) == {"local", "trainjob"}
    local_pod = containers[f"exec-{branches['local']}"]["container"]["resources"]
    assert local_pod["accelerator"]["resourceType"] == "nvidia.com/gpu"
    assert local_pod["accelerator"]["resourceCount"] == str(geovr_pipeline.TRAIN_GPUS)
    assert k8s[f"exec-{branches['local']}"]["nodeSelector"]["labels"] == dict(
        [cluster.GPU_NODE_LABEL]
    )
    launcher = containers[f"exec-{branches['trainjob']}"]["container"]["resources"]
    wanted = cluster.STEP_RESOURCES[cluster.TRAINJOB_LAUNCHER_STEP]
    assert "accelerator" not in launcher
    assert (launcher["resourceCpuRequest"], launcher["resourceMemoryRequest"]) == (
        wanted.cpu,
        wanted.memory,
    )
    launcher_k8s = k8s[f"exec-{branches['trainjob']}"]
    assert "nodeSelector" not in launcher_k8s and "tolerations" not in launcher_k8s
    components = spec["components"]
    for branch, task in branches.items():
        (condition,) = (c for c in components.values() if "dag" in c and task in c["dag"]["tasks"])
        args = condition["dag"]["tasks"][task]["inputs"]["parameters"]
        assert args["launcher"]["runtimeValue"]["constant"] == branch
    plan = spec["root"]["dag"]["tasks"]["plan-launcher"]["inputs"]["parameters"]
    assert {k: v["componentInputParameter"] for k, v in plan.items()} == {
        "launcher": "launcher",
        "num_nodes": "num_nodes",
    }
    tasks = spec["root"]["dag"]["tasks"]
    branches_task = next(name for name in tasks if name.startswith("condition-branches"))
    for consumer in ("evaluate", "register"):
        source = tasks[consumer]["inputs"]["artifacts"]["checkpoint"]["taskOutputArtifact"]
        assert source["producerTask"] == branches_task
    merged = components[tasks[branches_task]["componentRef"]["name"]]["dag"]["outputs"]
    (selectors,) = (s["artifactSelectors"] for s in merged["artifacts"].values())
    assert len(selectors) == 2
