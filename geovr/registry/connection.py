"""Reaching the MLflow tracking server and registry, with bounded retries.

    from geovr.registry.connection import RetryBudget, connect
    client = connect("http://mlflow:5000", RetryBudget(total_s=60))

An http(s) server is probed on `/health` with exponential backoff (tenacity) until it answers
or the time budget is spent; then a RegistryUnavailable names the URI. Local stores
(`sqlite:///...`, a directory) need no probe.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlparse

import mlflow
import requests
import tenacity
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from geovr.errors import GeoVRError

T = TypeVar("T")
# Seconds to keep retrying an unreachable server; the CLI's --connect-timeout overrides it.
RETRY_ENV = "GEOVR_REGISTRY_RETRY_S"


class RegistryUnavailable(GeoVRError):
    """The MLflow server did not answer within the retry budget."""


class RegistryError(GeoVRError):
    """MLflow refused a registry request (unknown model or version, bad alias, ...)."""


@dataclass(frozen=True)
class RetryBudget:
    """How long to wait for a server: exponential backoff from `first_wait_s` up to
    `max_wait_s` per wait, `total_s` in all, each probe limited to `probe_timeout_s`."""

    total_s: float = 60.0
    first_wait_s: float = 0.5
    max_wait_s: float = 8.0
    probe_timeout_s: float = 5.0

    @classmethod
    def from_env(cls, total_s: float | None = None) -> RetryBudget:
        """The default budget, with `total_s` from the argument, else $GEOVR_REGISTRY_RETRY_S."""
        if total_s is None and os.environ.get(RETRY_ENV):
            total_s = float(os.environ[RETRY_ENV])
        return cls() if total_s is None else cls(total_s=total_s)


def identity() -> str:
    """Who acts on the registry: the MLflow user (basic auth) if set, else the OS user."""
    return os.environ.get("MLFLOW_TRACKING_USERNAME") or getpass.getuser()


def resolve_uri(tracking_uri: str | None) -> str:
    """The URI to use: the argument, else $MLFLOW_TRACKING_URI / MLflow's default."""
    return tracking_uri or mlflow.get_tracking_uri()


def is_server(uri: str) -> bool:
    return urlparse(uri).scheme in ("http", "https")


def wait_for_server(uri: str, retry: RetryBudget) -> None:
    """Probe `uri`/health until it answers 200; RegistryUnavailable after the budget."""

    def probe() -> None:
        response = requests.get(f"{uri.rstrip('/')}/health", timeout=retry.probe_timeout_s)
        response.raise_for_status()

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_delay(retry.total_s),
        wait=tenacity.wait_exponential(multiplier=retry.first_wait_s, max=retry.max_wait_s),
        retry=tenacity.retry_if_exception_type(requests.RequestException),
        reraise=True,
    )
    try:
        retrying(probe)
    except requests.RequestException as e:
        attempts = retrying.statistics.get("attempt_number", 1)
        raise RegistryUnavailable(
            f"MLflow server {uri} is not reachable after {attempts} attempts in "
            f"{retry.total_s:g} s ({type(e).__name__}: {e})"
        ) from e


def connect(tracking_uri: str | None, retry: RetryBudget | None = None) -> MlflowClient:
    """An MlflowClient for the tracking and registry URI, once the server answers.

    Also sets MLflow's global tracking URI, which the fluent logging calls use.
    """
    uri = resolve_uri(tracking_uri)
    if is_server(uri):
        wait_for_server(uri, retry or RetryBudget.from_env())
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def registry_call(what: str, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run an MLflow call, turning its errors into a RegistryError saying what was tried."""
    try:
        return function(*args, **kwargs)
    except MlflowException as e:
        raise RegistryError(f"{what}: {e.message}") from e
