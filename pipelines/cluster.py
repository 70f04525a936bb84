"""What the pipeline's pods get from a cluster deployed with `manifests/` (kfp-kubernetes).

    from pipelines.cluster import with_cluster_env, on_gpu_nodes, with_training_volume
    with_cluster_env(task)                 # MLflow URI, S3 endpoints + keys, runtime names
    on_gpu_nodes(task, gpus=8)             # GPU limit, GPU node selector and toleration
    with_training_volume(task, image)      # shared RWX volume for resumable runs / TrainJobs
    with_step_resources(task)              # CPU/memory requests and retries of that step

The names here are the manifests' (tests/pipelines check them against `kubectl kustomize`).
Credentials reach the pods only as Secret references. `kfp.local` ignores these settings
(it prints a warning per task), so the same pipeline runs here and on a cluster.
"""

from dataclasses import dataclass

from kfp import kubernetes
from kfp.dsl import PipelineTask

from geovr.train.cluster import GPU_NODE_LABEL, GPU_TAINT, MLFLOW_KEYS, S3_KEYS

CONFIG_MAP = "geovr-config"
S3_SECRET = "geovr-s3-credentials"
# the registration identity the basic-auth MLflow server knows (manifests/base/mlflow-server.yaml)
MLFLOW_SECRET = "geovr-mlflow-credentials"
TRAIN_PVC = "geovr-train"
TRAIN_MOUNT = "/mnt/geovr-train"


@dataclass(frozen=True)
class StepResources:
    cpu: str
    memory: str
    retries: int = 0


# What each step asks the scheduler for (GPU steps: per pod, beside their GPUs) and how often
# it is retried: the download (network), distill (a lost GPU node) and train (it resumes from
# train_work_dir) are; a deterministic failure elsewhere would only fail again.
STEP_RESOURCES = {
    "fetch-data": StepResources("1", "4Gi", retries=3),
    "ingest": StepResources("4", "16Gi"),
    "plan-shard-ranges": StepResources("500m", "1Gi"),
    "distill": StepResources("4", "32Gi", retries=2),
    "distill-merge": StepResources("2", "8Gi"),
    "train": StepResources("16", "128Gi", retries=1),
    "evaluate": StepResources("8", "64Gi"),
    "register": StepResources("2", "8Gi"),
}
RETRY_BACKOFF = "60s"
# ConfigMap keys every deployment has, and those only some overlays set (MinIO endpoints)
CONFIG_KEYS = ("MLFLOW_TRACKING_URI", "GEOVR_TRAINING_RUNTIME")
OPTIONAL_CONFIG_KEYS = ("AWS_ENDPOINT_URL", "MLFLOW_S3_ENDPOINT_URL", "GEOVR_SERVICE_ACCOUNT")


def with_cluster_env(task: PipelineTask) -> PipelineTask:
    """Tracking URI, runtime names and S3 endpoints from the ConfigMap; S3 keys (DVC remote,
    artifact store, MLflow artifacts) and the MLflow login from their Secrets."""
    kubernetes.use_config_map_as_env(task, CONFIG_MAP, {k: k for k in CONFIG_KEYS})
    kubernetes.use_config_map_as_env(
        task, CONFIG_MAP, {k: k for k in OPTIONAL_CONFIG_KEYS}, optional=True
    )
    kubernetes.use_secret_as_env(task, S3_SECRET, {k: k for k in S3_KEYS})
    kubernetes.use_secret_as_env(task, MLFLOW_SECRET, {k: k for k in MLFLOW_KEYS})
    return task


def on_gpu_nodes(task: PipelineTask, gpus: int) -> PipelineTask:
    """`gpus` GPUs on a GPU node (nothing for 0: the task runs on CPU nodes)."""
    if gpus:
        task.set_accelerator_type("nvidia.com/gpu").set_accelerator_limit(gpus)
        kubernetes.add_node_selector(task, *GPU_NODE_LABEL)
        kubernetes.add_toleration(task, key=GPU_TAINT, operator="Exists", effect="NoSchedule")
    return task


def with_training_volume(task: PipelineTask, image: str) -> PipelineTask:
    """The shared training volume, and what the TrainJob launcher reads from the environment.

    The launcher (geovr/train/trainjob.py) gives its nodes the same image, volume, S3 and MLflow
    credentials from it.
    """
    kubernetes.mount_pvc(task, pvc_name=TRAIN_PVC, mount_path=TRAIN_MOUNT)
    for name, value in {
        "GEOVR_IMAGE": image,
        "GEOVR_TRAIN_PVC": TRAIN_PVC,
        "GEOVR_TRAIN_MOUNT": TRAIN_MOUNT,
        "GEOVR_S3_SECRET": S3_SECRET,
        "GEOVR_MLFLOW_SECRET": MLFLOW_SECRET,
    }.items():
        task.set_env_variable(name, value)
    return task


def with_step_resources(task: PipelineTask) -> PipelineTask:
    """The CPU/memory requests and retries of STEP_RESOURCES for this task's component."""
    wanted = STEP_RESOURCES[task.component_spec.name.replace("_", "-")]
    task.set_cpu_request(wanted.cpu).set_memory_request(wanted.memory)
    if wanted.retries:
        task.set_retry(num_retries=wanted.retries, backoff_duration=RETRY_BACKOFF)
    return task
