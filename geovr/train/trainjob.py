"""Multi-node training as a Kubeflow Trainer v2 `TrainJob` (runtime `torch-distributed`).

    spec = TrainJobSpec(name=unique_name("geovr-train"), namespace="kubeflow-user", image=IMAGE,
                        command=["torchrun", "-m", "geovr.train.worker", ...],
                        num_nodes=4, gpus_per_node=8)
    result = TrainJobLauncher().run(spec, timeout=24 * 3600)   # create, stream node-0 logs, wait

The runtime injects PET_NNODES / PET_NPROC_PER_NODE / PET_NODE_RANK / PET_MASTER_ADDR /
PET_MASTER_PORT, which torchrun reads, so the command is the same `torchrun -m
geovr.train.worker ...` as on one node. The manifest is checked against the CRD's schema
(`trainjob_schema.json`) before it is sent, and created with strict field validation: a
Trainer older than v2.2.0 (no `spec.runtimePatches`) is a clear error, not a job whose nodes
silently lack the volume. A cancelled step (SIGTERM, Ctrl-C) or a timeout deletes the job, so
nothing keeps running on the cluster.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import tenacity
from kubernetes import client, config

from geovr.errors import GeoVRError

GROUP, VERSION, PLURAL = "trainer.kubeflow.org", "v1alpha1", "trainjobs"
SCHEMA = json.loads((Path(__file__).with_name("trainjob_schema.json")).read_text())
PATCH_MANAGER = "geovr.io/launcher"
MIN_TRAINER_VERSION = "v2.2.0"  # the first Kubeflow Trainer whose TrainJob has runtimePatches
NODE_JOB = "node"  # the runtime's replicated job (and container) of the trainer nodes
# JobSet labels the pods it makes; node 0 is completion index 0 of the "node" job
NODE0_SELECTOR = (
    "jobset.sigs.k8s.io/jobset-name={name},jobset.sigs.k8s.io/replicatedjob-name="
    + NODE_JOB
    + ",batch.kubernetes.io/job-completion-index=0"
)


class TrainJobFailed(GeoVRError):
    def __init__(self, name: str, reason: str, message: str):
        super().__init__(f"TrainJob {name} failed: {reason}: {message}")
        self.reason, self.message = reason, message


@dataclass
class TrainJobSpec:
    """What to run where. `env_from_secrets`: {VAR: (secret name, key)}, never secret values."""

    name: str
    namespace: str
    image: str
    command: list[str]
    num_nodes: int = 1
    gpus_per_node: int = 0
    procs_per_node: int | None = None  # torchrun ranks per node (None: one per GPU)
    cpu: str | None = None
    memory: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    env_from_secrets: dict[str, tuple[str, str]] = field(default_factory=dict)
    runtime: str = "torch-distributed"
    active_deadline_seconds: int | None = None
    labels: dict[str, str] = field(default_factory=dict)
    service_account: str | None = None
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: list[dict[str, Any]] = field(default_factory=list)
    volumes: list[dict[str, Any]] = field(default_factory=list)  # e.g. the shared training PVC
    volume_mounts: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class TrainJobResult:
    name: str
    namespace: str
    seconds: float
    log_lines: int


def unique_name(prefix: str) -> str:
    """A DNS-1035 name: the prefix (trimmed) and 8 random hex characters."""
    return f"{prefix.lower().strip('-')[:50]}-{uuid.uuid4().hex[:8]}"


def _env(spec: TrainJobSpec) -> list[dict[str, Any]]:
    plain = [{"name": k, "value": v} for k, v in sorted(spec.env.items())]
    secret = [
        {"name": k, "valueFrom": {"secretKeyRef": {"name": s, "key": key}}}
        for k, (s, key) in sorted(spec.env_from_secrets.items())
    ]
    return plain + secret


def _resources(spec: TrainJobSpec) -> dict[str, Any]:
    limits: dict[str, Any] = {}
    if spec.gpus_per_node:
        limits["nvidia.com/gpu"] = spec.gpus_per_node
    limits.update({k: v for k, v in (("cpu", spec.cpu), ("memory", spec.memory)) if v})
    return {"limits": limits, "requests": dict(limits)} if limits else {}


def _pod_patch(spec: TrainJobSpec) -> dict[str, Any]:
    pod: dict[str, Any] = {}
    if spec.service_account:
        pod["serviceAccountName"] = spec.service_account
    if spec.node_selector:
        pod["nodeSelector"] = dict(spec.node_selector)
    if spec.tolerations:
        pod["tolerations"] = list(spec.tolerations)
    if spec.volumes:
        pod["volumes"] = list(spec.volumes)
    if spec.volume_mounts:
        pod["containers"] = [{"name": NODE_JOB, "volumeMounts": list(spec.volume_mounts)}]
    return pod


def build_trainjob(spec: TrainJobSpec) -> dict[str, Any]:
    """The TrainJob manifest (validated)."""
    trainer: dict[str, Any] = {
        "image": spec.image,
        "command": list(spec.command),
        "numNodes": spec.num_nodes,
    }
    if procs := spec.procs_per_node or spec.gpus_per_node:
        trainer["numProcPerNode"] = procs
    if env := _env(spec):
        trainer["env"] = env
    if resources := _resources(spec):
        trainer["resourcesPerNode"] = resources
    body: dict[str, Any] = {
        "runtimeRef": {"name": spec.runtime, "apiGroup": GROUP, "kind": "ClusterTrainingRuntime"},
        "trainer": trainer,
    }
    if spec.active_deadline_seconds:
        body["activeDeadlineSeconds"] = spec.active_deadline_seconds
    if pod := _pod_patch(spec):
        replicated = {"name": NODE_JOB, "template": {"spec": {"template": {"spec": pod}}}}
        body["runtimePatches"] = [
            {
                "manager": PATCH_MANAGER,
                "trainingRuntimeSpec": {"template": {"spec": {"replicatedJobs": [replicated]}}},
            }
        ]
    manifest = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "TrainJob",
        "metadata": {"name": spec.name, "namespace": spec.namespace, "labels": dict(spec.labels)},
        "spec": body,
    }
    validate_trainjob(manifest)
    return manifest


def validate_trainjob(manifest: dict[str, Any]) -> None:
    """Check against the CRD schema; ValueError naming the first bad field's path."""
    error = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(SCHEMA).iter_errors(manifest)
    )
    if error is not None:
        path = ".".join(str(p) for p in error.absolute_path) or "(root)"
        raise ValueError(f"invalid TrainJob at {path}: {error.message}")


