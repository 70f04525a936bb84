"""Experiments in an MLflow store, with a local store's artifacts beside its database.

MLflow's default artifact root for a sqlite store is `./mlruns` under the current directory,
which scatters artifacts wherever a stage happens to run (a KFP step's working directory, a
repository checkout). Every geovr stage creates its experiments through `ensure_experiment`,
so a local store keeps them in `mlartifacts/` beside `mlflow.db`; a server picks its own root.

    experiment_id = ensure_experiment(MlflowClient(uri), "geovr-eval", uri)
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

if TYPE_CHECKING:  # mlflow is imported where a store is used, not when geovr is
    from mlflow import MlflowClient


def local_artifact_root(uri: str) -> str | None:
    """`mlartifacts/` beside a local sqlite database file; None for a server or other store."""
    if urlparse(uri).scheme != "sqlite" or not uri.startswith("sqlite:///"):
        return None
    return (Path(uri[len("sqlite:///") :]).resolve().parent / "mlartifacts").as_uri()


def ensure_experiment(client: MlflowClient, name: str, uri: str) -> str:
    """The experiment's id, creating it (with artifacts beside a local database) if new."""
    from mlflow.exceptions import MlflowException

    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    try:
        return client.create_experiment(name, artifact_location=local_artifact_root(uri))
    except MlflowException as e:
        if e.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
        # another stage or process created it between the lookup and the create
        return client.get_experiment_by_name(name).experiment_id
