"""The generic training loop: AdamW with two LR groups (no weight decay on norms, biases and
the task's ``no_weight_decay``), warm-up + cosine, fp32 master weights (geovr.train.precision),
grad accumulation, grad clipping, a deterministic resumable data order, DCP checkpoints and
MLflow tracking.

A step whose loss terms or gradient norm are not finite never updates the weights: the fused
AdamW skips it on the device (its ``found_inf``, the mechanism GradScaler uses), so the host
reads the step's values only at log and checkpoint steps, not once per step (a GPU sync), and
the run then stops naming the first such step, before any checkpoint is written.

Called by :mod:`geovr.train.worker` on every rank of a torchrun job::

    env = init_distributed()
    summary = train(resolve_task("tests.train.tiny_task:TinyTask"), TrainConfig(steps=10), out, env)
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict
from torch.distributed.tensor import DTensor
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from geovr.config.train import TrainConfig
from geovr.train.checkpoint import load_checkpoint, save_checkpoint
from geovr.train.data_order import RankBatches, data_order
from geovr.train.distributed import (
    DistEnv,
    rng_state,
    seed_everything,
    set_rng_state,
    unwrap,
    wrap_model,
)
from geovr.train.interfaces import TrainTask
from geovr.train.lifetime import Diverged
from geovr.train.outputs import CHECKPOINTS_DIR, SUMMARY_NAME, latest_checkpoint
from geovr.train.precision import autocast, master_weights
from geovr.train.tracking import Tracker


def batches(task: TrainTask, dataset, sampler: RankBatches, cfg: TrainConfig):
    """A DataLoader over ``sampler``: ``cfg.num_workers`` processes decode and collate ahead."""
    workers = cfg.num_workers
    return torch.utils.data.DataLoader(
        dataset,
        batch_sampler=sampler,
        collate_fn=task.collate,
        num_workers=workers,
        prefetch_factor=cfg.prefetch if workers else None,
    )


def lr_lambda(warmup_steps: int, total_steps: int):
    """Linear warm-up to 1 over ``warmup_steps``, then cosine decay to 0 at ``total_steps``."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor


def _decay_split(params: list, no_decay: set[int]) -> tuple[list, list]:
    """(decayed, not decayed): as in Hugging Face Trainer recipes, norms and biases never decay;
    in a transformer those are exactly the parameters of fewer than 2 dimensions (a DTensor
    shard reports its global shape). ``no_decay``: ids of further parameters to spare."""
    spared = [p for p in params if p.ndim < 2 or id(p) in no_decay]
    spared_ids = {id(p) for p in spared}
    return [p for p in params if id(p) not in spared_ids], spared