def _status_message(exc: client.ApiException) -> str:
    """The message of the API server's Status body (the body itself if it is not one)."""
    try:
        return json.loads(exc.body)["message"]
    except (TypeError, ValueError, KeyError):
        return str(exc.body)


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, client.ApiException):
        return exc.status is None or exc.status >= 500 or exc.status == 0
    return isinstance(exc, OSError)  # connection refused / reset (urllib3 errors are OSErrors)


_retry = tenacity.retry(
    retry=tenacity.retry_if_exception(_transient),
    stop=tenacity.stop_after_attempt(5),
    wait=tenacity.wait_exponential(multiplier=0.2, max=5),
    reraise=True,
)


def _condition(job: dict[str, Any]) -> tuple[str, str, str] | None:
    """(type, reason, message) of a true terminal condition, else None."""
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("type") in ("Complete", "Failed") and cond.get("status") == "True":
            return cond["type"], cond.get("reason", ""), cond.get("message", "")
    return None


class TrainJobLauncher:
    """Creates, watches, streams and deletes TrainJobs through the Kubernetes API."""

    def __init__(
        self,
        configuration: client.Configuration | None = None,
        poll_seconds: float = 5.0,
        log: Callable[[str], None] = print,
    ):
        if configuration is None:  # a fresh one: the client's global default may be stale
            configuration = client.Configuration()
            try:
                config.load_incluster_config(client_configuration=configuration)
            except config.ConfigException:  # the client reads $KUBECONFIG at import; read it now
                config.load_kube_config(
                    config_file=os.environ.get("KUBECONFIG"), client_configuration=configuration
                )
        api = client.ApiClient(configuration)
        self.custom, self.core = client.CustomObjectsApi(api), client.CoreV1Api(api)
        self.poll_seconds, self.log = poll_seconds, log

    @_retry
    def _get(self, name: str, namespace: str) -> dict[str, Any]:
        return self.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)

    def submit(self, spec: TrainJobSpec) -> dict[str, Any]:
        manifest = build_trainjob(spec)
        try:  # Strict: the API server refuses fields its CRD lacks instead of dropping them
            return _retry(self.custom.create_namespaced_custom_object)(
                GROUP, VERSION, spec.namespace, PLURAL, manifest, field_validation="Strict"
            )
        except client.ApiException as e:
            if e.status == 409:
                raise GeoVRError(f"TrainJob {spec.namespace}/{spec.name} already exists") from e
            if e.status == 400 and "unknown field" in (e.body or ""):
                raise GeoVRError(
                    f"the cluster's Kubeflow Trainer is older than {MIN_TRAINER_VERSION}, which "
                    f"GeoVR needs (its TrainJob CRD refused: {_status_message(e)})"
                ) from e
            raise GeoVRError(f"could not create TrainJob {spec.name}: {e.status} {e.reason}") from e

    def delete(self, name: str, namespace: str) -> None:
        try:
            _retry(self.custom.delete_namespaced_custom_object)(
                GROUP, VERSION, namespace, PLURAL, name, propagation_policy="Foreground"
            )
            self.log(f"TrainJob {namespace}/{name} deleted")
        except client.ApiException as e:
            if e.status != 404:
                raise

    def _node0_logs(self, name: str, namespace: str, seen: int) -> int:
        """Print node-0 log lines not printed yet; returns how many lines have been printed."""
        try:
            pods = self.core.list_namespaced_pod(
                namespace, label_selector=NODE0_SELECTOR.format(name=name)
            ).items
            if not pods:
                return seen
            text = self.core.read_namespaced_pod_log(
                pods[0].metadata.name, namespace, container=NODE_JOB
            )
        except client.ApiException:
            return seen  # the pod may not be up yet; logs are best effort
        lines = text.splitlines()
        for line in lines[seen:]:
            self.log(line)
        return max(seen, len(lines))

    def wait(self, name: str, namespace: str, timeout: float | None = None) -> TrainJobResult:
        """Poll until Complete (result) or Failed (TrainJobFailed); on timeout delete and raise."""
        start, printed, last = time.monotonic(), 0, None
        while True:
            job = self._get(name, namespace)
            printed = self._node0_logs(name, namespace, printed)
            conditions = [
                c.get("type")
                for c in (job.get("status") or {}).get("conditions") or []
                if c.get("status") == "True"
            ]
            if conditions != last:
                self.log(f"TrainJob {namespace}/{name}: {', '.join(conditions) or 'pending'}")
                last = conditions
            if (done := _condition(job)) is not None:
                kind, reason, message = done
                if kind == "Failed":
                    raise TrainJobFailed(name, reason, message)
                return TrainJobResult(name, namespace, round(time.monotonic() - start, 2), printed)
            if timeout is not None and time.monotonic() - start > timeout:
                self.delete(name, namespace)
                raise GeoVRError(
                    f"TrainJob {namespace}/{name} did not finish in {timeout:.0f} s; deleted it"
                )
            time.sleep(self.poll_seconds)

    def run(self, spec: TrainJobSpec, timeout: float | None = None) -> TrainJobResult:
        """submit + wait; the job is deleted if the wait is interrupted (cancelled KFP step)."""
        self.submit(spec)
        with _terminate_as_interrupt():
            try:
                return self.wait(spec.name, spec.namespace, timeout)
            except (KeyboardInterrupt, SystemExit):
                self.delete(spec.name, spec.namespace)
                raise


@contextlib.contextmanager
def _terminate_as_interrupt():
    """KFP cancels a step with SIGTERM: turn it into KeyboardInterrupt (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
