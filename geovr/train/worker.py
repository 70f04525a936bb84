"""Per-rank entry point; run it under torchrun (or via :func:`geovr.train.launch.launch`)::

    python -m torch.distributed.run --standalone --nproc-per-node 2 -m geovr.train.worker \
        --task tests.train.tiny_task:TinyTask --out runs/tiny --steps 20 --parallelism fsdp2

Re-running the same command resumes from the newest complete checkpoint in ``--out``.
Rank 0 writes ``<out>/summary.json``.
"""

from __future__ import annotations

import dataclasses
import json
import signal
import sys
import typing
from pathlib import Path

import click

from geovr.config.train import TrainConfig
from geovr.errors import GeoVRError
from geovr.train.distributed import init_distributed, teardown
from geovr.train.interfaces import resolve_task
from geovr.train.lifetime import die_with_parent
from geovr.train.loop import train


def _config_options(func):
    """One ``--flag`` per TrainConfig field, defaulting to the dataclass default."""
    hints = typing.get_type_hints(TrainConfig)
    for field in reversed(dataclasses.fields(TrainConfig)):
        hint = hints[field.name]
        kind = int if hint in (int, int | None) else float if hint is float else str
        flag = "--" + field.name.replace("_", "-")
        func = click.option(flag, field.name, type=kind, default=field.default, show_default=True)(
            func
        )
    return func


@click.command()
@click.option("--task", "task_spec", required=True, help="module:Class implementing TrainTask")
@click.option(
    "--task-config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="JSON object of the task's constructor options",
)
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path))
@_config_options
def main(task_spec: str, task_config: Path | None, out_dir: Path, **config) -> None:
    """Train TASK on this rank."""
    die_with_parent(signal.SIGKILL)  # a dead agent must not leave this rank training on
    cfg = TrainConfig.from_dict(config)
    options = json.loads(task_config.read_text()) if task_config else {}
    env = init_distributed()
    try:
        train(resolve_task(task_spec, options), cfg, out_dir, env)
    except GeoVRError as e:  # a reason for the user: one line, the agent reports the code
        click.echo(f"geovr: error: rank {env.rank}: {e}", err=True)
        sys.exit(e.exit_code)
    finally:
        teardown()


if __name__ == "__main__":
    main()
