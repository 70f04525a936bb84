"""Length-grouped batching (`length_group_steps`): micro-batches of similar token length, the
same resumable stream and the same rank split as the plain order.

    .venv/bin/pytest -q tests/train/test_length_grouping.py
"""

from __future__ import annotations

import pytest
import torch

from geovr.config.train import TrainConfig
from geovr.train.data_order import DataOrder, LengthGroupedOrder, RankBatches, data_order
from geovr.train.distributed import DistEnv

# the spread of 2 fps clips: 4..32 frames of 16 tokens, plus 20-40 text tokens
LENGTHS = [16 * f + t for f, t in zip(range(4, 33), [20, 31, 25, 40, 22, 37] * 5, strict=False)]
LENGTHS = LENGTHS * 3  # 87 items


def _padded_fraction(order: DataOrder, batch: int, batches: int) -> float:
    padded = real = 0
    for b in range(batches):
        lengths = [LENGTHS[i] for i in order.indices(b * batch, batch)]
        padded += max(lengths) * batch
        real += sum(lengths)
    return 1 - real / padded


def test_grouped_batches_pad_far_less_than_random_ones():
    grouped = LengthGroupedOrder(LENGTHS, seed=0, group=32, batch=4)
    plain = DataOrder(len(LENGTHS), seed=0)
    assert _padded_fraction(grouped, 4, 60) < 0.1 < 0.3 < _padded_fraction(plain, 4, 60)


def test_groups_reorder_the_plain_stream_and_a_fresh_order_resumes_it():
    order = LengthGroupedOrder(LENGTHS, seed=3, group=32, batch=4)
    stream, plain = order.indices(0, 8 * 32), DataOrder(len(LENGTHS), seed=3).indices(0, 8 * 32)
    for g in range(8):  # each group holds the plain stream's samples there: epochs stay epochs
        assert sorted(stream[g * 32 : (g + 1) * 32]) == sorted(plain[g * 32 : (g + 1) * 32])
    assert stream != plain
    assert (
        LengthGroupedOrder(LENGTHS, seed=3, group=32, batch=4).indices(101, 40) == stream[101:141]
    )
    assert LengthGroupedOrder(LENGTHS, seed=4, group=32, batch=4).indices(0, 87) != stream[:87]


def test_steps_are_not_in_length_order_within_a_group():
    order = LengthGroupedOrder(LENGTHS, seed=0, group=32, batch=4)
    longest = [max(LENGTHS[i] for i in order.indices(4 * s, 4)) for s in range(8)]
    assert longest != sorted(longest, reverse=True)


def _rank_batches(order: DataOrder, world: int, batch: int, grad_accum: int) -> list[list[int]]:
    """Every step's samples, over all ranks and micro-steps."""
    cfg = TrainConfig(batch_size=batch, grad_accum=grad_accum)
    per_rank = [
        list(RankBatches(order, 8, 5, cfg, DistEnv(rank, world, rank, torch.device("cpu"))))
        for rank in range(world)
    ]
    return [
        sorted(
            i
            for rank in per_rank
            for micro in rank[s * grad_accum : (s + 1) * grad_accum]
            for i in micro
        )
        for s in range(5)
    ]


class LengthTask:
    def item_lengths(self, dataset) -> list[int]:
        return LENGTHS


@pytest.mark.parametrize("world,batch,grad_accum", [(2, 2, 1), (1, 2, 2), (4, 1, 1)])
def test_ranks_and_micro_steps_see_what_one_rank_with_the_whole_batch_sees(
    world, batch, grad_accum
):
    def order(world_size: int, cfg: TrainConfig) -> DataOrder:
        return data_order(LengthTask(), LENGTHS, cfg, world_size)

    one = TrainConfig(batch_size=4, length_group_steps=8)
    split = TrainConfig(batch_size=batch, grad_accum=grad_accum, length_group_steps=8)
    assert _rank_batches(order(world, split), world, batch, grad_accum) == _rank_batches(
        order(1, one), 1, 4, 1
    )


def test_group_must_hold_whole_steps_and_the_task_must_know_lengths():
    with pytest.raises(ValueError, match="multiple of batch"):
        LengthGroupedOrder(LENGTHS, seed=0, group=30, batch=4)
    with pytest.raises(ValueError, match="item_lengths"):
        data_order(object(), LENGTHS, TrainConfig(length_group_steps=2), 1)
    with pytest.raises(ValueError, match="length_group_steps"):
        TrainConfig(length_group_steps=-1)
    assert type(data_order(object(), LENGTHS, TrainConfig(), 1)) is DataOrder
