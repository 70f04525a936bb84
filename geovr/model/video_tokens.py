"""Where each frame's visual tokens sit in a Qwen3-VL sequence.

Qwen3-VL lays a video out frame by frame: `<vision_start> <video_pad> x n <vision_end>` per
temporal grid (optionally after a timestamp text), and M-RoPE needs `mm_token_type_ids`
(2 on video tokens). GeoVR feeds every frame twice so one temporal grid (temporal patch 2)
is exactly one real frame, lined up 1:1 with a teacher frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

VIDEO_TOKEN_TYPE = 2


@dataclass(frozen=True)
class VideoLayout:
    input_ids: torch.Tensor  # [1, S]
    mm_token_type_ids: torch.Tensor  # [1, S]
    frame_spans: list[tuple[int, int]]  # [start, end) of each frame's visual tokens


def tokens_per_frame(grid_h: int, grid_w: int, merge: int = 2) -> int:
    return (grid_h // merge) * (grid_w // merge)


def video_layout(prefix: list[int], suffix: list[int], n_frames: int, per_frame: int,
                 video_token: int, vision_start: int, vision_end: int) -> VideoLayout:
    """Token ids for `prefix + frames + suffix` and the span of every frame's visual tokens."""
    ids, spans = list(prefix), []
    for _ in range(n_frames):
        ids.append(vision_start)
        spans.append((len(ids), len(ids) + per_frame))
        ids.extend([video_token] * per_frame)
        ids.append(vision_end)
    ids.extend(suffix)
    input_ids = torch.tensor([ids])
    return VideoLayout(input_ids, (input_ids == video_token).long() * VIDEO_TOKEN_TYPE, spans)


def repeat_frames(frames: torch.Tensor) -> torch.Tensor:
    """[F, C, H, W] -> [2F, C, H, W], each frame twice: one temporal grid per real frame."""
    return frames.repeat_interleave(2, dim=0)


def patchify(frames: torch.Tensor, patch: int = 16, temporal: int = 2, merge: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """Frames [2F, C, H, W] (already normalised) -> Qwen-VL `pixel_values_videos`
    [F*h*w, C*temporal*patch*patch] and `video_grid_thw` [[F, h, w]] (h, w in patches),
    patches ordered in 2x2 merge blocks (the order of the Qwen-VL processors; a test
    against the real processor is still to be written)."""
    t2, c, height, width = frames.shape
    t, h, w = t2 // temporal, height // patch, width // patch
    x = frames.reshape(t, temporal, c, h // merge, merge, patch, w // merge, merge, patch)
    x = x.permute(0, 3, 6, 4, 7, 2, 1, 5, 8)  # t, h-blocks, w-blocks, merge rows, merge cols, c, tp, p, p
    return x.reshape(t * h * w, c * temporal * patch * patch), torch.tensor([[t, h, w]])
