"""`geovr pipeline ...`: run the Kubeflow pipeline locally, or compile/upload/submit/schedule
it on a cluster.

    geovr pipeline run                                # embedded default through kfp.local
    geovr pipeline compile --out pipelines/geovr_pipeline.yaml
    geovr pipeline compile --release --image REPO@sha256:DIGEST --out runs/geovr_pipeline.yaml
    geovr pipeline pin-image [--image REPO@sha256:DIGEST]    # manifests/base's images:
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
@click.option(
    "--image",
    envvar="GEOVR_IMAGE",
    default=None,
    help="Image every step runs (REPO@sha256:DIGEST or REPO:TAG) [env GEOVR_IMAGE; default: "
    "components.BASE_IMAGE's tag].",
)
@click.option(
    "--release",
    is_flag=True,
    help="A build to upload: refuse an image that is not pinned by digest.",
)
@click.option(
    "--allow-tag-image",
    is_flag=True,
    help="With --release: accept a tag-only image (it can move after compiling).",
)
def compile_cmd(out: str, image: str | None, release: bool, allow_tag_image: bool) -> None:
    """Compile the pipeline to KFP IR YAML."""
    import os

    from pipelines.images import is_pinned, release_image

    if release:
        image = release_image(image, allow_tag_image)
        if not is_pinned(image):
            print(f"warning: releasing tag-only image {image}", file=sys.stderr)
    if image:
        os.environ["GEOVR_IMAGE"] = image  # read when the components are defined (imported)
    from components import BASE_IMAGE
    from pipelines.geovr_pipeline import compile_pipeline

    if image and image != BASE_IMAGE:
        raise GeoVRError(f"the components were defined with image {BASE_IMAGE}, not {image}")
    emit(
        {
            "compiled": compile_pipeline(Path(out)),
            "image": BASE_IMAGE,
            "pinned": is_pinned(BASE_IMAGE),
        }
    )


@pipeline.command("pin-image")
@click.option(
    "--kustomization",
    default="manifests/base/kustomization.yaml",
    show_default=True,
    type=click.Path(exists=True, dir_okay=False),
    help="The kustomization.yaml that names the image (the overlays inherit the base's).",
)
@click.option(
    "--image",
    default=None,
    help="REPO@sha256:DIGEST [default: what `make image` recorded in runs/image.ref].",
)
@click.option("--name", default="geovr", show_default=True, help="Image name in the manifests.")
def pin_image_cmd(kustomization: str, image: str | None, name: str) -> None:
    """Pin the manifests' image to a digest (kustomize `images:`)."""
    from pipelines.images import pin_kustomization

    if image is None:
        recorded = Path("runs/image.ref")
        if not recorded.is_file():
            raise GeoVRError("no --image and no runs/image.ref: run `make image` or pass --image")
        image = recorded.read_text().strip()
    emit(pin_kustomization(Path(kustomization), image, name))


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
