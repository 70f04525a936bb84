"""Geometry tokens in a processed video sequence: where each frame's visual tokens sit, and
the insertion of the camera tokens (one after each frame's visual tokens) and the scale token
(after the video's closing `<|vision_end|>`), with their M-RoPE positions.

How (and why this way):
- The processor's sequence is left as it is; extra tokens are *inserted into input_ids* as a
  placeholder id (`<|vision_end|>`'s, any existing id works: its embedding is overwritten) with
  `mm_token_type_ids` 0, and the GeoVR wrapper writes the learnable embeddings at those
  positions through a forward hook on the input-embedding module. The model then runs its
  own code path end to end (vision features scattered by video-token id, Qwen3-VL deepstack
  masks, causal masks), so no family internals are re-implemented and the vocabulary is not
  resized: the saved student has no extra tokens.
- Position ids are the family's own M-RoPE ids of the *original* sequence
  (`adapter.rope_positions`); inserted tokens get positions copied from the frame they belong
  to, so every original token keeps exactly the position it has at inference, when nothing is
  inserted (train/inference position parity for the LM loss):
  camera token of frame f: (temporal id of frame f, centre row, centre column of its grid);
  scale token: the position of the token it follows (the video's last `<|vision_end|>`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

# kinds of inserted tokens; rows of the wrapper's token table are kind - 1
ORIGINAL, CAMERA_FIRST, CAMERA, SCALE = 0, 1, 2, 3
IGNORE = -100


@dataclass
class GeometryLayout:
    """A batch ready for the student, and where GeoVR reads its hidden states."""

    input_ids: torch.Tensor  # [B, S]
    attention_mask: torch.Tensor | None  # [B, S]; None when packed (see position_ids)
    mm_token_type_ids: torch.Tensor  # [B, S]
    labels: torch.Tensor | None  # [B, S]
    # [3, B, S] M-RoPE ids; packed: [4, B, S], row 0 the text position within each sample;
    # None = the model computes its own
    position_ids: torch.Tensor | None
    kinds: torch.Tensor  # [B, S] ORIGINAL / CAMERA_FIRST / CAMERA / SCALE
    frame_index: torch.Tensor  # [N, gh*gw] flat (b * S + s) index of each frame's visual tokens
    grids: list[tuple[int, int, int]]  # per sample (F, gh, gw)
    camera_index: torch.Tensor | None  # [N] flat index of each frame's camera token
    scale_index: torch.Tensor | None  # [B] flat index of each sample's scale token
    lengths: list[int]  # each sample's tokens (inserted ones included)
    # packed: per sequence, (start, end) of each sample, the last one running on over the tail
    # padding; host ints, so attention can split a sequence without reading the device
    spans: list[list[tuple[int, int]]] | None = None

    @property
    def inserted(self) -> torch.Tensor:
        return self.kinds != ORIGINAL

    def to(self, device: torch.device) -> GeometryLayout:
        """The same layout with every tensor on `device`."""
        moved = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return dataclasses.replace(
            self, **{k: v.to(device) for k, v in moved.items() if isinstance(v, torch.Tensor)}
        )


def frame_grids(video_grid_thw: torch.Tensor, merge: int) -> list[tuple[int, int, int]]:
    """(frames, token rows, token columns) per video; one video per sample."""
    return [(int(t), int(h) // merge, int(w) // merge) for t, h, w in video_grid_thw.tolist()]


def frame_token_positions(
    ids: torch.Tensor, video_token_id: int, grid: tuple[int, int, int]
) -> torch.Tensor:
    """[F, gh*gw] indices into `ids` (one unpadded sample) of each frame's visual tokens."""
    n_frames, gh, gw = grid
    where = (ids == video_token_id).nonzero().squeeze(-1)
    if where.numel() != n_frames * gh * gw:
        raise ValueError(
            f"{where.numel()} video tokens in the sequence, "
            f"expected {n_frames} frames x {gh}x{gw}; "
            "one video per sample, processed with geovr.model.inputs"
        )
    frames = where.view(n_frames, gh * gw)
    if bool((frames[:, -1] - frames[:, 0] != gh * gw - 1).any()):
        raise ValueError("a frame's visual tokens are not contiguous in the sequence")
    return frames


