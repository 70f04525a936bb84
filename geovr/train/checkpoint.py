"""Atomic, sharded training checkpoints with torch.distributed.checkpoint (DCP).

Layout under ``<out>/checkpoints``::

    step-40/            complete checkpoint (renamed from step-40.tmp by rank 0 after a barrier)
        .metadata, __*_*.distcp   model + optimizer (DCP, every rank writes its shard)
        rank-0.safetensors, ...   scheduler, step, data position, RNG state of each rank
    step-40.tmp/        an interrupted save; ignored by :func:`latest_checkpoint`

Every rank calls :func:`save_checkpoint` / :func:`load_checkpoint` collectively. The rank
state is data only (geovr.train.rank_state: safetensors + JSON), never a pickle: loading a
checkpoint from a shared volume must not run code someone else wrote there.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

from geovr.train.distributed import DistEnv
from geovr.train.outputs import list_checkpoints
from geovr.train.rank_state import load_rank_state, save_rank_state


def _rank_file(directory: Path, rank: int) -> Path:
    return directory / f"rank-{rank}.safetensors"


def save_checkpoint(
    ckpt_root: Path,
    step: int,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    extra: dict[str, Any],
    env: DistEnv,
    keep_last: int,
) -> Path:
    """Write ``step-<step>`` atomically and prune all but the ``keep_last`` newest ones."""
    final = ckpt_root / f"step-{step}"
    tmp = ckpt_root / f"step-{step}.tmp"
    if env.is_main:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    dist.barrier()
    model_sd, optim_sd = get_state_dict(model, optimizer)
    dcp.save({"model": model_sd, "optim": optim_sd}, checkpoint_id=str(tmp))
    save_rank_state(_rank_file(tmp, env.rank), extra)
    dist.barrier()
    if env.is_main:
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
        for old in list_checkpoints(ckpt_root)[:-keep_last]:
            shutil.rmtree(old, ignore_errors=True)
    dist.barrier()
    return final


def load_checkpoint(
    directory: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, env: DistEnv
) -> dict[str, Any]:
    """Restore model and optimizer in place; return this rank's extra state."""
    model_sd, optim_sd = get_state_dict(model, optimizer)
    state = {"model": model_sd, "optim": optim_sd}
    dcp.load(state, checkpoint_id=str(directory))
    set_state_dict(
        model, optimizer, model_state_dict=state["model"], optim_state_dict=state["optim"]
    )
    rank_file = _rank_file(directory, env.rank)
    if not rank_file.exists():
        raise RuntimeError(
            f"{directory} has no state for rank {env.rank}; resume with the same world size"
        )
    return load_rank_state(rank_file)
