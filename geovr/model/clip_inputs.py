"""(video, question, options) -> student inputs: the one preprocessing of evaluation, the served
model and the documented transformers recipe.

    prep = Preprocessing.from_checkpoint("runs/train/checkpoint")   # what training used
    frames, timestamps, indices = prep.sample(*read_video(open("clip.mp4", "rb")))
    inputs = encode_video_prompt(
        processor, frames, [prompt(processor, qa)], timestamps, prep.max_side
    )

- Sampling: the clip set's rule recorded in the checkpoint (`count`: F frames, both ends kept;
  `fps`: round(duration x fps) within [min_frames, max_frames]), at nominal times index / fps,
  then resized as ingest stored them (geovr/data/sampling.py).
- Frames are resized once more (bilinear, antialiased) so that both sides are multiples of
  patch * merge (optionally capped by `max_side`), then every frame is repeated x2: one temporal
  grid (temporal patch 2) is exactly one real frame. The processor is called with
  `do_resize=False, do_sample_frames=False`, so the token grid is the one of training.
- Timestamps: Qwen3-VL writes `<t seconds>` before each frame from the video metadata (each
  real frame's time is given for both copies); Qwen2.5-VL's `second_per_grid_ts` is set to the
  real interval between frames.
- Prompt: the chat template with one user turn `[video, question]`, the question in VSI-Bench's
  official text (geovr/model/prompt.py).

Imports only numpy, torch, transformers, PIL and PyAV besides its two siblings (prompt.py,
sampling.py), so the registered model carries the three files as MLflow `code_paths` and runs
them without geovr.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch
import torch.nn.functional as F
from transformers.video_utils import VideoMetadata

if __name__.startswith("geovr."):
    from geovr.data.sampling import fps_frame_count, resize_frames, sample_indices, target_size
    from geovr.model.prompt import vsi_question_text
else:  # logged with a model: the siblings sit beside this file as top-level modules
    from prompt import vsi_question_text  # type: ignore[no-redef]
    from sampling import (  # type: ignore[no-redef]
        fps_frame_count,
        resize_frames,
        sample_indices,
        target_size,
    )

DEFAULT_FPS = 2.0  # the paper samples frames at 2 fps
META_FILE = "meta.json"
PREPROCESSING_KEY = "preprocessing"  # where a checkpoint's meta.json records it


@dataclass(frozen=True)
class Preprocessing:
    """How training turned a video into frames: the clip set's sampling rule
    (`{"rule": "count", "frames"}` or `{"rule": "fps", "fps", "min_frames", "max_frames"}`),
    the longest side ingest stored (`store_side`) and the cap training put on it (`max_side`)."""

    sampling: Mapping[str, Any]
    store_side: int
    max_side: int | None = None

    def record(self) -> dict[str, Any]:
        return {**asdict(self), "sampling": dict(self.sampling)}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Preprocessing:
        return cls(dict(record["sampling"]), int(record["store_side"]), record.get("max_side"))

    @classmethod
    def from_checkpoint(cls, checkpoint: str | Path) -> Preprocessing | None:
        """The record in the checkpoint's meta.json (None: trained before it was recorded)."""
        meta = Path(checkpoint) / META_FILE
        record = json.loads(meta.read_text()).get(PREPROCESSING_KEY) if meta.is_file() else None
        return cls.from_record(record) if record else None

    def frame_indices(self, n_frames: int, video_fps: float) -> list[int]:
        count = self.sampling.get("frames")
        if self.sampling["rule"] == "fps":
            s = self.sampling
            count = fps_frame_count(n_frames, video_fps, s["fps"], s["min_frames"], s["max_frames"])
        if n_frames < count:
            raise ValueError(f"the video has {n_frames} frames, the model was trained on {count}")
        return sample_indices(n_frames, count)

    def sample(self, frames: np.ndarray, fps: float) -> tuple[np.ndarray, list[float], list[int]]:
        """All decoded frames `[T,H,W,3]` of a video at `fps` -> (the frames training would
        have stored, their times in s, their indices), exactly as ingest samples and resizes."""
        indices = self.frame_indices(len(frames), fps)
        size = target_size(frames.shape[2], frames.shape[1], self.store_side)
        times = [round(i / fps, 6) for i in indices]
        return resize_frames(frames[indices], size), times, indices


