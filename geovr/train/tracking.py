"""MLflow tracking from rank 0 with an offline fallback.

If the tracking server cannot be reached (at start or mid-run) training goes on: a warning is
printed and every params/metrics record is appended to ``<out>/metrics_buffer.jsonl``. Upload the
buffer later with::

    python -c "from geovr.train.tracking import replay_metrics; \
        print(replay_metrics('runs/x', 'http://mlflow:5000'))"
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from geovr.tracking import server_problem, start_stage_run

BUFFER_NAME = "metrics_buffer.jsonl"


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
