"""The order in which a run reads its dataset: a deterministic stream of indices that resumes
from one integer, cut into each rank's micro-batches; optionally length-grouped.

    order = data_order(task, dataset, cfg, world_size)   # DataOrder, or LengthGroupedOrder
    sampler = RankBatches(order, position, steps, cfg, env)  # this rank's index lists

Length grouping (``cfg.length_group_steps`` > 0) keeps samples of similar token length in
the same micro-batch, so a batch padded to its longest sequence wastes little; it needs the
task's ``item_lengths(dataset)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from geovr.config.train import TrainConfig
from geovr.train.distributed import DistEnv
from geovr.train.interfaces import TrainTask


class DataOrder:
    """An endless, deterministic stream of dataset indices: epoch ``e`` is a permutation seeded
    by ``seed + e``. A run's position is the number of samples consumed by all ranks together, so
    resuming mid-epoch is just restoring that integer.

    Per micro-step ``a`` of an optimizer step starting at ``position``, rank ``r`` of ``W`` takes
    the ``b`` samples at ``position + (a * W + r) * b``; hence W ranks with batch b see exactly the
    samples one rank with batch W*b sees.
    """

    def __init__(self, size: int, seed: int) -> None:
        if size < 1:
            raise ValueError("dataset is empty")
        self.size, self.seed = size, seed
        self._epoch, self._perm = -1, torch.empty(0, dtype=torch.long)

    def _permutation(self, epoch: int) -> torch.Tensor:
        if epoch != self._epoch:
            gen = torch.Generator().manual_seed(self.seed + epoch)
            self._epoch, self._perm = epoch, torch.randperm(self.size, generator=gen)
        return self._perm

    def indices(self, start: int, count: int) -> list[int]:
        """Dataset indices at stream positions ``start .. start + count - 1``."""
        return [
            int(self._permutation(p // self.size)[p % self.size])
            for p in range(start, start + count)
        ]


class LengthGroupedOrder(DataOrder):
    """DataOrder whose steps hold samples of similar length.

    The plain stream is cut into groups of ``group`` consecutive positions (a whole number of
    steps of ``batch`` samples, the global batch of one step). Each group is sorted by length
    (longest first, ties by index), then its steps are shuffled, seeded by ``seed`` and the
    group's number, so that training does not go from long to short within a group. Groups
    are counted in stream positions, not per epoch, so a step never straddles two groups even
    when the epoch is not a whole number of steps. Every rank's micro-batch is ``b`` consecutive
    positions of one step: neighbours in length. The stream depends only on the seed and the
    global batch, so W ranks with batch b still see what one rank with batch W*b sees, and a
    run still resumes from its position alone.
    """

    def __init__(self, lengths: Sequence[int], seed: int, group: int, batch: int) -> None:
        super().__init__(len(lengths), seed)
        if batch < 1 or group < batch or group % batch:
            raise ValueError(f"group ({group}) must be a positive multiple of batch ({batch})")
        self.lengths = torch.as_tensor(list(lengths), dtype=torch.long)
        self.group, self.batch = group, batch
        self._group_number, self._group_items = -1, torch.empty(0, dtype=torch.long)

    def _group(self, number: int) -> torch.Tensor:
        if number != self._group_number:
            plain = torch.tensor(super().indices(number * self.group, self.group))
            by_index = plain.sort().values  # ties break by index: the same on every machine
            ordered = by_index[torch.sort(-self.lengths[by_index], stable=True).indices]
            steps = ordered.split(self.batch)
            gen = torch.Generator().manual_seed(self.seed * 1_000_003 + number)
            shuffled = [steps[i] for i in torch.randperm(len(steps), generator=gen).tolist()]
            self._group_number, self._group_items = number, torch.cat(shuffled)
        return self._group_items

    def indices(self, start: int, count: int) -> list[int]:
        return [
            int(self._group(p // self.group)[p % self.group]) for p in range(start, start + count)
        ]


def data_order(task: TrainTask, dataset, cfg: TrainConfig, world_size: int) -> DataOrder:
    """The run's stream: length-grouped when ``cfg.length_group_steps`` > 0."""
    if not cfg.length_group_steps:
        return DataOrder(len(dataset), cfg.seed)
    if not hasattr(task, "item_lengths"):
        raise ValueError("length_group_steps needs a task with item_lengths(dataset)")
    step_batch = cfg.batch_size * world_size * cfg.grad_accum
    return LengthGroupedOrder(
        task.item_lengths(dataset), cfg.seed, cfg.length_group_steps * step_batch, step_batch
    )


class RankBatches(torch.utils.data.Sampler[list[int]]):
    """The index lists this rank consumes, micro-step after micro-step, from ``position`` on
    (a batch sampler, so DataLoader workers prefetch exactly what the loop will ask for)."""

    def __init__(self, order: DataOrder, position: int, steps: int, cfg: TrainConfig, env: DistEnv):
        self.order, self.position, self.steps, self.cfg, self.env = order, position, steps, cfg, env

    def __len__(self) -> int:
        return self.steps * self.cfg.grad_accum

    def __iter__(self):
        cfg, world = self.cfg, self.env.world_size
        for step in range(self.steps):
            start = self.position + step * cfg.batch_size * world * cfg.grad_accum
            for micro in range(cfg.grad_accum):
                offset = start + (micro * world + self.env.rank) * cfg.batch_size
                yield self.order.indices(offset, cfg.batch_size)