def read_video(source: IO[bytes]) -> tuple[np.ndarray, float]:
    """(every frame `[T,H,W,3] uint8`, frames per second) of an open video file (PyAV)."""
    import av

    with av.open(source) as container:
        if not container.streams.video:
            raise ValueError("the file has no video stream")
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
    if not frames or not rate:
        raise ValueError("the video has no decodable frames")
    return np.stack(frames), float(rate)


def prompt(processor, qa: Mapping[str, Any], with_video: bool = True) -> str:
    """The chat-template prompt (generation prompt included) for one VSI-schema QA item;
    `with_video=False`: the question alone (VSI-Bench's vision-disabled baseline)."""
    text = vsi_question_text(str(qa["question"]), qa.get("options"))
    video = [{"type": "video"}] if with_video else []
    messages = [{"role": "user", "content": [*video, {"type": "text", "text": text}]}]
    return processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


def resize_factor(processor) -> int:
    video = processor.video_processor
    return int(video.patch_size) * int(video.merge_size)


def model_frame_size(
    height: int, width: int, factor: int, max_side: int | None = None
) -> tuple[int, int]:
    """(H', W') the student sees.

    Sides are rounded to multiples of `factor`, the longest at most `max_side`.
    """
    scale = min(1.0, max_side / max(height, width)) if max_side else 1.0
    return tuple(max(factor, round(s * scale / factor) * factor) for s in (height, width))


def prepare_frames(
    frames: np.ndarray | torch.Tensor, factor: int, max_side: int | None = None
) -> np.ndarray:
    """[F,H,W,3] uint8 -> [2F,H',W',3] uint8: sides rounded to multiples of `factor` (longest
    side at most `max_side`), each frame twice."""
    video = torch.as_tensor(np.asarray(frames))
    if video.ndim != 4 or video.shape[-1] != 3 or video.dtype != torch.uint8:
        raise ValueError(f"frames must be [F,H,W,3] uint8, got {tuple(video.shape)} {video.dtype}")
    height, width = video.shape[1:3]
    size = model_frame_size(height, width, factor, max_side)
    if size != (height, width):
        x = video.permute(0, 3, 1, 2).float()
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
        video = x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1)
    return video.repeat_interleave(2, dim=0).contiguous().numpy()


def video_metadata(
    n_frames: int, timestamps: Sequence[float] | None
) -> tuple[VideoMetadata, float]:
    """Metadata showing each real frame's time on both of its copies, and the interval (s)."""
    times = (
        [float(t) for t in timestamps]
        if timestamps is not None
        else [i / DEFAULT_FPS for i in range(n_frames)]
    )
    if len(times) != n_frames:
        raise ValueError(f"{len(times)} timestamps for {n_frames} frames")
    interval = (times[-1] - times[0]) / (n_frames - 1) if n_frames > 1 else 1 / DEFAULT_FPS
    doubled = [t for t in times for _ in range(2)]
    # fps 1 with the times as "indices": the processor's timestamps are the times themselves
    return VideoMetadata(total_num_frames=2 * n_frames, fps=1.0, frames_indices=doubled), interval


def encode_video_prompt(
    processor, frames, texts: Sequence[str], timestamps=None, max_side: int | None = None, **kwargs
) -> dict[str, torch.Tensor]:
    """Processor outputs for len(texts) prompts, each over the same clip."""
    video = prepare_frames(frames, resize_factor(processor), max_side)
    metadata, interval = video_metadata(len(video) // 2, timestamps)
    enc = processor(
        text=list(texts),
        videos=[video] * len(texts),
        video_metadata=[metadata] * len(texts),
        do_sample_frames=False,
        do_resize=False,
        return_tensors="pt",
        **kwargs,
    )
    out = dict(enc)
    if "second_per_grid_ts" in out:
        out["second_per_grid_ts"] = torch.full((len(texts),), interval, dtype=torch.float32)
    return out


def question_inputs(
    processor, qa: Mapping[str, Any], frames=None, timestamps=None, max_side: int | None = None
) -> dict[str, torch.Tensor]:
    """One question's `generate` inputs: over the clip's frames, or the question alone."""
    if frames is None:
        return dict(processor(text=[prompt(processor, qa, with_video=False)], return_tensors="pt"))
    return encode_video_prompt(processor, frames, [prompt(processor, qa)], timestamps, max_side)
