"""The cluster path: upload the compiled pipeline, submit one run, or schedule retraining,
through the Kubeflow Pipelines API (`kfp.Client`).

    geovr pipeline compile --out geovr_pipeline.yaml
    geovr pipeline upload --host https://kubeflow.example.com/pipeline \\
        --namespace kubeflow-user-geovr
    geovr pipeline submit --host ... --namespace ... --param data_repo=URL --param steps=2000
    geovr pipeline schedule --host ... --namespace ... --cron "0 0 3 * * 1"   # Mondays 03:00

The host comes from `--host` or KF_PIPELINES_ENDPOINT; the namespace (the Kubeflow profile
where manifests/ is deployed: runs there get its ConfigMap, Secrets and volume) from
`--namespace` or KFP_NAMESPACE; a bearer token from KFP_TOKEN (e.g. a ServiceAccount token),
never from the command line.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from typing import Any

from geovr.errors import GeoVRError

PIPELINE_NAME = "geovr"
DEFAULT_EXPERIMENT = "geovr"


@dataclass(frozen=True)
class KfpTarget:
    """Where and as whom to talk to Kubeflow Pipelines."""

    host: str | None = None
    namespace: str | None = None
    experiment: str = DEFAULT_EXPERIMENT

    def client(self):
        import kfp

        host = self.host or os.environ.get("KF_PIPELINES_ENDPOINT")
        if not host:
            raise GeoVRError("no Kubeflow Pipelines host: pass --host or set KF_PIPELINES_ENDPOINT")
        if not self.namespace:  # kfp's default, "kubeflow", holds none of the deployed pieces
            raise GeoVRError(
                "no Kubeflow namespace: pass --namespace (or set KFP_NAMESPACE) to the profile "
                "namespace manifests/ is deployed to, e.g. kubeflow-user-geovr"
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # kfp warns on every Client()
            return kfp.Client(
                host=host, namespace=self.namespace, existing_token=os.environ.get("KFP_TOKEN")
            )


def validate_cron(cron: str) -> str:
    """KFP schedules take 6 fields (seconds first); a 5-field crontab line is a common mistake."""
    fields = cron.split()
    if len(fields) != 6:
        raise GeoVRError(
            f"cron {cron!r} has {len(fields)} fields; "
            "KFP needs 6 (sec min hour day month weekday), "
            f"e.g. '0 0 3 * * 1' for Mondays at 03:00"
        )
    return cron


def upload(package: str, target: KfpTarget, version: str, description: str = "") -> dict[str, Any]:
    """Upload the package as a new pipeline, or as a new version of the existing one."""
    client = target.client()
    pipeline_id = client.get_pipeline_id(PIPELINE_NAME)
    if pipeline_id is None:  # the first upload creates the pipeline and its first version
        # shared, not namespaced: kfp's lookup by name (get_pipeline_id) sees shared ones only;
        # the runs and their experiment are what live in the profile namespace
        pipeline = client.upload_pipeline(
            package, pipeline_name=PIPELINE_NAME, description=description
        )
        return {
            "pipeline_id": pipeline.pipeline_id,
            "version_id": _latest_version_id(client, pipeline.pipeline_id),
            "created": True,
        }
    result = client.upload_pipeline_version(
        package, pipeline_version_name=version, pipeline_id=pipeline_id, description=description
    )
    return {"pipeline_id": pipeline_id, "version_id": result.pipeline_version_id, "created": False}


def _experiment_id(client, target: KfpTarget) -> str:
    experiment = client.create_experiment(target.experiment, namespace=target.namespace)
    return experiment.experiment_id


def _latest_version_id(client, pipeline_id: str) -> str:
    versions = client.list_pipeline_versions(pipeline_id, sort_by="created_at desc", page_size=1)
    if not versions.pipeline_versions:
        raise GeoVRError(
            f"pipeline {pipeline_id} has no versions; run `geovr pipeline upload` first"
        )
    return versions.pipeline_versions[0].pipeline_version_id


def _uploaded_pipeline(client) -> tuple[str, str]:
    pipeline_id = client.get_pipeline_id(PIPELINE_NAME)
    if pipeline_id is None:
        raise GeoVRError(f"no pipeline named {PIPELINE_NAME!r}; run `geovr pipeline upload` first")
    return pipeline_id, _latest_version_id(client, pipeline_id)


def _require_data_repo(params: dict[str, Any]) -> dict[str, Any]:
    if not params.get("data_repo"):  # KFP would accept the call and fail the run later
        raise GeoVRError(
            "the pipeline needs data_repo: pass --param data_repo=<git URL of the "
            "repository whose data.dvc versions the videos> (make: DATA_REPO=...)"
        )
    return params


def submit(target: KfpTarget, params: dict[str, Any], run_name: str) -> dict[str, Any]:
    """Start one run of the newest uploaded version."""
    params = _require_data_repo(params)
    client = target.client()
    pipeline_id, version_id = _uploaded_pipeline(client)
    run = client.run_pipeline(
        experiment_id=_experiment_id(client, target),
        job_name=run_name,
        params=params,
        pipeline_id=pipeline_id,
        version_id=version_id,
    )
    return {"run_id": run.run_id, "pipeline_id": pipeline_id, "version_id": version_id}


def schedule(target: KfpTarget, cron: str, params: dict[str, Any], name: str) -> dict[str, Any]:
    """Recurring retraining: one run at a time, no catch-up of missed slots.

    Each run ingests the newest data revision (the `data_rev` parameter defaults to the
    remote's HEAD) and the registry gate decides whether the new model is promoted.
    """
    params = _require_data_repo(params)
    client = target.client()
    pipeline_id, version_id = _uploaded_pipeline(client)
    recurring = client.create_recurring_run(
        experiment_id=_experiment_id(client, target),
        job_name=name,
        cron_expression=validate_cron(cron),
        max_concurrency=1,
        no_catchup=True,
        params=params,
        pipeline_id=pipeline_id,
        version_id=version_id,
    )
    return {"recurring_run_id": recurring.recurring_run_id, "cron": cron, "version_id": version_id}
