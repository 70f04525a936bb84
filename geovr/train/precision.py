"""The training precision policy (docs/decisions.md, "Precision policy").

- Master weights: every parameter trains in fp32, whatever dtype the task built the model in
  (a hub release saved in bf16 loads in bf16), so AdamW's small updates are not rounded away
  and every FSDP2 unit holds one dtype.
- Compute: bf16 autocast on GPU (``precision`` auto or bf16), plain fp32 on CPU (auto, fp32).
- Saving: the loop rebuilds the model the way the task builds it and loads the trained fp32
  weights into it, so each parameter is written in the dtype it was built in: a bf16 release
  comes out bf16, the new heads (created in fp32) stay fp32.

    model = wrap_model(master_weights(task.build_model(cfg)), cfg.parallelism, env)
    with autocast(cfg, env):
        loss = model(**batch)["total"]
"""

from __future__ import annotations

import contextlib

import torch

from geovr.config.train import TrainConfig
from geovr.train.distributed import DistEnv

MASTER_DTYPE = torch.float32


def master_weights(model: torch.nn.Module) -> torch.nn.Module:
    """``model`` with every floating-point parameter and buffer in fp32 (in place)."""
    return model.to(MASTER_DTYPE)


def autocast(cfg: TrainConfig, env: DistEnv):
    """bf16 autocast on GPU (``precision`` auto or bf16); full fp32 on CPU for exactness."""
    if cfg.precision == "fp32" or (cfg.precision == "auto" and env.device.type != "cuda"):
        return contextlib.nullcontext()
    return torch.autocast(env.device.type, dtype=torch.bfloat16)
