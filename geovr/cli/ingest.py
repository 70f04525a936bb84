"""`geovr ingest`: validate, sample and shard the clips of a dataset directory.

    geovr ingest --data data --out runs/clips --frames 16 --max-side 504
    geovr ingest --data data --out runs/clips --sampling fps     # the paper's: 2 fps, 4..32 frames

Prints a progress bar on stderr and the one-line JSON summary last on stdout; exits 2 with
a one-line reason if fewer than --min-valid-fraction of the clips are valid or no question is,
leaving the full quarantine report at OUT.quarantine.jsonl (OUT.quarantine.N.jsonl if taken).
"""

import click

from geovr.cli import emit
from geovr.cli._preset import config_option, preset_name, preset_option, resolved_config
from geovr.data.ingest import ingest as run_ingest


@click.command()
@preset_option
@click.option("--data", required=True, help="dataset directory (docs/contracts.md section 1)")
@click.option(
    "--out",
    required=True,
    help="clip set directory: absent, empty or an earlier clip set (replaced whole)",
)
@config_option("--sampling", field="ingest.sampling", type=click.Choice(["count", "fps"]))
@config_option("--frames", field="ingest.frames", type=int)
@config_option("--fps", field="ingest.fps", type=float)
@config_option("--min-frames", field="ingest.min_frames", type=int)
@config_option("--max-frames", field="ingest.max_frames", type=int)
@config_option("--max-side", field="ingest.max_side", type=int)
@config_option("--min-valid-fraction", field="ingest.min_valid_fraction", type=float)
@config_option("--clips-per-shard", field="ingest.clips_per_shard", type=int)
@config_option("--workers", field="ingest.workers", type=int)
@config_option("--min-input-side", field="ingest.limits.min_side", type=int)
@config_option("--max-input-side", field="ingest.limits.max_side", type=int)
@click.option(
    "--progress/--no-progress", default=True, show_default=True, help="progress bar on stderr"
)
def ingest(data: str, out: str, progress: bool, **options) -> None:
    """Validate, sample and shard the clips of DATA into the clip set OUT."""
    ctx = click.get_current_context()
    emit(
        run_ingest(
            data, out, resolved_config(ctx).ingest, progress=progress, preset=preset_name(ctx)
        )
    )


COMMANDS = [ingest]
