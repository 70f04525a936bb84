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
from geovr.cli._preset import config_option, preset_name, preset_option, resolved_config
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
@preset_option
@click.option(
    "--clips",
    required=True,
    type=Artifact("clipset"),
    help="clip set directory (geovr ingest output)",
)
@config_option(
    "--teacher", field="distill.teacher", help=f"teacher name ({', '.join(teacher_names())})"
)
@click.option(
    "--out",
    required=True,
    help="targets directory; rerunning into it computes only what is missing",
)
@click.option("--shard-range", help="START:END slice of the clip set's shards (parallel fan-out)")
@config_option("--weights", field="distill.weights")
@config_option(
    "--scale-teacher",
    field="distill.scale_teacher",
    help=f"metric-scale source paired with --teacher ({', '.join(scale_teacher_names())}); "
    "empty: ground-truth depth where the clip has it",
)
@config_option("--scale-weights", field="distill.scale_weights")
@config_option("--batch-size", field="distill.batch_size", type=click.IntRange(min=1))
@config_option("--device", field="distill.device", type=Device())
@config_option("--clips-per-shard", field="distill.clips_per_shard", type=click.IntRange(min=1))
@click.option(
    "-o",
    "--teacher-option",
    "teacher_option_pairs",
    multiple=True,
    help="KEY=VALUE teacher option (added to the preset's teacher_options)",
)
@click.option("--no-progress", is_flag=True, help="no progress bar on stderr")
def distill(clips, out, shard_range, teacher_option_pairs, no_progress, **_) -> None:
    """Teacher targets (pose, depth, metric scale, features) for every clip of a clip set."""
    from geovr.teachers.distill import options_from_json, run_distill  # model teachers: torch

    ctx = click.get_current_context()
    cfg = resolved_config(ctx).distill
    options = {**options_from_json(cfg.teacher_options), **_options(teacher_option_pairs)}
    emit(
        run_distill(
            clips,
            cfg.teacher,
            out,
            shard_range=shard_range,
            weights=cfg.weights or None,
            batch_size=cfg.batch_size,
            device=cfg.device,
            clips_per_shard=cfg.clips_per_shard,
            options=options,
            progress=not no_progress,
            scale_teacher=cfg.scale_teacher or None,
            scale_weights=cfg.scale_weights or None,
            preset=preset_name(ctx),
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