def _inserts(ids, positions, frames, vision_end_id, camera, scale):
    """[(insert before index, kind, position [3])] for one unpadded sample, in order."""
    out = []
    if camera:
        for f, idx in enumerate(frames):
            pos = positions[:, idx]
            centre = torch.stack(
                [pos[0, 0], (pos[1].min() + pos[1].max()) // 2, (pos[2].min() + pos[2].max()) // 2]
            )
            out.append((int(idx[-1]) + 1, CAMERA_FIRST if f == 0 else CAMERA, centre))
    if scale:
        j = int(frames[-1, -1]) + 1
        while j < len(ids) and int(ids[j]) == vision_end_id:
            j += 1
        out.append((j, SCALE, positions[:, j - 1]))
    return out


def insert_geometry_tokens(
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    mm_token_type_ids: torch.Tensor,
    labels: torch.Tensor | None,
    video_grid_thw: torch.Tensor,
    positions: torch.Tensor | None,
    *,
    video_token_id: int,
    vision_end_token_id: int,
    merge: int,
    pad_token_id: int,
    camera: bool,
    scale: bool,
    pack_tokens: int = 0,
) -> GeometryLayout:
    """Insert camera/scale tokens (when asked) into a processed batch and locate every frame's
    visual tokens. Without insertion or packing the batch is returned unchanged (and
    `position_ids` None: the model computes its own). With insertion, samples are re-padded on
    the right; with `pack_tokens` > 0, consecutive samples share one sequence of at most that
    many tokens, each keeping its own positions, and attention stays within each sample."""
    grids = frame_grids(video_grid_thw, merge)
    if len(grids) != input_ids.shape[0]:
        raise ValueError(
            f"{len(grids)} videos for {input_ids.shape[0]} samples: "
            "GeoVR needs one video per sample"
        )
    if not (camera or scale or pack_tokens):
        seq = input_ids.shape[1]
        frame_index = torch.cat(
            [
                frame_token_positions(input_ids[b], video_token_id, g) + b * seq
                for b, g in enumerate(grids)
            ]
        )
        return GeometryLayout(
            input_ids,
            attention_mask,
            mm_token_type_ids,
            labels,
            None,
            torch.zeros_like(input_ids),
            frame_index,
            grids,
            None,
            None,
            attention_mask.sum(-1).tolist(),
        )
    if positions is None:
        raise ValueError(
            "inserting geometry tokens or packing needs the M-RoPE positions of the original batch"
        )
    rows = []
    for b, grid in enumerate(grids):
        valid = attention_mask[b].bool()
        ids, types, pos = (
            input_ids[b][valid],
            mm_token_type_ids[b][valid],
            positions[:, b][:, valid],
        )
        lab = labels[b][valid] if labels is not None else None
        frames = frame_token_positions(ids, video_token_id, grid)
        pieces = {"ids": [], "types": [], "labels": [], "pos": [], "kinds": []}
        start = 0
        for at, kind, p in _inserts(ids, pos, frames, vision_end_token_id, camera, scale):
            pieces["ids"] += [ids[start:at], ids.new_tensor([vision_end_token_id])]
            pieces["types"] += [types[start:at], types.new_zeros(1)]
            if lab is not None:
                pieces["labels"] += [lab[start:at], lab.new_full((1,), IGNORE)]
            pieces["pos"] += [pos[:, start:at], p.view(3, 1)]
            pieces["kinds"] += [torch.zeros(at - start, dtype=torch.long), torch.full((1,), kind)]
            start = at
        pieces["ids"].append(ids[start:])
        pieces["types"].append(types[start:])
        if lab is not None:
            pieces["labels"].append(lab[start:])
        pieces["pos"].append(pos[:, start:])
        pieces["kinds"].append(torch.zeros(len(ids) - start, dtype=torch.long))
        rows.append({k: torch.cat(v, dim=-1) if v else None for k, v in pieces.items()})
    return _pad_rows(rows, grids, video_token_id, pad_token_id, input_ids.device, pack_tokens)


def _lines(lengths: list[int], pack_tokens: int) -> list[list[int]]:
    """Which samples share a sequence: one each without packing; with a budget, consecutive
    samples while their lengths fit it (next fit). The order is kept, because the student
    scatters the videos' features over its video tokens in sequence order (a sample longer than
    the budget gets a sequence of its own)."""
    if not pack_tokens:
        return [[i] for i in range(len(lengths))]
    lines: list[list[int]] = []
    used = pack_tokens + 1
    for i, n in enumerate(lengths):
        if used + n > pack_tokens:
            lines.append([])
            used = 0
        lines[-1].append(i)
        used += n
    return lines


def _pad_rows(rows, grids, video_token_id, pad_token_id, device, pack_tokens=0) -> GeometryLayout:
    lengths = [r["ids"].numel() for r in rows]
    lines = _lines(lengths, pack_tokens)
    batch, seq = len(lines), max(sum(lengths[i] for i in line) for line in lines)
    ids = torch.full((batch, seq), pad_token_id, dtype=torch.long, device=device)
    mask = torch.zeros((batch, seq), dtype=torch.long, device=device)
    types = torch.zeros((batch, seq), dtype=rows[0]["types"].dtype, device=device)
    labels = (
        torch.full((batch, seq), IGNORE, dtype=torch.long, device=device)
        if rows[0]["labels"] is not None
        else None
    )
    pos = torch.zeros((3, batch, seq), dtype=torch.long, device=device)
    # text positions restart at every sample: how the student's attention tells packed samples
    # apart; a sequence's tail padding continues its last sample (causal: nothing real sees it)
    text = torch.zeros((batch, seq), dtype=torch.long, device=device)
    kinds = torch.zeros((batch, seq), dtype=torch.long, device=device)
    frame_index, spans = [], []
    for b, line in enumerate(lines):
        at = 0
        spans.append([])
        for i in line:
            row, n = rows[i], lengths[i]
            spans[b].append((at, at + n))
            span = slice(at, at + n)
            ids[b, span], mask[b, span], types[b, span] = row["ids"], 1, row["types"]
            pos[:, b, span], kinds[b, span] = row["pos"], row["kinds"].to(device)
            text[b, span] = torch.arange(n)
            if labels is not None:
                labels[b, span] = row["labels"]
            frame_index.append(
                frame_token_positions(row["ids"], video_token_id, grids[i]) + b * seq + at
            )
            at += n
        text[b, at:] = text[b, at - 1] + 1 + torch.arange(seq - at)
        spans[b][-1] = (spans[b][-1][0], seq)
    flat = kinds.flatten()
    camera = ((flat == CAMERA_FIRST) | (flat == CAMERA)).nonzero().squeeze(-1)
    scale = (flat == SCALE).nonzero().squeeze(-1)
    packed = pack_tokens > 0
    return GeometryLayout(
        ids,
        None if packed else mask,
        types,
        labels,
        torch.cat([text[None], pos]) if packed else pos,
        kinds,
        torch.cat(frame_index),
        grids,
        camera if camera.numel() else None,
        scale if scale.numel() else None,
        lengths,
        spans if packed else None,
    )
