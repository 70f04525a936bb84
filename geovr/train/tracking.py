"""MLflow tracking from rank 0 with an offline fallback.

If the tracking server cannot be reached (at start or mid-run) training goes on: a warning is
printed and every params/metrics record is appended to ``<out>/metrics_buffer.jsonl``. Upload the
buffer later with::

    python -c "from geovr.train.tracking import replay_metrics; \
        print(replay_metrics('runs/x', 'http://mlflow:5000'))"
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from geovr.pipeline_run import KFP_RUN_TAG, pipeline_parent

BUFFER_NAME = "metrics_buffer.jsonl"

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

    parent = pipeline_parent((start_run_kwargs.get("tags") or {}).get(KFP_RUN_TAG))
    if parent is None:
        mlflow.set_experiment(experiment)
        return mlflow.start_run(**start_run_kwargs)
    experiment_id = parent.experiment_id or mlflow.set_experiment(experiment).experiment_id
    return mlflow.start_run(
        experiment_id=experiment_id, parent_run_id=parent.run_id, **start_run_kwargs
    )


class Tracker:
    """Logs params and metrics to MLflow, or to the JSONL buffer when MLflow is unreachable.

    Construct it on every rank; only ``enabled=True`` (rank 0) does anything. Without a
    ``tracking_uri`` everything goes to the buffer silently.
    """

    def __init__(
        self,
        out_dir: Path,
        tracking_uri: str | None,
        experiment: str,
        params: dict[str, Any],
        enabled: bool,
        tags: dict[str, str] | None = None,
    ) -> None:
        self.enabled = enabled
        self.buffer_path = Path(out_dir) / BUFFER_NAME
        self.experiment = experiment
        self.params = {k: str(v) for k, v in params.items()}
        self.run_id: str | None = None
        self._mlflow = None
        if not enabled:
            return
        if tracking_uri is None:
            self._append({"type": "params", "experiment": self.experiment, "params": self.params})
            return
        try:
            if problem := server_problem(tracking_uri):
                raise ConnectionError(problem)
            import mlflow

            mlflow.set_tracking_uri(tracking_uri)
            # system metrics (CPU, memory, GPU) come from MLflow's own sampler thread
            run = start_stage_run(experiment, tags=tags or None, log_system_metrics=True)
            self.run_id = run.info.run_id
            mlflow.log_params(self.params)
            self._mlflow = mlflow
        except Exception as exc:  # any tracking failure must not stop training
            self._go_offline(exc)

    @property
    def online(self) -> bool:
        return self._mlflow is not None

    def _go_offline(self, exc: BaseException) -> None:
        print(
            f"WARNING: MLflow unavailable ({exc}); buffering metrics to {self.buffer_path}",
            file=sys.stderr,
            flush=True,
        )
        self._mlflow = None
        self._append({"type": "params", "experiment": self.experiment, "params": self.params})

    def _append(self, record: dict[str, Any]) -> None:
        self.buffer_path.parent.mkdir(parents=True, exist_ok=True)
        with self.buffer_path.open("a") as fh:
            fh.write(json.dumps(record) + "\n")

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        """Log one step's metrics (no-op off rank 0)."""
        if not self.enabled:
            return
        if self.online:
            try:
                self._mlflow.log_metrics(metrics, step=step)
                return
            except Exception as exc:
                self._go_offline(exc)
        self._append(
            {
                "type": "metrics",
                "step": step,
                "timestamp": int(time.time() * 1000),
                "metrics": metrics,
            }
        )

    def close(self) -> None:
        if self.online:
            try:
                self._mlflow.end_run()
            except Exception as exc:
                print(f"WARNING: could not close MLflow run: {exc}", file=sys.stderr, flush=True)


def read_buffer(out_dir: Path) -> list[dict[str, Any]]:
    """The records of ``<out_dir>/metrics_buffer.jsonl`` in order."""
    path = Path(out_dir) / BUFFER_NAME
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def replay_metrics(out_dir: Path, tracking_uri: str, experiment: str | None = None) -> str:
    """Upload a run's buffered params and metrics as a new MLflow run; return its run id."""
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    records = read_buffer(out_dir)
    header = next(r for r in records if r["type"] == "params")
    client = MlflowClient(tracking_uri=tracking_uri)
    name = experiment or header["experiment"]
    exp = client.get_experiment_by_name(name)
    exp_id = exp.experiment_id if exp else client.create_experiment(name)
    run_id = client.create_run(exp_id, tags={"geovr.replayed_from": str(out_dir)}).info.run_id
    client.log_batch(run_id, params=[Param(k, v) for k, v in header["params"].items()])
    metrics = [
        Metric(key, float(value), r["timestamp"], r["step"])
        for r in records
        if r["type"] == "metrics"
        for key, value in r["metrics"].items()
    ]
    for start in range(0, len(metrics), 1000):
        client.log_batch(run_id, metrics=metrics[start : start + 1000])
    client.set_terminated(run_id)
    return run_id