def build_optimizer(
    task: TrainTask, model: torch.nn.Module, cfg: TrainConfig
) -> tuple[torch.optim.AdamW, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW over the task's ``heads``/``model`` groups, each split into a decayed part and one
    without weight decay (call after wrapping: FSDP2 swaps params)."""
    plain = unwrap(model)
    groups = task.param_groups(plain)
    if set(groups) != {"heads", "model"}:
        raise ValueError(f"param_groups must return keys 'heads' and 'model', got {sorted(groups)}")
    spare = getattr(task, "no_weight_decay", None)
    no_decay = {id(p) for p in spare(plain)} if spare is not None else set()
    lrs = {"heads": cfg.lr_heads, "model": cfg.lr_model}
    param_groups = []
    for name in ("heads", "model"):
        decayed, spared = _decay_split(groups[name], no_decay)
        for params, decay in ((decayed, cfg.weight_decay), (spared, 0.0)):
            if params:
                param_groups.append(
                    {"params": params, "lr": lrs[name], "weight_decay": decay, "name": name}
                )
    optimizer = torch.optim.AdamW(param_groups, fused=True)  # fused: found_inf skips on device
    warmup = math.ceil(cfg.warmup_ratio * cfg.steps)
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(warmup, cfg.steps))


def _sync_context(model: torch.nn.Module, last_micro_step: bool):
    """Skip the gradient all-reduce/reduce-scatter on all but the last micro-step."""
    if isinstance(model, DistributedDataParallel) and not last_micro_step:
        return model.no_sync()
    if hasattr(model, "set_requires_gradient_sync"):
        model.set_requires_gradient_sync(last_micro_step)
    return contextlib.nullcontext()


def _loss_normaliser(
    task: TrainTask, micro_batches: list[dict[str, torch.Tensor]], cfg: TrainConfig, env: DistEnv
) -> dict[str, torch.Tensor]:
    """``num_items_in_batch`` for tasks whose loss is a mean over items (tokens): the step's
    item count over every rank and micro-step, scaled so that the gradient averaging of DDP /
    FSDP and the loop's division by ``grad_accum`` leave one mean over the whole step. Without
    it each rank would average its own tokens, and the result would depend on the split."""
    if not hasattr(task, "loss_items"):
        return {}
    count = sum(task.loss_items(b) for b in micro_batches).to(env.device, torch.float32)
    if env.world_size > 1:
        dist.all_reduce(count)
    return {"num_items_in_batch": count.clamp(min=1) / (env.world_size * cfg.grad_accum)}


def _mean_across_ranks(values: dict[str, torch.Tensor], env: DistEnv) -> torch.Tensor:
    """The values (keys sorted) averaged over ranks, left on the device."""
    stacked = torch.stack([values[k].detach().float() for k in sorted(values)]).to(env.device)
    dist.all_reduce(stacked)
    return stacked / env.world_size


def _skip_if_not_finite(optimizer: torch.optim.Optimizer, values: torch.Tensor) -> None:
    """Make the next ``optimizer.step()`` a no-op on the device when any of ``values`` (global:
    the same on every rank) is NaN/inf, without reading them on the host."""
    optimizer.found_inf = (~torch.isfinite(values).all()).float()


def _save_final(
    task: TrainTask, model: torch.nn.Module, out_dir: Path, env: DistEnv, cfg: TrainConfig
) -> None:
    """Gather the full weights and hand an unwrapped CPU copy to ``task.save_final`` on rank 0,
    each parameter cast back to the dtype the task builds it in (geovr.train.precision)."""
    full = get_model_state_dict(
        model, options=StateDictOptions(full_state_dict=True, cpu_offload=True)
    )
    if env.is_main:
        plain = task.build_model(cfg)
        plain.load_state_dict(full)
        task.save_final(plain, out_dir)
    dist.barrier()


def _check_finite(losses: dict[str, float], grad_norm: float, step: int) -> None:
    """Stop (every rank alike: the values are global) before a checkpoint is written; the
    step itself was skipped (`_skip_if_not_finite`)."""
    bad = {k: v for k, v in {**losses, "grad_norm": grad_norm}.items() if not math.isfinite(v)}
    if bad:
        terms = ", ".join(f"{k}={v}" for k, v in sorted(bad.items()))
        raise Diverged(f"step {step}: {terms}; no checkpoint written from this step on")


def train(task: TrainTask, cfg: TrainConfig, out_dir: Path, env: DistEnv) -> dict[str, Any]:
    """Train and return a summary.

    Resumes from ``out_dir/checkpoints`` if a complete checkpoint exists.
    """
    out_dir = Path(out_dir)
    ckpt_root = out_dir / CHECKPOINTS_DIR
    if env.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
    seed_everything(cfg.seed)
    model = wrap_model(
        master_weights(task.build_model(cfg)),
        cfg.parallelism,
        env,
        getattr(task, "fsdp_units", None),
    )
    optimizer, scheduler = build_optimizer(task, model, cfg)
    dataset = task.dataset()
    order = data_order(task, dataset, cfg, env.world_size)

    step, position, run_id = 0, 0, None
    resume = latest_checkpoint(ckpt_root)
    if resume is not None:
        extra = load_checkpoint(resume, model, optimizer, env)
        scheduler.load_state_dict(extra["scheduler"])
        step, position = extra["step"], extra["position"]
        set_rng_state(extra["rng"])
        run_id = extra.get("mlflow_run_id")  # rank 0's; checkpoints before it have none
    start_step = step

    task_config = getattr(task, "config", None)
    params = {
        **cfg.to_dict(),
        **{f"task.{k}": v for k, v in (task_config.to_dict() if task_config else {}).items()},
        **(task_config.tracking_params() if hasattr(task_config, "tracking_params") else {}),
    }
    tags = {"kfp_run_id": cfg.kfp_run_id} if cfg.kfp_run_id else None
    tracker = Tracker(
        out_dir,
        cfg.tracking_uri,
        cfg.experiment,
        params,
        enabled=env.is_main,
        tags=tags,
        resume=(run_id, start_step) if run_id else None,
    )
    samples_per_step = cfg.batch_size * env.world_size * cfg.grad_accum
    losses: list[dict[str, float]] = []
    bar = tqdm(
        total=cfg.steps, initial=step, disable=not env.is_main, file=sys.stderr, desc="train"
    )
    model.train()
    loader = iter(
        batches(task, dataset, RankBatches(order, position, cfg.steps - step, cfg, env), cfg)
    )
    pending: list[torch.Tensor] = []  # the global values of steps not yet read on the host
    since = time.perf_counter()
    while step < cfg.steps:
        terms: dict[str, torch.Tensor] = {}
        tokens = torch.zeros((), device=env.device)
        # the step's micro-batches stay on the host until their turn: only the item count is
        # needed up front, and a GPU holds one micro-batch at a time
        micro_batches = [next(loader) for _ in range(cfg.grad_accum)]
        extra = _loss_normaliser(task, micro_batches, cfg, env)
        for micro, host_batch in enumerate(micro_batches):
            batch = {k: v.to(env.device, non_blocking=True) for k, v in host_batch.items()}
            if "attention_mask" in batch:
                tokens += batch["attention_mask"].sum()
            with _sync_context(model, micro == cfg.grad_accum - 1), autocast(cfg, env):
                out = model(**batch, **extra)
                (out["total"] / cfg.grad_accum).backward()
            for key, value in out.items():
                terms[key] = terms.get(key, 0.0) + value.detach().float() / cfg.grad_accum
        terms["tokens"] = tokens * env.world_size  # the mean across ranks below makes it the sum
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        if isinstance(grad_norm, DTensor):
            grad_norm = grad_norm.full_tensor()
        values = torch.cat([_mean_across_ranks(terms, env), grad_norm.detach().reshape(1)])
        _skip_if_not_finite(optimizer, values)
        lrs = {f"lr/{g['name']}": g["lr"] for g in optimizer.param_groups}
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        position += samples_per_step
        pending.append(values)

        checkpointing = step % cfg.checkpoint_every == 0 or step == cfg.steps
        if step % cfg.log_every == 0 or checkpointing:
            read, first = torch.stack(pending).tolist(), step - len(pending) + 1
            step_tokens = 0.0
            for at, row in enumerate(read, start=first):
                mean_terms = dict(zip(sorted(terms), row[:-1], strict=True))
                step_tokens += mean_terms.pop("tokens")
                _check_finite(mean_terms, row[-1], at)
                losses.append(mean_terms)
            seconds, since = max(time.perf_counter() - since, 1e-9), time.perf_counter()
            metrics = {f"loss/{k}": v for k, v in mean_terms.items()}
            metrics.update(lrs)
            metrics["grad_norm"] = row[-1]
            metrics["samples_per_s"] = samples_per_step * len(read) / seconds
            if step_tokens:
                metrics["tokens_per_s"] = step_tokens / seconds
            if env.device.type == "cuda":
                metrics["gpu_peak_memory_gib"] = torch.cuda.max_memory_allocated(env.device) / 2**30
            tracker.log_metrics(metrics, step)
            bar.set_postfix({k: f"{v:.3f}" for k, v in mean_terms.items()})
            pending.clear()
        bar.update(1)
        if checkpointing:
            extra = {
                "scheduler": scheduler.state_dict(),
                "step": step,
                "position": position,
                "rng": rng_state(),
                "mlflow_run_id": tracker.run_id,  # so that a resume continues this run
            }
            save_checkpoint(ckpt_root, step, model, optimizer, extra, env, cfg.keep_last)
    bar.close()
    tracker.close()

    _save_final(task, model, out_dir, env, cfg)
    summary = {
        "start_step": start_step,
        "final_step": step,
        "world_size": env.world_size,
        "losses": losses,
        "tracking_online": tracker.online,
        "run_id": tracker.run_id,
        "config": cfg.to_dict(),
    }
    if env.is_main:
        (out_dir / SUMMARY_NAME).write_text(json.dumps(summary, indent=2))
    return summary
