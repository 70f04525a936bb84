"""What a TrainJob gets from the cluster the launching KFP step runs in (its environment, as
pipelines/cluster.py sets it): image, namespace, shared volume, S3 secret, endpoints, and the
GPU placement of its nodes.

    settings = ClusterSettings.from_env(os.environ)
    spec = settings.spec(name, command, num_nodes=2, procs_per_node=8, gpus_per_node=8, ...)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from geovr.errors import GeoVRError
from geovr.train.trainjob import TrainJobSpec

# the label NVIDIA's GPU operator puts on GPU nodes, and the taint GPU pools usually carry
GPU_NODE_LABEL = ("nvidia.com/gpu.present", "true")
GPU_TAINT = "nvidia.com/gpu"
# what the nodes need to reach a MinIO/custom S3 endpoint and MLflow, as the launching step has it
NODE_ENV_KEYS = (
    "AWS_ENDPOINT_URL",
    "AWS_DEFAULT_REGION",
    "MLFLOW_S3_ENDPOINT_URL",
    "MLFLOW_TRACKING_URI",
)

S3_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
MLFLOW_KEYS = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")  # the basic-auth login

NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


@dataclass(frozen=True)
class ClusterSettings:
    """Where a TrainJob runs and what it mounts, read from the step's environment:
    GEOVR_IMAGE, GEOVR_NAMESPACE (else the pod's own namespace), GEOVR_TRAIN_PVC + GEOVR_TRAIN_MOUNT
    (a ReadWriteMany claim the KFP step mounts at the same path: the training directory lives
    there), GEOVR_TRAINING_RUNTIME, GEOVR_SERVICE_ACCOUNT, GEOVR_S3_SECRET (AWS keys for s3://),
    GEOVR_MLFLOW_SECRET (the MLflow login, MLFLOW_TRACKING_USERNAME / _PASSWORD),
    and the endpoints of NODE_ENV_KEYS, passed on to every node."""

    image: str
    namespace: str
    pvc: str
    mount_path: str
    runtime: str = "torch-distributed"
    service_account: str | None = None
    s3_secret: str | None = None
    mlflow_secret: str | None = None
    node_env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ClusterSettings:
        namespace = env.get("GEOVR_NAMESPACE") or (
            NAMESPACE_FILE.read_text().strip() if NAMESPACE_FILE.exists() else ""
        )
        missing = [
            k
            for k, v in (
                ("GEOVR_IMAGE", env.get("GEOVR_IMAGE")),
                ("GEOVR_NAMESPACE", namespace),
                ("GEOVR_TRAIN_PVC", env.get("GEOVR_TRAIN_PVC")),
            )
            if not v
        ]
        if missing:
            raise GeoVRError(
                f"a TrainJob launch needs {', '.join(missing)} in the environment (see manifests/)"
            )
        return cls(
            image=env["GEOVR_IMAGE"],
            namespace=namespace,
            pvc=env["GEOVR_TRAIN_PVC"],
            mount_path=env.get("GEOVR_TRAIN_MOUNT", "/mnt/geovr-train"),
            runtime=env.get("GEOVR_TRAINING_RUNTIME", "torch-distributed"),
            service_account=env.get("GEOVR_SERVICE_ACCOUNT"),
            s3_secret=env.get("GEOVR_S3_SECRET"),
            mlflow_secret=env.get("GEOVR_MLFLOW_SECRET"),
            node_env={k: env[k] for k in NODE_ENV_KEYS if env.get(k)},
        )

    def spec(
        self,
        name: str,
        command: list[str],
        num_nodes: int,
        procs_per_node: int,
        gpus_per_node: int,
        deadline: int | None,
        labels: Mapping[str, str],
    ) -> TrainJobSpec:
        """`procs_per_node` ranks on each node, on `gpus_per_node` GPUs (0: CPU nodes, gloo)."""
        secrets = {
            key: (secret, key)
            for secret, keys in ((self.s3_secret, S3_KEYS), (self.mlflow_secret, MLFLOW_KEYS))
            if secret
            for key in keys
        }
        on_gpus = gpus_per_node > 0
        return TrainJobSpec(
            name=name,
            namespace=self.namespace,
            image=self.image,
            command=command,
            num_nodes=num_nodes,
            gpus_per_node=gpus_per_node,
            procs_per_node=procs_per_node,
            env=dict(self.node_env),
            env_from_secrets=secrets,
            runtime=self.runtime,
            active_deadline_seconds=deadline,
            labels=dict(labels),
            service_account=self.service_account,
            node_selector=dict([GPU_NODE_LABEL]) if on_gpus else {},
            tolerations=[{"key": GPU_TAINT, "operator": "Exists", "effect": "NoSchedule"}]
            if on_gpus
            else [],
            volumes=[{"name": "geovr-train", "persistentVolumeClaim": {"claimName": self.pvc}}],
            volume_mounts=[{"name": "geovr-train", "mountPath": self.mount_path}],
        )


def node_url(uri: str) -> str:
    """An artifact URI as the nodes' fsspec reads it: KFP's MinIO pipeline root (`minio://`) is
    S3 with a custom endpoint, so `s3://` (s3fs takes the endpoint from AWS_ENDPOINT_URL)."""
    scheme, sep, rest = uri.partition("://")
    return f"s3://{rest}" if sep and scheme == "minio" else uri
