"""Attention kept inside each sample of a packed sequence, without a dense mask.

Packed batches (geovr.model.tokens, `pack_tokens` > 0) carry no 2-D attention mask: the text
row of their position ids restarts at 0 at every sample. transformers reads that restart
itself for eager / sdpa and builds a block-diagonal [B, 1, S, S] mask; its flash_attention_2
path does so only for a batch of one row, so TrainConfig refuses packing with flash. That
mask makes sdpa compute every cross-sample block and throw it away, so a sequence of k
samples costs about k times the attention of the same samples run apart. `PACKED_SDPA`
(registered with transformers' AttentionInterface) runs PyTorch's causal sdpa on each
sample's span instead: the cost of running them one by one, without their padding.

It is set on the language model only (`use_packed_sdpa`); the vision tower keeps its own
per-frame attention. The name is not written into a saved config.

Each sample's span is host bookkeeping: GeoVRModel knows the spans when it builds the packed
layout (host copies) and passes them to the student as the keyword SPANS_KWARG, which
transformers forwards to every attention call. Finding them from the positions instead reads
the device once per layer call (a GPU sync per layer per forward); that is only the fallback
for a caller that packs without GeoVRModel.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward

PACKED_SDPA = "geovr_packed_sdpa"
SPANS_KWARG = "geovr_sample_spans"  # per sequence, [(start, end)] of each sample: host ints


def sample_spans(text_positions: torch.Tensor) -> list[tuple[int, int]]:
    """(start, end) of each sample in one packed sequence: a new sample wherever the text
    position does not follow the one before (the rule transformers applies to detect packing)."""
    restarts = (torch.diff(text_positions) != 1).nonzero().squeeze(-1) + 1
    starts = [0, *restarts.tolist()]
    ends = [*starts[1:], text_positions.numel()]
    return list(zip(starts, ends, strict=True))


def packed_sdpa_attention(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    position_ids: torch.Tensor | None = None,
    geovr_sample_spans: list[list[tuple[int, int]]] | None = None,
    **kwargs,
) -> tuple[torch.Tensor, None]:
    """transformers' sdpa on each sample's span of each sequence ([B, H, S, D] in, [B, S, H, D]
    out, like sdpa). With a mask, or without spans and text positions, it is plain sdpa."""
    if attention_mask is not None or (geovr_sample_spans is None and position_ids is None):
        return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)
    if geovr_sample_spans is None:
        geovr_sample_spans = [sample_spans(row) for row in position_ids]
    rows = []
    for b, spans in enumerate(geovr_sample_spans):
        spans = [
            sdpa_attention_forward(
                module,
                query[b : b + 1, :, start:end],
                key[b : b + 1, :, start:end],
                value[b : b + 1, :, start:end],
                None,
                **kwargs,
            )[0]
            for start, end in spans
        ]
        rows.append(torch.cat(spans, dim=1))
    return torch.cat(rows), None


AttentionInterface.register(PACKED_SDPA, packed_sdpa_attention)


def use_packed_sdpa(student: nn.Module, text_config) -> None:
    """Switch the student's language model from sdpa to PACKED_SDPA (other choices stay:
    eager builds the block mask; TrainConfig refuses packing with flash_attention_2)."""
    if text_config._attn_implementation == "sdpa":
        student.set_attn_implementation({"text_config": PACKED_SDPA})
