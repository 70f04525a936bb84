"""Process-group set-up from the torchrun environment, seeding and model wrapping.

Run under torchrun (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` set); a plain
``python`` process without those variables becomes a world of one. CUDA ranks use NCCL, CPU
ranks use gloo::

    env = init_distributed()
    seed_everything(cfg.seed, env.rank)
    model = wrap_model(master_weights(task.build_model(cfg)), "fsdp2", env)
    ...
    teardown()
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
from torch.distributed.fsdp import fully_shard
from torch.nn.parallel import DistributedDataParallel

from geovr.errors import GeoVRError


@dataclass(frozen=True)
class DistEnv:
    """Where this process sits in the job."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed() -> DistEnv:
    """Join the process group described by the torchrun environment variables."""
    rank = int(os.environ.get("RANK", "0"))
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        if local_rank >= torch.cuda.device_count():
            raise GeoVRError(
                f"local rank {local_rank} has no GPU: {torch.cuda.device_count()} visible to "
                f"{os.environ.get('LOCAL_WORLD_SIZE', '?')} ranks per node; "
                "request as many GPUs as "
                "gpus_per_node (GEOVR_TRAIN_GPUS when compiling the pipeline)"
            )
        torch.cuda.set_device(local_rank)
        device, backend = torch.device("cuda", local_rank), "nccl"
    else:
        device, backend = torch.device("cpu"), "gloo"
    if not dist.is_initialized():
        os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
        os.environ.setdefault("MASTER_PORT", "29500")
        dist.init_process_group(backend=backend, rank=rank, world_size=world_size)
    return DistEnv(rank=rank, world_size=world_size, local_rank=local_rank, device=device)


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch identically on every rank (same initial weights)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict:
    """This process's RNG states, for checkpoints."""
    state = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Inverse of :func:`rng_state`."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def wrap_model(
    model: torch.nn.Module, parallelism: str, env: DistEnv, units=None
) -> torch.nn.Module:
    """Move ``model`` to the device and wrap it with DDP or shard it with FSDP2.

    FSDP2 shards each module of ``units(model)`` (default: every direct child that owns
    parameters), then the root, in place.
    """
    model = model.to(env.device)
    if parallelism == "ddp":
        device_ids = [env.local_rank] if env.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=device_ids)
    if parallelism == "fsdp2":
        modules = units(model) if units is not None else list(model.children())
        for module in modules:
            if any(True for _ in module.parameters()):
                fully_shard(module)
        fully_shard(model)
        return model
    raise ValueError(f"unknown parallelism {parallelism!r}")


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The user module under a DDP wrapper (FSDP2 shards in place, nothing to unwrap)."""
    return model.module if isinstance(model, DistributedDataParallel) else model


def teardown() -> None:
    """Leave the process group if one was joined."""
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
