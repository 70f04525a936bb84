"""`geovr distill` and `geovr distill-merge`: teacher targets for a clip set.

    geovr distill --clips runs/clips --teacher oracle --out runs/targets
    geovr distill --clips C --teacher depth-anything --weights PATH_OR_HUB_ID --out T \\
        --shard-range 0:2
    geovr distill --clips C --teacher vggt --scale-teacher da3-metric --out T   # the paper's pair
    geovr distill-merge --parts T0 T1 T2 --out runs/targets

Each prints a one-line JSON summary last (clips computed / reused / quarantined, clips/s,
feature bytes per frame against raw fp32); failures exit 2 with a one-line reason.
"""

from __future__ import annotations

import json

import click

from geovr.cli import emit
from geovr.cli._params import Artifact, Device
from geovr.errors import GeoVRError
from geovr.teachers.base import scale_teacher_names, teacher_names


def _options(pairs: tuple[str, ...]) -> dict:
    """KEY=VALUE pairs; values parsed as JSON when they are JSON (numbers, lists), else strings."""
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise GeoVRError(f"--teacher-option {pair!r}: expected KEY=VALUE")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options


@click.command("distill")
@click.option(
    "--clips",
    required=True,
    type=Artifact("clipset"),
    help="clip set directory (geovr ingest output)",
)
@click.option("--teacher", required=True, help=f"teacher name ({', '.join(teacher_names())})")
@click.option(
    "--out",
    required=True,
    help="targets directory; rerunning into it computes only what is missing",
)
@click.option("--shard-range", help="START:END slice of the clip set's shards (parallel fan-out)")
@click.option("--weights", help="teacher weights: local directory or hub id")
@click.option(
    "--scale-teacher",
    help=f"metric-scale source paired with --teacher ({', '.join(scale_teacher_names())}); "
    "default: ground-truth depth where the clip has it",
)
@click.option("--scale-weights", help="scale teacher weights: local directory or hub id")
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="frames per forward",
)
@click.option(
    "--device", type=Device(), default="auto", show_default=True, help="auto | cpu | cuda | cuda:N"
)
@click.option(
    "--clips-per-shard",
    type=click.IntRange(min=1),
    default=16,
    show_default=True,
    help="clips per target shard (the unit of resume)",
)
@click.option(
    "-o", "--teacher-option", "teacher_options", multiple=True, help="KEY=VALUE teacher option"
)
@click.option("--no-progress", is_flag=True, help="no progress bar on stderr")
def distill(
    clips,
    teacher,
    out,
    shard_range,
    weights,
    scale_teacher,
    scale_weights,
    batch_size,
    device,
    clips_per_shard,
    teacher_options,
    no_progress,
) -> None:
    """Teacher targets (pose, depth, metric scale, features) for every clip of a clip set."""
    from geovr.teachers.distill import run_distill  # model teachers import torch: on use

    emit(
        run_distill(
            clips,
            teacher,
            out,
            shard_range=shard_range,
            weights=weights,
            batch_size=batch_size,
            device=device,
            clips_per_shard=clips_per_shard,
            options=_options(teacher_options),
            progress=not no_progress,
            scale_teacher=scale_teacher,
            scale_weights=scale_weights,
        )
    )


@click.command("distill-merge")
@click.option("--parts", multiple=True, help="targets directories of parallel distill tasks")
@click.argument("more_parts", nargs=-1)
@click.option("--out", required=True, help="merged targets directory")
def distill_merge(parts, more_parts, out) -> None:
    """Join parallel distill outputs: `--parts T0 T1 ...` (or `--parts T0 --parts T1`)."""
    from geovr.teachers.merge import merge_targets

    emit(merge_targets([*parts, *more_parts], out))


COMMANDS = [distill, distill_merge]
