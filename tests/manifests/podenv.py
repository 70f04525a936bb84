"""What the kubelet gives a rendered container: its environment (ConfigMaps of the same render,
Secrets from values the test supplies, the downward API's namespace) and its command line with
`$(VAR)` references expanded, so a test can run the container's own command here."""

from __future__ import annotations

import re

VAR_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def find(docs: list[dict], kind: str, name: str) -> dict:
    return next(d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name)


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' `$(VAR)` expansion: defined variables are replaced, others stay as written."""
    return VAR_REF.sub(lambda m: env.get(m.group(1), m.group(0)), text)


def _value_from(source: dict, docs: list[dict], namespace: str, secrets: dict) -> str:
    if ref := source.get("secretKeyRef"):
        return secrets[ref["name"]][ref["key"]]
    if ref := source.get("configMapKeyRef"):
        return find(docs, "ConfigMap", ref["name"])["data"][ref["key"]]
    if source.get("fieldRef", {}).get("fieldPath") == "metadata.namespace":
        return namespace
    raise ValueError(f"the test cannot resolve env source {source}")


def container_env(
    container: dict, docs: list[dict], namespace: str, secrets: dict[str, dict[str, str]]
) -> dict[str, str]:
    """envFrom first, then env in order (each entry may refer to the ones before it)."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if ref := source.get("configMapRef"):
            env.update(find(docs, "ConfigMap", ref["name"])["data"])
        elif ref := source.get("secretRef"):
            env.update(secrets[ref["name"]])
    for entry in container.get("env", []):
        if "value" in entry:
            env[entry["name"]] = expand(entry["value"], env)
        else:
            env[entry["name"]] = _value_from(entry["valueFrom"], docs, namespace, secrets)
    return env


def command_line(container: dict, env: dict[str, str]) -> list[str]:
    return [expand(arg, env) for arg in container.get("command", []) + container.get("args", [])]
