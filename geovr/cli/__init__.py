"""The `geovr` command line (also `python -m geovr`).

Every subcommand prints a one-line JSON summary as the last line of stdout and, on
failure, exits non-zero with a one-line reason on stderr. Subcommands live in the modules
of this package; each module exports `COMMANDS`, a list of click commands or groups.

    geovr --help
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import sys
from typing import Any

import click

from geovr.errors import GeoVRError

# `geovr --help` lists the stages in the order a run goes through them (click sorts by name);
# a command missing here is listed after these, by name.
PIPELINE_ORDER = (
    "data",
    "ingest",
    "distill",
    "distill-merge",
    "train",
    "evaluate",
    "score-vsi",
    "register",
    "promote",
    "pipeline",
)


class _PipelineOrderGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        names = super().list_commands(ctx)
        ordered = [name for name in PIPELINE_ORDER if name in names]
        return ordered + [name for name in names if name not in PIPELINE_ORDER]


@click.group(cls=_PipelineOrderGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="geovr")
def cli() -> None:
    """GeoVR: 3D-aware video MLLMs from 2D video, as a Kubeflow/DVC/MLflow pipeline."""


def emit(summary: dict[str, Any]) -> None:
    """Print the one-line JSON summary that ends every subcommand's stdout."""
    click.echo(json.dumps(summary, sort_keys=True, default=str))


def _register_commands() -> None:
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for command in getattr(module, "COMMANDS", []):
            cli.add_command(command)


def main(argv: list[str] | None = None) -> int:
    _register_commands()
    try:
        cli.main(args=argv, standalone_mode=False)
    except GeoVRError as e:
        click.echo(f"geovr: error: {e}", err=True)
        return e.exit_code
    except click.exceptions.Abort:
        click.echo("geovr: aborted", err=True)
        return 130
    except click.UsageError as e:
        # one line, like every other refusal, instead of click's usage block
        hint = f" (see {e.ctx.command_path} --help)" if e.ctx else ""
        click.echo(f"geovr: error: {e.format_message()}{hint}", err=True)
        return e.exit_code
    except click.ClickException as e:
        e.show()
        return e.exit_code
    return 0


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
