"""`geovr data import-vsibench`: the public VSI-Bench release as a dataset directory
(geovr/data/vsibench.py).

    geovr data import-vsibench --root /data/VSI-Bench --out /data/vsibench-geovr
"""

from __future__ import annotations

import click

from geovr.cli import emit
from geovr.cli.data import data


@data.command("import-vsibench")
@click.option(
    "--root", required=True, help="VSI-Bench download: the question table + <dataset>/<scene>.mp4"
)
@click.option(
    "--out",
    required=True,
    help="dataset directory: absent, empty or an earlier import (replaced whole)",
)
@click.option("--table", help="question table (.parquet/.jsonl/.csv) if not the one under --root")
@click.option(
    "--debiased", is_flag=True, help="VSI-Bench-Debiased: the release's test_debiased.parquet"
)
def import_vsibench_cmd(root: str, out: str, table: str | None, debiased: bool) -> None:
    """Lay out VSI-Bench for `geovr ingest` (all clips in split test)."""
    from geovr.data.vsibench import import_vsibench

    emit(import_vsibench(root, out, table, debiased))


COMMANDS: list = []  # attached to `geovr data` above
