"""`geovr data ensure | version | get | track`: the DVC side of the dataset.

    geovr data ensure --jobs 4            # before ingest (`make run`): pull, or regenerate + verify
                                          # (ensure and track then push to the default remote)
    geovr data version                    # {"dvc_md5": ..., "git_rev": ..., "dirty": ...}
    geovr data get --rev v1 --out runs/data-v1 [--repo URL_OR_PATH]
    geovr data track                      # dvc add + recipe, after `geovr data synth --out data`

Each prints a one-line JSON summary last; failures exit 2 with a one-line reason.
"""

from __future__ import annotations

from pathlib import Path

import click

from geovr.cli import emit
from geovr.cli.data import data
from geovr.data import download, versioning
from geovr.errors import GeoVRError


def _repo_root(given: str | None) -> Path:
    """The given root, else the nearest directory upwards from here that holds `.dvc/`."""
    if given:
        return Path(given)
    here = Path.cwd()
    for candidate in (here, *here.parents):
        if (candidate / ".dvc").is_dir():
            return candidate
    raise GeoVRError(f"no DVC repository at or above {here}; pass --repo-root")


repo_root_option = click.option("--repo-root", help="DVC repo root [default: nearest with .dvc/]")
target_option = click.option(
    "--target", default="data", show_default=True, help="tracked directory"
)
jobs_option = click.option("--jobs", type=click.IntRange(min=1), help="parallel transfers")
remote_option = click.option("--remote", help="DVC remote name [default: the default remote]")
no_push_option = click.option(
    "--no-push", is_flag=True, help="do not push the data to the default remote afterwards"
)
timeout_option = click.option(
    "--timeout",
    type=float,
    default=versioning.REMOTE_TIMEOUT,
    show_default=True,
    help="seconds per remote attempt",
)


@data.command("ensure")
@repo_root_option
@target_option
@jobs_option
@remote_option
@timeout_option
@no_push_option
@click.option("--force", is_flag=True, help="replace a workspace that differs from the pointer")
@click.option(
    "--no-regenerate", is_flag=True, help="fail instead of regenerating when the pull fails"
)
def ensure(repo_root, target, jobs, remote, timeout, no_push, force, no_regenerate) -> None:
    """Make DATA match DATA.dvc: nothing, `dvc pull`, or `geovr data synth` + md5 check; then
    push it to the default remote, where every clone's plain `dvc pull` finds it."""
    summary = versioning.ensure_data(
        _repo_root(repo_root),
        target,
        regenerate=None if no_regenerate else versioning.synth_regenerator(),
        jobs=jobs,
        remote=remote,
        force=force,
        timeout=timeout,
        push=not no_push,
    )
    emit(summary)


@data.command("version")
@repo_root_option
@target_option
@click.option("--check", is_flag=True, help="also hash the workspace against the pointer")
def version(repo_root, target, check) -> None:
    """Print the data version: the pointer's DVC md5 and the git commit."""
    emit(versioning.data_version(_repo_root(repo_root), target, check_workspace=check))


@data.command("get")
@click.option("--rev", required=True, help="git revision (sha, tag, branch)")
@click.option(
    "--out", "out_dir", required=True, type=click.Path(file_okay=False), help="destination"
)
@click.option("--repo", default=".", show_default=True, help="git URL or local path of the repo")
@target_option
@jobs_option
@remote_option
@click.option(
    "--remote-config", multiple=True, metavar="KEY=VALUE", help="e.g. endpointurl=http://..."
)
@timeout_option
def get(rev, out_dir, repo, target, jobs, remote, remote_config, timeout) -> None:
    """Download DATA as of revision REV (e.g. to ingest an older data version)."""
    pairs = dict(item.split("=", 1) for item in remote_config if "=" in item)
    if len(pairs) != len(remote_config):
        raise GeoVRError(f"--remote-config takes KEY=VALUE, got {list(remote_config)}")
    summary = download.checkout_revision(
        repo, rev, out_dir, target, jobs=jobs, remote=remote, remote_config=pairs, timeout=timeout
    )
    emit(summary)


@data.command("track")
@repo_root_option
@target_option
@no_push_option
def track(repo_root, target, no_push) -> None:
    """`dvc add DATA`, record DATA/dataset.json's generator recipe in DATA.dvc, push DATA to
    the default remote."""
    emit(versioning.track_data(_repo_root(repo_root), target, push=not no_push))
