"""MLflow helpers the tracking stages (training, evaluation) share: a probe of the tracking
server and the stage's run, nested under a Kubeflow pipeline's run when there is one.

    if problem := server_problem("http://mlflow:5000"): ...   # why it cannot take our calls
    with start_stage_run("geovr-eval", tags={...}) as run: ...

Importing this module makes MLflow's HTTP client fail fast (no retries, a 5 s timeout): a
stage that cannot reach the server says so at once and goes on offline. The registry, which
waits for its server on purpose (geovr/registry/connection.py), does not import it.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlparse

from geovr.mlflow_store import ensure_experiment
from geovr.pipeline_run import KFP_RUN_TAG, pipeline_parent

# Fail fast instead of MLflow's default minutes of HTTP retries.
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")


# an API route: MLflow exempts /health from its Host-header check and answers it even when
# every API call would be refused (403 Invalid Host header), so a TCP or /health probe passes
API_PROBE = "/api/2.0/mlflow/experiments/search"


def server_problem(uri: str, timeout: float = 5.0) -> str | None:
    """Why an http(s) tracking server cannot take our calls (refused connection, or an answer
    such as "403 Invalid Host header"); None when its API answers or `uri` is not a server."""
    if urlparse(uri).scheme not in ("http", "https"):
        return None
    from mlflow.utils.credentials import get_default_host_creds
    from mlflow.utils.rest_utils import http_request

    try:  # MLflow's own client request: the same auth, TLS and proxy settings as its calls
        response = http_request(
            get_default_host_creds(uri),
            API_PROBE,
            "GET",
            max_retries=0,
            timeout=timeout,
            params={"max_results": 1},
        )
    except Exception as exc:  # connection refused, DNS, TLS: anything means no server
        return f"cannot connect to {uri} ({type(exc).__name__})"
    if response.ok:
        return None
    return f"{uri} answered {response.status_code} {response.text.strip()[:120]}"


def start_stage_run(experiment: str, **start_run_kwargs: Any):
    """`mlflow.start_run` for one stage of the pipeline (tracking URI already set).

    Inside a KFP run (the `kfp_run_id` tag) the stage's run is nested under the KFP run's own
    run (geovr.pipeline_run), in `experiment`, or in the pipeline's experiment under KFP's
    MLflow plugin (MLFLOW_RUN_ID, MLFLOW_EXPERIMENT_ID). Otherwise: a run in `experiment`.
    """
    import mlflow
    from mlflow import MlflowClient

    parent = pipeline_parent((start_run_kwargs.get("tags") or {}).get(KFP_RUN_TAG))
    uri = mlflow.get_tracking_uri()
    if parent is None:
        mlflow.set_experiment(experiment_id=ensure_experiment(MlflowClient(uri), experiment, uri))
        return mlflow.start_run(**start_run_kwargs)
    experiment_id = parent.experiment_id or ensure_experiment(MlflowClient(uri), experiment, uri)
    return mlflow.start_run(
        experiment_id=experiment_id, parent_run_id=parent.run_id, **start_run_kwargs
    )
