"""The README's "On a cluster" commands, as printed and in their order. No cluster here, so:
`kubectl create secret` runs for real with `--dry-run=client`; `kubectl apply -k` renders the
overlay (`kubectl kustomize`); the other kubectl lines must name objects that render; `make
image` (Docker) is checked by `make -n`; the `make` lines that talk to Kubeflow Pipelines run
against the KFP API stand-in, with only the host replaced by the stand-in's."""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipelines import cluster
from tests.manifests.kustomize import build, tool
from tests.manifests.test_pod_security import pod_specs
from tests.pipelines.kfp_standin import KfpStandIn

ROOT = Path(__file__).resolve().parents[2]
PUSHED = "registry.example/geovr@sha256:" + "5e" * 32


def cluster_commands() -> list[list[str]]:
    readme = (ROOT / "README.md").read_text()
    section = re.search(r"^## On a cluster\n(.*?)^## ", readme, re.S | re.M).group(1)
    return [
        shlex.split(line)
        for line in section.splitlines()
        if re.match(r"^ {4,}(kubectl|make) ", line)
    ]


def secrets_needed(docs: list[dict]) -> set[tuple[str, str]]:
    """(Secret, key) of every secretKeyRef of the rendered containers."""
    return {
        (e["valueFrom"]["secretKeyRef"]["name"], e["valueFrom"]["secretKeyRef"]["key"])
        for _, pod in pod_specs(docs)
        for c in pod["containers"]
        for e in c.get("env", [])
        if "secretKeyRef" in e.get("valueFrom", {})
    }


def secret_names_needed(docs: list[dict]) -> set[str]:
    """Secrets whole: as envFrom, or mounted as a volume."""
    as_env = {
        s["secretRef"]["name"]
        for _, pod in pod_specs(docs)
        for c in pod["containers"]
        for s in c.get("envFrom", [])
        if "secretRef" in s
    }
    as_volume = {
        v["secret"]["secretName"]
        for _, pod in pod_specs(docs)
        for v in pod.get("volumes", [])
        if "secret" in v
    }
    return as_env | as_volume


def run_kubectl(argv: list[str], state: dict, tmp_path: Path) -> None:
    verb = argv[3] if argv[1] == "-n" else argv[1]
    if verb == "apply" and argv[2] == "-f":
        state["profile"] = yaml.safe_load((ROOT / argv[3]).read_text())["metadata"]["name"]
    elif verb == "create":
        env = {**os.environ, "KUBECONFIG": str(tmp_path / "none")}
        out = subprocess.run(
            [tool("kubectl"), *argv[1:], "--dry-run=client", "-o", "yaml"],
            env=env,
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
        secret = yaml.safe_load(out)
        assert secret["metadata"]["namespace"] == state["profile"]
        state["secrets"] |= {(secret["metadata"]["name"], key) for key in secret["data"]}
    elif verb == "apply" and argv[2] == "-k":
        state["docs"] = build(Path(argv[3]).name)
        assert {d["metadata"]["namespace"] for d in state["docs"]} == {state["profile"]}
        assert secrets_needed(state["docs"]) <= state["secrets"], "a Secret key the manifests need"
        assert secret_names_needed(state["docs"]) <= {name for name, _ in state["secrets"]}
    else:  # rollout status deployment/NAME, port-forward svc/NAME: the object is deployed
        kind, name = next(a for a in argv if "/" in a).split("/")
        kinds = {"deployment": "Deployment", "svc": "Service"}
        assert argv[2] == state["profile"]
        assert any(
            d["kind"] == kinds[kind] and d["metadata"]["name"] == name for d in state["docs"]
        )


def run_make(argv: list[str], api: KfpStandIn, tmp_path: Path) -> str:
    args = [f"KFP_HOST={api.url}" if a.startswith("KFP_HOST=") else a for a in argv[1:]]
    machinery = [
        f"BIN={Path(sys.executable).parent}",
        "STAMP=",
        f"PIPELINE_YAML={tmp_path / 'p.yaml'}",
        f"IMAGE_REF_FILE={tmp_path / 'image.ref'}",
    ]
    dry = ["-n"] if args[0] == "image" else []  # Docker is not here: the commands it would run
    result = subprocess.run(
        ["make", "--no-print-directory", *dry, *args, *machinery],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.mark.integration
def test_readme_cluster_commands_run_as_printed_from_an_empty_namespace(tmp_path):
    commands = cluster_commands()
    assert [c[0] for c in commands][:3] == ["kubectl"] * 3, "the namespace and Secrets come first"
    state = {"secrets": set()}
    with KfpStandIn() as api:
        for argv in commands:
            if argv[0] == "kubectl":
                run_kubectl(argv, state, tmp_path)
                continue
            printed = run_make(argv, api, tmp_path)
            if argv[1] == "image":
                assert "docker push registry.example/geovr:0.1.0" in printed
                assert f"> {tmp_path / 'image.ref'}" in printed
                # what that `docker inspect` would record after the push
                (tmp_path / "image.ref").write_text(PUSHED + "\n")
        assert len(api.packages) == 1 and len(api.runs) == 1 and len(api.recurring_runs) == 1
        namespaces = {e["namespace"] for e in api.experiments.values()}
        run_params = api.runs[0]["runtime_config"]["parameters"]
        (package,) = api.packages.values()
    spec = next(yaml.safe_load_all(package))
    images = {e["container"]["image"] for e in spec["deploymentSpec"]["executors"].values()}
    assert images == {PUSHED}, "the uploaded pipeline runs the pushed digest, not the tag"
    assert namespaces == {state["profile"]}
    # what the pipeline's steps (and TrainJob nodes) read by reference was created too
    for secret, keys in (
        (cluster.S3_SECRET, cluster.S3_KEYS),
        (cluster.MLFLOW_SECRET, cluster.MLFLOW_KEYS),
    ):
        assert {(secret, key) for key in keys} <= state["secrets"], secret
    assert run_params["data_repo"].startswith("https://") and run_params["steps"] == 2000
