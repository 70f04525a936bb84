"""`geovr register` and `geovr promote`: MLflow registry commands (geovr/registry/).

    geovr register --checkpoint runs/train/checkpoint --metrics runs/eval/metrics.json \\
        --model geovr-student --tracking-uri http://127.0.0.1:5000 [--policy policy.json]
    geovr promote --model geovr-student --version 3            # champion -> v3
    geovr promote --model geovr-student --rollback             # champion one step back
    geovr promote --model geovr-student --version 3 --copy-to geovr-student-prod

The tracking URI defaults to $MLFLOW_TRACKING_URI; against a server with authentication,
the identity is $MLFLOW_TRACKING_USERNAME / $MLFLOW_TRACKING_PASSWORD. `register` exits 0
whether or not the gate promotes; the JSON summary's `decision` says which.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import click

from geovr.cli import emit
from geovr.cli._preset import config_option, preset_option
from geovr.errors import GeoVRError

if TYPE_CHECKING:
    from geovr.registry import RetryBudget

tracking_uri_option = click.option(
    "--tracking-uri",
    envvar="MLFLOW_TRACKING_URI",
    default=None,
    help="MLflow tracking/registry URI (default: $MLFLOW_TRACKING_URI, else MLflow's default).",
)
connect_timeout_option = click.option(
    "--connect-timeout",
    type=float,
    default=None,
    envvar="GEOVR_REGISTRY_RETRY_S",
    help="Seconds to retry an unreachable server, with exponential backoff (default 60).",
)
model_option = config_option(
    "--model", "model_name", field="register.model_name", help="Registered model name."
)


@contextlib.contextmanager
def _mlflow_errors() -> Iterator[None]:
    """MLflow's own errors (permissions, a server-side failure) as one-line user errors."""
    from mlflow.exceptions import MlflowException

    try:
        yield
    except MlflowException as e:
        first_line = (str(e).strip().splitlines() or ["unknown error"])[0]
        raise GeoVRError(f"MLflow: {first_line}") from e


def _retry(connect_timeout: float | None) -> RetryBudget:
    # Imported here, not at module level: `geovr --help` should not pay for importing MLflow.
    from geovr.registry import RetryBudget

    return RetryBudget.from_env(connect_timeout)


@click.command("register")
@preset_option
@click.option(
    "--checkpoint",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    required=True,
    help="Checkpoint directory written by `geovr train`.",
)
@click.option(
    "--metrics",
    type=click.Path(exists=True, path_type=Path),
    required=True,
    help="metrics.json written by `geovr evaluate` (or its directory).",
)
@model_option
@tracking_uri_option
@config_option(
    "--policy",
    field="register.policy",
    help="Gate policy: a JSON file or inline JSON (fields primary, margin, floor, guarded); "
    "empty: the defaults.",
)
@config_option("--margin", field="register.margin", type=float)
@config_option("--floor", field="register.floor", type=float)
@click.option(
    "--eval-set",
    default=None,
    help="Evaluation-set id, if metrics.json lacks one (it may not contradict it).",
)
@click.option("--kfp-run-id", envvar="KFP_RUN_ID", default=None, help="Default: $KFP_RUN_ID.")
@click.option("--train-run-id", default=None, help="MLflow run id of the training run.")
@click.option("--eval-run-id", default=None, help="MLflow run id of the evaluation run.")
@config_option("--experiment", field="register.experiment")
@connect_timeout_option
def register_command(
    preset: str,
    checkpoint: Path,
    metrics: Path,
    model_name: str,
    tracking_uri: str | None,
    policy: str | None,
    margin: float | None,
    floor: float | None,
    eval_set: str | None,
    kfp_run_id: str | None,
    train_run_id: str | None,
    eval_run_id: str | None,
    experiment: str,
    connect_timeout: float | None,
) -> None:
    """Verify and register a checkpoint (alias challenger) and run the promotion gate."""
    from geovr.registry import GatePolicy, RunLinks, register_checkpoint

    links = RunLinks.of(kfp=kfp_run_id, train=train_run_id, evaluation=eval_run_id)
    with _mlflow_errors():
        result = register_checkpoint(
            checkpoint,
            metrics,
            model_name=model_name,
            tracking_uri=tracking_uri,
            policy=GatePolicy.load(policy, margin=margin, floor=floor),
            eval_set=eval_set,
            experiment=experiment,
            retry=_retry(connect_timeout),
            links=links,
        )
    for reason in result.decision.reasons:
        click.echo(f"gate: {reason}", err=True)
    emit(result.summary())


@click.command("promote")
@preset_option  # --model's default is the preset's
@model_option
@click.option("--version", default=None, help="Version to point the alias at.")
@click.option(
    "--rollback",
    "to_previous",
    is_flag=True,
    help="Move the alias one step back along its promotion history.",
)
@click.option("--reason", default=None, help="Why: recorded in the promotion history.")
@click.option("--alias", default="champion", show_default=True)
@click.option(
    "--copy-to",
    default=None,
    help="Also copy the version into this registered model (e.g. geovr-student-prod) "
    "and set the alias there.",
)
@click.option(
    "--allow-leaky",
    is_flag=True,
    help="Promote a version evaluated on clips it was trained on (recorded on the version).",
)
@tracking_uri_option
@connect_timeout_option
def promote_command(
    preset: str,
    model_name: str,
    version: str | None,
    to_previous: bool,
    reason: str | None,
    alias: str,
    copy_to: str | None,
    allow_leaky: bool,
    tracking_uri: str | None,
    connect_timeout: float | None,
) -> None:
    """Explicit promotion or rollback of a registered model's alias."""
    from geovr.registry import connect, promote, rollback

    if (version is None) == (not to_previous):
        raise GeoVRError("give exactly one of --version V and --rollback")
    with _mlflow_errors():
        client = connect(tracking_uri, _retry(connect_timeout))
        if to_previous:
            moved = rollback(client, model_name, alias, copy_to=copy_to, why=reason or "rollback")
        else:
            moved = promote(
                client,
                model_name,
                version,
                alias,
                copy_to=copy_to,
                why=reason or "explicit promotion",
                allow_leaky=allow_leaky,
            )
    emit(moved.summary())


COMMANDS = [register_command, promote_command]
