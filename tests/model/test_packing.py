"""Packing clips of different lengths into shared sequences changes nothing but the padding:
every loss term and every gradient equals the same clips run one per padded sequence."""

import pytest
import torch

from geovr.model import packed_attention
from geovr.model.geovr import GeoVRModel
from geovr.model.inputs import collate, make_example
from geovr.model.packed_attention import PACKED_SDPA, sample_spans

OBJECTIVES = ("lm", "cam", "depth", "scale", "distill")
FRAMES = (2, 4, 1, 3)  # clips of different lengths, so unpacked rows carry padding


def _mixed_batch(kit, family):
    proc = kit.processor(family)
    examples = [
        make_example(
            proc,
            kit.frames(family, seed=i, n=n),
            kit.QA[i % len(kit.QA)],
            kit.targets(seed=i, n=n),
        )
        for i, n in enumerate(FRAMES)
    ]
    return collate(examples, proc.tokenizer.pad_token_id)


def _model(kit, family, objectives, attn, pack_tokens=0):
    student = kit.student(family)
    student.set_attn_implementation(attn)
    torch.manual_seed(1)  # the same heads and tokens on both sides
    return GeoVRModel(student, kit.config(*objectives), pack_tokens=pack_tokens)


def _losses_and_grads(geo, batch):
    losses = geo(batch)
    losses["total"].backward()
    grads = {n: p.grad.clone() for n, p in geo.named_parameters() if p.grad is not None}
    return {k: v.detach() for k, v in losses.items()}, grads


@pytest.mark.parametrize("family", ["qwen3_vl", "qwen2_5_vl"])
@pytest.mark.parametrize("attn", ["sdpa", "eager"])
@pytest.mark.parametrize("objectives", [(o,) for o in OBJECTIVES] + [OBJECTIVES], ids=str)
def test_packed_losses_and_gradients_equal_unpacked(kit, family, attn, objectives):
    batch = _mixed_batch(kit, family)
    padded = _model(kit, family, objectives, attn)
    # a budget that holds two or three clips: several sequences, one with tail padding
    budget = int(padded.layout(batch).attention_mask.sum(-1).max()) * 2
    packed = _model(kit, family, objectives, attn, pack_tokens=budget)
    layout = packed.layout(batch)
    assert layout.attention_mask is None and 1 < layout.input_ids.shape[0] < len(FRAMES)
    assert sum(layout.lengths) < layout.input_ids.numel()  # some tail padding is left
    assert (packed.student.config.text_config._attn_implementation == PACKED_SDPA) == (
        attn == "sdpa"
    )

    want, want_grads = _losses_and_grads(padded, batch)
    got, got_grads = _losses_and_grads(packed, batch)
    assert set(got) == set(want) == {*objectives, "total"}
    for name in want:
        torch.testing.assert_close(got[name], want[name], rtol=1e-5, atol=1e-5, msg=name)
    assert set(got_grads) == set(want_grads)
    for name, grad in want_grads.items():
        torch.testing.assert_close(got_grads[name], grad, rtol=1e-4, atol=1e-6, msg=name)


def test_packed_sdpa_splits_by_the_layouts_spans_without_reading_positions(kit, monkeypatch):
    """The spans come once per batch from the layout's host bookkeeping: no layer call looks
    for them in the (device) positions, and every layer runs sdpa on exactly those spans."""
    batch = _mixed_batch(kit, "qwen3_vl")
    padded = _model(kit, "qwen3_vl", ("lm",), "sdpa")
    budget = int(padded.layout(batch).attention_mask.sum(-1).max()) * 2
    packed = _model(kit, "qwen3_vl", ("lm",), "sdpa", pack_tokens=budget)
    layout = packed.layout(batch)
    assert layout.spans == [sample_spans(row) for row in layout.position_ids[0]]
    assert sum(len(row) for row in layout.spans) == len(FRAMES)

    searched, span_lengths = [], []
    finder, sdpa = packed_attention.sample_spans, packed_attention.sdpa_attention_forward

    def counted_finder(text_positions):
        searched.append(text_positions.shape)
        return finder(text_positions)

    def recorded_sdpa(module, query, *args, **kwargs):
        span_lengths.append(query.shape[2])
        return sdpa(module, query, *args, **kwargs)

    monkeypatch.setattr(packed_attention, "sample_spans", counted_finder)
    monkeypatch.setattr(packed_attention, "sdpa_attention_forward", recorded_sdpa)
    packed(batch)["total"].backward()
    assert searched == []
    per_layer = [end - start for row in layout.spans for start, end in row]
    assert span_lengths == per_layer * packed.n_layers


def test_one_sequence_for_the_whole_batch_has_no_padding(kit):
    batch = _mixed_batch(kit, "qwen3_vl")
    packed = _model(kit, "qwen3_vl", OBJECTIVES, "sdpa", pack_tokens=100_000)
    layout = packed.layout(batch)
    assert layout.input_ids.shape == (1, sum(layout.lengths))
    text = layout.position_ids[0, 0]
    assert [end - start for start, end in sample_spans(text)] == layout.lengths


def test_sample_spans_split_where_text_positions_restart():
    positions = torch.tensor([0, 1, 2, 0, 1, 0, 1, 2, 3])
    assert sample_spans(positions) == [(0, 3), (3, 5), (5, 9)]


def test_negative_budget_is_refused(kit):
    with pytest.raises(ValueError, match="pack_tokens must be >= 0"):
        GeoVRModel(kit.student("qwen3_vl"), kit.config(), pack_tokens=-1)
