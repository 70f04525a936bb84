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

from geovr.tracking import server_problem, start_stage_run

BUFFER_NAME = "metrics_buffer.jsonl"


def _resumed_run(run_id: str, step: int):
    """The active run `run_id` again (tagged with the step it resumes from), or None when the
    tracking server does not have it."""
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        mlflow.get_run(run_id)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        print(
            f"WARNING: MLflow run {run_id} of the checkpoints is not on this tracking server; "
            "logging the resumed training to a new run",
            file=sys.stderr,
            flush=True,
        )
        return None
    os.environ.pop("MLFLOW_RUN_ID", None)  # the pipeline's run (start_stage_run says why)
    mlflow.start_run(run_id=run_id, log_system_metrics=True)
    mlflow.set_tag("resumed_from_step", str(step))
    return mlflow.get_run(run_id)


class Tracker:
    """Logs params and metrics to MLflow, or to the JSONL buffer when MLflow is unreachable.

    Construct it on every rank; only ``enabled=True`` (rank 0) does anything. Without a
    ``tracking_uri`` everything goes to the buffer silently. ``resume=(run_id, step)``
    continues that run (a `--resume` from the checkpoint of `step`), or a new one, with a
    warning, when this server does not have it (the tracking URI may change on resume).
    """

    def __init__(
        self,
        out_dir: Path,
        tracking_uri: str | None,
        experiment: str,
        params: dict[str, Any],
        enabled: bool,
        tags: dict[str, str] | None = None,
        resume: tuple[str, int] | None = None,
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
            run = _resumed_run(*resume) if resume else None
            if run is None:
                # system metrics (CPU, memory, GPU) come from MLflow's own sampler thread
                run = start_stage_run(experiment, tags=tags or None, log_system_metrics=True)
            self.run_id = run.info.run_id
            # MLflow refuses to change a logged param: a resume may change only the ones that
            # shape no weight (geovr.train.resume), so the run keeps the values it started with
            mlflow.log_params({k: v for k, v in self.params.items() if k not in run.data.params})
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

    from geovr.mlflow_store import ensure_experiment

    records = read_buffer(out_dir)
    header = next(r for r in records if r["type"] == "params")
    client = MlflowClient(tracking_uri=tracking_uri)
    name = experiment or header["experiment"]
    exp_id = ensure_experiment(client, name, tracking_uri)
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
