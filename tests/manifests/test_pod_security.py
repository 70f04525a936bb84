"""Security of the rendered overlays: every container meets the restricted Pod Security
Standard, NetworkPolicies admit only who needs MLflow and PostgreSQL, secrets reach containers
through env or files only, and the Role grants exactly the calls the TrainJob launcher makes."""

import re

import pytest
from kubernetes import client

from geovr.errors import GeoVRError
from geovr.train.trainjob import TrainJobLauncher
from tests.manifests.kustomize import OVERLAYS, build
from tests.manifests.podenv import VAR_REF, command_line, container_env, find
from tests.manifests.test_mlflow_server import SECRETS
from tests.train.k8s_standin import KubeStandIn, condition
from tests.train.test_trainjob import _spec

WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")
# one namespaced API path: /api/v1/... or /apis/GROUP/VERSION/..., resource, name, subresource
API_PATH = re.compile(
    r"^/(?:api/v1|apis/([^/]+)/[^/]+)/namespaces/[^/]+/([^/?]+)(?:/([^/?]+))?(?:/([^/?]+))?"
)


def pod_specs(docs: list[dict]) -> list[tuple[str, dict]]:
    return [
        (d["metadata"]["name"], d["spec"]["template"]["spec"])
        for d in docs
        if d["kind"] in WORKLOADS
    ]


def restricted_violations(pod: dict) -> list[str]:
    """The checks of the restricted profile (Kubernetes Pod Security Standards, baseline
    included) that a pod template can fail."""
    found = [f"pod sets {key}" for key in ("hostNetwork", "hostPID", "hostIPC") if pod.get(key)]
    found += [
        f"volume {v['name']} is a hostPath" for v in pod.get("volumes", []) if "hostPath" in v
    ]
    pod_ctx = pod.get("securityContext", {})
    for container in pod.get("initContainers", []) + pod["containers"]:
        ctx, name = container.get("securityContext", {}), container["name"]
        caps = ctx.get("capabilities", {})
        if ctx.get("allowPrivilegeEscalation") is not False:
            found.append(f"{name}: allowPrivilegeEscalation is not false")
        if "ALL" not in caps.get("drop", []) or set(caps.get("add", [])) - {"NET_BIND_SERVICE"}:
            found.append(f"{name}: capabilities do not drop ALL (adding NET_BIND_SERVICE at most)")
        if not ctx.get("runAsNonRoot", pod_ctx.get("runAsNonRoot")):
            found.append(f"{name}: runAsNonRoot is not true")
        if ctx.get("runAsUser", pod_ctx.get("runAsUser")) == 0:
            found.append(f"{name}: runs as uid 0")
        seccomp = ctx.get("seccompProfile", pod_ctx.get("seccompProfile", {})).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            found.append(f"{name}: seccomp profile {seccomp} (RuntimeDefault or Localhost needed)")
        if ctx.get("privileged") or any(p.get("hostPort") for p in container.get("ports", [])):
            found.append(f"{name}: privileged or a hostPort")
    return found


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_meets_the_restricted_pod_security_standard(overlay):
    pods = pod_specs(build(overlay))
    assert {name for name, _ in pods} == {"geovr-mlflow", "geovr-mlflow-db", "geovr-serving"}
    assert {name: restricted_violations(pod) for name, pod in pods} == {
        name: [] for name, _ in pods
    }


def admitted(policy: dict) -> tuple[list[dict], list[int]]:
    rules = policy["spec"]["ingress"]
    return [peer for rule in rules for peer in rule["from"]], [
        p["port"] for r in rules for p in r["ports"]
    ]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_admit_the_namespace_to_mlflow_and_only_mlflow_to_postgres(overlay):
    docs = build(overlay)
    labels = {
        d["metadata"]["name"]: d["spec"]["template"]["metadata"]["labels"]
        for d in docs
        if d["kind"] in WORKLOADS
    }
    policies = {p["metadata"]["name"]: p for p in docs if p["kind"] == "NetworkPolicy"}
    for workload, port, peers in (
        ("geovr-mlflow", 5000, [{"podSelector": {}}]),
        ("geovr-mlflow-db", 5432, [{"podSelector": {"matchLabels": labels["geovr-mlflow"]}}]),
    ):
        policy = policies[workload]["spec"]
        selected = policy["podSelector"]["matchLabels"]
        assert selected.items() <= labels[workload].items() and "Ingress" in policy["policyTypes"]
        assert admitted(policies[workload]) == (
            peers,
            [port],
        )  # same namespace: no namespaceSelector


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_secrets_reach_containers_through_env_only(overlay):
    docs = build(overlay)
    for name, pod in pod_specs(docs):
        for container in pod["containers"]:
            from_secrets = {
                e["name"]
                for e in container.get("env", [])
                if "secretKeyRef" in e.get("valueFrom", {})
            }
            from_secrets |= {
                k
                for s in container.get("envFrom", [])
                if "secretRef" in s
                for k in SECRETS[s["secretRef"]["name"]]
            }
            argv = container.get("command", []) + container.get("args", [])
            argv += container.get("readinessProbe", {}).get("exec", {}).get("command", [])
            assert not {ref for arg in argv for ref in VAR_REF.findall(arg)} & from_secrets, name
            expanded = " ".join(
                command_line(container, container_env(container, docs, "ns", SECRETS))
            )
            secret_values = {v for keys in SECRETS.values() for v in keys.values()}
            assert not [v for v in secret_values if v in expanded], name


def launcher_calls() -> set[tuple[str, str, str]]:
    """(API group, resource, verb) of every request of a completed run (logs streamed) and of
    a timed-out one (deleted), as the API server authorizes them."""
    verbs = {"POST": "create", "DELETE": "delete"}
    steps = [[condition("Created")], [condition("Complete", "JobCompleted", "")]]
    with KubeStandIn(steps, log_lines=["rank 0 up", "done"]) as api:
        conf = client.Configuration()
        conf.host = api.url
        launcher = TrainJobLauncher(conf, poll_seconds=0.01, log=lambda line: None)
        launcher.run(_spec(name="geovr-train-1"))
        api.steps = [[condition("Created")]]  # the next job never finishes
        with pytest.raises(GeoVRError, match="did not finish"):
            launcher.run(_spec(name="geovr-train-2"), timeout=0.05)
        calls = set()
        for method, path in api.requests:
            group, resource, name, sub = API_PATH.match(path).groups()
            verb = verbs.get(method) or ("get" if name else "list")
            calls.add((group or "", f"{resource}/{sub}" if sub else resource, verb))
    return calls


def test_role_grants_exactly_the_calls_the_launcher_makes():
    role = find(build(OVERLAYS[0]), "Role", "geovr-trainjob-launcher")
    granted = {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    assert granted == launcher_calls()
