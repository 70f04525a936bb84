"""A few dozen steps on one batch drive each of the five losses down (both families)."""

import time

import pytest
import torch

from geovr.model.geovr import GeoVRModel

STEPS = 80


@pytest.mark.slow  # 80 optimizer steps of both tiny students
@pytest.mark.parametrize("family", ["qwen3_vl", "qwen2_5_vl"])
def test_overfit_one_batch(kit, family):
    geo = GeoVRModel(kit.student(family, seed=1), kit.config())
    geo.train()
    batch = kit.batch(family, n_clips=1)
    groups = geo.param_groups()
    optimizer = torch.optim.AdamW(
        [{"params": groups["model"], "lr": 2e-3}, {"params": groups["heads"], "lr": 3e-3}],
        weight_decay=0.0,
    )
    start = time.perf_counter()
    history = []
    for _ in range(STEPS):
        losses = geo(batch)
        optimizer.zero_grad()
        losses["total"].backward()
        optimizer.step()
        history.append({k: float(v.detach()) for k, v in losses.items()})
    elapsed = time.perf_counter() - start
    first, last = history[0], history[-1]
    print(
        f"\n{family}: {STEPS} steps in {elapsed:.1f} s; "
        + ", ".join(f"{k} {first[k]:.3f} -> {last[k]:.3f}" for k in first)
    )
    for term in ("lm", "cam", "depth", "scale", "distill"):
        assert last[term] < 0.5 * first[term], (term, first[term], last[term])
