"""`geovr data ...`: dataset commands. Subcommands attach themselves from sibling modules
(`data_synth.py`, `data_versioning.py`) with `@data.command(...)`."""

import click


@click.group()
def data() -> None:
    """Create, version and fetch video datasets."""


COMMANDS = [data]
