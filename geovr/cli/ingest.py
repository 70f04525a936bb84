"""`geovr ingest`: validate, sample and shard the clips of a dataset directory.

    geovr ingest --data data --out runs/clips --frames 16 --max-side 504
    geovr ingest --data data --out runs/clips --sampling fps     # the paper's: 2 fps, 4..32 frames

Prints a progress bar on stderr and the one-line JSON summary last on stdout; exits 2 with
a one-line reason if fewer than --min-valid-fraction of the clips are valid or no question is,
leaving the full quarantine report at OUT.quarantine.jsonl (OUT.quarantine.N.jsonl if taken).
"""

import click

from geovr.cli import emit
from geovr.data.ingest import IngestConfig
from geovr.data.ingest import ingest as run_ingest
from geovr.data.validate import VideoLimits


@click.command()
@click.option("--data", required=True, help="dataset directory (docs/contracts.md section 1)")
@click.option(
    "--out",
    required=True,
    help="clip set directory: absent, empty or an earlier clip set (replaced whole)",
)
@click.option(
    "--sampling",
    type=click.Choice(["count", "fps"]),
    default="count",
    show_default=True,
    help="count: --frames per clip; fps: --fps per second within --min/--max-frames",
)
@click.option("--frames", default=16, show_default=True, help="frames sampled per clip (>= 2)")
@click.option(
    "--fps", default=2.0, show_default=True, help="frames per second of video (--sampling fps)"
)
@click.option("--min-frames", default=4, show_default=True, help="fewest frames (--sampling fps)")
@click.option("--max-frames", default=32, show_default=True, help="most frames (--sampling fps)")
@click.option("--max-side", default=504, show_default=True, help="longest stored side in px")
@click.option(
    "--min-valid-fraction",
    default=0.5,
    show_default=True,
    help="fail, writing nothing, if fewer clips than this fraction are valid",
)
@click.option("--clips-per-shard", default=16, show_default=True)
@click.option("--workers", default=2, show_default=True, help="decoding processes")
@click.option(
    "--min-input-side", default=16, show_default=True, help="smallest accepted source side (px)"
)
@click.option(
    "--max-input-side", default=4096, show_default=True, help="largest accepted source side (px)"
)
@click.option(
    "--progress/--no-progress", default=True, show_default=True, help="progress bar on stderr"
)
def ingest(
    data: str,
    out: str,
    sampling: str,
    frames: int,
    fps: float,
    min_frames: int,
    max_frames: int,
    max_side: int,
    min_valid_fraction: float,
    clips_per_shard: int,
    workers: int,
    min_input_side: int,
    max_input_side: int,
    progress: bool,
) -> None:
    """Validate, sample and shard the clips of DATA into the clip set OUT."""
    cfg = IngestConfig(
        frames=frames,
        max_side=max_side,
        min_valid_fraction=min_valid_fraction,
        clips_per_shard=clips_per_shard,
        workers=workers,
        limits=VideoLimits(min_side=min_input_side, max_side=max_input_side),
        sampling=sampling,
        fps=fps,
        min_frames=min_frames,
        max_frames=max_frames,
    )
    emit(run_ingest(data, out, cfg, progress=progress))


COMMANDS = [ingest]
