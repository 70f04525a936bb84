"""`geovr pipeline ...`: run the Kubeflow pipeline locally, or compile/upload/submit/schedule
it on a cluster.

    geovr pipeline run                                # embedded default through kfp.local
    geovr pipeline compile --out pipelines/geovr_pipeline.yaml
    geovr pipeline upload --host URL --namespace NS [--version NAME]
    geovr pipeline submit --host URL --namespace NS --param data_repo=GIT_URL --param steps=2000
    geovr pipeline schedule --host URL --namespace NS --cron "0 0 3 * * 1" --param data_repo=GIT_URL
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

import click

from geovr.cli import emit
from geovr.errors import GeoVRError


def _parse_params(pairs: tuple[str, ...]) -> dict:
    params = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise GeoVRError(f"--param {pair!r} is not KEY=VALUE")
        try:
            params[key] = json.loads(value)  # numbers and booleans keep their type
        except json.JSONDecodeError:
            params[key] = value
    return params


def _target(host, namespace, experiment):
    from pipelines.client import KfpTarget

    return KfpTarget(host=host, namespace=namespace, experiment=experiment)


cluster_options = [
    click.option(
        "--host",
        envvar="KF_PIPELINES_ENDPOINT",
        help="KFP API endpoint (or KF_PIPELINES_ENDPOINT).",
    ),
    click.option(
        "--namespace",
        envvar="KFP_NAMESPACE",
        help="Kubeflow profile namespace manifests/ is deployed to (or KFP_NAMESPACE).",
    ),
    click.option("--experiment", default="geovr", show_default=True),
]


def with_cluster_options(func):
    for option in reversed(cluster_options):
        func = option(func)
    return func


@click.group()
def pipeline() -> None:
    """Run the pipeline locally, or ship it to Kubeflow Pipelines."""


@pipeline.command("run")
@click.option(
    "--runs-dir", default="runs", show_default=True, help="Where kfp.local writes artifacts."
)
@click.option("--param", "params", multiple=True, help="Override a pipeline parameter KEY=VALUE.")
def run_cmd(runs_dir: str, params: tuple[str, ...]) -> None:
    """The whole pipeline on the embedded default, through kfp.local (no cluster, no GPU)."""
    from pipelines.local_run import run_local

    summary = run_local(".", runs_dir, _parse_params(params))
    reg = summary["registered"]
    click.echo(
        f"pipeline finished: VSI overall {summary['vsi_overall']:.1f}; model {reg['model']} "
        f"version {reg['version']} ({reg['decision']}).\n  report: {summary['report']}\n"
        f"  load: {summary['load']} "
        f"(MLFLOW_TRACKING_URI={reg['tracking_uri']})\n  browse: {summary['mlflow_ui']}",
        err=True,
    )
    emit(summary)


@pipeline.command("compile")
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False),
    default="pipelines/geovr_pipeline.yaml",
    show_default=True,
)
def compile_cmd(out: str) -> None:
    """Compile the pipeline to KFP IR YAML."""
    from pipelines.geovr_pipeline import compile_pipeline

    emit({"compiled": compile_pipeline(Path(out))})


@pipeline.command()
@click.option(
    "--package",
    type=click.Path(exists=True, dir_okay=False),
    default="pipelines/geovr_pipeline.yaml",
    show_default=True,
)
@click.option(
    "--version",
    default=None,
    help="Version name shown in the UI (default: package hash + geovr version).",
)
@with_cluster_options
def upload(package, version, host, namespace, experiment) -> None:
    """Upload the compiled pipeline (a new pipeline, or a new version of it)."""
    from geovr import __version__
    from geovr.artifacts import sha256_file
    from pipelines import client

    version = version or f"{__version__}-{sha256_file(package)[:12]}"
    with contextlib.redirect_stdout(sys.stderr):  # kfp prints links; stdout ends with JSON
        result = client.upload(package, _target(host, namespace, experiment), version)
    emit(result)


@pipeline.command()
@click.option("--param", "params", multiple=True, help="Pipeline parameter KEY=VALUE (repeatable).")
@click.option("--run-name", default="geovr-run", show_default=True)
@with_cluster_options
def submit(params, run_name, host, namespace, experiment) -> None:
    """Start one run of the newest uploaded pipeline version."""
    from pipelines import client

    with contextlib.redirect_stdout(sys.stderr):
        result = client.submit(
            _target(host, namespace, experiment), _parse_params(params), run_name
        )
    emit(result)


@pipeline.command()
@click.option(
    "--cron",
    required=True,
    help='6-field cron (sec min hour day month weekday), e.g. "0 0 3 * * 1".',
)
@click.option("--param", "params", multiple=True, help="Pipeline parameter KEY=VALUE (repeatable).")
@click.option("--name", default="geovr-retrain", show_default=True)
@with_cluster_options
def schedule(cron, params, name, host, namespace, experiment) -> None:
    """Recurring retraining on the newest data (max 1 concurrent run, no catch-up)."""
    from pipelines import client

    with contextlib.redirect_stdout(sys.stderr):
        result = client.schedule(
            _target(host, namespace, experiment), cron, _parse_params(params), name
        )
    emit(result)


COMMANDS = [pipeline]
