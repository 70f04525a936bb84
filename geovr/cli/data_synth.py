"""`geovr data synth`: the deterministic synthetic exact-geometry video dataset."""

import click

from geovr.cli import emit
from geovr.cli.data import data


@data.command("synth")
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False),
    help="Dataset directory: absent, empty or an earlier synth output (replaced whole).",
)
@click.option("--scenes", default=24, show_default=True, help="Number of rooms (one video each).")
@click.option("--frames", default=16, show_default=True, help="Frames per video.")
@click.option("--size", default=128, show_default=True, help="Frame side in pixels (even).")
@click.option("--seed", default=0, show_default=True)
@click.option("--fps", default=8, show_default=True)
@click.option(
    "--workers",
    default=2,
    show_default=True,
    help="Render processes (output does not depend on it).",
)
def synth(out, scenes, frames, size, seed, fps, workers) -> None:
    """Render indoor scenes to H.264 videos with exact depth, poses and VSI-style QA."""
    from geovr.data.synth.generate import synthesize

    emit(
        synthesize(
            out, scenes=scenes, frames=frames, size=size, seed=seed, fps=fps, workers=workers
        )
    )


COMMANDS: list = []  # attaches to the `data` group
